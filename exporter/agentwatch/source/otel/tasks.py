"""Tasks from spans: one per agent and conversation (``gen_ai.conversation.id`` or an older name
of it), or per agent and trace where no conversation is named (one workflow invocation).

A task is ``in_progress`` from its first span. An invocation that ends well makes a task of one
trace ``done``; it makes a conversation ``in_review`` (answered, open to the user's next turn),
and ``done`` once no turn came for ``conversation_idle_timeout``. A later turn opens it again
(``in_progress``, ``started_at`` the turn's start: a status change, which is progression, and an
age that is the turn's, not the conversation's). An invocation that fails leaves a conversation
in progress (no terminal outcome: a retry carries on with it, and its calls keep counting
towards a loop) and makes a task of one trace ``cancelled`` (that workflow run is over). A human
interrupt leaves the task in progress. An answered conversation stays open, so its prompt size
counts for the context detector until it goes idle. At most ``max_tasks`` are kept: past that, the finished ones
seen longest ago go first, then the open ones.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from agentwatch.model import TERMINAL_ISSUE_STATUSES, Issue

IN_PROGRESS, ANSWERED, DONE, CANCELLED = "in_progress", "in_review", "done", "cancelled"


@dataclass
class TaskState:
    id: str
    agent_key: str
    created_at: float
    started_at: float
    status: str = IN_PROGRESS
    completed_at: float | None = None
    updated_at: float = 0.0
    is_canary: bool = False
    label: str = ""  # the framework

    def row(self) -> Issue:
        return Issue(
            id=self.id,
            identifier=self.id.rpartition("/")[2][:16],
            status=self.status,
            assignee_agent_id=self.agent_key,
            labels=(self.label,) if self.label else (),
            started_at=self.started_at,
            completed_at=self.completed_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            is_canary=self.is_canary,
        )


def task_id(agent_key: str, conversation: str, trace_id: str) -> str:
    return f"{agent_key}/{conversation or 'trace-' + trace_id}"


class TaskBook:
    def __init__(self, max_tasks: int) -> None:
        self.max_tasks = max_tasks
        self._tasks: OrderedDict[str, TaskState] = OrderedDict()  # least recently changed first
        self.issues: dict[str, Issue] = {}  # the current row of every task
        self.touched: set[str] = set()  # ids changed (or gone) since the last ``take_touched``
        self._dirty: set[str] = set()  # ids whose state changed since, their row not yet made
        self.evicted = 0
        self._answered: OrderedDict[str, None] = OrderedDict()  # answered conversations, oldest answer first

    def get(self, tid: str) -> TaskState | None:
        return self._tasks.get(tid)

    def work(self, tid: str, agent_key: str, at: float, label: str) -> TaskState:
        """Work seen on the task at ``at``: it exists and is in progress."""
        task = self._tasks.get(tid)
        if task is None:
            task = self._tasks[tid] = TaskState(tid, agent_key, at, at, label=label)
            self._evict()
        elif task.status in TERMINAL_ISSUE_STATUSES and at > (task.completed_at or 0.0):
            task.status, task.started_at, task.completed_at = IN_PROGRESS, at, None
        elif task.status == ANSWERED and at > task.updated_at:
            task.status, task.started_at = IN_PROGRESS, at
            self._answered.pop(tid, None)
        elif task.status == IN_PROGRESS and at < task.started_at:
            task.started_at = min(task.started_at, at)
        task.updated_at = max(task.updated_at, at)
        self._changed(task)
        return task

    def finish(self, task: TaskState, status: str, at: float) -> None:
        if task.status == status and task.completed_at == at:
            return
        task.status, task.completed_at = status, at
        task.updated_at = max(task.updated_at, at)
        self._changed(task)

    def answer(self, task: TaskState, at: float) -> None:
        """A conversation's turn answered: open to the next turn until it goes idle."""
        if task.status == ANSWERED and task.updated_at >= at:
            return
        task.status = ANSWERED
        task.updated_at = max(task.updated_at, at)
        self._answered.pop(task.id, None)
        self._answered[task.id] = None
        self._changed(task)

    def close_idle(self, now: float, idle: float) -> None:
        """The answered conversations with no turn for ``idle`` seconds are done (at their answer)."""
        while self._answered:
            tid = next(iter(self._answered))
            task = self._tasks.get(tid)
            if task is not None and task.status == ANSWERED and now - task.updated_at < idle:
                break
            del self._answered[tid]
            if task is not None and task.status == ANSWERED:
                self.finish(task, DONE, task.updated_at)

    def mark_canary(self, task: TaskState) -> None:
        if not task.is_canary:
            task.is_canary = True
            self._changed(task)

    def _changed(self, task: TaskState) -> None:
        """Its row is made again at the next ``take_touched`` (once, however many spans changed it)."""
        self._tasks.move_to_end(task.id)
        self._dirty.add(task.id)

    def _evict(self) -> None:
        if len(self._tasks) <= self.max_tasks:
            return
        victim = next((t for t in self._tasks.values() if t.status in TERMINAL_ISSUE_STATUSES), None)
        victim = victim or next(iter(self._tasks.values()))
        del self._tasks[victim.id]
        self._answered.pop(victim.id, None)
        self.issues.pop(victim.id, None)
        self.touched.add(victim.id)
        self.evicted += 1

    def take_touched(self) -> set[str]:
        """The rows of the tasks changed since the last call made again (``issues``), and the ids
        whose row is not the one held before (new, changed or gone)."""
        for tid in self._dirty:
            task = self._tasks.get(tid)
            if task is None:
                continue  # evicted: ``touched`` has it already
            row = task.row()
            if self.issues.get(tid) != row:
                self.issues[tid] = row
                self.touched.add(tid)
        self._dirty.clear()
        touched, self.touched = self.touched, set()
        return touched
