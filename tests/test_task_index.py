"""TaskIndex: the task signals kept across polls equal the signals worked out from scratch,
and both equal the definitions, written here plainly as the oracle."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.analysis.histogram import Histogram
from agentwatch.analysis.tasks import TASK_DURATION_BUCKETS, TaskIndex, task_signals
from agentwatch.model import Company, CompanySnapshot, Issue, Run
from agentwatch.model.delta import IssueDelta, issue_delta
from issue_polls import issue_polls

NOW = 1_000_000.0
RUNS = [Run("r-ended", "c", "alice", "succeeded"), Run("r-live", "c", "alice", "running")]


def company(issues, live_runs_known=True) -> CompanySnapshot:
    return CompanySnapshot(Company("c", "C"), issues=issues, runs=RUNS, live_runs=[RUNS[1]], live_runs_known=live_runs_known)


def oracle(cs: CompanySnapshot, now: float) -> dict:
    """The signals by their definitions, one issue at a time."""
    by_agent: dict[str, Counter] = {}
    by_status, canaries, completed, stale, on_human, parked = Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    durations: dict[str, list[int]] = {}
    ages: dict[str, float] = {}
    for i in cs.issues.values():
        agent = i.assignee_agent_id or ""
        if i.is_canary:
            canaries[i.status] += 1
            continue
        by_status[i.status] += 1
        by_agent.setdefault(agent, Counter())[i.status] += 1
        # a task the platform's recovery parked counts apart from the ordinary blocked work
        if i.status == "blocked" and i.recovery and i.assignee_agent_id:
            parked[i.assignee_agent_id] += 1
        elif i.status == "blocked" and i.unblock_owner in ("board", "user") and i.assignee_agent_id:
            on_human[i.assignee_agent_id] += 1
        if i.status == "done":
            completed[agent] += 1
            if i.started_at is not None and i.completed_at is not None:
                durations.setdefault(agent, []).append(max(0, round((i.completed_at - i.started_at) * 1000)))
        if i.status == "in_progress":
            start = i.started_at if i.started_at is not None else i.created_at
            if start is not None:
                ages[agent] = max(ages.get(agent, 0.0), max(0.0, now - start))
        for kind, run in (("execution", i.execution_run_id), ("checkout", i.checkout_run_id)):
            # r-ended has ended; r-unknown is neither listed nor live, and the live list is complete
            if run in ("r-ended", "r-unknown"):
                stale[(agent, kind)] += 1
    hists = {}
    for agent, values in durations.items():
        h = Histogram(tuple(b * 1000 for b in TASK_DURATION_BUCKETS))
        for v in values:
            h.observe(v)
        hists[agent] = h.snapshot()
    return {
        "by_agent": by_agent,
        "by_status": by_status,
        "canaries": canaries,
        "completed": completed,
        "durations": hists,
        "ages": ages,
        "stale": stale,
        "on_human": on_human,
        "parked": parked,
    }


def as_dict(signals) -> dict:
    return {
        "by_agent": signals.by_agent,
        "by_status": signals.by_status,
        "canaries": signals.canaries,
        "completed": signals.completed,
        "durations": signals.durations,
        "ages": signals.oldest_in_progress_age,
        "stale": signals.stale_locks,
        "on_human": signals.blocked_on_human,
        "parked": signals.parked,
    }


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(issue_polls(), st.lists(st.floats(0, 5000), min_size=5, max_size=5))
def test_kept_across_polls_equals_from_scratch_and_the_definitions(polls, steps):
    index, before, now = TaskIndex(), None, NOW
    for issues, step in zip(polls, steps, strict=False):
        now += step
        index.update(issue_delta(before, issues))
        cs = company(issues)
        kept = as_dict(index.signals(cs, now))
        assert kept == as_dict(task_signals(cs, now))
        assert kept == oracle(cs, now)
        before = issues


def test_a_delta_from_elsewhere_starts_over():
    index = TaskIndex()
    first = {"a": Issue("a", "A", "done", assignee_agent_id="alice", started_at=0.0, completed_at=60.0)}
    index.update(IssueDelta.everything(first))
    other = {"b": Issue("b", "B", "todo")}
    # a delta whose "before" is not what the index took in: it must not subtract "a" twice or keep it
    index.update(issue_delta({"x": Issue("x", "X", "todo")}, other))
    assert as_dict(index.signals(company(other), NOW)) == oracle(company(other), NOW)


def test_an_update_that_raised_half_way_is_started_over(monkeypatch):
    index = TaskIndex()
    first = {"a": Issue("a", "A", "done", assignee_agent_id="alice", started_at=0.0, completed_at=60.0)}
    index.update(IssueDelta.everything(first))
    second = {"a": Issue("a", "A", "in_progress", assignee_agent_id="alice", started_at=10.0)}
    with monkeypatch.context() as m:
        m.setattr(TaskIndex, "_enter", lambda *a: (_ for _ in ()).throw(RuntimeError("half-way")))
        with pytest.raises(RuntimeError):
            index.update(issue_delta(first, second))
    third = dict(second)
    third["b"] = Issue("b", "B", "done", assignee_agent_id="bob", started_at=0.0, completed_at=30.0)
    index.update(issue_delta(second, third))
    assert as_dict(index.signals(company(third), NOW)) == oracle(company(third), NOW)


def test_durations_sum_stays_exact_through_many_polls():
    index, before = TaskIndex(), None
    issues = {}
    for n in range(2001):  # the same task done and reopened, with an awkward duration, over and over
        status = "done" if n % 2 == 0 else "todo"
        issues = {"a": Issue("a", "A", status, assignee_agent_id="alice", started_at=0.1, completed_at=0.1 + 3599.7)}
        index.update(issue_delta(before, issues))
        before = issues
    durations = index.signals(company(issues), NOW).durations["alice"]
    assert (durations.count, durations.total) == (1, 3599700)


def test_signals_are_a_snapshot_that_later_updates_leave_alone():
    index = TaskIndex()
    first = {"a": Issue("a", "A", "done", assignee_agent_id="alice", started_at=0.0, completed_at=60.0)}
    index.update(IssueDelta.everything(first))
    before = index.signals(company(first), NOW)
    kept = as_dict(before)
    with pytest.raises(TypeError):
        before.by_agent["alice"]["done"] = 5  # type: ignore[index]
    with pytest.raises(TypeError):
        before.by_status["todo"] = 1  # type: ignore[index]
    second = {**first, "b": Issue("b", "B", "done", assignee_agent_id="alice", started_at=0.0, completed_at=30.0)}
    index.update(issue_delta(first, second))
    after = index.signals(company(second), NOW)
    assert as_dict(before) == kept and before.durations["alice"].count == 1  # as it was handed out
    assert after.completed["alice"] == 2 and after.durations["alice"].count == 2


def test_generations_move_with_what_changed_and_only_then():
    index = TaskIndex()
    first = {
        "a": Issue("a", "A", "todo", assignee_agent_id="alice"),
        "b": Issue("b", "B", "done", assignee_agent_id="bob", started_at=0.0, completed_at=60.0),
    }
    index.update(IssueDelta.everything(first))
    s1 = index.signals(company(first), NOW)
    assert s1.generation == index.generation > 0
    # only updatedAt moved: nothing the index holds changed
    second = {**first, "a": Issue("a", "A", "todo", assignee_agent_id="alice", updated_at=5.0)}
    index.update(issue_delta(first, second))
    s2 = index.signals(company(second), NOW)
    assert (s2.generation, s2.queue_generations, s2.completion_generations) == (
        s1.generation,
        s1.queue_generations,
        s1.completion_generations,
    )
    # alice's task starts: her queue moves on, bob's queue and completions stay
    third = {**second, "a": Issue("a", "A", "in_progress", assignee_agent_id="alice", started_at=10.0)}
    index.update(issue_delta(second, third))
    s3 = index.signals(company(third), NOW)
    assert s3.generation > s2.generation
    assert s3.queue_generations["alice"] > s2.queue_generations["alice"]
    assert s3.queue_generations["bob"] == s2.queue_generations["bob"]
    assert s3.completion_generations["bob"] == s2.completion_generations["bob"]
    # another index has generations of its own, from its own counter
    assert TaskIndex().generation == 0
