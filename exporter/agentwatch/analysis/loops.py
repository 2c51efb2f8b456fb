"""Reasoning loops: in-progress tasks that keep consuming runs and LLM calls without progression.

A task *looks like a loop* when it has gone longer than ``loop_min_age`` without
progression (see ``agentwatch.analysis.progress``) and has had more than ``loop_min_calls`` runs or
LLM calls since. Both come from ``thresholds`` in the config, per agent; the defaults are the
brief's: 4 hours and 20 calls.

``LoopIndex`` keeps, per agent, what of its in-progress tasks does not move with the clock, and
works it out again only for the agents whose tasks the tracker's last update touched. Its
``signals`` are a snapshot (fresh frozen values each call); its ``generation`` and each agent's
(``generations``) move on whenever what it keeps for them changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

import msgspec

from agentwatch.analysis.progress import TaskProgress, TaskTracker
from agentwatch.analysis.views import HasEntityGenerations


class LoopSignals(msgspec.Struct, frozen=True, gc=False):  # a struct: some hundred are made a poll
    looping_tasks: int = 0
    max_runs_without_progress: int = 0
    max_calls_without_progress: int = 0
    oldest_progress_age: float = 0.0
    looping_spend_usd: float = 0.0
    unproductive_runs: int = 0


def looks_like_loop(task: TaskProgress, now: float, min_age: float, min_calls: float) -> bool:
    return now - task.progressed_at > min_age and max(len(task.runs), task.llm_calls) > min_calls


@dataclass(frozen=True, slots=True)
class _AgentTasks:
    """What of one agent's in-progress tasks does not move with the clock."""

    oldest_progressed_at: float
    newest_progressed_at: float
    max_runs: int
    max_calls: int
    unproductive_runs: int
    # the tasks with runs or LLM calls since their last progression: loop_min_calls is at least
    # 1, so no other task can be a loop, whatever the agent's thresholds and the time of the poll
    candidates: tuple[TaskProgress, ...]

    @classmethod
    def of(cls, tasks: Iterable[TaskProgress]) -> "_AgentTasks":
        oldest, newest, runs, calls, unproductive, candidates = math.inf, -math.inf, 0, 0, 0, []
        for task in tasks:
            n = len(task.runs)
            if task.progressed_at < oldest:
                oldest = task.progressed_at
            if task.progressed_at > newest:
                newest = task.progressed_at
            if n > runs:
                runs = n
            if task.llm_calls > calls:
                calls = task.llm_calls
            unproductive += task.unproductive_runs
            if n or task.llm_calls:
                candidates.append(task)
        return cls(oldest, newest, runs, calls, unproductive, tuple(candidates))


class LoopIndex(HasEntityGenerations[str]):
    """The loop signals of one company's tasks, kept across polls: each agent's in-progress tasks
    and what of them does not move with the clock, worked out again only for the agents whose
    tasks the tracker's last update touched (``TaskTracker.touched``). Any other update (the
    first, one after an update this index missed, one that evaluated every issue) is taken in
    from all the tracker's tasks."""

    def __init__(self) -> None:
        self._tasks: dict[str, dict[str, TaskProgress]] = {}  # agent -> {issue id: its in-progress task}
        self._agent_of: dict[str, str] = {}  # issue id -> the agent it is held under
        self._kept: dict[str, _AgentTasks] = {}
        self._updates: int | None = None  # the tracker's updates when last taken in
        self._start_generations()

    def update(self, tracker: TaskTracker) -> None:
        touched: Iterable[str] | None
        touched, taken, self._updates = tracker.touched, self._updates, None  # None until taken in
        if touched is None or taken is None or tracker.updates != taken + 1:
            self._entity_generations.mark_all(())
            self._tasks, self._agent_of, self._kept = {}, {}, {}
            touched = tracker.tasks.keys()
        self._take(touched, tracker.tasks)
        self._updates = tracker.updates

    def _take(self, touched: Iterable[str], current: Mapping[str, TaskProgress]) -> None:
        """The tasks of ``touched`` as ``current`` holds them now (absent: gone)."""
        tasks, agent_of = self._tasks, self._agent_of
        dirty: set[str] = set()
        for iid in touched:
            agent = agent_of.pop(iid, None)
            if agent is not None:
                del tasks[agent][iid]
                dirty.add(agent)
            task = current.get(iid)
            if task is not None and task.agent_id and task.status == "in_progress":
                tasks.setdefault(task.agent_id, {})[iid] = task
                agent_of[iid] = task.agent_id
                dirty.add(task.agent_id)
        for agent in dirty:
            held = tasks.get(agent)
            kept = _AgentTasks.of(held.values()) if held else None
            if kept is None:
                tasks.pop(agent, None)
            if kept != self._kept.get(agent):
                if kept is None:
                    del self._kept[agent]
                else:
                    self._kept[agent] = kept
                self._entity_generations.mark(agent)

    def newest_progressions(self) -> Mapping[str, float]:
        """Per agent with a task in progress, the latest progression of any of those tasks."""
        return MappingProxyType({agent: kept.newest_progressed_at for agent, kept in self._kept.items()})

    def signals(self, now: float, limits: Callable[[str], tuple[float, float]]) -> Mapping[str, LoopSignals]:
        """Per agent id with a task in progress; ``limits(agent_id)`` gives that agent's
        (loop_min_age, loop_min_calls). A snapshot: the values are frozen, the mapping is new."""
        out: dict[str, LoopSignals] = {}
        for agent, kept in self._kept.items():
            age = now - kept.oldest_progressed_at
            looping = [t for t in kept.candidates if looks_like_loop(t, now, *limits(agent))] if kept.candidates else None
            out[agent] = LoopSignals(
                len(looping) if looping else 0,
                kept.max_runs,
                kept.max_calls,
                age if age > 0.0 else 0.0,
                math.fsum(t.spend_usd for t in looping) if looping else 0.0,  # in any order, the same sum
                kept.unproductive_runs,
            )
        return MappingProxyType(out)


def loop_signals(tasks: Iterable[TaskProgress], now: float, limits: Callable[[str], tuple[float, float]]) -> Mapping[str, LoopSignals]:
    """The signals of ``tasks`` from scratch (what a ``LoopIndex`` holding them gives)."""
    index, held = LoopIndex(), {task.issue_id: task for task in tasks}
    index._take(held, held)
    return index.signals(now, limits)
