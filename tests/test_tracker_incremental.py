"""The incremental TaskTracker against a walk of every issue, after every poll.

``OracleTracker`` below is the tracker as it was before it went incremental (the walk of every
issue, every poll), kept here verbatim but for its name and its run folding (the tracker's own,
which did not change), as the reference: after every poll the
incremental tracker's tasks must equal the oracle's (same keys, equal ``TaskProgress`` values,
run counts and prompt sizes included).
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.analysis.loops import LoopIndex, LoopSignals
from agentwatch.analysis.progress import TaskProgress, TaskTracker, fold_runs
from agentwatch.model import TERMINAL_ISSUE_STATUSES, Company, CompanySnapshot, Issue, Run
from agentwatch.model.delta import IssueDelta, issue_delta
from issue_polls import AGENT_IDS, IDS, TIMES, issue_polls

NOW = 1_000_000.0


# -- the oracle: TaskTracker.update as it was, a walk of every issue every poll ------------------


class OracleTracker:
    def __init__(self) -> None:
        self.tasks: dict[str, TaskProgress] = {}
        self._prompted: dict[str, None] = {}  # written by the tracker's _fold_runs, run below

    def update(self, cs: CompanySnapshot, now: float) -> None:
        newest_child: dict[str, float] = {}
        for issue in cs.issues.values():
            if issue.parent_id and issue.created_at is not None:
                if issue.created_at > newest_child.get(issue.parent_id, 0.0):
                    newest_child[issue.parent_id] = issue.created_at
        current: dict[str, TaskProgress] = {}
        held = self.tasks
        for issue in cs.issues.values():
            if issue.status in TERMINAL_ISSUE_STATUSES or issue.is_canary:
                continue
            progressed = (issue.started_at if issue.status == "in_progress" else None) or issue.created_at or now
            child = newest_child.get(issue.id, 0.0)
            if child > progressed:
                progressed = child
            if progressed > now:
                progressed = now
            prev = held.get(issue.id)
            if prev is not None:
                if prev.agent_id != issue.assignee_agent_id or prev.status != issue.status:
                    progressed = now
                elif issue.status == "in_progress" and issue.started_at is not None and issue.started_at >= progressed:
                    # startedAt re-stamped in the same status is not progression: only what else counts
                    progressed = max(min(child, now), prev.progressed_at)
                else:
                    progressed = max(progressed, prev.progressed_at)
            if prev is None:
                task = TaskProgress(issue.id, issue.identifier, issue.assignee_agent_id, progressed, status=issue.status)
            elif progressed > prev.progressed_at:
                task = prev.progressed(progressed, issue.assignee_agent_id)
            else:
                task = prev
            current[issue.id] = msgspec.structs.replace(task, status=issue.status)
        self.tasks = current

        # the runs are folded in as before: the tracker's own code, which did not change
        fold_runs(self.tasks, cs.runs, None, self._prompted)


# -- helpers ---------------------------------------------------------------------------------------


def company(issues: dict[str, Issue], runs: list[Run] = ()) -> CompanySnapshot:
    return CompanySnapshot(Company("c", "C"), issues=issues, runs=list(runs))


def issue(iid: str, status: str = "todo", **kw) -> Issue:
    return Issue(iid, iid.upper(), status, **kw)


def both(polls: list[tuple[dict[str, Issue], float]]) -> tuple[TaskTracker, OracleTracker]:
    """An incremental tracker and the oracle, after the same polls, checked equal after each."""
    tracker, oracle = TaskTracker(), OracleTracker()
    for issues, now in polls:
        cs = company(issues)
        tracker.update(cs, now)
        oracle.update(cs, now)
        assert tracker.tasks == oracle.tasks
    return tracker, oracle


# -- the property: equal to the oracle after every poll ------------------------------------------

RUN_TIMES = (None, 0.0, 995_000.0, 999_000.0, 1_000_000.0, 1_000_500.0, 1_002_000.0)


@st.composite
def a_run(draw, n: int) -> Run:
    return Run(
        f"r{n}",
        "c",
        draw(st.sampled_from(("alice", "bob"))),
        draw(st.sampled_from(("succeeded", "failed", "running"))),
        issue_id=draw(st.sampled_from((None, "gone") + IDS)),
        liveness_state=draw(st.sampled_from(("", "completed", "empty_response", "plan_only"))),
        retry_of_run_id=draw(st.sampled_from((None, "r0"))),
        started_at=draw(st.sampled_from(RUN_TIMES)),
        created_at=draw(st.sampled_from(RUN_TIMES)),
        input_tokens=draw(st.sampled_from((None, 1000, 5000))),
        cost_usd=draw(st.sampled_from((None, 0.0, 0.25))),
        model=draw(st.sampled_from(("", "m1", "m2"))),
    )


@st.composite
def a_sequence(draw):
    """Polls of issues, each with the time of the poll, the runs the API returns, and how the
    tracker is handed the delta: none (it works it out), the delta from the previous poll, or one
    that says everything changed (an evaluation of every issue against the tasks held). On top
    of what ``issue_polls`` changes, some issues are handed off and nothing else; the clock
    often stands still, and now and then goes back."""
    polls = draw(issue_polls(max_polls=6))
    now = draw(st.sampled_from((990_000.0, 999_000.0, 999_999.0, NOW)))
    out = []
    runs: dict[str, Run] = {}  # a run is the same for the whole sequence (its id dedupes it)
    drawn: dict[str, Issue] = {}
    previous: dict[str, Issue] = {}
    for polled in polls:
        # an issue the strategy did not change stays the object handed over the poll before
        issues = {iid: previous[iid] if drawn.get(iid) is obj else obj for iid, obj in polled.items()}
        for iid in draw(st.lists(st.sampled_from(sorted(issues)), unique=True, max_size=3)) if issues else ():
            issues[iid] = msgspec.structs.replace(issues[iid], assignee_agent_id=draw(st.sampled_from(AGENT_IDS)))
        drawn, previous = polled, issues
        # mostly forward, often not at all, now and then back
        now += draw(st.sampled_from((1000.0, 0.0, 0.0, 0.0, 0.5, 1.0, 500.0, 2000.0, -1.0)))
        for n in draw(st.lists(st.integers(0, 7), max_size=4)):
            runs.setdefault(f"r{n}", draw(a_run(n)))
        window = [runs[r] for r in draw(st.lists(st.sampled_from(sorted(runs)), unique=True))] if runs else []
        how = draw(st.sampled_from(("none", "given", "given", "everything")))
        out.append((issues, now, window, how))
    return out


def plain_loop_signals(tasks, now: float, min_age: float, min_calls: int) -> dict[str, LoopSignals]:
    """The loop signals by their definitions, one task at a time (the walk ``LoopIndex`` replaced)."""
    out: dict[str, dict] = {}
    for task in tasks:
        if not task.agent_id or task.status != "in_progress":
            continue
        s = out.setdefault(task.agent_id, msgspec.structs.asdict(LoopSignals()))
        s["max_runs_without_progress"] = max(s["max_runs_without_progress"], len(task.runs))
        s["max_calls_without_progress"] = max(s["max_calls_without_progress"], task.llm_calls)
        s["oldest_progress_age"] = max(s["oldest_progress_age"], now - task.progressed_at)
        s["unproductive_runs"] += task.unproductive_runs
        if now - task.progressed_at > min_age and max(len(task.runs), task.llm_calls) > min_calls:
            s["looping_tasks"] += 1
            s["looping_spend_usd"] += task.spend_usd
    for s in out.values():
        s["looping_spend_usd"] = pytest.approx(s["looping_spend_usd"])
    return {agent: LoopSignals(**s) for agent, s in out.items()}


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(a_sequence(), st.sampled_from((0.0, 100.0, 5000.0)), st.integers(1, 3))
def test_equal_to_the_walk_of_every_issue_after_every_poll(sequence, min_age, min_calls):
    """And the loop signals kept from the tasks the tracker touched equal their definitions."""
    tracker, oracle, loops = TaskTracker(), OracleTracker(), LoopIndex()
    before = None
    for issues, now, runs, how in sequence:
        cs = company(issues, runs)
        delta = {"none": None, "given": issue_delta(before, issues), "everything": IssueDelta.everything(issues)}[how]
        tracker.update(cs, now, delta)
        oracle.update(cs, now)
        assert tracker.tasks == oracle.tasks
        # the tasks with a prompt size, which the context signals read, kept as the tracker goes
        prompted = sorted(t.issue_id for t in tracker.prompted())
        assert prompted == sorted(t.issue_id for t in oracle.tasks.values() if t.last_input_tokens is not None)
        loops.update(tracker)
        assert loops.signals(now, lambda agent: (min_age, min_calls)) == plain_loop_signals(oracle.tasks.values(), now, min_age, min_calls)
        before = issues


def test_runs_on_a_task_that_did_not_change_reach_its_loop_signals():
    """The issue is the same object at the second poll, so only the runs folded in touch its task."""
    issues = {"t": issue("t", "in_progress", assignee_agent_id="alice", created_at=NOW - 900, started_at=NOW - 600)}
    tracker, loops = TaskTracker(), LoopIndex()
    tracker.update(company(issues), NOW)
    loops.update(tracker)
    runs = [
        Run(f"r{n}", "c", "alice", "succeeded", issue_id="t", created_at=NOW - 100 + n, input_tokens=1000, cost_usd=0.5) for n in range(3)
    ]
    tracker.update(company(issues, runs), NOW + 10, issue_delta(issues, issues))
    loops.update(tracker)
    s = loops.signals(NOW + 10, lambda agent: (0.0, 2))["alice"]
    assert (s.max_runs_without_progress, s.max_calls_without_progress, s.looping_tasks, s.looping_spend_usd) == (3, 3, 1, 1.5)


@settings(max_examples=100, deadline=None)
@given(a_sequence())
def test_loops_taken_in_after_a_missed_update_or_one_that_raised(sequence):
    """A ``LoopIndex`` that missed a tracker update, or whose tracker's last update raised,
    takes in every task again rather than the last update's touched ones."""
    tracker, oracle, loops = TaskTracker(), OracleTracker(), LoopIndex()
    before = None
    for k, (issues, now, runs, _how) in enumerate(sequence):
        cs = company(issues, runs)
        tracker.update(cs, now, issue_delta(before, issues))
        oracle.update(cs, now)
        if k % 2 == 0:  # every other update missed
            loops.update(tracker)
            assert loops.signals(now, lambda agent: (0.0, 1)) == plain_loop_signals(oracle.tasks.values(), now, 0.0, 1)
        before = issues
    with pytest.raises(ValueError):  # a delta that does not end at the poll's issues
        tracker.update(company({}), NOW, IssueDelta.everything({"x": Issue("x", "X", "in_progress")}))
    loops.update(tracker)
    assert loops.signals(NOW, lambda agent: (0.0, 1)) == plain_loop_signals(tracker.tasks.values(), NOW, 0.0, 1)


@settings(max_examples=100, deadline=None)
@given(issue_polls(max_polls=6), st.lists(st.sampled_from((0.0, 1.0, 1000.0)), min_size=6, max_size=6))
def test_a_delta_from_another_base_is_taken_as_everything(polls, steps):
    """Each delta starts from a copy of the previous poll's issues (equal, but not the mapping
    the tracker took in), or from the poll before that: it does not follow the tracker's issues,
    so the tracker evaluates every issue again."""
    tracker, oracle = TaskTracker(), OracleTracker()
    now, older, previous = 999_000.0, {}, {}
    for k, (issues, step) in enumerate(zip(polls, steps, strict=False)):
        now += step
        delta = issue_delta(dict(previous) if k % 2 else older, issues)
        tracker.update(company(issues), now, delta)
        oracle.update(company(issues), now)
        assert tracker.tasks == oracle.tasks
        older, previous = previous, issues


AGENTS = ("alice", "bob", None)
STATES = ("todo", "in_progress", "in_review")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.sampled_from(("t", "u", "v")), st.sampled_from(("handoff", "status", "both"))), max_size=3),
            st.sampled_from((0.0, 0.0, 1.0, 600.0)),
            st.sampled_from(("none", "given", "everything")),
        ),
        min_size=2,
        max_size=10,
    )
)
def test_handoffs_and_status_changes_while_the_clock_stands_still(steps):
    """Issues with every timestamp in the past, handed off and moved between open statuses while
    the clock often stands still: a change at the time of the last progression is no progression
    until the clock moves, and nothing else changes then."""
    issues = {
        "t": issue("t", "todo", assignee_agent_id="alice", created_at=NOW - 600),
        "u": issue("u", "in_progress", assignee_agent_id="bob", created_at=NOW - 900, started_at=NOW - 300),
        "v": issue("v", "in_review", parent_id="t", created_at=NOW - 100),
    }
    tracker, oracle = TaskTracker(), OracleTracker()
    now, before = NOW - 100, None  # a float equal to v's createdAt, not the same object
    for changes, step, how in steps:
        issues = dict(issues)
        for iid, what in changes:
            old = issues[iid]
            agent = AGENTS[(AGENTS.index(old.assignee_agent_id) + 1) % 3] if what != "status" else old.assignee_agent_id
            status = STATES[(STATES.index(old.status) + 1) % 3] if what != "handoff" else old.status
            issues[iid] = msgspec.structs.replace(old, assignee_agent_id=agent, status=status)
        now += step
        delta = {"none": None, "given": issue_delta(before, issues), "everything": IssueDelta.everything(issues)}[how]
        tracker.update(company(issues), now, delta)
        oracle.update(company(issues), now)
        assert tracker.tasks == oracle.tasks
        before = issues


# -- deltas that do not follow the issues last taken in -------------------------------------------


def test_a_delta_that_does_not_start_from_the_issues_taken_in():
    first = {"a": issue("a", created_at=NOW - 100), "b": issue("b", created_at=NOW - 100)}
    second = {"a": issue("a", "done", created_at=NOW - 100), "b": first["b"], "c": issue("c", created_at=NOW - 50)}
    tracker, oracle = both([(first, NOW)])
    # a delta from an equal copy of the second poll says nothing changed: taken in as is, the
    # tracker would keep a's task and miss c
    stale = issue_delta(dict(second), second)
    assert stale.changed == () and stale.removed == ()
    tracker.update(company(second), NOW + 10, stale)
    oracle.update(company(second), NOW + 10)
    assert tracker.tasks == oracle.tasks and set(tracker.tasks) == {"b", "c"}


def test_a_delta_must_end_at_the_poll_it_comes_with():
    issues = {"a": issue("a", created_at=NOW)}
    with pytest.raises(ValueError):
        TaskTracker().update(company(issues), NOW, issue_delta(None, dict(issues)))


def test_everything_keeps_the_tasks_held():
    """A delta that says everything changed evaluates every issue again, against the tasks held:
    run counts and progression times survive it."""
    issues = {"t": issue("t", "in_progress", assignee_agent_id="alice", started_at=NOW - 5000)}
    runs = [Run(f"r{k}", "c", "alice", "succeeded", issue_id="t", created_at=NOW - 100 + k, cost_usd=0.1) for k in range(3)]
    tracker = TaskTracker()
    tracker.update(company(issues, runs), NOW)
    held = dict(tracker.tasks)  # the tasks are frozen: a copy of the mapping is a copy of them
    tracker.update(company(issues), NOW + 60, IssueDelta.everything(issues))
    assert tracker.tasks == held and tracker.tasks["t"].llm_calls == 3


def test_an_update_that_raised_half_way_changes_no_task_and_the_next_evaluates_everything():
    good = {f"i{n}": issue(f"i{n}", "todo", assignee_agent_id="alice", created_at=NOW - 1000) for n in range(6)}
    runs = [Run("r1", "c", "alice", "succeeded", issue_id="i0", created_at=NOW - 10, input_tokens=100)]
    tracker, oracle = TaskTracker(), OracleTracker()
    for t in (tracker, oracle):
        t.update(company(good, runs), NOW)
    held = dict(tracker.tasks)  # the tasks are frozen: a copy of the mapping is a copy of them
    # a poll in which every issue changed (handoffs: progression, new task objects) and one in
    # the middle cannot be evaluated (a createdAt that is no number)
    bad = {iid: issue(iid, "todo", assignee_agent_id="bob", created_at=NOW - 1000) for iid in good}
    bad["i3"] = issue("i3", "todo", assignee_agent_id="bob", created_at="not a time")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tracker.update(company(bad), NOW + 10)
    assert tracker.tasks == held  # nothing half-done
    # the next poll hands over a delta from the bad poll: it does not start from what the
    # tracker last took in (nothing, since the update raised), so every issue is evaluated
    fixed = dict(bad, i3=issue("i3", "todo", assignee_agent_id="bob", created_at=NOW - 1000))
    tracker.update(company(fixed), NOW + 20, issue_delta(bad, fixed))
    oracle.update(company(fixed), NOW + 20)  # the oracle never saw the bad poll
    assert tracker.tasks == oracle.tasks
    assert all(t.agent_id == "bob" and t.progressed_at == NOW + 20 for t in tracker.tasks.values())


def test_an_update_whose_run_folding_raised_is_like_the_walk_of_every_issue():
    """A run that cannot be folded in raises after the tasks were evaluated, as it did before;
    the next poll evaluates every issue again against what the tracker holds."""
    issues = {"t": issue("t", "in_progress", assignee_agent_id="alice", started_at=NOW - 500)}
    bad_run = Run("r1", "c", "alice", "succeeded", issue_id="t", created_at=NOW - 10, input_tokens=100)
    worse = Run("r2", "c", "alice", "succeeded", issue_id="t", created_at="later", input_tokens=100)  # type: ignore[arg-type]
    tracker, oracle = both([(issues, NOW)])
    for t in (tracker, oracle):
        with pytest.raises(TypeError):
            t.update(company(issues, [bad_run, worse]), NOW + 10)
    assert tracker.tasks == oracle.tasks
    nxt = dict(issues, u=issue("u", created_at=NOW))
    tracker.update(company(nxt), NOW + 20)
    oracle.update(company(nxt), NOW + 20)
    assert tracker.tasks == oracle.tasks


# -- the cases an incremental walk could get wrong -----------------------------------------------


def test_a_task_reopened_whose_children_did_not_change():
    parent = issue("p", "todo", created_at=NOW - 5000)
    kids = {
        "c1": issue("c1", "done", parent_id="p", created_at=NOW - 3000),
        "c2": issue("c2", "todo", parent_id="p", created_at=NOW - 4000),
    }
    p1 = {"p": parent, **kids}
    p2 = {"p": issue("p", "done", created_at=NOW - 5000), **kids}  # the children: the same objects
    p3 = {"p": issue("p", "todo", created_at=NOW - 5000), **kids}
    tracker, _ = both([(p1, NOW), (p2, NOW + 10), (p3, NOW + 20)])
    # a new task (it was done): its newest child, which did not change since the first poll
    assert tracker.tasks["p"].progressed_at == NOW - 3000


def test_a_new_subtask_of_a_task_that_did_not_change():
    parent = issue("p", "in_progress", assignee_agent_id="alice", started_at=NOW - 5000)
    child = issue("c", "todo", parent_id="p", created_at=NOW - 10)
    older = issue("d", "todo", parent_id="p", created_at=NOW - 2000)
    tracker, _ = both([({"p": parent}, NOW - 100), ({"p": parent, "c": child}, NOW), ({"p": parent, "c": child, "d": older}, NOW + 10)])
    assert tracker.tasks["p"].progressed_at == NOW - 10  # the new subtask; the older one is none


def test_a_removed_or_reparented_newest_child_leaves_no_stale_maximum():
    base = {
        "a": issue("a", "done", created_at=NOW - 9000),
        "b": issue("b", "done", created_at=NOW - 9000),
        "new": issue("new", "todo", parent_id="a", created_at=NOW - 1000),
        "old": issue("old", "todo", parent_id="a", created_at=NOW - 5000),
    }
    removed = {k: v for k, v in base.items() if k != "new"}
    reparented = dict(base, new=issue("new", "todo", parent_id="b", created_at=NOW - 1000))
    older = dict(base, new=issue("new", "todo", parent_id="a", created_at=NOW - 8000))
    for after, a_at, b_at in ((removed, NOW - 5000, None), (reparented, NOW - 5000, NOW - 1000), (older, NOW - 5000, None)):
        reopened = dict(after, a=issue("a", "todo", created_at=NOW - 9000), b=issue("b", "todo", created_at=NOW - 9000))
        tracker, _ = both([(base, NOW), (after, NOW + 10), (reopened, NOW + 20)])
        assert tracker.tasks["a"].progressed_at == a_at
        assert tracker.tasks["b"].progressed_at == (b_at or NOW - 9000)


def test_a_child_with_a_future_created_at():
    parent = issue("p", "in_progress", assignee_agent_id="alice", started_at=NOW - 1000)
    p1 = {"p": parent, "c": issue("c", "todo", parent_id="p", created_at=NOW + 1000)}
    # nothing changes, the clock moves on: the child's time comes closer, then passes
    tracker, _ = both([(p1, NOW), (p1, NOW + 400), (p1, NOW + 400), (p1, NOW + 1500), (p1, NOW + 3000)])
    assert tracker.tasks["p"].progressed_at == NOW + 1000


def test_an_issue_with_no_timestamps():
    p1 = {"t": issue("t", "in_progress", assignee_agent_id="alice"), "u": issue("u", "todo", started_at=NOW - 10)}
    runs = [Run("r1", "c", "alice", "succeeded", issue_id="t", created_at=NOW + 5, cost_usd=0.1)]
    tracker, oracle = both([(p1, NOW)])
    for now in (NOW + 10, NOW + 10, NOW + 20):
        tracker.update(company(p1, runs), now)
        oracle.update(company(p1, runs), now)
        assert tracker.tasks == oracle.tasks
    assert tracker.tasks["t"].progressed_at == NOW + 20  # the time of each poll: it never stands still
    assert tracker.tasks["u"].progressed_at == NOW + 20  # no createdAt, and startedAt counts in progress only


def test_a_handoff_the_clock_has_not_moved_past():
    """A handoff seen at the time of the last progression is no progression yet (the task keeps
    its old agent); it is at the next poll whose clock has moved, whatever else changed."""
    then = NOW - 100  # the time of the first polls, and the task's createdAt (another float object)
    p1 = {"t": issue("t", "todo", assignee_agent_id="alice", created_at=NOW - 100)}
    p2 = {"t": issue("t", "todo", assignee_agent_id="bob", created_at=NOW - 100)}
    tracker, _ = both([(p1, then), (p2, then), (p2, then)])
    assert tracker.tasks["t"].agent_id == "alice" and tracker.tasks["t"].progressed_at == then
    tracker, _ = both([(p1, then), (p2, then), (p2, then), (p2, NOW + 1)])
    assert tracker.tasks["t"].agent_id == "bob" and tracker.tasks["t"].progressed_at == NOW + 1


def test_a_clock_that_goes_back():
    p1 = {"t": issue("t", "todo", created_at=NOW), "c": issue("c", "todo", parent_id="t", created_at=NOW - 10)}
    both([(p1, NOW + 100), (p1, NOW - 100), (p1, NOW - 100), (p1, NOW + 200)])


def test_timestamps_at_zero_and_below():
    """A 0.0 is no timestamp (``or`` falls through it); a newest child counts from 0.0 on."""
    p1 = {
        "a": issue("a", "in_progress", started_at=0.0, created_at=-50.0),
        "b": issue("b", "todo", created_at=-50.0),
        "c": issue("c", "todo", created_at=-50.0),
        "k": issue("k", "todo", parent_id="c", created_at=-10.0),
        "z": issue("z", "todo", created_at=0.0),
    }
    tracker, _ = both([(p1, NOW), (dict(p1, k=issue("k", "todo", parent_id="c", created_at=-20.0)), NOW + 1)])
    assert {t.issue_id: t.progressed_at for t in tracker.tasks.values()} == {"a": 0.0, "b": 0.0, "c": 0.0, "k": 0.0, "z": NOW + 1}


def test_steady_polls_evaluate_only_what_changed(monkeypatch):
    """The point of it: a poll that changed one issue evaluates that issue, not every one."""
    issues = {f"i{n}": issue(f"i{n}", "todo", created_at=NOW - n) for n in range(50)}
    tracker = TaskTracker()
    tracker.update(company(issues), NOW)
    seen: list[str] = []
    evaluate = TaskTracker._evaluate

    def spy(self, batch, *args):
        batch = list(batch)
        seen.extend(i.id for i in batch)
        return evaluate(self, batch, *args)

    monkeypatch.setattr(TaskTracker, "_evaluate", spy)
    nxt = dict(issues, i7=issue("i7", "in_progress", created_at=NOW - 7))
    tracker.update(company(nxt), NOW + 1)
    assert seen == ["i7"]
    assert tracker.tasks["i7"].progressed_at == NOW + 1 and tracker.tasks["i8"].progressed_at == NOW - 8


def test_times_are_those_of_the_strategy():
    assert max(t for t in TIMES if t is not None) > NOW  # future timestamps are drawn
