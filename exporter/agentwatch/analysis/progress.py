"""Per-task progression tracking, across polls, for the reasoning-loop and context detectors.

*Progression* on a task is: a status change (seen between polls, or ``startedAt`` when the
task entered ``in_progress`` before the tracker first saw it), a handoff (the assignee changes) or
a new subtask (a child issue appears). A comment alone is **not** progression: an agent stuck in
a loop typically keeps commenting, and a comment bumps ``updatedAt``, so neither counts. Nor is a
``startedAt`` that moves while the status stays ``in_progress``: Paperclip 2026.916.1 stamps it
anew on every ``PATCH {"status": "in_progress"}``, also of a task already in progress, which is
exactly what an agent that ends every run by re-asserting its status does.

For every open task the tracker keeps what happened since its last progression
(prompt sizes span the whole task, across progressions):
the runs on it (from ``contextSnapshot.issueId``), the LLM calls (runs that reported LLM
usage) and their spend (the runs' reported ``costUsd``), the unproductive runs (liveness
``empty_response`` / ``plan_only``, and retries of a failed run), and the prompt size of its first and latest run. Runs
are deduplicated by id, so the short windows the API returns add up over polls. The API
does not tie cost events to runs, so an adapter that reports no usage (``process``) shows
runs but no LLM calls or spend here.

The walk is incremental. The tracker remembers the issues it last took in (the mapping itself,
keyed by issue id, as the snapshot holds it) and, from an ``IssueDelta``, evaluates again only
the issues whose task can have changed since: the changed ones, the removed ones (their tasks
go), the parents whose children changed (a child added, removed, reparented or with another
``createdAt``), and the issues whose last evaluation depended on the time of the poll (no
timestamp to go by, a timestamp or a child in the future, or a handoff not yet counted because
the clock had not moved). Any other issue would evaluate to the task held already. It keeps the
newest child's ``createdAt`` of every parent across polls, so that a task seen again (reopened)
gets the newest of all its children; when a parent's newest child goes, the next newest is
counted again from every issue (seldom: an issue deleted, reparented or made older). A delta
that does not start from the issues last taken in (the first poll, the poll after an update
that raised, a company seen again) evaluates every issue again, against the tasks held: after
every poll the tasks are those a walk of every issue gives. (A clock that goes back needs no
walk: a task that did not depend on the time of the poll has progressed at least to its issue's
own time, which a clamp to an earlier time cannot raise.)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

import msgspec
from msgspec.structs import replace

from agentwatch.analysis.views import Generations, HasGeneration
from agentwatch.model import REPEATED_TOOL_CALL, TERMINAL_ISSUE_STATUSES, CompanySnapshot, Issue, Run
from agentwatch.model.delta import IssueDelta, issue_delta

UNPRODUCTIVE_LIVENESS = frozenset({"empty_response", "plan_only", REPEATED_TOOL_CALL})


class TaskProgress(msgspec.Struct, frozen=True, gc=False):
    """One open task as the tracker holds it at one poll: a value, replaced when it changes. A
    frozen msgspec struct rather than a frozen dataclass: a walk of every issue makes tens of
    thousands, and a struct is made in C (it holds only strings, numbers and a frozenset of
    strings, so never a cycle: the garbage collector can leave it alone)."""

    issue_id: str
    identifier: str
    agent_id: str | None
    progressed_at: float
    status: str = "in_progress"
    runs: frozenset[str] = frozenset()  # the runs on it since its last progression, by id
    llm_calls: int = 0
    spend_usd: float = 0.0
    unproductive_runs: int = 0
    model: str = ""
    first_input_tokens: int | None = None
    first_run_at: float | None = None
    last_input_tokens: int | None = None
    last_run_at: float | None = None

    def progressed(self, at: float, agent_id: str | None, status: str | None = None) -> TaskProgress:
        """The same task after a progression (in ``status``, by default its own): loop counters
        restart, prompt growth spans the task."""
        return TaskProgress(
            self.issue_id,
            self.identifier,
            agent_id,
            at,
            status=self.status if status is None else status,
            model=self.model,
            first_input_tokens=self.first_input_tokens,
            first_run_at=self.first_run_at,
            last_input_tokens=self.last_input_tokens,
            last_run_at=self.last_run_at,
        )


class TaskTracker(HasGeneration):
    """Keeps a ``TaskProgress`` for every open task of one company (loops count only those in progress)."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskProgress] = {}
        self._tasks_view: Mapping[str, TaskProgress] = MappingProxyType(self._tasks)
        self._base: Mapping[str, Issue] | None = None  # the issues last taken in; None: evaluate all
        # the createdAt of each parent's newest child, over all its children that have one (0.0
        # and less left out): kept across polls, a task seen again needs all its children
        self._newest: dict[str, float] = {}
        # the issues whose last evaluation depended on the time of the poll (a dict: kept in order)
        self._volatile: dict[str, None] = {}
        # what the last update may have changed, for what is kept from the tasks (``LoopIndex``):
        # the ids of the tasks it added, replaced or dropped (None: any task); ``updates`` counts
        # the updates that completed
        self.touched: frozenset[str] | None = None
        self.updates = 0
        self._generations = Generations()
        # the ids of the tasks a run with a prompt size reached, and perhaps of a few that have
        # gone since: few of the open tasks, so the context signals need not walk them all
        self._prompted: dict[str, None] = {}

    @property
    def tasks(self) -> Mapping[str, TaskProgress]:
        """Every open task by issue id: a read-only view, valid until the next ``update`` (the
        tasks in it are frozen values, which stay valid for good)."""
        return self._tasks_view

    def _hold(self, tasks: dict[str, TaskProgress]) -> None:
        self._tasks = tasks
        self._tasks_view = MappingProxyType(tasks)

    def update(self, cs: CompanySnapshot, now: float, delta: IssueDelta | None = None) -> None:
        """Takes in one poll. ``delta`` is what changed from the issues of the previous poll to
        ``cs.issues`` (its ``after`` must be ``cs.issues``); without it the tracker works it out
        from the issues it last took in."""
        issues = cs.issues
        if delta is not None and delta.after is not issues:
            raise ValueError("the delta does not end at this poll's issues")
        base, self._base = self._base, None  # None until this update completes: one that raises
        # half-way leaves an evaluation of every issue (against the tasks held) to the next
        self.touched = None
        if delta is None and base is not None:
            delta = issue_delta(base, issues)
        touched: set[str] | None
        if delta is not None and delta.follows(base):
            touched = self._evaluate_delta(delta, now)
        else:
            self._evaluate_all(issues, now)
            touched = None
        fold_runs(self._tasks, cs.runs, touched, self._prompted)
        tasks = self._tasks
        if touched is None:
            self._prompted = {iid: None for iid, task in tasks.items() if task.last_input_tokens is not None}
        else:
            for iid in touched:
                if iid not in tasks:
                    self._prompted.pop(iid, None)
        self._base = issues
        self.touched = None if touched is None else frozenset(touched)
        if touched is None or touched:
            self._generations.advance()
        self.updates += 1

    def prompted(self) -> list[TaskProgress]:
        """The open tasks with the prompt size of a run (``last_input_tokens``)."""
        tasks = self._tasks
        return [task for iid in self._prompted if (task := tasks.get(iid)) is not None and task.last_input_tokens is not None]

    def _evaluate_all(self, issues: Mapping[str, Issue], now: float) -> None:
        """Every issue, against the tasks held; the tasks of the issues not open any more go."""
        self._newest = _newest_children(issues.values(), {})
        current: dict[str, TaskProgress] = {}
        volatile: dict[str, None] = {}
        self._evaluate(issues.values(), now, current, volatile)
        self._hold(current)
        self._volatile = volatile

    def _evaluate_delta(self, delta: IssueDelta, now: float) -> set[str]:
        """Only the issues whose task may differ from the one held: the changed and removed ones,
        the parents whose children changed, and the volatile ones. Any other issue is the object
        it was when last evaluated, its children are, and its task did not depend on the time of
        the poll: it evaluates to the task held (to none if none is held). Returns their ids."""
        after = delta.after
        newest = self._newest
        dirty = dict(self._volatile)
        born: list[Issue] = []  # children new to their parent (or with another createdAt)
        recount = False
        for iid, old, new in delta.pairs():
            dirty[iid] = None
            was, is_ = _as_child(old), _as_child(new)
            if was == is_:
                continue
            if was is not None:
                dirty[was[0]] = None
                if was[1] == newest.get(was[0]):
                    recount = True  # the parent's newest child has gone: the next newest is not held
            if is_ is not None and new is not None:
                dirty[is_[0]] = None
                born.append(new)
        if recount:  # seldom: a newest child removed, reparented or made older
            self._newest = _newest_children(after.values(), {})
        else:
            _newest_children(born, newest)
        updated: dict[str, TaskProgress] = {}
        volatile: dict[str, None] = {}
        self._evaluate([after[iid] for iid in dirty if iid in after], now, updated, volatile)
        # nothing held has changed until here: an evaluation that raises leaves the tasks as they were
        tasks = self._tasks
        for iid in dirty:
            task = updated.get(iid)
            if task is not None:
                tasks[iid] = task
            else:  # gone, done, cancelled or a canary
                tasks.pop(iid, None)
        self._volatile = volatile  # every issue held volatile was dirty, so evaluated again
        return set(dirty)

    def _evaluate(self, issues: Iterable[Issue], now: float, out: dict[str, TaskProgress], volatile: dict[str, None]) -> None:
        """The task of each open issue of ``issues`` into ``out``, against the tasks held, which it
        leaves as they are. The issues whose task depends on ``now`` go to ``volatile``. The one
        evaluation of an issue, for a walk of every issue and for an incremental one alike."""
        newest_child = self._newest.get
        held = self._tasks
        terminal = TERMINAL_ISSUE_STATUSES
        for issue in issues:
            status = issue.status
            if status in terminal or issue.is_canary:
                continue
            iid = issue.id
            # the latest status change we know of (startedAt for in_progress), or a new subtask
            # (conditionals rather than min and max: this runs for every open task of a full walk)
            progressed = (issue.started_at if status == "in_progress" else None) or issue.created_at or now
            child = newest_child(iid, 0.0)
            if child > progressed:
                progressed = child
            if progressed > now:
                progressed = now
            if progressed is now:  # no timestamp to go by, or one (or a child) in the future
                volatile[iid] = None
            prev = held.get(iid)
            if prev is None:
                out[iid] = TaskProgress(iid, issue.identifier, issue.assignee_agent_id, progressed, status=status)
            else:
                out[iid] = _again(prev, issue, progressed, child, now, volatile)


def _again(prev: TaskProgress, issue: Issue, progressed: float, child: float, now: float, volatile: dict[str, None]) -> TaskProgress:
    """The held task ``prev`` of ``issue`` evaluated again: ``progressed`` is the issue's own
    progression time (clamped to ``now``) and ``child`` its newest child's createdAt."""
    agent, status = issue.assignee_agent_id, issue.status
    if prev.agent_id != agent or prev.status != status:  # a handoff or a status change
        if now > prev.progressed_at:
            return prev.progressed(now, agent, status)
        if prev.agent_id != agent:  # the clock has not moved past the last progression
            volatile[issue.id] = None  # a handoff still to count: at the next poll
        return prev if prev.status == status else replace(prev, status=status)
    if issue.started_at is not None and status == "in_progress" and issue.started_at >= progressed:
        # what moves it on is not startedAt, which Paperclip re-stamps with the status unchanged
        # (see above), but only a new subtask
        again = child if child < now else now
        return prev.progressed(again, agent, status) if again > prev.progressed_at else prev  # never back
    return prev.progressed(progressed, agent, status) if progressed > prev.progressed_at else prev  # never back


@dataclass(slots=True)
class _RunFold:
    """What the runs of one poll change of one task (an accumulator), gathered before the task
    is replaced once."""

    progressed_at: float
    runs: set[str]
    llm_calls: int
    spend_usd: float
    unproductive_runs: int
    model: str
    first_input_tokens: int | None
    first_run_at: float | None
    last_input_tokens: int | None
    last_run_at: float | None

    @classmethod
    def of(cls, t: TaskProgress) -> _RunFold:
        return cls(
            t.progressed_at,
            set(t.runs),
            t.llm_calls,
            t.spend_usd,
            t.unproductive_runs,
            t.model,
            t.first_input_tokens,
            t.first_run_at,
            t.last_input_tokens,
            t.last_run_at,
        )

    def take(self, run: Run, when: float) -> None:
        if run.input_tokens is not None:  # prompt growth spans the whole task
            if self.first_run_at is None or when < self.first_run_at:
                self.first_input_tokens, self.first_run_at = run.input_tokens, when
            if self.last_run_at is None or when > self.last_run_at:
                self.last_input_tokens, self.last_run_at = run.input_tokens, when
                self.model = run.model or self.model
        if when < self.progressed_at or run.id in self.runs:
            return
        self.runs.add(run.id)
        if run.liveness_state in UNPRODUCTIVE_LIVENESS or run.retry_of_run_id:
            self.unproductive_runs += 1
        if run.input_tokens is not None or run.cost_usd is not None:
            self.llm_calls += 1
            self.spend_usd += run.cost_usd or 0.0

    def task(self, task: TaskProgress) -> TaskProgress:
        return replace(
            task,
            runs=frozenset(self.runs),
            llm_calls=self.llm_calls,
            spend_usd=self.spend_usd,
            unproductive_runs=self.unproductive_runs,
            model=self.model,
            first_input_tokens=self.first_input_tokens,
            first_run_at=self.first_run_at,
            last_input_tokens=self.last_input_tokens,
            last_run_at=self.last_run_at,
        )


def _changes(state: TaskProgress | _RunFold, run: Run, when: float) -> bool:
    """Whether ``run`` changes what ``state`` holds of its task (most runs of a window were
    folded in at an earlier poll, and change nothing)."""
    if run.input_tokens is not None:
        if state.first_run_at is None or when < state.first_run_at or state.last_run_at is None or when > state.last_run_at:
            return True
    return not (when < state.progressed_at or run.id in state.runs)


def fold_runs(tasks: dict[str, TaskProgress], runs: Iterable[Run], touched: set[str] | None, prompted: dict[str, None]) -> None:
    """The runs of the window into their open tasks, each task that they change replaced once;
    its id goes into ``touched`` (None: not kept). The ids of the tasks that a run with a prompt
    size reached go into ``prompted``."""
    folds: dict[str, _RunFold] = {}
    for run in sorted(runs, key=lambda r: (r.created_at or 0.0, r.id)):
        task = tasks.get(run.issue_id or "")
        if task is None or run.live:
            continue
        iid = task.issue_id
        when = run.created_at or run.started_at or 0.0
        if run.input_tokens is not None:
            prompted[iid] = None
        fold = folds.get(iid)
        if not _changes(task if fold is None else fold, run, when):
            continue
        if fold is None:
            fold = folds[iid] = _RunFold.of(task)
        fold.take(run, when)
    for iid, fold in folds.items():
        tasks[iid] = fold.task(tasks[iid])
        if touched is not None:
            touched.add(iid)


def _as_child(issue: Issue | None) -> tuple[str, float] | None:
    """(parent id, createdAt) of an issue that counts as a child of its parent, or None."""
    if issue is None or not issue.parent_id or issue.created_at is None:
        return None
    return issue.parent_id, issue.created_at


def _newest_children(issues: Iterable[Issue], newest: dict[str, float]) -> dict[str, float]:
    """Folds into ``newest`` the createdAt of each parent's newest child among ``issues`` (children
    of any status, canaries too; a createdAt of 0.0 or less does not count) and returns it."""
    get = newest.get
    for issue in issues:
        parent = issue.parent_id
        if parent:
            created = issue.created_at
            if created is not None and created > get(parent, 0.0):
                newest[parent] = created
    return newest
