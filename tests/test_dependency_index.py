"""DependencyIndex: the dependency report kept across polls equals the one from scratch."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.analysis import dependencies
from agentwatch.analysis.dependencies import DependencyIndex, analyse
from agentwatch.model import AGENT_STATUSES, Agent, Issue
from agentwatch.model.delta import IssueDelta, issue_delta
from issue_polls import AGENT_IDS, TIMES, issue_polls

NOW = 1_000_000.0
TOP_NS = (0, 1, 3, 50, -1)


def agents_of(**statuses):
    return {a: Agent(a, "c", a.title(), status=s) for a, s in statuses.items()}


# each poll's agents: some absent (an agent that vanished, or never was), the others in any status
AGENTS = st.fixed_dictionaries(
    {},
    optional={a: st.sampled_from(AGENT_STATUSES) for a in AGENT_IDS if a is not None},
).map(lambda statuses: agents_of(**statuses))


def issue(iid, status="todo", blocked_by=(), agent=None, **kw):
    return Issue(
        iid, iid.upper(), status, blocked_by=tuple(blocked_by), assignee_agent_id=agent, created_at=kw.pop("created_at", NOW - 3600), **kw
    )


def issues(*items):
    return {i.id: i for i in items}


def check(index, after, agents, now=NOW):
    for top_n in TOP_NS:
        assert index.report(now, top_n) == analyse(after, agents, now, top_n)


def feed(polls, agents=None):
    """An index fed each poll in turn (each with ``agents``), checked after every poll."""
    agents = agents_of(alice="idle") if agents is None else agents
    index, before = DependencyIndex(), None
    for after in polls:
        index.update(issue_delta(before, after), agents)
        check(index, after, agents)
        before = after
    return index


LINKED_IDS = ("a", "b", "c", "d", "e")
LINKED_REFERENCES = LINKED_IDS + ("gone",)
LINKED_STATUSES = ("todo", "blocked", "blocked", "in_progress", "done", "done", "cancelled")


@st.composite
def a_linked_issue(draw, iid: str) -> Issue:
    return Issue(
        iid,
        iid.upper(),
        draw(st.sampled_from(LINKED_STATUSES)),
        assignee_agent_id=draw(st.sampled_from(AGENT_IDS)),
        assignee_user_id=draw(st.sampled_from((None, None, "user-1"))),
        parent_id=draw(st.sampled_from((None,) + LINKED_REFERENCES)),
        # a blocker listed twice counts twice as missing, once as an edge
        blocked_by=tuple(draw(st.lists(st.sampled_from(LINKED_REFERENCES), max_size=2))),
        unblock_owner=draw(st.sampled_from((None, None, "board"))),
        created_at=draw(st.sampled_from(TIMES)),
        updated_at=draw(st.sampled_from(TIMES)),
        is_canary=draw(st.sampled_from((False, False, False, True))),
    )


@st.composite
def linked_polls(draw, max_polls: int = 8) -> list[dict[str, Issue]]:
    """Like ``issue_polls``, over fewer issues that link to each other more often, each poll
    changing one or two fields of one or two issues (or replacing, dropping, or handing over an
    equal one as a new object). A done blocker reopened under a dependent that did not change,
    a new link joining two components that did not change, an open child coming to or leaving a
    blocked parent that did not change, or a blocker listed twice turn up here far more often:
    with ``issue_polls`` alone, 300 examples let the index skip the first two rules unseen."""
    current = {iid: draw(a_linked_issue(iid)) for iid in LINKED_IDS}
    polls = [current]
    for _ in range(draw(st.integers(0, max_polls - 1))):
        current = dict(current)
        for iid in draw(st.lists(st.sampled_from(LINKED_IDS), min_size=1, max_size=2, unique=True)):
            old = current.get(iid)
            action = draw(st.sampled_from(("done", "status", "blocked_by", "parent_id", "is_canary", "new", "drop", "same")))
            if action == "drop":
                current.pop(iid, None)
            elif old is None or action == "new":
                current[iid] = draw(a_linked_issue(iid))
            else:
                fields = {f: getattr(old, f) for f in old.__struct_fields__}
                if action == "done":  # done, or reopened
                    fields["status"] = "todo" if old.status == "done" else "done"
                elif action != "same":  # else an equal issue as a new object
                    fields[action] = getattr(draw(a_linked_issue(iid)), action)
                current[iid] = Issue(**fields)
        polls.append(current)
    return polls


def each_poll_checked(polls, data):
    """Each poll taken in with agents of its own, and the report checked against ``analyse``."""
    index = DependencyIndex()
    before = None
    for after in polls:
        agents = data.draw(AGENTS, label="agents")
        # mostly the delta from the poll the index took in; sometimes from elsewhere (a poll it
        # missed, or none), which it must take in by starting over
        start = data.draw(st.sampled_from(("last", "last", "last", "none", "empty")), label="delta from")
        if start == "none":
            delta = issue_delta(None, after)
        elif start == "empty":
            delta = issue_delta({}, after)
        else:
            delta = issue_delta(before, after)
        index.update(delta, agents)
        now = data.draw(st.sampled_from([t for t in TIMES if t is not None]), label="now")
        top_n = data.draw(st.sampled_from(TOP_NS), label="top_n")
        assert index.report(now, top_n) == analyse(after, agents, now, top_n)
        # and it holds what an index taking in this poll from nothing holds: no link left behind
        fresh = DependencyIndex()
        fresh._take(after, agents, None)
        assert held(index) == held(fresh)
        before = after


def held(index: DependencyIndex) -> tuple:
    """What an index keeps between polls, each list sorted: each done blocker's open dependents,
    each parent's open children, and the nodes of the graph."""
    resolved = {k: sorted(dependencies._linked(index._resolved_by, k)) for k in index._resolved_by}
    children = {k: sorted(v) for k, v in index._open_children.items()}
    return resolved, children, set(index._component)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(issue_polls(max_polls=8), st.data())
def test_the_index_reports_what_analyse_does_after_every_poll(polls, data):
    each_poll_checked(polls, data)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(linked_polls(), st.data())
def test_the_index_reports_what_analyse_does_on_closely_linked_issues(polls, data):
    each_poll_checked(polls, data)


def test_a_delta_that_does_not_start_from_the_index_starts_it_over():
    a = issues(issue("a", "cancelled"), issue("b", "todo"))
    b = issues(issue("a", "cancelled"), issue("b", "blocked", ["a"], "alice"))
    c = {**b, "e": issue("e")}
    index = feed([a])
    # the delta from b to c changes only e: taken in on top of a, b's chain would be missed
    index.update(issue_delta(b, c), agents_of(alice="idle"))
    check(index, c, agents_of(alice="idle"))
    assert index.report(NOW).stalled_by_cause == {"cancelled_blocker": 1}


@pytest.mark.parametrize("failing", ["_derive", "_analyse", "_walk"])
def test_an_update_that_raises_leaves_the_next_one_to_start_over(monkeypatch, failing):
    agents = agents_of(alice="idle")
    p1 = issues(issue("a", "cancelled"), issue("b", "blocked", ["a"], "alice"), issue("c", "todo"), issue("d", "blocked", ["c"], "alice"))
    p2 = {**p1, "a": issue("a", "done"), "c": issue("c", "cancelled"), "f": issue("f", "blocked", ["b"], "alice")}
    p3 = {**p2, "g": issue("g")}
    index = feed([p1])

    real = getattr(dependencies, failing)

    def fails(*args, **kwargs):
        raise RuntimeError("half-way")

    monkeypatch.setattr(dependencies, failing, fails)
    with pytest.raises(RuntimeError):
        index.update(issue_delta(p1, p2), agents)
    assert index.report(NOW) == dependencies.DependencyReport()  # not half of each poll
    monkeypatch.setattr(dependencies, failing, real)
    # the source polled p2 all the same: the next delta starts from it
    index.update(issue_delta(p2, p3), agents)
    check(index, p3, agents)
    # b's blocker is done: b is blocked with no way forward, and holds f
    assert index.report(NOW).stalled_by_cause == {"cancelled_blocker": 1, "blocked_without_path": 1}


def test_cycles_form_and_break_across_polls():
    chain = issues(
        issue("a", "blocked", ["b"], "alice"),
        issue("b", "blocked", ["c"], "alice"),
        issue("c", "todo", agent="alice"),
        issue("z", "blocked", ["a"], "alice"),
    )
    cycle = {**chain, "c": issue("c", "blocked", ["a"], "alice")}
    # a self-loop elsewhere, and the cycle growing by one issue
    wider = {
        **cycle,
        "c": issue("c", "blocked", ["a", "d"], "alice"),
        "d": issue("d", "blocked", ["b"], "alice"),
        "s": issue("s", "blocked", ["s"], "alice"),
    }
    index = feed([chain, cycle, wider, cycle, chain])
    assert index.report(NOW).cycles == 0
    index = feed([chain, cycle])
    r = index.report(NOW)
    assert (r.cycles, r.issues_in_cycles, dict(r.stalled_by_cause)) == (1, 3, {"cycle": 1})
    index = feed([chain, cycle, wider])
    r = index.report(NOW)
    assert (r.cycles, r.issues_in_cycles) == (2, 5)


def test_a_new_link_joins_two_components_and_a_lost_one_splits_them():
    apart = issues(
        issue("a", "cancelled"),
        issue("b", "blocked", ["a"], "alice"),
        issue("c", "todo"),
        issue("d", "blocked", ["c"], "alice"),
        issue("e", "blocked", ["d"], "alice"),
    )
    # only b changes: its new blocker's component (c, d, e), untouched, joins b's
    joined = {**apart, "b": issue("b", "blocked", ["a", "d"], "alice")}
    index = feed([apart, joined])
    r = index.report(NOW)
    assert (r.nodes, r.edges, r.longest_chain, dict(r.stalled_by_cause)) == (5, 4, 3, {"cancelled_blocker": 1, "unassigned_blocker": 1})
    feed([apart, joined, apart, joined])


def test_a_blocker_that_becomes_done_resolves_its_dependents_and_back():
    todo = issues(issue("x", "todo"), issue("y", "blocked", ["x"], "alice"), issue("w", "todo", ["x"], "alice"))
    done = {**todo, "x": issue("x", "done")}
    reopened = {**todo, "x": issue("x", "todo")}
    gone = {k: v for k, v in done.items() if k != "x"}
    index = feed([todo, done])
    r = index.report(NOW)
    assert (r.edges, r.nodes, r.stalled_tasks) == (0, 0, 0)
    index = feed([todo, done, reopened])
    assert index.report(NOW).stalled_by_cause == {"unassigned_blocker": 2}
    # a done blocker deleted: no longer resolved, but missing
    index = feed([todo, done, gone])
    r = index.report(NOW)
    assert (r.missing_edges, dict(r.stalled_by_cause)) == (2, {"missing_blocker": 2})


def test_a_parent_turning_blocked_and_back():
    open_child = issues(issue("p", "todo", agent="alice"), issue("k", "todo", parent_id="p"))
    blocked = {**open_child, "p": issue("p", "blocked", agent="alice")}
    child_done = {**blocked, "k": issue("k", "done", parent_id="p")}
    canary_child = {**blocked, "k": issue("k", "todo", parent_id="p", is_canary=True)}
    moved_child = {**blocked, "k": issue("k", "todo", parent_id="q"), "q": issue("q", "blocked", agent="alice")}
    index = feed([open_child, blocked, open_child, blocked, child_done, blocked, canary_child, moved_child, blocked])
    index = feed([open_child, blocked])
    r = index.report(NOW)
    assert (r.edges, dict(r.stalled_by_cause), r.heads[0].identifier) == (1, {"unassigned_blocker": 1}, "P")
    index = feed([open_child, blocked, open_child])
    assert index.report(NOW).edges == 0


def test_an_end_whose_open_children_hold_no_edge():
    """A blocked end with open children can move, even when no edge comes from them (a canary
    child, or a canary parent): when the last one closes or moves away, the end is stuck."""
    canary_child = issues(
        issue("p", "blocked", agent="alice"), issue("k", "todo", parent_id="p", is_canary=True), issue("y", "blocked", ["p"], "alice")
    )
    canary_parent = issues(
        issue("p", "blocked", agent="alice", is_canary=True), issue("k", "todo", parent_id="p"), issue("y", "blocked", ["p"], "alice")
    )
    for held in (canary_child, canary_parent):
        k = held["k"]
        closed = {**held, "k": issue("k", "done", parent_id="p", is_canary=k.is_canary)}
        moved = {**held, "k": issue("k", "todo", parent_id="q", is_canary=k.is_canary)}
        for gone in (closed, moved):
            index = feed([held, gone])
            assert index.report(NOW).stalled_by_cause == {"blocked_without_path": 1}
            index = feed([held, gone, held])
            assert not index.report(NOW).stalled_by_cause


def test_an_agent_becoming_unavailable_and_back():
    items = issues(issue("x", "todo", agent="alice"), issue("y", "blocked", ["x"], "bob"), issue("u", "todo"))
    index = DependencyIndex()
    index.update(IssueDelta.everything(items), agents_of(alice="idle", bob="idle"))
    assert not index.report(NOW).heads
    for agents in (
        agents_of(alice="paused", bob="idle"),
        agents_of(alice="running", bob="idle"),
        agents_of(bob="idle"),
        agents_of(alice="idle", bob="error"),
    ):
        index.update(issue_delta(items, items), agents)
        check(index, items, agents)
    assert not index.report(NOW).heads


def test_the_index_holds_no_more_than_the_graph():
    items = issues(issue("x", "todo"), issue("y", "blocked", ["x"], "alice"), issue("k", "todo", parent_id="y"))
    index = feed([items, {}])
    assert not index._component and not index._open_children and not index._resolved_by and not index._heads
    assert index.report(NOW) == dependencies.DependencyReport()


def test_a_dependent_that_stops_listing_a_done_blocker_leaves_no_link_behind():
    """Its only edge was resolved, so it is in no component: the change is still taken in (it
    lists a blocker before), and the done blocker's dependents lose it."""
    first = issues(issue("b", "done"), issue("x", "todo", ["b"], "alice"))
    second = issues(issue("b", "done"), issue("x", "in_progress", [], "alice"))
    index = feed([first, second])
    fresh = DependencyIndex()
    fresh._take(second, agents_of(alice="idle"), None)
    assert held(index) == held(fresh) and not index._resolved_by


def test_a_blocker_listed_twice_is_linked_once_whichever_dependent_lists_it_first():
    """A done blocker's dependents are held once each: a dependent that lists it twice, taken in
    after another dependent of it, leaves what an index from nothing holds (found by the property
    above)."""
    first = {
        "b": Issue("b", "B", "todo", blocked_by=("c",)),
        "c": Issue("c", "C", "done"),
        "d": Issue("d", "D", "todo"),
    }
    second = {**first, "d": Issue("d", "D", "todo", blocked_by=("c", "c"))}
    index = DependencyIndex()
    index.update(issue_delta(None, first), {})
    generation = index.generation
    index.update(issue_delta(first, second), {})
    fresh = DependencyIndex()
    fresh._take(second, {}, None)
    assert held(index) == held(fresh) and index._resolved_by == {"c": ["b", "d"]}
    assert index.generation == generation  # a link to a done blocker changes no report


def test_the_report_is_a_value_and_the_generation_moves_with_it():
    issues = {"a": Issue("a", "A", "todo", blocked_by=("x",)), "x": Issue("x", "X", "cancelled")}
    index = DependencyIndex()
    index.update(issue_delta(None, issues), {})
    report, generation = index.report(NOW), index.generation
    with pytest.raises(TypeError):
        report.stalled_by_cause["cycle"] = 1  # type: ignore[index]
    later = {**issues, "x": Issue("x", "X", "done")}
    index.update(issue_delta(issues, later), {})
    assert index.generation > generation and index.report(NOW).stalled_tasks == 0
    assert report.stalled_tasks == 1 and dict(report.stalled_by_cause) == {"cancelled_blocker": 1}
