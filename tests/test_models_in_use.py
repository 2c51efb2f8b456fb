"""Which model each agent uses (``ModelTracker``): across the companies of one source, and
with the rows a steady poll hands out again."""

from __future__ import annotations

from dataclasses import replace

from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.model import Agent, Company, CompanySnapshot, CostRow, Run


def company(cid: str, *agents: Agent, costs=(), runs=()) -> CompanySnapshot:
    return CompanySnapshot(company=Company(id=cid, name=cid), agents={a.id: a for a in agents}, costs=list(costs), runs=list(runs))


def agent(aid: str, model: str = "") -> Agent:
    return Agent(id=aid, company_id="", name=aid, role="engineer", model=model, created_at=100.0)


def cost(aid: str, model: str, usd: float) -> CostRow:
    return CostRow("", aid, "anthropic", "anthropic", "metered_api", model, usd, 10, 0, 5)


def test_every_company_of_a_source_keeps_its_agents_and_a_gone_one_is_forgotten():
    tracker = ModelTracker()
    a, b = company("a", agent("a1", "opus")), company("b", agent("b1"), costs=[cost("b1", "sonnet", 1.0)])
    tracker.update(a, 200.0)
    tracker.update(b, 200.0)
    assert tracker.current("a1") == "opus" and tracker.current("b1") == "sonnet"  # the first company's agents stay
    tracker.update(company("a"), 230.0)  # a1 is gone from its company
    assert "a1" not in tracker.agents and tracker.current("b1") == "sonnet"
    tracker.forget("b")
    assert tracker.agents == {}


def test_a_change_is_dated_and_a_poll_with_nothing_new_changes_nothing():
    tracker = ModelTracker()
    a1 = agent("a1")
    costs = [cost("a1", "sonnet", 1.0)]
    tracker.update(company("a", a1, costs=costs), 200.0)
    first, generation = tracker.agents["a1"], tracker.generation
    assert (first.current, first.changed_at) == ("sonnet", 100.0)  # the first observation is no change
    tracker.update(company("a", a1, costs=costs), 230.0)  # the same rows again
    state = tracker.agents["a1"]
    assert state is first and tracker.generation == generation  # nothing new: the same value
    assert (state.recorded_model, state.changed_at, state.costs) == ("sonnet", 100.0, {"sonnet": 1.0})
    tracker.update(company("a", a1, costs=[*costs, cost("a1", "haiku", 0.5)]), 260.0)  # a new model costs money
    state = tracker.agents["a1"]
    assert (state.recorded_model, state.changed_at) == ("haiku", 260.0)
    assert first.recorded_model == "sonnet" and tracker.generations()["a1"] > generation  # a new value, the old one stays
    run = Run("r1", "a", "a1", "succeeded", finished_at=250.0, model="opus")
    tracker.update(company("a", a1, costs=[*costs, cost("a1", "haiku", 0.5)], runs=[run]), 290.0)  # a run on another
    state = tracker.agents["a1"]
    assert (state.recorded_model, state.changed_at) == ("opus", 290.0)
    tracker.update(company("a", replace(a1, model="opus"), costs=[*costs, cost("a1", "haiku", 0.5)], runs=[run]), 320.0)
    state = tracker.agents["a1"]
    assert (state.current, state.changed_at) == ("opus", 320.0)  # the adapter now says so: a change of its own
