"""What each agent is and does, as store entries: its profile (description, thresholds, model
and requested approvals: what changes seldom) and its activity (runs and spend), each a frozen
value that renders its own lines.

A value holds exactly what its lines show (or the rows they are worked out from, such as the
agent's runs), so the store keeps an aspect's bytes while the aspect is unchanged and nothing
else: an agent whose runs moved on keeps its profile as it was.
"""

from __future__ import annotations

from typing import Mapping

import msgspec

from agentwatch.analysis import agents as agent_analysis
from agentwatch.analysis.budget import expected_daily_spend
from agentwatch.analysis.models_in_use import AgentModel
from agentwatch.exposition import registry as r
from agentwatch.exposition.families import Families, LabelSet
from agentwatch.model import AGENT_STATUSES, Agent, CostRow, Run


def with_extra(known: tuple[str, ...], value: str) -> tuple[str, ...]:
    """A state set's states: the known ones, and ``value`` last when it is not one of them."""
    return known if value in known else (*known, value)


class AgentProfile(msgspec.Struct, frozen=True, gc=False):
    """What the agent is and asks for, which changes seldom: its metadata, status, pause and
    heartbeat schedule, its resolved thresholds (name, value), the model it uses (current,
    adapter, recorded, changed at; None before the tracker saw it) and the approvals it
    requested ((type, class, count), sorted)."""

    labels: LabelSet
    agent_id: str
    title: str
    adapter_type: str
    model: str
    status: str
    pause_reason: str
    heartbeat_enabled: bool
    heartbeat_interval: float
    scheduler_active: bool | None
    run_timeout: float
    created_at: float | None
    thresholds: tuple[tuple[str, float], ...]
    model_in_use: tuple[str, str, str, float] | None
    approvals: tuple[tuple[str, str, int], ...]

    def render(self, w: Families) -> None:
        self._describe(w)
        labels = self.labels
        for name, value in self.thresholds:
            w.add(r.AGENT_THRESHOLD, labels, value, ("threshold", name))
        if self.model_in_use is not None:
            current, adapter_model, recorded_model, changed_at = self.model_in_use
            models = {"model": current, "adapter_model": adapter_model, "recorded_model": recorded_model}
            w.add(r.AGENT_MODEL, {**labels, **models}, 1.0)
            w.add(r.MODEL_CHANGE, labels, changed_at)
        by_class = dict.fromkeys(("expected", "unexpected"), 0)  # both classes, from the first poll on
        for typ, cls, n in self.approvals:
            w.add(r.APPROVALS_REQUESTED, {**labels, "type": typ, "class": cls}, n)
            by_class[cls] = by_class.get(cls, 0) + n
        for cls, n in by_class.items():
            w.add(r.APPROVAL_REQUESTS, labels, n, ("class", cls))

    def _describe(self, w: Families) -> None:
        labels = self.labels
        info = {**labels, "agent_id": self.agent_id, "title": self.title, "adapter_type": self.adapter_type, "model": self.model}
        w.add(r.AGENT_INFO, info, 1.0)
        for status in with_extra(AGENT_STATUSES, self.status):
            w.add(r.AGENT_STATUS, labels, 1.0 if self.status == status else 0.0, ("status", status))
        if self.status == "paused":
            w.add(r.AGENT_PAUSED, labels, 1.0, ("reason", self.pause_reason or "unknown"))
        w.add(r.HEARTBEAT_ENABLED, labels, float(self.heartbeat_enabled))
        w.add(r.HEARTBEAT_INTERVAL, labels, self.heartbeat_interval)
        if self.scheduler_active is not None:
            w.add(r.SCHEDULER_ACTIVE, labels, float(self.scheduler_active))
        w.add(r.RUN_TIMEOUT, labels, self.run_timeout)
        if self.created_at is not None:
            w.add(r.AGENT_CREATED, labels, self.created_at)


def agent_profile(
    labels: LabelSet,
    a: Agent,
    thresholds: tuple[tuple[str, float], ...],
    model: AgentModel | None,
    approvals: tuple[tuple[str, str, int], ...],
) -> AgentProfile:
    hb = a.heartbeat
    return AgentProfile(
        labels,
        a.id,
        a.title,
        a.adapter_type,
        a.model,
        a.status,
        a.pause_reason,
        hb.enabled,
        hb.interval_seconds,
        hb.scheduler_active,
        a.run_timeout_seconds,
        a.created_at,
        thresholds,
        None if model is None else (model.current, model.adapter_model, model.recorded_model, model.changed_at),
        approvals,
    )


class AgentActivity(msgspec.Struct, frozen=True, gc=False):
    """What the agent has been doing: its runs (their gaps and failure streak are worked out
    from them when rendered), live runs and spend, this month's and all time per model (its
    cost rows)."""

    labels: LabelSet
    running_without_live_run: bool
    last_heartbeat_at: float | None
    last_run_finished_at: float | None
    runs: tuple[Run, ...]  # oldest first
    spend_month_usd: float
    budget_monthly_usd: float
    days_in_month: int
    in_flight_spend_usd: float
    live_runs: int
    oldest_live_run_age: float
    costs: tuple[CostRow, ...]

    def render(self, w: Families) -> None:
        labels = self.labels
        w.add(r.RUNNING_WITHOUT_LIVE_RUN, labels, 1.0 if self.running_without_live_run else 0.0)
        if self.last_heartbeat_at is not None:
            w.add(r.LAST_HEARTBEAT, labels, self.last_heartbeat_at)
        if self.last_run_finished_at is not None:
            w.add(r.LAST_RUN_FINISHED, labels, self.last_run_finished_at)
        gaps = agent_analysis.heartbeat_gaps(list(self.runs))
        if gaps is not None:
            w.add(r.HEARTBEAT_GAPS, labels, gaps.count)
            w.add(r.HEARTBEAT_GAP_MEAN, labels, gaps.mean)
            w.add(r.HEARTBEAT_GAP_STDDEV, labels, gaps.stddev)
            w.add(r.HEARTBEAT_GAP_MAX, labels, gaps.maximum)
        w.add(r.CONSECUTIVE_FAILED_RUNS, labels, agent_analysis.consecutive_failures(list(self.runs)))
        w.add(r.AGENT_SPEND, labels, self.spend_month_usd)
        w.add(r.AGENT_BUDGET, labels, self.budget_monthly_usd)
        w.add(r.AGENT_EXPECTED_DAILY, labels, expected_daily_spend(self.budget_monthly_usd, self.days_in_month))
        w.add(r.IN_FLIGHT_SPEND, labels, self.in_flight_spend_usd)
        w.add(r.LIVE_RUN_COUNT, labels, self.live_runs)
        w.add(r.OLDEST_LIVE_RUN_AGE, labels, self.oldest_live_run_age)
        for row in self.costs:
            by_model = w.labels(
                {**labels, "provider": row.provider, "biller": row.biller, "model": row.model, "billing_type": row.billing_type}
            )
            w.add(r.AGENT_COST, by_model, row.cost_usd)
            for kind, n in (("input", row.input_tokens), ("cached_input", row.cached_input_tokens), ("output", row.output_tokens)):
                w.add(r.AGENT_TOKENS, by_model, n, ("kind", kind))


def grouped_by_agent(rows: tuple[CostRow, ...]) -> Mapping[str, tuple[CostRow, ...]]:
    """Rows by their agent id, in their order."""
    grouped: dict[str, list[CostRow]] = {}
    for row in rows:
        grouped.setdefault(row.agent_id, []).append(row)
    return {agent_id: tuple(agent_rows) for agent_id, agent_rows in grouped.items()}


def runs_by_agent(runs: tuple[Run, ...]) -> Mapping[str, tuple[Run, ...]]:
    """Runs by their agent id, oldest first."""
    return {agent_id: tuple(agent_runs) for agent_id, agent_runs in agent_analysis.runs_by_agent(list(runs)).items()}
