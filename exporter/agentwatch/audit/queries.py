"""What the audit reads from Prometheus for one month: every PromQL expression is here.

Instant queries are taken just before the month's end (``end - 1 ms``; for a month in progress, just
before now) over a range that spans the month, so a sample at the next month's first second never
counts. Range queries that feed charts use ``*_over_time`` windows as wide as their step, so a
sparse scrape still lands in every step; hourly ones also read the unfinished hour at the end
(``hours``), so that a month in progress, or a run shorter than an hour, is read to its last sample.
Only ``history.client`` speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agentwatch.audit.stats import values_within
from agentwatch.history.client import PrometheusHistory, Series

HOUR = 3600.0
ALERT_STEP = 60.0  # the shipped rule groups evaluate every minute
MODEL_STEP = 60.0  # the models an agent had around a change are read at this step, within this window
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

    data = MonthData(start, end)
    data.buckets = instant(f"sum by ({AGENT}, le) (increase(agentwatch_agent_task_duration_seconds_bucket{window}))")
    data.duration_sum = instant(f"sum by ({AGENT}) (increase(agentwatch_agent_task_duration_seconds_sum{window}))")
    data.ages = hours(
        history, lambda w: f"max by ({AGENT}) (max_over_time(agentwatch_agent_oldest_in_progress_task_age_seconds{w}))", start, at
    )
    data.spend = instant(f"max by ({AGENT}) (last_over_time(agentwatch_agent_spend_month_usd{window}))")
    data.budget = instant(f"max by ({AGENT}) (last_over_time(agentwatch_agent_budget_monthly_usd{window}))")
    data.alerts = range_chunked(history, ALERTS_FIRING, start, at, ALERT_STEP)
    if detail:
        # raw counter values per hour, from the hour before the month: report.hourly_outcomes takes
        # the differences, so a series that starts mid-month (a new model) counts its first runs
        data.canary_runs = hours(history, lambda w: f"last_over_time(agentwatch_canary_runs_total{w})", start - HOUR, at)
        data.model_changes = hours(
            history, lambda w: f"max by ({AGENT}) (max_over_time(agentwatch_agent_model_change_timestamp_seconds{w}))", start, at
        )
        changed_at = {t for s in data.model_changes for t in values_within(s.samples, start, end)}
        data.models = around(history, f"max by ({AGENT}, model) (last_over_time(agentwatch_agent_model_info[{MODEL_STEP:g}s]))", changed_at)
        data.pass_ratio = instant(f"max by ({AGENT}, canary, period) (last_over_time(agentwatch_canary_pass_ratio{window}))")
        data.stalled_chains = instant(
            f"max by (company, issue, cause) (max_over_time(agentwatch_dependency_stalled_chain_age_seconds{window}))"
        )
    return data


def hours(history: PrometheusHistory, expr: Callable[[str], str], start: float, at: float) -> list[Series]:
    """``expr(window)`` at the end of every whole hour from ``start`` up to ``at``, over that hour
    (``[1h]``), and, when ``at`` falls inside an hour (a month in progress), once more at ``at`` over
    the part of that hour gone by: without it the unfinished hour is never read, and a run shorter
    than an hour inside one clock hour leaves no value at all. ``start`` is on the hour, so every
    value's hour is the one its timestamp falls in (``report.hour_of``)."""
    whole = int((at + 0.001 - start) // HOUR)
    pieces = [history.query_range(expr("[1h]"), start + HOUR - 0.001, at, HOUR)] if whole else []
    tail = at - (start + whole * HOUR - 0.001)
    if tail >= 1.0:
        pieces.append(history.query(expr(f"[{round(tail * 1000)}ms]"), at))
    return _joined(pieces)


def around(history: PrometheusHistory, expr: str, times: Iterable[float]) -> list[Series]:
    """``expr`` every ``MODEL_STEP`` from an hour before to an hour after each of ``times``
    (overlapping spans read once): fine enough to tell the models either side of a change even
    when the history is shorter than an hour."""
    spans: list[list[float]] = []
    for t in sorted(times):
        if spans and t - HOUR <= spans[-1][1]:
            spans[-1][1] = t + HOUR
        else:
            spans.append([t - HOUR, t + HOUR])
    return _joined(range_chunked(history, expr, a, b, MODEL_STEP) for a, b in spans)


def _joined(pieces: Iterable[list[Series]]) -> list[Series]:
    """The series of several queries of one expression, joined per label set, samples in time order."""
    merged: dict[tuple, Series] = {}
    for piece in pieces:
        for s in piece:
            merged.setdefault(tuple(sorted(s.labels.items())), Series(s.labels, [])).samples.extend(s.samples)
    for s in merged.values():
        s.samples.sort()
    return list(merged.values())


def range_chunked(history: PrometheusHistory, expr: str, start: float, end: float, step: float) -> list[Series]:
    """A range query split so no piece exceeds ``MAX_POINTS`` steps; pieces joined per label set."""
    span = step * (MAX_POINTS - 1)
    pieces, t = [], start
    while t <= end:
        piece_end = min(t + span, end)
        pieces.append(history.query_range(expr, t, piece_end, step))
        t = piece_end + step
    return _joined(pieces)
