"""Task (issue) signals: queue depth, completions, durations, ages, stale locks and the tasks
blocked on a person.

``TaskIndex`` keeps them across polls and takes in only the issues that changed
(``IssueDelta``): a task's contribution (its place in the queue, its duration once done, its
start while in progress, its locks) leaves with its previous version and enters with its new
one. What moves with the clock or the runs (the oldest in-progress age, which locks are stale)
is read by ``signals()`` from the held starts and the locked tasks alone. A steady poll of 100k
issues with 1 % changed then costs some thousand updates, not a walk of every issue.

``signals()`` hands out a snapshot (``TaskSignals``): read-only mappings that the index's later
updates do not change. Only the agents whose queue or durations changed since the last snapshot
are copied again, so a snapshot costs about as much as the update it follows.

Durations are held in whole milliseconds (Paperclip's timestamps are milliseconds), so their
sum stays exact however many tasks enter and leave over the exporter's life.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from agentwatch.analysis.histogram import Histogram, HistogramSnapshot
from agentwatch.analysis.views import EntityGenerations, FrozenCopies, Generations, HasGeneration, frozen_counts
from agentwatch.model import TERMINAL_ISSUE_STATUSES, CompanySnapshot, Issue, Run
from agentwatch.model.delta import IssueDelta, add_count

UNASSIGNED = ""
# seconds, as exposed; held in milliseconds
TASK_DURATION_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0, 604800.0)
_BUCKETS_MS = tuple(float(round(bound * 1000)) for bound in TASK_DURATION_BUCKETS)
_ENTERING = frozenset({"done", "in_progress", "blocked"})  # the statuses ``TaskIndex._enter`` looks at
HUMAN_UNBLOCK_OWNERS = frozenset({"board", "user"})  # a blocked task they own waits on a person


def _no_counts() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TaskSignals:
    """The task signals of one company at one poll: a snapshot whose mappings are read-only and
    stay as they are when the index takes in later polls. Canaries are left out of every signal
    but ``canaries``."""

    # agent_id or "" -> status -> count of tasks (an agent with none is absent)
    by_agent: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # status -> count of tasks; and of canary tasks
    by_status: Mapping[str, int] = field(default_factory=_no_counts)
    canaries: Mapping[str, int] = field(default_factory=_no_counts)
    # agent_id -> completed (done) task count
    completed: Mapping[str, int] = field(default_factory=_no_counts)
    # agent_id -> durations (startedAt -> completedAt) of done tasks in milliseconds (buckets
    # ``TASK_DURATION_BUCKETS`` in milliseconds)
    durations: Mapping[str, HistogramSnapshot] = field(default_factory=dict)
    # agent_id -> age of the oldest in-progress task (since startedAt, else createdAt)
    oldest_in_progress_age: Mapping[str, float] = field(default_factory=dict)
    # (agent_id, lock kind) -> count of locks held by a run that has ended
    stale_locks: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # agent_id -> the agent's blocked tasks that wait on the board or a person (an unexpected
    # escalation), unassigned tasks excluded
    blocked_on_human: Mapping[str, int] = field(default_factory=_no_counts)
    # agent_id -> the agent's blocked tasks the platform's own recovery parked (``Issue.recovery``:
    # a board decision is asked), unassigned tasks excluded; apart from ``blocked_on_human``,
    # which counts the ordinary blocked work only
    parked: Mapping[str, int] = field(default_factory=_no_counts)
    # The index's generation (``TaskIndex.generation``) when the snapshot was taken, and per
    # agent (or ""), the generation its queue (and so its tasks blocked on a person or parked)
    # and its completions (their count and durations) last moved to: equal generations of one
    # index, equal signals (absent: 0, an empty queue). Not signals: an index from scratch gives
    # other generations to equal signals, so they are left out of ``==``. The stale locks and
    # the ages also depend on the runs and the clock that ``signals`` is given.
    generation: int = field(default=0, compare=False)
    queue_generations: Mapping[str, int] = field(default_factory=dict, compare=False)
    completion_generations: Mapping[str, int] = field(default_factory=dict, compare=False)


def _frozen_queue(queue: dict[str, int]) -> Mapping[str, int]:
    """An agent's queue, read-only (a plain mapping: some thousand of them are copied a poll)."""
    return MappingProxyType(dict(queue))


def _queue_key(issue: Issue) -> tuple[str, str, bool]:
    return issue.assignee_agent_id or UNASSIGNED, issue.status, issue.is_canary


class TaskIndex(HasGeneration):
    """The task signals of one company, kept across polls (``update``, then ``signals``)."""

    def __init__(self) -> None:
        self._base: Mapping[str, Issue] | None = None  # the issues last taken in
        self._generations = Generations()
        self._queue_generations: EntityGenerations[str] = EntityGenerations(self._generations)
        self._completion_generations: EntityGenerations[str] = EntityGenerations(self._generations)
        self._queue_copies: FrozenCopies[str, dict[str, int], Mapping[str, int]] = FrozenCopies(_frozen_queue)
        self._duration_copies: FrozenCopies[str, Histogram, HistogramSnapshot] = FrozenCopies(Histogram.snapshot)
        self._clear()

    def _clear(self) -> None:
        self._by_agent: dict[str, dict[str, int]] = {}  # agent -> status -> tasks (none at 0), canaries excluded
        self._by_status: Counter[str] = Counter()  # status -> tasks, canaries excluded
        self._canaries: Counter[str] = Counter()  # status -> canary tasks
        self._durations: dict[str, Histogram] = {}  # agent -> durations of its done tasks (ms)
        self._starts: dict[str, dict[str, float]] = {}  # agent -> {issue id: start} of its in-progress tasks
        self._locked: dict[str, Issue] = {}  # issue id -> a task that holds a lock
        self._on_human: Counter[str] = Counter()  # agent -> its blocked tasks that wait on a person
        self._parked: Counter[str] = Counter()  # agent -> its blocked tasks the platform's recovery parked
        self._queue_copies.all_stale()
        self._duration_copies.all_stale()

    def update(self, delta: IssueDelta) -> None:
        base, self._base = self._base, None  # one that raises half-way leaves the next to start over
        if delta.follows(base):
            self._take_changes(delta)
        else:
            self._take_everything(delta.after.values())
        self._base = delta.after

    def _take_changes(self, delta: IssueDelta) -> None:
        """The changed issues leave with their previous version and enter with their new one."""
        for _, old, new in delta.pairs():
            if old is not None:
                self._move(old, -1)
            if new is not None:
                self._move(new, 1)
            self._mark(old, new)

    def _take_everything(self, issues: Iterable[Issue]) -> None:
        """Every issue, into an empty index."""
        self._clear()
        for (agent, status, canary), n in Counter(map(_queue_key, issues)).items():  # counted in C
            if canary:
                self._canaries[status] += n
            else:
                self._by_status[status] += n
                self._by_agent.setdefault(agent, {})[status] = n
        took: dict[str, list[int]] = {}  # the durations, each agent's observed at once
        enter = self._enter
        for issue in issues:
            # only these enter more than the queue: skip the call for the others
            if not issue.is_canary and (issue.status in _ENTERING or issue.execution_run_id or issue.checkout_run_id):
                enter(issue, 1, took)
        for agent, values in took.items():
            self._durations[agent] = Histogram.of(_BUCKETS_MS, values)
        # every signal is new: one generation for all
        self._queue_generations.mark_all(self._by_agent)
        self._completion_generations.mark_all(self._by_agent)

    def _move(self, issue: Issue, sign: int) -> None:
        """``issue`` enters (``sign`` 1) or leaves (-1) every signal it counts in."""
        status = issue.status
        if issue.is_canary:
            add_count(self._canaries, status, sign)
            return
        add_count(self._by_status, status, sign)
        agent = issue.assignee_agent_id or UNASSIGNED
        queue = self._by_agent.get(agent)
        if queue is None:
            queue = self._by_agent[agent] = {}
        left = queue.get(status, 0) + sign
        if left:
            queue[status] = left
        else:
            del queue[status]
            if not queue:
                del self._by_agent[agent]
        self._queue_copies.stale(agent)
        # only these enter more than the queue: skip the call for the others
        if status in _ENTERING or issue.execution_run_id or issue.checkout_run_id:
            self._enter(issue, sign)

    def _mark(self, old: Issue | None, new: Issue | None) -> None:
        """New generations for the agents whose queue or completions changed from ``old`` to
        ``new`` (an issue whose status, assignee and times stay, as when only ``updatedAt``
        moved, changes neither), and for the index when anything it holds changed."""
        marked = _mark_changed(self._queue_generations, _in_queue(old), _in_queue(new))
        marked = _mark_changed(self._completion_generations, _in_completions(old), _in_completions(new)) or marked
        if not marked and _held(old) != _held(new):  # a mark moves the index's generation too
            self._generations.advance()

    def _enter(self, issue: Issue, sign: int, gather: dict[str, list[int]] | None = None) -> None:
        """A task other than a canary enters or leaves the durations, the starts, the locks and the
        tasks blocked on a person.
        With ``gather``, a duration entering goes to its agent's list there, to be observed later."""
        agent = issue.assignee_agent_id or UNASSIGNED
        status = issue.status
        if status == "done":
            self._enter_duration(agent, issue, sign, gather)
        elif status == "in_progress":
            self._enter_start(agent, issue, sign)
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

    def _enter_duration(self, agent: str, issue: Issue, sign: int, gather: dict[str, list[int]] | None) -> None:
        """A done task's duration enters (or leaves) its agent's histogram, or ``gather``."""
        started, completed = issue.started_at, issue.completed_at
        if started is None or completed is None:
            return
        took = round((completed - started) * 1000.0)  # whole milliseconds, 0 if negative
        if took < 0:
            took = 0
        if gather is not None:
            values = gather.get(agent)
            if values is None:
                values = gather[agent] = []
            values.append(took)
            return
        hist = self._durations.get(agent)
        if hist is None:
            hist = self._durations[agent] = Histogram(_BUCKETS_MS)
        hist.observe(took, sign)
        if not hist.count:
            del self._durations[agent]
        self._duration_copies.stale(agent)

    def _enter_start(self, agent: str, issue: Issue, sign: int) -> None:
        """An in-progress task's start enters (or leaves) its agent's starts."""
        start = issue.started_at if issue.started_at is not None else issue.created_at
        if start is None:
            return
        starts = self._starts.get(agent)
        if sign > 0:
            if starts is None:
                starts = self._starts[agent] = {}
            starts[issue.id] = start
        elif starts is not None:
            del starts[issue.id]
            if not starts:
                del self._starts[agent]

    def signals(self, cs: CompanySnapshot, now: float) -> TaskSignals:
        """The signals at ``now``, with the locks judged against ``cs``'s runs: a snapshot."""
        by_agent = self._by_agent
        return TaskSignals(
            by_agent=self._queue_copies.of(by_agent),
            by_status=frozen_counts(self._by_status),
            canaries=frozen_counts(self._canaries),
            completed=MappingProxyType(Counter({agent: queue["done"] for agent, queue in by_agent.items() if "done" in queue})),
            durations=self._duration_copies.of(self._durations),
            oldest_in_progress_age=MappingProxyType(self._ages(now)),
            stale_locks=MappingProxyType(self._stale_locks(cs)),
            blocked_on_human=frozen_counts(self._on_human),
            parked=frozen_counts(self._parked),
            generation=self._generations.current,
            queue_generations=self._queue_generations.snapshot(),
            completion_generations=self._completion_generations.snapshot(),
        )

    def _ages(self, now: float) -> dict[str, float]:
        """Per agent with a task in progress, the age of its oldest at ``now``."""
        ages: dict[str, float] = {}
        for agent, starts in self._starts.items():
            age = now - min(starts.values())  # the oldest start: the largest age
            ages[agent] = age if age > 0.0 else 0.0
        return ages

    def _stale_locks(self, cs: CompanySnapshot) -> Counter[tuple[str, str]]:
        """(agent, lock kind) -> the locks held by a run that has ended, judged against ``cs``'s runs."""
        stale: Counter[tuple[str, str]] = Counter()
        if not self._locked:
            return stale
        ended = ended_run_ids(cs.runs, cs.live_runs)
        live = {r.id for r in cs.live_runs if r.live}
        live_complete = cs.live_runs_known and len(cs.live_runs) < 50  # the list is capped at 50 rows
        for issue in self._locked.values():
            agent = issue.assignee_agent_id or UNASSIGNED
            for kind, run_id in (("execution", issue.execution_run_id), ("checkout", issue.checkout_run_id)):
                if run_id and is_stale_lock(run_id, ended, live, live_complete):
                    stale[(agent, kind)] += 1
        return stale


_Counted = tuple[str, *tuple[object, ...]]  # what an issue counts as somewhere, led by its agent


def _mark_changed(agents: EntityGenerations[str], was: _Counted | None, is_: _Counted | None) -> bool:
    """A new generation for the agent of ``was`` and of ``is_`` (what an issue counted as, then
    and now, each led by its agent), when the two differ; whether they did."""
    if was == is_:
        return False
    if was is not None:
        agents.mark(was[0])
    if is_ is not None:
        agents.mark(is_[0])
    return True


def _in_queue(issue: Issue | None) -> tuple[str, str, str | None, str | None] | None:
    """What an issue counts as in its agent's queue (and its tasks blocked on a person or parked)."""
    if issue is None or issue.is_canary:
        return None
    if issue.status != "blocked":
        return issue.assignee_agent_id or UNASSIGNED, issue.status, None, None
    return issue.assignee_agent_id or UNASSIGNED, issue.status, issue.unblock_owner, issue.recovery


def _in_completions(issue: Issue | None) -> tuple[str, float | None, float | None] | None:
    """What an issue counts as in its agent's completed tasks and their durations."""
    if issue is None or issue.is_canary or issue.status != "done":
        return None
    return issue.assignee_agent_id or UNASSIGNED, issue.started_at, issue.completed_at


def _held(issue: Issue | None) -> tuple[object, ...] | None:
    """Everything of an issue that the index holds: its queue and completions, its start while in
    progress, its locks and, for a canary, its status."""
    if issue is None:
        return None
    if issue.is_canary:
        return (issue.status,)
    start = (issue.started_at, issue.created_at) if issue.status == "in_progress" else None
    return _in_queue(issue), _in_completions(issue), start, issue.execution_run_id, issue.checkout_run_id


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
