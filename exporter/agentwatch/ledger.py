"""Counters that accumulate across polls.

The platform lists only the newest N heartbeat runs, with no cursor, so finished runs are
counted here, once each, by run id. At start-up the runs already finished are remembered
but not counted: the counters start at zero like any process counter, and ``rate()``
handles the reset. Memory is bounded: ids older than a few windows are forgotten.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from agentwatch.model import Run

RUN_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1



class RunLedger:
    """Finished runs per (company, agent, invocation source, status, error code), and durations."""

    def __init__(self, remember: int = 50000) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember
        self._primed: set[str] = set()
        self.runs: Counter = Counter()
        self.durations: dict[tuple[str, str], Histogram] = {}

    def record(self, company_id: str, runs: list[Run]) -> int:
        """Count the finished runs not seen before; return how many were new."""
        with self._lock:
            priming = company_id not in self._primed
            self._primed.add(company_id)
            new = 0
            for run in runs:
                if run.live or run.finished_at is None or run.id in self._seen:
                    continue
                self._seen[run.id] = None
                if priming:
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
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            return new

    def forget_agents(self, company_id: str, keep: set[str]) -> None:
        """Drop the series of agents that no longer exist."""
        with self._lock:
            for key in [k for k in self.runs if k[0] == company_id and k[1] not in keep]:
                del self.runs[key]
            for key in [k for k in self.durations if k[0] == company_id and k[1] not in keep]:
                del self.durations[key]

    def view(self) -> tuple[dict, dict]:
        with self._lock:
            return dict(self.runs), {k: Histogram(h.buckets, list(h.counts), h.count, h.total) for k, h in self.durations.items()}
