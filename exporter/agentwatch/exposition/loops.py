"""The reasoning-loop families: per agent, its in-progress tasks without progression and its
work as a whole (a store entry per agent, ``AgentLoops``), and the oldest progression age,
written fresh (it moves with the clock)."""

from __future__ import annotations

from typing import Iterable, Mapping

import msgspec

from agentwatch.analysis.loops import LoopSignals
from agentwatch.analysis.work import WorkSignals
from agentwatch.exposition import registry as r
from agentwatch.exposition.families import Families, LabelSet

_NO_LOOPS = LoopSignals()
_NO_WORK = WorkSignals()


class AgentLoops(msgspec.Struct, frozen=True, gc=False):
    """The agent's loop gauges, per task (but for the age, which moves with the clock:
    ``progress_ages``) and for its work as a whole since it last progressed."""

    labels: LabelSet
    looping_tasks: int
    max_runs_without_progress: int
    max_calls_without_progress: int
    looping_spend_usd: float
    unproductive_runs: int
    work_looping: bool
    work_runs_without_progress: int
    work_spend_without_progress_usd: float

    @classmethod
    def of(cls, labels: LabelSet, s: LoopSignals | None, work: WorkSignals | None) -> AgentLoops:
        s, work = s or _NO_LOOPS, work or _NO_WORK
        return cls(
            labels,
            s.looping_tasks,
            s.max_runs_without_progress,
            s.max_calls_without_progress,
            s.looping_spend_usd,
            s.unproductive_runs,
            work.looping,
            work.runs_without_progress,
            work.spend_without_progress_usd,
        )

    def render(self, w: Families) -> None:
        labels = self.labels
        w.add(r.LOOPING_TASKS, labels, self.looping_tasks)
        w.add(r.MAX_RUNS_WITHOUT_PROGRESS, labels, self.max_runs_without_progress)
        w.add(r.MAX_CALLS_WITHOUT_PROGRESS, labels, self.max_calls_without_progress)
        w.add(r.LOOPING_SPEND, labels, self.looping_spend_usd)
        w.add(r.UNPRODUCTIVE_RUNS, labels, self.unproductive_runs)
        w.add(r.WORK_LOOPING, labels, float(self.work_looping))
        w.add(r.WORK_RUNS, labels, self.work_runs_without_progress)
        w.add(r.WORK_SPEND, labels, self.work_spend_without_progress_usd)


def progress_ages(w: Families, agents: Iterable[tuple[str, LabelSet]], signals: Mapping[str, LoopSignals]) -> None:
    """The oldest progression of each agent's in-progress tasks: new at every poll."""
    w.gauges(r.OLDEST_PROGRESS_AGE, [(labels, (signals.get(aid) or _NO_LOOPS).oldest_progress_age) for aid, labels in agents])
