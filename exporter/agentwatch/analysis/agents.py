"""Per-agent signals from runs: heartbeat gaps, failure streaks, phantom `running` status.

Each is worked out from the runs of the poll alone (the API's window of newest runs), so it
keeps no state: an irregular heartbeat, a streak of failures at the newest end, and an agent
that says it is running with no live run are what the alerts on an agent's health read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from agentwatch.model import FAILED_RUN_STATUSES, CompanySnapshot, Run


@dataclass(frozen=True, slots=True)
class GapStats:
    count: int
    mean: float
    stddev: float
    maximum: float


def runs_by_agent(runs: list[Run]) -> dict[str, list[Run]]:
    """Group runs per agent, oldest first."""
    grouped: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        grouped[run.agent_id].append(run)
    for agent_runs in grouped.values():
        agent_runs.sort(key=lambda r: (r.created_at or r.started_at or 0.0, r.id))
    return grouped


def heartbeat_gaps(runs: list[Run], sources: frozenset[str] = frozenset({"timer"})) -> GapStats | None:
    """Mean, standard deviation and maximum of the gaps between consecutive scheduled wakes.

    Only timer runs are scheduled heartbeats; assignment and on-demand wakes are not.
    ``runs`` must be one agent's runs, oldest first. None when fewer than two wakes.
    """
    starts = [
        s for r in runs if r.invocation_source in sources and (s := r.started_at if r.started_at is not None else r.created_at) is not None
    ]
    if len(starts) < 2:
        return None
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    var = sum((g - mean) ** 2 for g in gaps) / len(gaps)
    return GapStats(len(gaps), mean, math.sqrt(var), max(gaps))


def consecutive_failures(runs: list[Run]) -> int:
    """Failed runs in a row at the newest end of one agent's finished runs (oldest first)."""
    streak = 0
    for run in reversed(runs):
        if run.live or run.status == "cancelled":
            continue
        if run.status in FAILED_RUN_STATUSES:
            streak += 1
        else:
            break
    return streak


def phantom_running(cs: CompanySnapshot) -> set[str]:
    """Agents whose status is `running` while they have no live run (Paperclip #2912, #9348)."""
    if not cs.live_runs_known or len(cs.live_runs) >= 50:
        return set()
    live_agents = {r.agent_id for r in cs.live_runs if r.live}
    return {a.id for a in cs.agents.values() if a.status == "running" and a.id not in live_agents}
