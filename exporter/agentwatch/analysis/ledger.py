"""Counters that accumulate across polls.

The platform lists only the newest N heartbeat runs, with no cursor, so finished runs are
counted here, once each, by run id. At start-up the runs already finished are remembered
but not counted: the counters start at zero like any process counter, and ``rate()``
handles the reset. Memory is bounded: ids older than a few windows are forgotten.

The ledger is shared by the poller's thread and the builds of the families, so its tables are
private and read through ``view()``: a consistent, frozen copy taken under the lock.
``generation`` moves on, and with it the generation of each (company, agent) whose counters
moved (``generations``), whenever a run is counted or an agent's series are dropped.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from types import MappingProxyType
from typing import Container, Mapping, Sequence, TypeVar

from agentwatch.analysis.context import RATIO_BUCKETS, UNKNOWN, ContextWindows
from agentwatch.analysis.histogram import Histogram, HistogramSnapshot
from agentwatch.analysis.progress import UNPRODUCTIVE_LIVENESS
from agentwatch.analysis.views import HasEntityGenerations
from agentwatch.model import FAILED_RUN_STATUSES, Run

MAX_DEFERRALS = 3
RUN_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)

AgentKey = tuple[str, str]  # (company, agent)
RunKey = tuple[str, str, str, str, str]  # (company, agent, invocation source, status, error code)
ModelKey = tuple[str, str, str]  # (company, agent, model)
OutcomeKey = tuple[str, str, str, str, str]  # (company, agent, model, band, outcome)
LivenessKey = tuple[str, str, str]  # (company, agent, liveness state)
_K = TypeVar("_K", bound=tuple[str, ...])
_V = TypeVar("_V")


@dataclass(frozen=True, slots=True)
class LedgerView:
    """A consistent, frozen copy of the ledger's counters for one build of the families."""

    runs: Mapping[RunKey, int]
    durations: Mapping[AgentKey, HistogramSnapshot]
    liveness: Mapping[LivenessKey, int]
    context: Mapping[ModelKey, HistogramSnapshot]  # prompt-to-window ratio
    context_outcomes: Mapping[OutcomeKey, int]
    last_finished: Mapping[AgentKey, float]  # newest run end seen
    generation: int = 0  # the ledger's when the copy was taken


class RunLedger(HasEntityGenerations[AgentKey]):
    """Finished runs per (company, agent, invocation source, status, error code), durations,
    liveness, and the prompt-to-window ratio per model with the outcome of high and low runs."""

    def __init__(self, windows: ContextWindows | None = None, high_ratio: float = 0.8, remember: int = 50000) -> None:
        self.windows = windows or ContextWindows()
        self.high_ratio = high_ratio
        self._liveness: Counter[LivenessKey] = Counter()
        self._context: dict[ModelKey, Histogram] = {}
        self._context_outcomes: Counter[OutcomeKey] = Counter()
        self._last_finished: dict[AgentKey, float] = {}
        self._runs: Counter[RunKey] = Counter()
        self._durations: dict[AgentKey, Histogram] = {}
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._primed: set[str] = set()
        self._deferred: dict[str, int] = {}
        self._start_generations()

    def record(
        self,
        company_id: str,
        runs: Sequence[Run],
        canary_issues: Container[str] = frozenset(),
        known_issues: Container[str] | None = None,
    ) -> int:
        """Count the finished runs not seen before; return how many were new.

        Runs on canary tasks are remembered but not counted: they are not real work. A run on
        a task not yet in the issue list (the list can lag the runs by a poll or two) waits up
        to ``MAX_DEFERRALS`` polls for the task to show, so a canary's runs are known as such."""
        with self._lock:
            priming = company_id not in self._primed
            self._primed.add(company_id)
            new = 0
            for run in runs:
                if run.live or run.finished_at is None:
                    continue
                key = (company_id, run.agent_id)
                if run.finished_at > self._last_finished.get(key, 0.0):
                    self._last_finished[key] = run.finished_at
                    self._entity_generations.mark(key)
                if run.id in self._seen or self._defer(run, known_issues, priming):
                    continue
                self._seen[run.id] = None
                if priming or (run.issue_id is not None and run.issue_id in canary_issues):
                    continue
                new += 1
                self._count(company_id, run)
            if len(self._deferred) > self._remember:
                self._deferred.clear()
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            return new

    def _defer(self, run: Run, known_issues: Container[str] | None, priming: bool) -> bool:
        """Whether ``run``, on a task not in the issue list yet, waits another poll for it."""
        if known_issues is not None and run.issue_id and run.issue_id not in known_issues:
            waited = self._deferred.get(run.id, 0)
            if waited < MAX_DEFERRALS and not priming:
                self._deferred[run.id] = waited + 1
                return True
        self._deferred.pop(run.id, None)
        return False

    def _count(self, company_id: str, run: Run) -> None:
        """A finished run, new and not on a canary, into the counters."""
        self._runs[(company_id, run.agent_id, run.invocation_source, run.status, run.error_code)] += 1
        duration = run.duration_seconds
        if duration is not None:
            key = (company_id, run.agent_id)
            hist = self._durations.get(key)
            if hist is None:
                hist = self._durations[key] = Histogram(RUN_DURATION_BUCKETS)
            hist.observe(duration)
        if run.liveness_state:
            self._liveness[(company_id, run.agent_id, run.liveness_state)] += 1
        if run.input_tokens is not None:
            self._observe_context(company_id, run, run.input_tokens)
        self._entity_generations.mark((company_id, run.agent_id))

    def _observe_context(self, company_id: str, run: Run, input_tokens: int) -> None:
        model = run.model or UNKNOWN
        ratio = self.windows.ratio(run.model, input_tokens)
        if ratio is None:  # a model missing from the table is reported as unknown, never guessed
            band = UNKNOWN
        else:
            key = (company_id, run.agent_id, model)
            hist = self._context.get(key)
            if hist is None:
                hist = self._context[key] = Histogram(RATIO_BUCKETS)
            hist.observe(ratio)
            band = "high" if ratio >= self.high_ratio else "low"
        if run.status in FAILED_RUN_STATUSES:
            outcome = "failed"
        elif run.liveness_state in UNPRODUCTIVE_LIVENESS:
            outcome = "empty"
        else:
            outcome = "ok"
        self._context_outcomes[(company_id, run.agent_id, model, band, outcome)] += 1

    def forget_agents(self, company_id: str, keep: set[str]) -> None:
        """Drop the series of agents that no longer exist."""
        with self._lock:
            dropped = (
                _drop_agents(self._runs, company_id, keep)
                | _drop_agents(self._durations, company_id, keep)
                | _drop_agents(self._liveness, company_id, keep)
                | _drop_agents(self._context, company_id, keep)
                | _drop_agents(self._context_outcomes, company_id, keep)
                | _drop_agents(self._last_finished, company_id, keep)
            )
            for key in dropped:
                self._entity_generations.mark(key)

    def view(self) -> LedgerView:
        with self._lock:
            return LedgerView(
                runs=MappingProxyType(dict(self._runs)),
                durations=MappingProxyType({k: h.snapshot() for k, h in self._durations.items()}),
                liveness=MappingProxyType(dict(self._liveness)),
                context=MappingProxyType({k: h.snapshot() for k, h in self._context.items()}),
                context_outcomes=MappingProxyType(dict(self._context_outcomes)),
                last_finished=MappingProxyType(dict(self._last_finished)),
                generation=self._generations.current,
            )


def _drop_agents(table: dict[_K, _V], company_id: str, keep: set[str]) -> set[AgentKey]:
    """Drop the entries of ``company_id``'s agents not in ``keep``; the (company, agent) dropped."""
    gone = [k for k in table if k[0] == company_id and k[1] not in keep]
    for key in gone:
        del table[key]
    return {(key[0], key[1]) for key in gone}
