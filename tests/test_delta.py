"""IssueDelta: what changed between two polls' issues, by object identity."""

from __future__ import annotations

from hypothesis import given, settings

from agentwatch.analysis.delta import issue_delta
from agentwatch.model import Issue

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


def test_rebase_starts_over_unless_the_consumer_holds_before():
    before, after = {"a": Issue("a", "A", "todo")}, {}
    delta = issue_delta(before, after)
    assert delta.rebase(before) is delta
    assert delta.rebase({}).is_everything
    assert delta.rebase(None).is_everything and delta.rebase(None).changed == ()


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
