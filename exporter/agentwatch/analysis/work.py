"""Loops at the agent level: runs and spend with no progression of the agent's work.

The per-task loop detector (``analysis/loops.py``) counts the runs the platform ties to a task.
Paperclip ties only assignment and automation runs to one (``contextSnapshot.issueId``); its timer
runs carry none. And when an agent keeps waking on a task without setting a disposition,
Paperclip's own recovery parks the task (``blocked``, an active ``missing_disposition`` recovery,
a board decision asked), while the agent's timer wakes and spend carry on. Neither shows per task.

Here timer runs belong to the agent's *work*: its tasks in progress and its parked tasks. An
agent has work while it holds one of those. Its work *progressed* at the latest of:

- the latest progression of any of its tasks in progress (``progress.TaskTracker``: a status
  change, a handoff or a new subtask);
- the progression time the tracker holds for each of its parked tasks (parking itself is the
  platform's verdict that the agent did not progress, so it never moves this on);
- the end of any run of the agent on a task that is no longer an open task of the agent (done,
  cancelled, gone or handed over): that run moved work on.

The runs of the agent that end after that point, timer runs included, are runs without
progression; those that reported LLM usage are LLM calls, and their reported cost is the spend.
The work *looks like a loop* past the same thresholds as a task: longer than ``loop_min_age``
without progression and more than ``loop_min_calls`` runs or LLM calls since.

The state is kept across polls (the API lists only the newest runs): per agent with work, its
point of progression (never moved back) and the runs since it, by id. An agent without work
holds nothing. ``signals`` hands out a snapshot (fresh frozen values each call); ``generation``
and each agent's (``generations``) move on whenever what is held for the agent changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import msgspec

from agentwatch.analysis.progress import TaskProgress, TaskTracker
from agentwatch.analysis.views import HasEntityGenerations
from agentwatch.model import CompanySnapshot, Issue
from agentwatch.model.delta import IssueDelta

MAX_RUNS_HELD = 5000  # per agent: the oldest runs without progression past this are counted, not held


class WorkSignals(msgspec.Struct, frozen=True, gc=False):  # a struct: some hundred are made a poll
    runs_without_progress: int = 0
    llm_calls_without_progress: int = 0
    spend_without_progress_usd: float = 0.0
    progress_age: float = 0.0
    looping: bool = False


@dataclass(slots=True)
class _AgentWork:  # an accumulator: what ``WorkIndex`` holds of one agent
    progressed_at: float
    runs: dict[str, tuple[float, bool, float]] = field(default_factory=dict)  # id -> (end, LLM call, cost)
    # the LLM calls and the spend of the runs without progression, those past MAX_RUNS_HELD included
    calls: int = 0
    spend: float = 0.0
    dropped_runs: int = 0  # runs past MAX_RUNS_HELD, still counted

    def advance(self, at: float) -> bool:
        """Progression at ``at``: the runs that ended by then are no longer without progression.
        Whether it moved the point of progression."""
        if at <= self.progressed_at:
            return False
        self.progressed_at = at
        self.runs = {rid: held for rid, held in self.runs.items() if held[0] > at}
        self.calls = sum(1 for _, call, _ in self.runs.values() if call)
        self.spend = math.fsum(cost for _, _, cost in self.runs.values())
        self.dropped_runs = 0
        return True

    def add(self, run_id: str, end: float, llm_call: bool, cost: float) -> bool:
        """A run that ended at ``end``, held if it ended after the progression; whether it was."""
        if end <= self.progressed_at or run_id in self.runs:
            return False
        self.runs[run_id] = (end, llm_call, cost)
        self.calls += llm_call
        self.spend += cost
        if len(self.runs) > MAX_RUNS_HELD:  # the oldest is counted still, not held
            del self.runs[min(self.runs, key=lambda rid: self.runs[rid][0])]
            self.dropped_runs += 1
        return True

    def signals(self, now: float, min_age: float, min_calls: float) -> WorkSignals:
        runs = len(self.runs) + self.dropped_runs
        age = max(0.0, now - self.progressed_at)
        return WorkSignals(runs, self.calls, self.spend, age, age > min_age and max(runs, self.calls) > min_calls)


def parked(issue: Issue | None) -> str | None:
    """The agent whose task ``issue`` is, if the platform's recovery parked it, else None."""
    if issue is None or issue.is_canary or issue.status != "blocked" or not issue.recovery:
        return None
    return issue.assignee_agent_id


class WorkIndex(HasEntityGenerations[str]):
    """The agent-level loop signals of one company, kept across polls (``update``, then ``signals``)."""

    def __init__(self) -> None:
        self._parked: dict[str, dict[str, None]] = {}  # agent -> its parked tasks' ids
        self._base: Mapping[str, Issue] | None = None
        self._work: dict[str, _AgentWork] = {}
        self._start_generations()

    def update(self, cs: CompanySnapshot, delta: IssueDelta, tracker: TaskTracker, in_progress: Mapping[str, float]) -> None:
        """Takes in one poll: ``delta`` from the last poll's issues to ``cs.issues``, the tracker
        updated with it, and ``in_progress``: per agent with a task in progress, the latest
        progression of those tasks (``LoopIndex.newest_progressions``)."""
        base, self._base = self._base, None
        if delta.follows(base):
            for iid, old, new in delta.pairs():
                self._move(iid, parked(old), parked(new))
        else:
            self._parked = {}
            for iid, issue in delta.after.items():
                self._move(iid, None, parked(issue))
        self._base = delta.after
        tasks = tracker.tasks
        self._progress(self._points(tasks, in_progress))
        self._fold(cs, tasks)

    def _points(self, tasks: Mapping[str, TaskProgress], in_progress: Mapping[str, float]) -> dict[str, float]:
        """Per agent with work, its point of progression: the latest of its tasks in progress and
        of its parked tasks."""
        points: dict[str, float] = dict(in_progress)
        for agent, ids in self._parked.items():
            for iid in ids:
                task = tasks.get(iid)
                if task is not None and task.progressed_at > points.get(agent, -math.inf):
                    points[agent] = task.progressed_at
        return points

    def _progress(self, points: Mapping[str, float]) -> None:
        """The work held brought to ``points``: the agents without work any more hold nothing."""
        work, marked = self._work, self._entity_generations
        for agent in [a for a in work if a not in points]:
            del work[agent]
            marked.mark(agent)
        for agent, at in points.items():
            held = work.get(agent)
            if held is None:
                work[agent] = _AgentWork(at)
                marked.mark(agent)
            elif held.advance(at):
                marked.mark(agent)

    def _move(self, iid: str, was: str | None, is_: str | None) -> None:
        if was == is_:
            return
        if was is not None:
            ids = self._parked[was]
            del ids[iid]
            if not ids:
                del self._parked[was]
        if is_ is not None:
            self._parked.setdefault(is_, {})[iid] = None

    def _fold(self, cs: CompanySnapshot, tasks: Mapping[str, TaskProgress]) -> None:
        """The finished runs of the window into the work of their agents: a run on a task that is
        no longer an open task of its agent moves the work on at its end, a run on an open task of
        its agent at that task's progression (it may have progressed since); then the runs that
        ended after their agent's progression are held."""
        work, changed = self._work, set()
        ended: list[tuple[str, _AgentWork, str, float, bool, float]] = []
        for run in cs.runs:
            held = work.get(run.agent_id)
            if held is None or run.live:
                continue
            end = run.finished_at or run.started_at or run.created_at
            if end is None:
                continue
            if run.issue_id:
                task = tasks.get(run.issue_id)
                if task is None or task.agent_id != run.agent_id:
                    if held.advance(end):
                        changed.add(run.agent_id)
                    continue
                if held.advance(task.progressed_at):
                    changed.add(run.agent_id)
            llm_call = run.input_tokens is not None or run.cost_usd is not None
            ended.append((run.agent_id, held, run.id, end, llm_call, run.cost_usd or 0.0))
        for agent, held, run_id, end, llm_call, cost in ended:
            if held.add(run_id, end, llm_call, cost):
                changed.add(agent)
        for agent in changed:
            self._entity_generations.mark(agent)

    def signals(self, now: float, limits: Callable[[str], tuple[float, float]]) -> Mapping[str, WorkSignals]:
        """Per agent with work; ``limits(agent_id)`` gives (loop_min_age, loop_min_calls). A
        snapshot: the values are frozen, the mapping is new."""
        return MappingProxyType({agent: held.signals(now, *limits(agent)) for agent, held in self._work.items()})
