"""The task families: the company's tasks by status (written fresh each build), each agent's
queue and its completions (two store entries per agent: a poll moves many more queues than
completions), and the oldest in-progress age (fresh: it moves with the clock)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Mapping

import msgspec

from agentwatch.analysis.histogram import Histogram, HistogramSnapshot
from agentwatch.analysis.tasks import TASK_DURATION_BUCKETS, UNASSIGNED, TaskSignals
from agentwatch.exposition import registry as r
from agentwatch.exposition.families import Families, LabelSet
from agentwatch.model import ISSUE_STATUSES

_NO_DURATIONS = Histogram(TASK_DURATION_BUCKETS).snapshot()  # an agent with no completed task: all zero
_NO_TASKS: Mapping[str, int] = MappingProxyType({})


def company_tasks(w: Families, base: dict[str, str], signals: TaskSignals) -> None:
    """The company's tasks by status, and its canaries: every known status, then any other."""
    for family, counts in ((r.COMPANY_TASKS, signals.by_status), (r.CANARY_TASKS, signals.canaries)):
        for status in (*ISSUE_STATUSES, *sorted(counts.keys() - set(ISSUE_STATUSES))):
            w.add(family, {**base, "status": status}, counts.get(status, 0))


class AgentTasks(msgspec.Struct, frozen=True, gc=False):
    """The agent's tasks by status (``queue``: status -> count) and what holds them up
    (``held``): its stale execution and checkout locks, its tasks blocked on a person and its
    parked tasks; None for the unassigned tasks, which have their queue depth alone. ``queue``
    is the index's read-only snapshot (``TaskSignals.by_agent``): the same object while the
    agent's queue stays as it is, so comparing an unchanged value is an identity check."""

    labels: LabelSet
    queue: Mapping[str, int]
    held: tuple[int, int, int, int] | None

    def render(self, w: Families) -> None:
        labels, held = self.labels, self.held
        for status, n in sorted(self.queue.items()):
            w.add(r.AGENT_TASKS, labels, n, ("status", status))
        if held is not None:
            stale_execution, stale_checkout, blocked_on_human, parked = held
            w.add(r.STALE_LOCKS, labels, stale_execution, ("lock", "execution"))
            w.add(r.STALE_LOCKS, labels, stale_checkout, ("lock", "checkout"))
            w.add(r.BLOCKED_ON_HUMAN, labels, blocked_on_human)
            w.add(r.PARKED, labels, parked)


class AgentCompletions(msgspec.Struct, frozen=True, gc=False):
    """The agent's completed tasks (those done) and their durations' histogram, held in
    milliseconds: an entry apart from its queue, which changes far more often. ``durations`` is
    the index's read-only snapshot, the same object while the agent's completions stay."""

    labels: LabelSet
    completed: int
    durations: HistogramSnapshot

    def render(self, w: Families) -> None:
        labels, durations = self.labels, self.durations
        w.add(r.TASKS_COMPLETED, labels, self.completed)
        w.histogram(r.TASK_DURATION, labels, TASK_DURATION_BUCKETS, durations.counts, durations.count, durations.total / 1000.0)


def agent_tasks(labels: LabelSet, signals: TaskSignals, agent_id: str) -> AgentTasks:
    stale = signals.stale_locks
    held = (
        stale.get((agent_id, "execution"), 0),
        stale.get((agent_id, "checkout"), 0),
        signals.blocked_on_human.get(agent_id, 0),
        signals.parked.get(agent_id, 0),
    )
    return AgentTasks(labels, signals.by_agent.get(agent_id, _NO_TASKS), held)


def agent_completions(labels: LabelSet, signals: TaskSignals, agent_id: str) -> AgentCompletions:
    return AgentCompletions(labels, signals.completed.get(agent_id, 0), signals.durations.get(agent_id, _NO_DURATIONS))


def unassigned_tasks(labels: LabelSet, signals: TaskSignals) -> AgentTasks:
    """The queue of the tasks assigned to no agent."""
    return AgentTasks(labels, signals.by_agent[UNASSIGNED], None)


def in_progress_ages(w: Families, agents: Iterable[tuple[str, LabelSet]], ages: Mapping[str, float]) -> None:
    """Each agent's oldest in-progress task age: new at every poll, written at once."""
    w.gauges(r.OLDEST_IN_PROGRESS_AGE, [(labels, ages.get(agent_id, 0.0)) for agent_id, labels in agents])
