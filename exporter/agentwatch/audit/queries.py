"""What the audit reads from Prometheus for one month: every PromQL expression is here.

Instant queries are taken just before the month's end (``end - 1 ms``) over a range that spans the
month, so a sample at the next month's first second never counts. Range queries that feed charts
use ``*_over_time`` windows as wide as their step, so a sparse scrape still lands in every step.
Only ``history.client`` speaks HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentwatch.history.client import PrometheusHistory, Series

HOUR = 3600.0
ALERT_STEP = 60.0  # the shipped rule groups evaluate every minute
MAX_POINTS = 10_000  # Prometheus refuses more than 11,000 points per series in one range query
AGENT = "company, agent, role"

# alerts of the agentwatch rules: they all carry failure_class; Watchdog (class meta) always fires
ALERTS_FIRING = 'ALERTS{alertstate="firing", failure_class!="", failure_class!="meta"}'


@dataclass
class MonthData:
    """The raw series of one month, as Prometheus returned them."""

    start: float
    end: float
    buckets: list[Series] = field(default_factory=list)
    duration_sum: list[Series] = field(default_factory=list)
    ages: list[Series] = field(default_factory=list)
    spend: list[Series] = field(default_factory=list)
    budget: list[Series] = field(default_factory=list)
    alerts: list[Series] = field(default_factory=list)
    canary_runs: list[Series] = field(default_factory=list)
    model_changes: list[Series] = field(default_factory=list)
    models: list[Series] = field(default_factory=list)
    pass_ratio: list[Series] = field(default_factory=list)
    stalled_chains: list[Series] = field(default_factory=list)


def fetch_month(history: PrometheusHistory, start: float, end: float, detail: bool = True) -> MonthData:
    """Every series the report needs for ``[start, end)``; ``detail=False`` leaves out what the
    report shows for the audited month only (canaries, model changes, stalled chains)."""
    at = end - 0.001
    window = f"[{max(int(end - start), 60)}s]"

    def instant(expr: str) -> list[Series]:
        return history.query(expr, at)

    def hourly(expr: str) -> list[Series]:
        return history.query_range(expr, start + HOUR - 0.001, at, HOUR) if end - start >= HOUR else []

    data = MonthData(start, end)
    data.buckets = instant(f"sum by ({AGENT}, le) (increase(agentwatch_agent_task_duration_seconds_bucket{window}))")
    data.duration_sum = instant(f"sum by ({AGENT}) (increase(agentwatch_agent_task_duration_seconds_sum{window}))")
    data.ages = hourly(f"max by ({AGENT}) (max_over_time(agentwatch_agent_oldest_in_progress_task_age_seconds[1h]))")
    data.spend = instant(f"max by ({AGENT}) (last_over_time(agentwatch_agent_spend_month_usd{window}))")
    data.budget = instant(f"max by ({AGENT}) (last_over_time(agentwatch_agent_budget_monthly_usd{window}))")
    data.alerts = range_chunked(history, ALERTS_FIRING, start, at, ALERT_STEP)
    if detail:
        # raw counter values per hour, from the hour before the month: report.hourly_outcomes takes
        # the differences, so a series that starts mid-month (a new model) counts its first runs
        data.canary_runs = history.query_range("last_over_time(agentwatch_canary_runs_total[1h])", start - 0.001, at, HOUR)
        data.model_changes = hourly(f"max by ({AGENT}) (max_over_time(agentwatch_agent_model_change_timestamp_seconds[1h]))")
        data.models = hourly(f"max by ({AGENT}, model) (last_over_time(agentwatch_agent_model_info[1h]))")
        data.pass_ratio = instant(f"max by ({AGENT}, canary, period) (last_over_time(agentwatch_canary_pass_ratio{window}))")
        data.stalled_chains = instant(
            f"max by (company, issue, cause) (max_over_time(agentwatch_dependency_stalled_chain_age_seconds{window}))"
        )
    return data


def range_chunked(history: PrometheusHistory, expr: str, start: float, end: float, step: float) -> list[Series]:
    """A range query split so no piece exceeds ``MAX_POINTS`` steps; pieces joined per label set."""
    merged: dict[tuple, Series] = {}
    span = step * (MAX_POINTS - 1)
    t = start
    while t <= end:
        piece_end = min(t + span, end)
        for s in history.query_range(expr, t, piece_end, step):
            key = tuple(sorted(s.labels.items()))
            merged.setdefault(key, Series(s.labels, [])).samples.extend(s.samples)
        t = piece_end + step
    return list(merged.values())
