"""Which model each agent uses, and when that last changed.

Two witnesses: the model in the agent's adapter configuration, and the models the platform
records in cost events (``costs/by-agent-model``) and run usage. A change is the adapter's
model changing, or a model the agent had not used before starting to cost money (once it
has used some model). The first observation, and the first cost ever, are not changes: the
change time starts at the agent's creation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentwatch.model import CompanySnapshot


@dataclass
class AgentModel:
    adapter_model: str = ""
    recorded_model: str = ""  # newest model seen in cost events or run usage
    changed_at: float = 0.0
    costs: dict[str, float] = field(default_factory=dict)  # model -> all-time cost seen

    @property
    def current(self) -> str:
        return self.adapter_model or self.recorded_model or "unknown"


class ModelTracker:
    """The model of every agent of a source's companies (``agents``, by agent id), each company
    taken in by ``update``."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentModel] = {}
        self._held: dict[str, tuple[list, dict[str, dict[str, float]], set[str]]] = {}  # company -> its costs, grouped, and its agents

    def current(self, agent_id: str) -> str:
        state = self.agents.get(agent_id)
        return state.current if state is not None and state.current != "unknown" else ""

    def forget(self, company_id: str) -> None:
        """A company no longer polled: its agents go."""
        _, _, held = self._held.pop(company_id, (None, None, set()))
        for agent_id in held:
            self.agents.pop(agent_id, None)

    def update(self, cs: CompanySnapshot, now: float) -> None:
        """Take in one company's snapshot; its agents that are gone are forgotten."""
        cid = cs.company.id
        held_costs, costs, held_agents = self._held.get(cid, (None, None, set()))
        if costs is None or held_costs != cs.costs:  # the source hands out unchanged rows as the same objects
            costs = {}
            for row in cs.costs:
                seen = costs.setdefault(row.agent_id, {})
                seen[row.model] = seen.get(row.model, 0.0) + row.cost_usd
        run_models: dict[str, tuple[float, str]] = {}
        for run in cs.runs:
            if run.model and not run.live:
                when = run.finished_at or run.created_at or 0.0
                if run.agent_id not in run_models or when > run_models[run.agent_id][0]:
                    run_models[run.agent_id] = (when, run.model)
        agents = self.agents
        no_costs: dict[str, float] = {}
        for agent in cs.agents.values():
            seen = costs.get(agent.id, no_costs)
            state = agents.get(agent.id)
            if state is None:
                newest = run_models.get(agent.id, (0.0, max(seen, key=seen.get) if seen else ""))[1]
                agents[agent.id] = AgentModel(agent.model, newest, agent.created_at or now, dict(seen))
                continue
            recorded = state.recorded_model
            if seen == state.costs and agent.model == state.adapter_model and run_models.get(agent.id, (0.0, recorded))[1] == recorded:
                continue  # nothing new: what follows would change nothing
            grown = [m for m, c in seen.items() if c > state.costs.get(m, 0.0)]
            new_models = [m for m in grown if m not in state.costs]
            if agent.id in run_models:
                recorded = run_models[agent.id][1]
            elif grown:
                recorded = max(grown, key=lambda m: seen[m] - state.costs.get(m, 0.0))
            adapter_changed = agent.model != state.adapter_model
            # a recorded model that matches the adapter's is the same change seen a second time
            recorded_changed = bool(state.recorded_model) and recorded not in (state.recorded_model, agent.model)
            new_model_used = bool(state.costs) and any(m != agent.model for m in new_models)
            if adapter_changed or recorded_changed or new_model_used:
                state.changed_at = now
            state.adapter_model = agent.model
            state.recorded_model = recorded
            state.costs = dict(seen)
        for gone in held_agents - cs.agents.keys():
            agents.pop(gone, None)
        self._held[cid] = (cs.costs, costs, set(cs.agents))
