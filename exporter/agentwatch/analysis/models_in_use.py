"""Which model each agent uses, and when that last changed.

Two witnesses: the model in the agent's adapter configuration, and the models the platform
records in cost events (``costs/by-agent-model``) and run usage. A change is the adapter's
model changing, or a model the agent had not used before starting to cost money (once it
has used some model). The first observation, and the first cost ever, are not changes: the
change time starts at the agent's creation.

``ModelTracker.agents`` is a read-only view of each agent's ``AgentModel``, valid until the next
``update``; an ``AgentModel`` is a frozen value, replaced when the agent's model or costs change,
and ``generation`` and each agent's (``generations``) move on with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Sequence

from agentwatch.analysis.views import HasEntityGenerations
from agentwatch.model import CompanySnapshot, CostRow


@dataclass(frozen=True, slots=True)
class AgentModel:
    adapter_model: str = ""
    recorded_model: str = ""  # newest model seen in cost events or run usage
    changed_at: float = 0.0
    costs: Mapping[str, float] = field(default_factory=dict)  # model -> all-time cost seen

    @property
    def current(self) -> str:
        return self.adapter_model or self.recorded_model or "unknown"


class ModelTracker(HasEntityGenerations[str]):
    """The model of every agent of a source's companies (``agents``, by agent id), each company
    taken in by ``update``."""

    def __init__(self) -> None:
        self._agents: dict[str, AgentModel] = {}
        self._view: Mapping[str, AgentModel] = MappingProxyType(self._agents)
        # company -> its cost rows, grouped by agent and model, and its agents
        self._held: dict[str, tuple[Sequence[CostRow], dict[str, dict[str, float]], set[str]]] = {}
        self._start_generations()

    @property
    def agents(self) -> Mapping[str, AgentModel]:
        """Each agent's model by agent id: a read-only view, valid until the next ``update``."""
        return self._view

    def current(self, agent_id: str) -> str:
        state = self.agents.get(agent_id)
        return state.current if state is not None and state.current != "unknown" else ""

    def forget(self, company_id: str) -> None:
        """A company no longer polled: its agents go."""
        held = self._held.pop(company_id, None)
        for agent_id in held[2] if held is not None else ():
            self._forget_agent(agent_id)

    def _forget_agent(self, agent_id: str) -> None:
        if self._agents.pop(agent_id, None) is not None:
            self._entity_generations.mark(agent_id)

    def update(self, cs: CompanySnapshot, now: float) -> None:
        """Take in one company's snapshot; its agents that are gone are forgotten."""
        cid = cs.company.id
        held = self._held.get(cid)
        # the source hands out unchanged rows as the same objects: mostly an identity check
        costs = held[1] if held is not None and held[0] == cs.costs else _costs_by_agent(cs.costs)
        run_models = _newest_run_models(cs)
        agents = self._agents
        no_costs: dict[str, float] = {}
        for agent in cs.agents.values():
            seen = costs.get(agent.id, no_costs)
            state = agents.get(agent.id)
            run_model = run_models.get(agent.id)
            if state is None:
                newest = run_model if run_model is not None else max(seen, key=lambda m: seen[m]) if seen else ""
                agents[agent.id] = AgentModel(agent.model, newest, agent.created_at or now, MappingProxyType(dict(seen)))
            elif seen != state.costs or agent.model != state.adapter_model or run_model not in (None, state.recorded_model):
                agents[agent.id] = _changed(state, agent.model, seen, run_model, now)
            else:
                continue  # nothing new
            self._entity_generations.mark(agent.id)
        for gone in (held[2] if held is not None else set()) - cs.agents.keys():
            self._forget_agent(gone)
        self._held[cid] = (cs.costs, costs, set(cs.agents))


def _costs_by_agent(rows: Sequence[CostRow]) -> dict[str, dict[str, float]]:
    """Agent -> model -> all-time cost, from the cost rows."""
    costs: dict[str, dict[str, float]] = {}
    for row in rows:
        seen = costs.setdefault(row.agent_id, {})
        seen[row.model] = seen.get(row.model, 0.0) + row.cost_usd
    return costs


def _newest_run_models(cs: CompanySnapshot) -> dict[str, str]:
    """Agent -> the model of its newest finished run that names one."""
    newest: dict[str, tuple[float, str]] = {}
    for run in cs.runs:
        if run.model and not run.live:
            when = run.finished_at or run.created_at or 0.0
            if run.agent_id not in newest or when > newest[run.agent_id][0]:
                newest[run.agent_id] = (when, run.model)
    return {agent: model for agent, (_, model) in newest.items()}


def _changed(state: AgentModel, adapter_model: str, seen: Mapping[str, float], run_model: str | None, now: float) -> AgentModel:
    """An agent's model after its adapter's model, its costs (``seen``) or its newest run's model
    moved: ``changed_at`` moves to ``now`` if that is a change of model."""
    grown = [m for m, c in seen.items() if c > state.costs.get(m, 0.0)]
    new_models = [m for m in grown if m not in state.costs]
    recorded = state.recorded_model
    if run_model is not None:
        recorded = run_model
    elif grown:
        recorded = max(grown, key=lambda m: seen[m] - state.costs.get(m, 0.0))
    adapter_changed = adapter_model != state.adapter_model
    # a recorded model that matches the adapter's is the same change seen a second time
    recorded_changed = bool(state.recorded_model) and recorded not in (state.recorded_model, adapter_model)
    new_model_used = bool(state.costs) and any(m != adapter_model for m in new_models)
    changed_at = now if adapter_changed or recorded_changed or new_model_used else state.changed_at
    return AgentModel(adapter_model, recorded, changed_at, MappingProxyType(dict(seen)))
