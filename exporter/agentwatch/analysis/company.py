"""The analyses the poller keeps across polls for each company.

Each takes in only what changed since the poll before (``model/delta.py``): the task
signals (``TaskIndex``), the task progress tracker (``TaskTracker``), the dependency report
(``DependencyIndex``) and, from the tasks the tracker touched, the loop signals (``LoopIndex``), and
from those and the runs, the agent-level loop signals (``WorkIndex``). The context streaks
(``ContextStreaks``: prompt growth of the runs that name no task) take in each run once.
``update`` takes the delta the source reports with the snapshot when it
starts from the issues the previous poll took in, works it out by object identity against those
issues otherwise, and hands it to each.

Each index hands out read-only values and has a ``generation`` of its own (``views``): the
exposition reads them after ``update`` and never writes to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from agentwatch.analysis.dependencies import DependencyIndex
from agentwatch.analysis.loops import LoopIndex
from agentwatch.analysis.progress import TaskTracker
from agentwatch.analysis.sessions import ContextStreaks
from agentwatch.analysis.tasks import TaskIndex
from agentwatch.analysis.work import WorkIndex
from agentwatch.model import CompanySnapshot, Issue
from agentwatch.model.delta import issue_delta


@dataclass
class CompanyAnalyses:
    tracker: TaskTracker = field(default_factory=TaskTracker)
    tasks: TaskIndex = field(default_factory=TaskIndex)
    deps: DependencyIndex = field(default_factory=DependencyIndex)
    loops: LoopIndex = field(default_factory=LoopIndex)
    work: WorkIndex = field(default_factory=WorkIndex)
    streaks: ContextStreaks = field(default_factory=ContextStreaks)
    issues: Mapping[str, Issue] | None = None  # the issues of the last poll taken in

    def update(self, cs: CompanySnapshot, now: float) -> None:
        delta = cs.issue_delta
        if delta is None or not delta.follows(self.issues) or delta.after is not cs.issues:
            delta = issue_delta(self.issues, cs.issues)
        self.issues = None  # should one of them raise, the next poll starts them all over
        self.tracker.update(cs, now, delta)
        self.tasks.update(delta)
        self.deps.update(delta, cs.agents)
        self.loops.update(self.tracker)
        self.work.update(cs, delta, self.tracker, self.loops.newest_progressions())
        self.streaks.update(cs.runs, cs.agents)
        self.issues = cs.issues

    @classmethod
    def of(cls, cs: CompanySnapshot, now: float) -> "CompanyAnalyses":
        """From scratch, for one snapshot (a build with no poller behind it)."""
        analyses = cls()
        analyses.update(cs, now)
        return analyses
