"""Pure analysis on constructed graphs and run histories, hostile ones included."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.analysis import agents as agent_analysis
from agentwatch.analysis.context import ContextWindows, growth
from agentwatch.analysis.dependencies import analyse
from agentwatch.analysis.ledger import RunLedger
from agentwatch.analysis.loops import loop_signals
from agentwatch.analysis.progress import TaskTracker
from agentwatch.model import Agent, Company, CompanySnapshot, Issue, Run

NOW = 1_000_000.0


def issue(iid, status="todo", blocked_by=(), agent=None, **kw):
    return Issue(
        iid, iid.upper(), status, blocked_by=tuple(blocked_by), assignee_agent_id=agent, created_at=kw.pop("created_at", NOW - 3600), **kw
    )


def agents(**statuses):
    return {a: Agent(a, "c", a.title(), status=s) for a, s in statuses.items()}


def issues(*items):
    return {i.id: i for i in items}


AGENTS = agents(alice="idle", bob="paused", carol="terminated", dave="error")


# -- dependency deadlocks ---------------------------------------------------------------------


def test_chain_blocked_by_a_cancelled_issue():
    r = analyse(issues(issue("a", "cancelled"), issue("b", "blocked", ["a"], "alice"), issue("c", "blocked", ["b"], "alice")), AGENTS, NOW)
    assert dict(r.stalled_by_cause) == {"cancelled_blocker": 1}
    assert [(h.identifier, h.length) for h in r.heads] == [("C", 3)]
    assert r.stalled_tasks == 2 and r.longest_chain == 3


@pytest.mark.parametrize("owner", ["bob", "carol", "dave", "ghost"])
def test_chain_end_assigned_to_an_unavailable_agent(owner):
    r = analyse(issues(issue("x", "todo", agent=owner), issue("y", "blocked", ["x"], "alice")), AGENTS, NOW)
    assert dict(r.stalled_by_cause) == {"blocker_assignee_unavailable": 1}


def test_unassigned_end_and_end_waiting_on_the_board():
    r = analyse(issues(issue("x", "todo"), issue("y", "blocked", ["x"], "alice")), AGENTS, NOW)
    assert dict(r.stalled_by_cause) == {"unassigned_blocker": 1}
    board = issue("x", "blocked", agent="alice", unblock_owner="board")
    r = analyse(issues(board, issue("y", "blocked", ["x"], "alice")), AGENTS, NOW)
    assert dict(r.stalled_by_cause) == {"waiting_on_human": 1}


def test_a_blocked_task_in_no_link_whose_block_has_no_owner_is_a_chain_of_its_own():
    """As Paperclip leaves a dependent whose blocker was deleted: blocked, blockedBy empty."""
    orphan = issue("y", "blocked", agent="alice", updated_at=NOW - 600)
    r = analyse(issues(orphan), AGENTS, NOW)
    assert dict(r.stalled_by_cause) == {"blocked_without_path": 1} and r.stalled_tasks == 1
    assert [(h.identifier, h.length, h.since) for h in r.heads] == [("Y", 1, NOW - 600)] and r.oldest_stalled_since == NOW - 600
    # not when the block has an owner, a blocker (a done one: Paperclip wakes the assignee), a
    # recovery of the platform's in charge, or open children holding it
    for held in (
        issues(issue("y", "blocked", agent="alice", unblock_owner="agent")),
        issues(issue("x", "done"), issue("y", "blocked", ["x"], "alice")),
        issues(issue("y", "blocked", agent="alice", recovery="stranded_assigned_issue")),
        issues(issue("y", "blocked", agent="alice"), issue("k", "in_progress", agent="alice", parent_id="y")),
    ):
        assert analyse(held, AGENTS, NOW).stalled_tasks == 0, held
    # an ownerless blocked task that blocks another is the end of that chain, reported once, by its head
    r = analyse(issues(orphan, issue("z", "blocked", ["y"], "alice")), AGENTS, NOW)
    assert [(h.identifier, h.cause) for h in r.heads] == [("Z", "blocked_without_path")] and r.stalled_tasks == 1


def test_movable_chains_are_healthy():
    r = analyse(
        issues(
            issue("a", "in_progress", agent="alice"),
            issue("b", "blocked", ["a"], "alice"),
            issue("c", "todo", agent="alice"),
            issue("d", "blocked", ["c"], "alice"),
            issue("e", "done"),
            issue("f", "blocked", ["e"], "alice"),  # a done blocker is resolved
        ),
        AGENTS,
        NOW,
    )
    assert r.stalled_tasks == 0 and not r.heads and r.cycles == 0
    assert r.edges == 2  # the done blocker's edge is resolved


def test_a_blocked_parent_is_held_by_its_open_children():
    parent = issue("p", "blocked", agent="alice")
    child = issue("k", "todo", parent_id="p")  # unassigned child: the parent cannot move
    r = analyse(issues(parent, child), AGENTS, NOW)
    assert dict(r.stalled_by_cause) == {"unassigned_blocker": 1}
    assert r.heads[0].identifier == "P"


def test_edges_to_missing_issues():
    r = analyse(issues(issue("y", "blocked", ["gone"], "alice")), AGENTS, NOW)
    assert r.missing_edges == 1
    assert dict(r.stalled_by_cause) == {"missing_blocker": 1}


@pytest.mark.parametrize(
    "graph",
    [
        [("a", ["b"]), ("b", ["a"])],
        [("a", ["c"]), ("b", ["a"]), ("c", ["b"])],
        [("a", ["a"])],  # a self-loop
    ],
)
def test_cycles(graph):
    items = [issue(i, "blocked", deps, "alice") for i, deps in graph] + [issue("z", "blocked", ["a"], "alice")]
    r = analyse(issues(*items), AGENTS, NOW)
    assert r.cycles == 1 and r.issues_in_cycles == len(graph)
    assert dict(r.stalled_by_cause) == {"cycle": 1}
    assert r.heads[0].identifier == "Z"


def test_canaries_stay_out_of_the_graph():
    r = analyse(issues(issue("a", "cancelled"), issue("b", "blocked", ["a"], "alice", is_canary=True)), AGENTS, NOW)
    assert r.edges == 0 and not r.heads


def test_top_n_is_capped_and_oldest_first():
    items = []
    for k in range(30):
        items.append(issue(f"x{k}", "cancelled", updated_at=NOW - 1000 * k))
        items.append(issue(f"y{k}", "blocked", [f"x{k}"], "alice", created_at=NOW - 100_000))
    r = analyse(issues(*items), AGENTS, NOW, top_n=5)
    assert len(r.heads) == 5 and r.stalled_by_cause["cancelled_blocker"] == 30
    assert [h.identifier for h in r.heads] == ["Y29", "Y28", "Y27", "Y26", "Y25"]
    assert r.oldest_stalled_since == NOW - 29000


def test_a_10k_node_chain():
    n = 10_000
    items = [issue("n0", "cancelled")] + [issue(f"n{k}", "blocked", [f"n{k - 1}"], "alice") for k in range(1, n)]
    r = analyse(issues(*items), AGENTS, NOW)
    assert r.longest_chain == n
    assert dict(r.stalled_by_cause) == {"cancelled_blocker": 1}
    assert r.heads[0].identifier == f"N{n - 1}" and r.stalled_tasks == n - 1


def test_a_wide_fan_in():
    items = [issue("root", "todo")] + [issue(f"d{k}", "blocked", ["root"], "alice") for k in range(5000)]
    r = analyse(issues(*items), AGENTS, NOW, top_n=3)
    assert r.stalled_by_cause["unassigned_blocker"] == 5000 and len(r.heads) == 3


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.sampled_from(["backlog", "todo", "in_progress", "in_review", "blocked", "done", "cancelled", "weird"]),
            st.lists(st.integers(0, 40), max_size=4),
            st.sampled_from([None, "alice", "bob", "ghost"]),
            st.sampled_from([None, "board", "user"]),
        ),
        max_size=60,
    )
)
def test_any_graph_is_analysed_without_error(rows):
    items = {f"i{k}": issue(f"i{k}", status, [f"i{d}" for d in deps], agent, unblock_owner=owner) for k, status, deps, agent, owner in rows}
    r = analyse(items, AGENTS, NOW, top_n=5)
    assert r.stalled_tasks >= sum(r.stalled_by_cause.values()) >= len(r.heads)
    assert r.longest_chain <= r.nodes


@given(
    st.lists(
        st.tuples(
            st.integers(0, 20),
            st.sampled_from(["todo", "in_progress", "blocked", "done", "cancelled"]),
            st.lists(st.integers(0, 25), max_size=3),
            st.sampled_from([None, "alice", "bob"]),
            st.sampled_from([None, NOW - 100, NOW - 200]),
        ),
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_the_report_does_not_depend_on_the_order_of_the_issues(rows, rnd):
    """Two upstream ends of the same cause: the chain's age is the older one's, whichever edge
    was read first; with or without cycles (the acyclic graph is analysed without condensing)."""
    items = list(
        {
            f"i{k}": issue(f"i{k}", status, [f"i{d}" for d in deps], agent, updated_at=updated) for k, status, deps, agent, updated in rows
        }.values()
    )
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert analyse(issues(*items), AGENTS, NOW, top_n=50) == analyse(issues(*shuffled), AGENTS, NOW, top_n=50)


def test_the_oldest_of_two_equally_stuck_ends_dates_the_chain():
    r = analyse(
        issues(
            issue("a", "cancelled", updated_at=NOW - 100),
            issue("b", "cancelled", updated_at=NOW - 500),
            issue("c", "blocked", ["a", "b"], "alice", created_at=NOW - 9000),
        ),
        AGENTS,
        NOW,
    )
    assert [(h.identifier, h.since) for h in r.heads] == [("C", NOW - 500)]


# -- loops ------------------------------------------------------------------------------------


def company(*items, runs=()):
    cs = CompanySnapshot(company=Company("c", "C"), agents=dict(AGENTS))
    cs.issues = issues(*items)
    cs.runs = list(runs)
    return cs


def runs_on(task, n, start, agent="alice", **kw):
    return [
        Run(f"{task}-r{k}-{start}", "c", agent, "succeeded", issue_id=task, created_at=start + k, finished_at=start + k + 1, **kw)
        for k in range(n)
    ]


def loops(tracker, now):
    return loop_signals(tracker.tasks.values(), now, lambda agent_id: (4 * 3600, 20))


def test_a_loop_needs_both_the_age_and_the_calls():
    started = NOW - 5 * 3600
    t = TaskTracker()
    t.update(company(issue("t", "in_progress", agent="alice", started_at=started), runs=runs_on("t", 21, started + 10)), NOW)
    assert loops(t, NOW)["alice"].looping_tasks == 1
    t = TaskTracker()
    t.update(company(issue("t", "in_progress", agent="alice", started_at=started), runs=runs_on("t", 20, started + 10)), NOW)
    assert loops(t, NOW)["alice"].looping_tasks == 0  # more than 20, strictly
    young = NOW - 4 * 3600 + 60
    t = TaskTracker()
    t.update(company(issue("t", "in_progress", agent="alice", started_at=young), runs=runs_on("t", 30, young + 1)), NOW)
    assert loops(t, NOW)["alice"].looping_tasks == 0


def test_progression_resets_the_counters_but_a_comment_does_not():
    started = NOW - 5 * 3600
    runs = runs_on("t", 25, started + 10)
    t = TaskTracker()
    t.update(company(issue("t", "in_progress", agent="alice", started_at=started), runs=runs), NOW - 100)
    assert loops(t, NOW)["alice"].max_runs_without_progress == 25
    # a comment bumps updatedAt only: no progression, and the same runs are not counted twice
    t.update(company(issue("t", "in_progress", agent="alice", started_at=started, updated_at=NOW - 50), runs=runs), NOW - 50)
    assert loops(t, NOW)["alice"].max_runs_without_progress == 25
    # a handoff is progression
    t.update(company(issue("t", "in_progress", agent="dave", started_at=started), runs=runs), NOW)
    assert loops(t, NOW + 1).get("dave").max_runs_without_progress == 0


def test_a_status_change_or_a_subtask_is_progression():
    started = NOW - 5 * 3600
    runs = runs_on("t", 25, started + 10)
    t = TaskTracker()
    t.update(company(issue("t", "in_progress", agent="alice", started_at=started), runs=runs), NOW - 100)
    t.update(company(issue("t", "in_review", agent="alice", started_at=started), runs=runs), NOW - 90)
    assert "alice" not in loops(t, NOW)  # not in progress
    t.update(company(issue("t", "in_progress", agent="alice", started_at=NOW - 80), runs=runs), NOW - 80)
    assert loops(t, NOW)["alice"].max_runs_without_progress == 0
    t = TaskTracker()
    child = issue("k", "todo", parent_id="t", created_at=NOW - 10)
    t.update(company(issue("t", "in_progress", agent="alice", started_at=started), child, runs=runs), NOW)
    assert loops(t, NOW)["alice"].max_runs_without_progress == 0


stamps = st.none() | st.sampled_from([0.0, -86400.0, NOW - 7200, NOW - 60, NOW, NOW + 3600]) | st.floats(-1e9, 2e9)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["todo", "in_progress", "blocked", "done"]), stamps, stamps, st.none() | st.integers(0, 5)),
        min_size=1,
        max_size=6,
    )
)
def test_a_new_task_has_progressed_at_its_latest_known_change(rows):
    """Seen for the first time, an open task last progressed when it entered in_progress (else when
    it was created, else now) or when its newest subtask was created, whichever is later, but not
    before the epoch nor after now: min(now, max(startedAt or createdAt or now, 0, each child's
    createdAt)), with edge values (zero, negative, future, absent) and self-parents."""
    made = [
        issue(f"i{n}", status, started_at=started, created_at=created, parent_id=None if parent is None else f"i{parent}")
        for n, (status, started, created, parent) in enumerate(rows)
    ]
    t = TaskTracker()
    t.update(company(*made), NOW)
    for task in made:
        if task.status == "done":
            assert task.id not in t.tasks
            continue
        children = [c.created_at for c in made if c.parent_id == task.id and c.created_at is not None]
        entered = task.started_at if task.status == "in_progress" else None
        expected = min(NOW, max(entered or task.created_at or NOW, 0.0, *children))
        assert t.tasks[task.id].progressed_at == expected


def test_unproductive_runs_llm_calls_and_spend():
    started = NOW - 5 * 3600
    runs = runs_on("t", 3, started + 1, liveness_state="empty_response", input_tokens=1000, cost_usd=0.5, model="gpt-5")
    t = TaskTracker()
    t.update(company(issue("t", "in_progress", agent="alice", started_at=started), runs=runs), NOW)
    task = t.tasks["t"]
    assert (task.unproductive_runs, task.llm_calls, task.spend_usd) == (3, 3, 1.5)


def test_canaries_are_not_tracked():
    t = TaskTracker()
    t.update(
        company(issue("t", "in_progress", agent="alice", started_at=NOW - 9 * 3600, is_canary=True), runs=runs_on("t", 30, NOW - 8 * 3600)),
        NOW,
    )
    assert t.tasks == {}


# -- context ----------------------------------------------------------------------------------


def test_context_windows_match_exact_prefix_and_overrides():
    w = ContextWindows({"my-model": 32000, "gpt-5": 100000})
    assert w.window("claude-sonnet-4-5") == 200000
    assert w.window("claude-sonnet-4-5-20250929") == 200000
    assert w.window("my-model") == 32000 and w.window("gpt-5") == 100000
    assert w.window("totally-new-model") is None and w.ratio("totally-new-model", 5000) is None
    assert w.ratio("gpt-5", 50000) == 0.5


def test_growth():
    assert growth(8000, 48000) == 6.0
    assert growth(None, 48000) is None and growth(0, 5) is None


def test_prompt_growth_spans_the_task():
    t = TaskTracker()
    runs = [
        Run(
            f"r{k}",
            "c",
            "alice",
            "succeeded",
            issue_id="t",
            created_at=NOW - 100 + k,
            finished_at=NOW - 99 + k,
            input_tokens=8000 + 20000 * k,
            model="claude-sonnet-4-5",
        )
        for k in range(3)
    ]
    t.update(company(issue("t", "blocked", agent="alice"), runs=runs), NOW)
    assert (t.tasks["t"].first_input_tokens, t.tasks["t"].last_input_tokens) == (8000, 48000)


def test_ledger_primes_then_counts_context_bands_and_outcomes():
    ledger = RunLedger(ContextWindows(), high_ratio=0.8)
    old = [Run("old", "c", "alice", "succeeded", finished_at=1.0, input_tokens=10, model="gpt-5")]
    assert ledger.record("c", old) == 0  # start-up: remembered, not counted
    new = [
        Run("hi", "c", "alice", "failed", finished_at=2.0, input_tokens=190000, model="claude-sonnet-4-5"),
        Run(
            "lo", "c", "alice", "succeeded", finished_at=3.0, input_tokens=20000, model="claude-sonnet-4-5", liveness_state="empty_response"
        ),
        Run("unk", "c", "alice", "succeeded", finished_at=4.0, input_tokens=20000, model="mystery-1"),
        Run("canary", "c", "alice", "succeeded", finished_at=5.0, issue_id="cn", input_tokens=1, model="gpt-5"),
    ]
    assert ledger.record("c", new + old, canary_issues={"cn"}) == 3  # the canary run is not counted
    view = ledger.view()
    assert view.context_outcomes == {
        ("c", "alice", "claude-sonnet-4-5", "high", "failed"): 1,
        ("c", "alice", "claude-sonnet-4-5", "low", "empty"): 1,
        ("c", "alice", "mystery-1", "unknown", "ok"): 1,
    }
    hist = view.context[("c", "alice", "claude-sonnet-4-5")]
    assert hist.count == 2 and math.isclose(hist.total, 0.95 + 0.1)
    assert sum(view.runs.values()) == 3
    ledger.forget_agents("c", keep=set())
    assert ledger.view().runs == {} and ledger.view().context == {}


# -- runs and heartbeats ----------------------------------------------------------------------


def test_heartbeat_gaps_use_timer_runs_only():
    runs = [Run(f"r{k}", "c", "alice", "succeeded", invocation_source="timer", started_at=100.0 * k) for k in range(5)]
    runs.append(Run("x", "c", "alice", "succeeded", invocation_source="assignment", started_at=150.0))
    gaps = agent_analysis.heartbeat_gaps(sorted(runs, key=lambda r: r.started_at))
    assert (gaps.count, gaps.mean, gaps.stddev, gaps.maximum) == (4, 100.0, 0.0, 100.0)
    assert agent_analysis.heartbeat_gaps(runs[:1]) is None


def test_consecutive_failures_count_from_the_newest_finished_run():
    statuses = ["succeeded", "failed", "cancelled", "timed_out", "failed", "running"]
    runs = [Run(f"r{k}", "c", "alice", s, created_at=float(k)) for k, s in enumerate(statuses)]
    assert agent_analysis.consecutive_failures(runs) == 3


def test_a_run_on_a_task_not_yet_listed_waits_for_the_task():
    ledger = RunLedger()
    ledger.record("c", [])  # primed
    run = Run("r", "c", "alice", "succeeded", issue_id="new-canary", finished_at=1.0)
    assert ledger.record("c", [run], known_issues=set()) == 0  # the issue list lags: wait
    assert ledger.record("c", [run], canary_issues={"new-canary"}, known_issues={"new-canary"}) == 0  # a canary: never counted
    assert ledger.view().runs == {}
    late = Run("r2", "c", "alice", "succeeded", issue_id="deleted", finished_at=2.0)
    counts = [ledger.record("c", [late], known_issues=set()) for _ in range(4)]
    assert counts == [0, 0, 0, 1]  # counted after MAX_DEFERRALS polls all the same
