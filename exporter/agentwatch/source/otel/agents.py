"""The agents seen in spans, and the model ``Agent`` row of each.

A framework reports an agent's name (and perhaps its id) on its spans, and nothing else: its
role, its cadence, its budget and its run timeout come from the config (``agents`` by name or
id, over ``roles``), the role also from the resource attribute ``agentwatch.agent.role``. A
cadence the config does not give is learnt from the gaps between the agent's invocations, but
only when they are regular (their coefficient of variation under ``REGULAR_CV``): an agent that
works when a user asks has no cadence to miss.
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

from agentwatch.config import OtelSourceConfig
from agentwatch.model import Agent, Heartbeat

REGULAR_CV = 0.5
DEFAULT_ROLE = "general"


def month_of(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m")


def month_bounds(t: float) -> tuple[float, float]:
    """The UTC month holding ``t``: its first second and the first of the next."""
    day = datetime.fromtimestamp(t, tz=timezone.utc)
    first = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return first.timestamp(), following.timestamp()


@dataclass
class AgentState:
    key: str
    name: str
    role: str
    framework: str
    first_seen: float
    last_seen: float = 0.0
    model: str = ""
    failed_last: bool = False  # its latest invocation failed
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # invocation starts
    models: set[tuple[str, str]] = field(default_factory=set)  # (provider, model) shown apart
    month: str = ""
    month_starts: float = 0.0  # the bounds of ``month``, so that a call need not format its time
    month_ends: float = 0.0
    spent_month_usd: float = 0.0
    row: Agent | None = None
    _learnt: tuple[tuple[int, float, int], float] = ((-1, 0.0, 0), 0.0)  # (what it was worked out from, the interval)

    def spend(self, usd: float, at: float) -> None:
        if not self.month_starts <= at < self.month_ends:  # a call in another month than the last
            month = month_of(at)
            self.month_starts, self.month_ends = month_bounds(at)
            if month != self.month:
                self.month, self.spent_month_usd = month, 0.0
        self.spent_month_usd += usd

    def learnt_interval(self, min_gaps: int) -> float:
        """The median gap between invocations when they are regular, else 0 (worked out again only
        once another invocation came)."""
        key = (len(self.starts), self.starts[-1] if self.starts else 0.0, min_gaps)
        if key != self._learnt[0]:
            self._learnt = (key, self._learn(min_gaps))
        return self._learnt[1]

    def _learn(self, min_gaps: int) -> float:
        starts = sorted(self.starts)
        gaps = [b - a for a, b in itertools.pairwise(starts) if b > a]
        if len(gaps) < min_gaps:
            return 0.0
        mean = statistics.fmean(gaps)
        if mean <= 0 or statistics.pstdev(gaps) / mean >= REGULAR_CV:
            return 0.0
        return statistics.median(gaps)


def agent_row(state: AgentState, config: OtelSourceConfig, company_id: str, running: bool, now: float) -> Agent:
    """The agent as a model row: the row held since the last poll when nothing changed."""
    facts = config.agent(state.key, state.name, state.role)
    interval = facts.heartbeat_interval or state.learnt_interval(config.learn_heartbeat_after - 1)
    state.spend(0.0, now)  # a new month starts the month's spend again
    row = Agent(
        id=state.key,
        company_id=company_id,
        name=state.name,
        role=facts.role or state.role or DEFAULT_ROLE,
        status="running" if running else ("error" if state.failed_last else "idle"),
        adapter_type=state.framework,
        model=state.model,
        budget_monthly_usd=facts.budget_monthly_usd,
        spent_monthly_usd=round(state.spent_month_usd, 6),
        last_heartbeat_at=state.last_seen or None,
        heartbeat=Heartbeat(enabled=interval > 0, interval_seconds=interval),
        created_at=state.first_seen,
        updated_at=state.last_seen or None,
        run_timeout_seconds=facts.run_timeout or config.run_timeout,
    )
    if state.row != row:
        state.row = row
    assert state.row is not None
    return state.row
