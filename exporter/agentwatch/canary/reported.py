"""Canaries that the agents' own harness runs and reports, scored here (the OpenTelemetry source).

agentwatch cannot write a task into a framework the way it does into Paperclip. The team's
harness runs the canary instead, in a span that names it (``agentwatch.canary.name``) and
carries the agent's answer (``agentwatch.canary.answer``); the source turns that span into a
``model.CanaryAnswer``. ``ReportedCanaries`` scores each new answer with the suite's scorer and
records it as the runner records its own runs, so the canary families, ``CanaryTaskFailing``
and ``ModelQualityDegraded`` work the same for every source. A span with no answer (the
agent failed) is a failed run; a canary the suite does not know is ignored.
"""

from __future__ import annotations

import time
from typing import Callable

from agentwatch.canary.runner import CanaryRunner
from agentwatch.canary.suite import Suite
from agentwatch.model import Snapshot

SEEN = 2_000  # answer ids remembered, so that an answer is scored once


class ReportedCanaries(CanaryRunner):
    def __init__(
        self,
        suite: Suite,
        source: str,
        snapshot: Callable[[], Snapshot | None],
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
        model_of: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(suite, None, source, snapshot, check_interval=check_interval, clock=clock, model_of=model_of)  # type: ignore[arg-type]
        self.write_checked = True  # nothing is written
        self._seen: dict[str, None] = {}

    def tick(self) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        canaries = {c.name: c for c in self.suite.canaries}
        for cs in snapshot.companies.values():
            for answer in cs.canary_answers:
                canary = canaries.get(answer.canary)
                if canary is None or answer.id in self._seen:
                    continue
                self._seen[answer.id] = None
                with self.lock:
                    self._record(canary, cs, answer.agent_id, cs.agents.get(answer.agent_id))
                model = answer.model or self.model_of(answer.agent_id)
                took = max(0.0, (answer.finished_at or 0.0) - (answer.started_at or 0.0))
                at = answer.finished_at or self.clock()
                if answer.answer is None:
                    self._finish(canary, answer.agent_id, "fail", model, at, score=0.0, duration=took)
                    continue
                result = canary.scorer.score(answer.answer)
                self._finish(canary, answer.agent_id, "pass" if result.passed else "fail", model, at, score=result.value, duration=took)
        while len(self._seen) > SEEN:
            del self._seen[next(iter(self._seen))]
