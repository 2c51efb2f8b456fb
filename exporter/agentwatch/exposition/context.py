"""Context pressure per agent and model: the latest prompt-to-window ratio and the prompt growth,
each the highest of the agent's open tasks (``TaskTracker``) and of its context streak (the runs
that name no task, such as timer wakes; ``analysis/sessions.py``). One store entry per agent."""

from __future__ import annotations

from typing import Collection, Iterable

import msgspec

from agentwatch.analysis.context import ContextWindows, growth
from agentwatch.analysis.progress import TaskTracker
from agentwatch.analysis.sessions import ContextStreaks
from agentwatch.exposition import registry as r
from agentwatch.exposition.families import Families, LabelSet

Prompt = tuple[str, int | None, int | None]  # (model, "" when not known; first input tokens, last input tokens)


class AgentContext(msgspec.Struct, frozen=True, gc=False):
    """Per model (sorted): the latest ratio and the growth, each None when not known."""

    labels: LabelSet
    models: tuple[tuple[str, float | None, float | None], ...]

    def render(self, w: Families) -> None:
        for model, latest, growth_ratio in self.models:
            if latest is not None:
                w.add(r.CONTEXT_LATEST, self.labels, latest, ("model", model))
            if growth_ratio is not None:
                w.add(r.CONTEXT_GROWTH, self.labels, growth_ratio, ("model", model))


def _prompts(agents: Collection[str], tracker: TaskTracker, streaks: ContextStreaks | None) -> Iterable[tuple[str, Prompt]]:
    """Each open task's and each streak's prompts, by agent, for the ``agents`` shown."""
    for task in tracker.prompted():
        if task.agent_id and task.agent_id in agents:
            yield task.agent_id, (task.model or "", task.first_input_tokens, task.last_input_tokens)
    for agent_id, streak in streaks.streaks.items() if streaks is not None else ():
        if agent_id in agents:
            yield agent_id, (streak.model or "", streak.first_input_tokens, streak.last_input_tokens)


def context_by_agent(
    agents: Collection[str], tracker: TaskTracker, windows: ContextWindows, streaks: ContextStreaks | None
) -> dict[str, tuple[tuple[str, float | None, float | None], ...]]:
    """Per agent with a known prompt: (model, latest ratio, growth) per model, sorted."""
    latest: dict[tuple[str, str], float] = {}
    growths: dict[tuple[str, str], float] = {}
    for agent_id, (model, first, last) in _prompts(agents, tracker, streaks):
        key = (agent_id, model or "unknown")
        ratio = windows.ratio(model, last)
        if ratio is not None:
            latest[key] = max(latest.get(key, 0.0), ratio)
        g = growth(first, last)
        if g is not None:
            growths[key] = max(growths.get(key, 0.0), g)
    per_agent: dict[str, list[tuple[str, float | None, float | None]]] = {}
    for agent_id, model in sorted(latest.keys() | growths.keys()):
        per_agent.setdefault(agent_id, []).append((model, latest.get((agent_id, model)), growths.get((agent_id, model))))
    return {agent_id: tuple(values) for agent_id, values in per_agent.items()}
