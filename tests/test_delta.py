"""IssueDelta: what changed between two polls' issues, by object identity."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from agentwatch.model import Issue
from agentwatch.model.delta import issue_delta
from issue_polls import issue_polls


def test_first_poll_is_everything():
    after = {"a": Issue("a", "A", "todo")}
    delta = issue_delta(None, after)
    assert delta.is_everything and delta.changed == ("a",) and delta.removed == ()


def test_changed_removed_and_kept():
    a, b, c = Issue("a", "A", "todo"), Issue("b", "B", "todo"), Issue("c", "C", "todo")
    before = {"a": a, "b": b, "c": c}
    after = {"a": a, "b": Issue("b", "B", "done"), "d": Issue("d", "D", "todo")}
    delta = issue_delta(before, after)
    assert set(delta.changed) == {"b", "d"} and delta.removed == ("c",)
    assert not delta.is_everything


def test_an_equal_issue_as_a_new_object_counts_as_changed():
    a = Issue("a", "A", "todo")
    delta = issue_delta({"a": a}, {"a": Issue("a", "A", "todo")})
    assert delta.changed == ("a",)


def test_a_consumer_takes_in_the_changes_alone_only_when_it_holds_before():
    before, after = {"a": Issue("a", "A", "todo")}, {}
    delta = issue_delta(before, after)
    assert delta.follows(before)
    assert not delta.follows({}) and not delta.follows(dict(before)) and not delta.follows(None)
    everything = issue_delta(None, before)
    assert not everything.follows(None) and not everything.follows(before) and not everything.follows({})


def test_pairs_give_each_changed_or_removed_issue_before_and_after():
    a, b, c = Issue("a", "A", "todo"), Issue("b", "B", "todo"), Issue("c", "C", "todo")
    b2, d = Issue("b", "B", "done"), Issue("d", "D", "todo")
    delta = issue_delta({"a": a, "b": b, "c": c}, {"a": a, "b": b2, "d": d})
    assert sorted(delta.pairs()) == sorted([("b", b, b2), ("d", None, d), ("c", c, None)])


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(issue_polls())
def test_delta_matches_the_two_polls(polls):
    before: dict = {}
    for after in polls:
        delta = issue_delta(before, after)
        assert set(delta.changed) == {k for k, v in after.items() if before.get(k) is not v}
        assert set(delta.removed) == set(before) - set(after)
        assert len(set(delta.changed)) == len(delta.changed)
        before = after


def test_the_owner_from_the_blocked_view_makes_a_new_issue_and_changes_none_held():
    """The source sets a blocked issue's owner from the full view of the blocked ones: as a new
    object, which the delta sees, never by changing an Issue an earlier snapshot holds."""
    from agentwatch.source.paperclip.client import with_unblock_owners

    a, b = Issue("a", "A", "blocked"), Issue("b", "B", "todo")
    held = {"a": a, "b": b}
    first = with_unblock_owners(held, {"a": Issue("a", "A", "blocked", unblock_owner="board")})
    assert first["a"].unblock_owner == "board" and a.unblock_owner is None and first["b"] is b
    assert issue_delta({"a": a, "b": b}, first).changed == ("a",)
    again = with_unblock_owners(held, {"a": Issue("a", "A", "blocked", unblock_owner="board")})
    assert again["a"] is first["a"]  # kept in the sync's dict: the next poll sees no change
    moved = with_unblock_owners(held, {"a": Issue("a", "A", "blocked", unblock_owner="user")})
    assert issue_delta(again, moved).changed == ("a",) and again["a"].unblock_owner == "board"
