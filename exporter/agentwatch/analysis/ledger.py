"""Counters that accumulate across polls.

The platform lists only the newest N heartbeat runs, with no cursor, so finished runs are
counted here, once each, by run id. At start-up the runs already finished are remembered
but not counted: the counters start at zero like any process counter, and ``rate()``
handles the reset. Memory is bounded: ids older than a few windows are forgotten.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Container

from agentwatch.analysis.context import RATIO_BUCKETS, UNKNOWN, ContextWindows
from agentwatch.analysis.histogram import Histogram
from agentwatch.analysis.progress import UNPRODUCTIVE_LIVENESS
from agentwatch.model import FAILED_RUN_STATUSES, Run

MAX_DEFERRALS = 3
RUN_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


class RunLedger:
    """Finished runs per (company, agent, invocation source, status, error code), durations,
    liveness, and the prompt-to-window ratio per model with the outcome of high and low runs."""

    def __init__(self, windows: ContextWindows | None = None, high_ratio: float = 0.8, remember: int = 50000) -> None:
        self.windows = windows or ContextWindows()
        self.high_ratio = high_ratio
        self.liveness: Counter = Counter()  # (company, agent, liveness_state)
        self.context: dict[tuple[str, str, str], Histogram] = {}  # (company, agent, model) -> ratio
        self.context_outcomes: Counter = Counter()  # (company, agent, model, band, outcome)
        self.last_finished: dict[tuple[str, str], float] = {}  # (company, agent) -> newest run end seen
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._primed: set[str] = set()
        self._deferred: dict[str, int] = {}
        self.runs: Counter = Counter()
        self.durations: dict[tuple[str, str], Histogram] = {}

    def record(
        self,
        company_id: str,
        runs: list[Run],
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
                if run.finished_at > self.last_finished.get(key, 0.0):
                    self.last_finished[key] = run.finished_at
                if run.id in self._seen:
                    continue
                if known_issues is not None and run.issue_id and run.issue_id not in known_issues:
                    waited = self._deferred.get(run.id, 0)
                    if waited < MAX_DEFERRALS and not priming:
                        self._deferred[run.id] = waited + 1
                        continue
                self._deferred.pop(run.id, None)
                self._seen[run.id] = None
                if priming or (run.issue_id is not None and run.issue_id in canary_issues):
                    continue
                new += 1
                self.runs[(company_id, run.agent_id, run.invocation_source, run.status, run.error_code)] += 1
                duration = run.duration_seconds
                if duration is not None:
                    key = (company_id, run.agent_id)
                    hist = self.durations.get(key)
                    if hist is None:
                        hist = self.durations[key] = Histogram(RUN_DURATION_BUCKETS)
                    hist.observe(duration)
                if run.liveness_state:
                    self.liveness[(company_id, run.agent_id, run.liveness_state)] += 1
                if run.input_tokens is not None:
                    self._observe_context(company_id, run)
            if len(self._deferred) > self._remember:
                self._deferred.clear()
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            return new

    def _observe_context(self, company_id: str, run: Run) -> None:
        model = run.model or UNKNOWN
        ratio = self.windows.ratio(run.model, run.input_tokens)
        if ratio is None:  # a model missing from the table is reported as unknown, never guessed
            band = UNKNOWN
        else:
            key = (company_id, run.agent_id, model)
            hist = self.context.get(key)
            if hist is None:
                hist = self.context[key] = Histogram(RATIO_BUCKETS)
            hist.observe(ratio)
            band = "high" if ratio >= self.high_ratio else "low"
        if run.status in FAILED_RUN_STATUSES:
            outcome = "failed"
        elif run.liveness_state in UNPRODUCTIVE_LIVENESS:
            outcome = "empty"
        else:
            outcome = "ok"
        self.context_outcomes[(company_id, run.agent_id, model, band, outcome)] += 1

    def forget_agents(self, company_id: str, keep: set[str]) -> None:
        """Drop the series of agents that no longer exist."""
        with self._lock:
            for table in (self.runs, self.durations, self.liveness, self.context, self.context_outcomes, self.last_finished):
                for key in [k for k in table if k[0] == company_id and k[1] not in keep]:
                    del table[key]

    def view(self) -> "LedgerView":
        with self._lock:
            return LedgerView(
                runs=dict(self.runs),
                durations={k: h.copy() for k, h in self.durations.items()},
                liveness=dict(self.liveness),
                context={k: h.copy() for k, h in self.context.items()},
                context_outcomes=dict(self.context_outcomes),
                last_finished=dict(self.last_finished),
            )


@dataclass
class LedgerView:
    """A consistent copy of the ledger's counters for one build of the families."""

    runs: dict
    durations: dict
    liveness: dict
    context: dict
    context_outcomes: dict
    last_finished: dict
