"""Task (issue) signals: queue depth, completions, durations, ages, stale locks and the tasks
blocked on a person.

``TaskIndex`` keeps them across polls and takes in only the issues that changed
(``IssueDelta``): a task's contribution (its place in the queue, its duration once done, its
start while in progress, its locks) leaves with its previous version and enters with its new
one. What moves with the clock or the runs (the oldest in-progress age, which locks are stale)
is read by ``signals()`` from the held starts and the locked tasks alone. A steady poll of 100k
issues with 1 % changed then costs some thousand updates, not a walk of every issue.

Durations are held in whole milliseconds (Paperclip's timestamps are milliseconds), so their
sum stays exact however many tasks enter and leave over the exporter's life.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from agentwatch.analysis.histogram import Histogram
from agentwatch.model import TERMINAL_ISSUE_STATUSES, CompanySnapshot, Issue, Run
from agentwatch.model.delta import IssueDelta, add_count

UNASSIGNED = ""
# seconds, as exposed; held in milliseconds
TASK_DURATION_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0, 604800.0)
_BUCKETS_MS = tuple(float(round(bound * 1000)) for bound in TASK_DURATION_BUCKETS)
_ENTERING = frozenset({"done", "in_progress", "blocked"})  # the statuses ``TaskIndex._enter`` looks at
HUMAN_UNBLOCK_OWNERS = frozenset({"board", "user"})  # a blocked task they own waits on a person
# stamps for what changed (``TaskSignals.queue_stamps``): one counter for every index, so that no
# stamp is given twice, whichever index gives it
_STAMPS = itertools.count(1)


@dataclass
class TaskSignals:
    # agent_id or "" -> status -> count of tasks, canaries excluded (an agent with none is absent);
    # not to be changed
    by_agent: dict[str, Counter] = field(default_factory=dict)
    # status -> count of tasks, canaries excluded; and of canary tasks
    by_status: Counter = field(default_factory=Counter)
    canaries: Counter = field(default_factory=Counter)
    # agent_id -> completed (done) task count, canaries excluded
    completed: Counter = field(default_factory=Counter)
    # agent_id -> durations (startedAt -> completedAt) of done tasks in milliseconds (buckets
    # ``TASK_DURATION_BUCKETS`` in milliseconds), canaries excluded; not to be changed
    durations: dict[str, Histogram] = field(default_factory=dict)
    # agent_id -> age of the oldest in-progress task (since startedAt, else createdAt), canaries excluded
    oldest_in_progress_age: dict[str, float] = field(default_factory=dict)
    # (agent_id, lock kind) -> count of locks held by a run that has ended
    stale_locks: Counter = field(default_factory=Counter)
    # agent_id -> the agent's blocked tasks that wait on the board or a person (an unexpected
    # escalation), canaries and unassigned tasks excluded; not to be changed
    blocked_on_human: Counter = field(default_factory=Counter)
    # agent_id -> the agent's blocked tasks the platform's own recovery parked (``Issue.recovery``:
    # a board decision is asked), canaries and unassigned tasks excluded; apart from
    # ``blocked_on_human``, which counts the ordinary blocked work only; not to be changed
    parked: Counter = field(default_factory=Counter)
    # agent_id (or "") -> a stamp given anew whenever one of its tasks entered or left its queue
    # (and so its tasks blocked on a person), and whenever one entered or left its completed tasks
    # (their count and durations): equal stamps, equal signals, so the families keep their lines
    # on one comparison. No stamp: none given since the index last started over. Not signals: an
    # index from scratch gives other stamps to equal signals, so they are left out of ``==``. Not to be changed
    queue_stamps: dict[str, int] = field(default_factory=dict, compare=False)
    completion_stamps: dict[str, int] = field(default_factory=dict, compare=False)


def _queue_key(issue: Issue) -> tuple[str, str, bool]:
    return issue.assignee_agent_id or UNASSIGNED, issue.status, issue.is_canary


class TaskIndex:
    """The task signals of one company, kept across polls (``update``, then ``signals``)."""

    def __init__(self) -> None:
        self._base = None  # the issues last taken in
        self._clear()

    def _clear(self) -> None:
        self._by_agent: dict[str, Counter] = {}  # agent -> status -> tasks, canaries excluded
        self._by_status: Counter = Counter()  # status -> tasks, canaries excluded
        self._canaries: Counter = Counter()  # status -> canary tasks
        self._durations: dict[str, Histogram] = {}  # agent -> durations of its done tasks (ms)
        self._starts: dict[str, dict[str, float]] = {}  # agent -> {issue id: start} of its in-progress tasks
        self._locked: dict[str, Issue] = {}  # issue id -> a task that holds a lock
        self._on_human: Counter = Counter()  # agent -> its blocked tasks that wait on a person
        self._parked: Counter = Counter()  # agent -> its blocked tasks the platform's recovery parked
        self._queue_stamps: dict[str, int] = {}  # agent -> stamp (``TaskSignals.queue_stamps``)
        self._completion_stamps: dict[str, int] = {}

    def update(self, delta: IssueDelta) -> None:
        base, self._base = self._base, None  # one that raises half-way leaves the next to start over
        if delta.follows(base):
            for _, old, new in delta.pairs():
                if old is not None:
                    self._move(old, -1)
                if new is not None:
                    self._move(new, 1)
                self._stamp(old, new)
        else:
            self._clear()
            issues = delta.after.values()
            for (agent, status, canary), n in Counter(map(_queue_key, issues)).items():  # counted in C
                if canary:
                    self._canaries[status] += n
                else:
                    self._by_status[status] += n
                    self._by_agent.setdefault(agent, Counter())[status] = n
            took: dict[str, list[int]] = {}  # the durations, each agent's observed at once
            enter = self._enter
            for issue in issues:
                # only these enter more than the queue: skip the call for the others
                if not issue.is_canary and (issue.status in _ENTERING or issue.execution_run_id or issue.checkout_run_id):
                    enter(issue, 1, took)
            for agent, values in took.items():
                self._durations[agent] = Histogram.of(_BUCKETS_MS, values)
            stamp = next(_STAMPS)  # every signal is new: one stamp for all
            self._queue_stamps = dict.fromkeys(self._by_agent, stamp)
            self._completion_stamps = dict.fromkeys(self._by_agent, stamp)
        self._base = delta.after

    def _move(self, issue: Issue, sign: int) -> None:
        """``issue`` enters (``sign`` 1) or leaves (-1) every signal it counts in."""
        if issue.is_canary:
            add_count(self._canaries, issue.status, sign)
            return
        add_count(self._by_status, issue.status, sign)
        agent = issue.assignee_agent_id or UNASSIGNED
        queue = self._by_agent.get(agent)
        if queue is None:
            queue = self._by_agent[agent] = Counter()
        add_count(queue, issue.status, sign)
        if not queue:
            del self._by_agent[agent]
        self._enter(issue, sign)

    def _stamp(self, old: Issue | None, new: Issue | None) -> None:
        """New stamps for the agents whose queue or completions changed from ``old`` to ``new``
        (an issue whose status, assignee and times stay, as when only ``updatedAt`` moved, changes neither)."""
        was, is_ = _in_queue(old), _in_queue(new)
        if was != is_:
            for counted in (was, is_):
                if counted is not None:
                    self._queue_stamps[counted[0]] = next(_STAMPS)
        was, is_ = _in_completions(old), _in_completions(new)
        if was != is_:
            for counted in (was, is_):
                if counted is not None:
                    self._completion_stamps[counted[0]] = next(_STAMPS)

    def _enter(self, issue: Issue, sign: int, gather: dict[str, list[int]] | None = None) -> None:
        """A task other than a canary enters or leaves the durations, the starts, the locks and the
        tasks blocked on a person.
        With ``gather``, a duration entering goes to its agent's list there, to be observed later."""
        agent = issue.assignee_agent_id or UNASSIGNED
        status = issue.status
        if status == "done":
            started, completed = issue.started_at, issue.completed_at
            if started is not None and completed is not None:
                took = round((completed - started) * 1000.0)  # whole milliseconds, 0 if negative
                if took < 0:
                    took = 0
                if gather is not None:
                    values = gather.get(agent)
                    if values is None:
                        values = gather[agent] = []
                    values.append(took)
                else:
                    hist = self._durations.get(agent)
                    if hist is None:
                        hist = self._durations[agent] = Histogram(_BUCKETS_MS)
                    hist.observe(took, sign)
                    if not hist.count:
                        del self._durations[agent]
        elif status == "in_progress":
            start = issue.started_at if issue.started_at is not None else issue.created_at
            if start is not None:
                starts = self._starts.get(agent)
                if sign > 0:
                    if starts is None:
                        starts = self._starts[agent] = {}
                    starts[issue.id] = start
                else:
                    del starts[issue.id]
                    if not starts:
                        del self._starts[agent]
        elif status == "blocked" and agent:
            if issue.recovery:
                add_count(self._parked, agent, sign)
            elif issue.unblock_owner in HUMAN_UNBLOCK_OWNERS:
                add_count(self._on_human, agent, sign)
        if issue.execution_run_id or issue.checkout_run_id:
            if sign > 0:
                self._locked[issue.id] = issue
            else:
                del self._locked[issue.id]

    def signals(self, cs: CompanySnapshot, now: float) -> TaskSignals:
        """The signals at ``now``, with the locks judged against ``cs``'s runs."""
        out = TaskSignals(
            self._by_agent,
            self._by_status,
            self._canaries,
            durations=self._durations,
            blocked_on_human=self._on_human,
            parked=self._parked,
            queue_stamps=self._queue_stamps,
            completion_stamps=self._completion_stamps,
        )
        out.completed.update({agent: queue["done"] for agent, queue in self._by_agent.items() if "done" in queue})
        ages = out.oldest_in_progress_age
        for agent, starts in self._starts.items():
            age = now - min(starts.values())  # the oldest start: the largest age
            ages[agent] = age if age > 0.0 else 0.0
        ended = ended_run_ids(cs.runs, cs.live_runs)
        live = {r.id for r in cs.live_runs if r.live}
        live_complete = cs.live_runs_known and len(cs.live_runs) < 50  # the list is capped at 50 rows
        stale = out.stale_locks
        for issue in self._locked.values():
            agent = issue.assignee_agent_id or UNASSIGNED
            for kind, run_id in (("execution", issue.execution_run_id), ("checkout", issue.checkout_run_id)):
                if run_id and is_stale_lock(run_id, ended, live, live_complete):
                    stale[(agent, kind)] += 1
        return out


def _in_queue(issue: Issue | None) -> tuple | None:
    """What an issue counts as in its agent's queue (and its tasks blocked on a person or parked)."""
    if issue is None or issue.is_canary:
        return None
    if issue.status != "blocked":
        return issue.assignee_agent_id or UNASSIGNED, issue.status, None, None
    return issue.assignee_agent_id or UNASSIGNED, issue.status, issue.unblock_owner, issue.recovery


def _in_completions(issue: Issue | None) -> tuple | None:
    """What an issue counts as in its agent's completed tasks and their durations."""
    if issue is None or issue.is_canary or issue.status != "done":
        return None
    return issue.assignee_agent_id or UNASSIGNED, issue.started_at, issue.completed_at


def task_signals(cs: CompanySnapshot, now: float) -> TaskSignals:
    """The signals of ``cs`` from scratch (a ``TaskIndex`` that takes in every issue)."""
    index = TaskIndex()
    index.update(IssueDelta.everything(cs.issues))
    return index.signals(cs, now)


def ended_run_ids(runs: Iterable[Run], live_runs: Iterable[Run]) -> set[str]:
    live = {r.id for r in live_runs if r.live}
    return {r.id for r in runs if not r.live and r.id not in live}


def is_stale_lock(run_id: str, ended: set[str], live: set[str], live_complete: bool) -> bool:
    """A lock is stale when its run is known to have ended, or is not live and the live list is complete."""
    if run_id in ended:
        return True
    return live_complete and run_id not in live


def open_issue(issue: Issue) -> bool:
    return issue.status not in TERMINAL_ISSUE_STATUSES
