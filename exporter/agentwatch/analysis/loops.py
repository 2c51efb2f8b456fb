"""Reasoning loops: in-progress tasks that keep consuming runs and LLM calls without progression.

A task *looks like a loop* when it has gone longer than ``loop_min_age`` without
progression (see ``agentwatch.progress``) and has had more than ``loop_min_calls`` runs or
LLM calls since. Both come from ``thresholds`` in the config, per agent; the defaults are the
brief's: 4 hours and 20 calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from agentwatch.progress import TaskProgress


@dataclass
class LoopSignals:
    looping_tasks: int = 0
    max_runs_without_progress: int = 0
    max_calls_without_progress: int = 0
    oldest_progress_age: float = 0.0
    looping_spend_usd: float = 0.0
    unproductive_runs: int = 0


def looks_like_loop(task: TaskProgress, now: float, min_age: float, min_calls: int) -> bool:
    return now - task.progressed_at > min_age and max(len(task.runs), task.llm_calls) > min_calls


def loop_signals(
    tasks: Iterable[TaskProgress], now: float, limits: Callable[[str], tuple[float, float]]
) -> dict[str, LoopSignals]:
    """Per agent id; ``limits(agent_id)`` gives that agent's (loop_min_age, loop_min_calls)."""
    out: dict[str, LoopSignals] = {}
    for task in tasks:
        if not task.agent_id or task.status != "in_progress":
            continue
        s = out.setdefault(task.agent_id, LoopSignals())
        s.max_runs_without_progress = max(s.max_runs_without_progress, len(task.runs))
        s.max_calls_without_progress = max(s.max_calls_without_progress, task.llm_calls)
        s.oldest_progress_age = max(s.oldest_progress_age, now - task.progressed_at)
        s.unproductive_runs += task.unproductive_runs
        # loop_min_calls is at least 1: a task without runs or calls is no loop, whatever the
        # agent's thresholds, and most in-progress tasks have none since their last progression
        if (task.runs or task.llm_calls) and looks_like_loop(task, now, *limits(task.agent_id)):
            s.looping_tasks += 1
            s.looping_spend_usd += task.spend_usd
    return out
