"""The audit's numbers: the series of two months turned into a report model. Pure: no I/O."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from agentwatch.audit.queries import ALERT_STEP, HOUR, MonthData
from agentwatch.audit.stats import bucket_quantile, counter_increases, episodes, sample_quantile, values_within
from agentwatch.history.client import Series

Key = tuple[str, str, str]  # company, agent, role
SCORED = ("pass", "fail", "timeout", "error")  # canary outcomes that count; `skipped` does not
STUCK_ALERT = "AgentTaskStuck"
AROUND_CHANGE = 7 * 86400.0  # canary pass rate compared over this long before and after a change
TOP = 10
Name = TypeVar("Name", str, Key)  # what an EpisodeCount counts: an alert or a failure class (str), or an agent (Key)


def agent_key(labels: dict[str, str]) -> Key:
    return labels.get("company", ""), labels.get("agent", ""), labels.get("role", "")


@dataclass(frozen=True)
class Durations:
    """Completed tasks of one month: how many, mean and quantiles (seconds; None without tasks)."""

    count: float = 0.0
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class DurationRow:
    key: Key  # (company, agent, role); a role row has ("", "", role)
    this: Durations
    prev: Durations


@dataclass(frozen=True)
class AgeRow:
    """Oldest in-progress task age, from hourly maxima of the gauge while it was above 0."""

    key: Key
    max: float | None
    max_at: float | None
    p50: float | None
    p95: float | None
    hours: int  # hours with a task in progress
    prev_max: float | None
    prev_p50: float | None
    values: list[float] = field(default_factory=list, repr=False)
    prev_values: list[float] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class AlertEpisode:
    labels: dict[str, str]
    start: float
    end: float

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True)
class EpisodeCount(Generic[Name]):
    """The firing episodes of one alert, one failure class, or one agent (``name`` is its Key)."""

    name: Name
    episodes: int
    hours: float
    longest: float  # hours
    prev_episodes: int
    failure_class: str = ""
    severity: str = ""


@dataclass(frozen=True)
class SpendRow:
    key: Key
    spend: float | None
    budget: float | None
    prev_spend: float | None

    @property
    def ratio(self) -> float | None:
        return self.spend / self.budget if self.spend is not None and self.budget else None


@dataclass(frozen=True)
class ModelChange:
    key: Key
    at: float
    before: str
    after: str
    pass_before: float | None
    runs_before: float
    pass_after: float | None
    runs_after: float


@dataclass(frozen=True)
class PassRatioRow:
    key: Key
    canary: str
    before: float | None
    since: float | None


@dataclass(frozen=True)
class ChainRow:
    company: str
    issue: str
    cause: str
    age: float


@dataclass
class Report:
    month: str
    previous: str
    start: float
    end: float
    partial: bool
    source: str
    role_durations: list[DurationRow] = field(default_factory=list)
    agent_durations: list[DurationRow] = field(default_factory=list)
    role_ages: list[AgeRow] = field(default_factory=list)
    agent_ages: list[AgeRow] = field(default_factory=list)
    stuck: list[EpisodeCount[Key]] = field(default_factory=list)
    stuck_episodes: list[AlertEpisode] = field(default_factory=list)
    alerts: list[EpisodeCount[str]] = field(default_factory=list)
    classes: list[EpisodeCount[str]] = field(default_factory=list)
    spend: list[SpendRow] = field(default_factory=list)
    model_changes: list[ModelChange] = field(default_factory=list)
    canary_daily: dict[Key, list[tuple[float, float | None]]] = field(default_factory=dict)
    pass_ratios: list[PassRatioRow] = field(default_factory=list)
    stalled_chains: list[ChainRow] = field(default_factory=list)

    @property
    def slowest_by_age(self) -> list[AgeRow]:
        rows = [(r.max, r) for r in self.agent_ages if r.max]
        return [r for _, r in sorted(rows, key=lambda pair: -pair[0])][:TOP]

    @property
    def slowest_by_p95(self) -> list[DurationRow]:
        rows = [(r.this.p95, r) for r in self.agent_durations if r.this.p95 is not None]
        return [r for _, r in sorted(rows, key=lambda pair: -pair[0])][:TOP]


def build(this: MonthData, prev: MonthData, month: str, previous: str, partial: bool, source: str) -> Report:
    report = Report(month, previous, this.start, this.end, partial, source)
    report.role_durations, report.agent_durations = duration_rows(this, prev)
    report.role_ages, report.agent_ages = age_rows(this.ages, prev.ages)
    now_eps, prev_eps = alert_episodes(this.alerts), alert_episodes(prev.alerts)
    report.alerts = episode_counts(now_eps, prev_eps, lambda e: e.alertname)
    report.classes = episode_counts(now_eps, prev_eps, lambda e: e.labels.get("failure_class", ""))
    report.stuck_episodes = [e for e in now_eps if e.alertname == STUCK_ALERT]
    report.stuck = episode_counts(report.stuck_episodes, [e for e in prev_eps if e.alertname == STUCK_ALERT], lambda e: agent_key(e.labels))
    report.spend = spend_rows(this, prev)
    outcomes = hourly_outcomes(this.canary_runs, this.start)
    report.canary_daily = {k: daily_pass_ratio(v, this.start, this.end) for k, v in sorted(outcomes.items())}
    report.model_changes = model_changes(this.model_changes, this.models, outcomes, this.start, this.end)
    report.pass_ratios = pass_ratio_rows(this.pass_ratio)
    report.stalled_chains = chain_rows(this.stalled_chains)
    return report


# -- durations ---------------------------------------------------------------------------------


def _buckets(series: list[Series]) -> dict[Key, dict[float, float]]:
    out: dict[Key, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for s in series:
        try:
            le = float(s.labels["le"])
        except (KeyError, ValueError):
            continue
        out[agent_key(s.labels)][le] += s.last
    return out


def durations(buckets: dict[float, float], total: float | None) -> Durations:
    count = buckets.get(math.inf, 0.0)
    if count <= 0.5:  # increase() extrapolates: well under one task is none
        return Durations(max(count, 0.0))
    pairs = list(buckets.items())
    return Durations(
        count,
        total / count if total is not None else None,
        bucket_quantile(0.5, pairs),
        bucket_quantile(0.9, pairs),
        bucket_quantile(0.95, pairs),
    )


def duration_rows(this: MonthData, prev: MonthData) -> tuple[list[DurationRow], list[DurationRow]]:
    now_b, prev_b = _buckets(this.buckets), _buckets(prev.buckets)
    now_s, prev_s = _by_key(this.duration_sum), _by_key(prev.duration_sum)
    agents = [
        DurationRow(k, durations(now_b.get(k, {}), now_s.get(k)), durations(prev_b.get(k, {}), prev_s.get(k)))
        for k in sorted(set(now_b) | set(prev_b))
    ]

    def role_sum(bmap, smap):
        b: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
        s: dict[str, float] = defaultdict(float)
        for key, buckets in bmap.items():
            for le, n in buckets.items():
                b[key[2]][le] += n
            s[key[2]] += smap.get(key, 0.0)
        return b, s

    (rb, rs), (pb, ps) = role_sum(now_b, now_s), role_sum(prev_b, prev_s)
    roles = [
        DurationRow(("", "", r), durations(rb.get(r, {}), rs.get(r)), durations(pb.get(r, {}), ps.get(r)))
        for r in sorted(set(rb) | set(pb))
    ]
    return roles, [r for r in agents if r.this.count > 0.5 or r.prev.count > 0.5]


def _by_key(series: list[Series]) -> dict[Key, float]:
    out: dict[Key, float] = defaultdict(float)
    for s in series:
        if not math.isnan(s.last):
            out[agent_key(s.labels)] += s.last
    return out


# -- task age ----------------------------------------------------------------------------------


def _hourly_busy(series: list[Series]) -> dict[Key, list[tuple[float, float]]]:
    out: dict[Key, list[tuple[float, float]]] = defaultdict(list)
    for s in series:
        out[agent_key(s.labels)].extend((t, v) for t, v in s.samples if v > 0)
    return out


def hour_of(t: float) -> float:
    """The start of the clock hour an hourly value at ``t`` covers: ``queries.hours`` reads each hour
    just before its end, and an unfinished last hour at a time inside it."""
    return HOUR * math.floor((t - 0.5) / HOUR)


def _age_row(key: Key, now: list[tuple[float, float]], prev: list[tuple[float, float]]) -> AgeRow:
    values, prev_values = [v for _, v in now], [v for _, v in prev]
    top = max(now, key=lambda tv: tv[1], default=(None, None))
    return AgeRow(
        key,
        top[1],
        hour_of(top[0]) if top[0] is not None else None,  # the hour the maximum was seen in
        sample_quantile(0.5, values),
        sample_quantile(0.95, values),
        len(values),
        max(prev_values, default=None),
        sample_quantile(0.5, prev_values),
        values,
        prev_values,
    )


def age_rows(this: list[Series], prev: list[Series]) -> tuple[list[AgeRow], list[AgeRow]]:
    now_a, prev_a = _hourly_busy(this), _hourly_busy(prev)
    agents = [_age_row(k, now_a.get(k, []), prev_a.get(k, [])) for k in sorted(set(now_a) | set(prev_a))]
    by_role: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for k in set(now_a) | set(prev_a):
        by_role[k[2]][0].extend(now_a.get(k, []))
        by_role[k[2]][1].extend(prev_a.get(k, []))
    roles = [_age_row(("", "", r), *by_role[r]) for r in sorted(by_role)]
    return roles, agents


# -- alerts and stuck tasks --------------------------------------------------------------------


def alert_episodes(series: list[Series], step: float = ALERT_STEP) -> list[AlertEpisode]:
    """One episode per firing streak of one alert instance (one ALERTS series)."""
    out = [AlertEpisode(s.labels, a, b) for s in series for a, b in episodes((t for t, _ in s.samples), step)]
    return sorted(out, key=lambda e: (e.start, e.alertname))


def episode_counts(now: list[AlertEpisode], prev: list[AlertEpisode], key: Callable[[AlertEpisode], Name]) -> list[EpisodeCount[Name]]:
    """Episodes grouped by ``key`` (alert name, failure class, agent): most first."""
    groups: dict[Name, tuple[list[AlertEpisode], list[AlertEpisode]]] = defaultdict(lambda: ([], []))
    for i, eps in enumerate((now, prev)):
        for e in eps:
            groups[key(e)][i].append(e)
    rows: list[EpisodeCount[Name]] = []
    for name, (mine, before) in groups.items():
        hours = [(e.end - e.start) / HOUR for e in mine]
        labels = (mine or before)[0].labels
        rows.append(
            EpisodeCount(
                name,
                len(mine),
                sum(hours),
                max(hours, default=0.0),
                len(before),
                labels.get("failure_class", ""),
                labels.get("severity", ""),
            )
        )
    return sorted(rows, key=lambda r: (-r.episodes, -r.hours, str(r.name)))


# -- spend -------------------------------------------------------------------------------------


def spend_rows(this: MonthData, prev: MonthData) -> list[SpendRow]:
    spend, budget, before = _by_key(this.spend), _by_key(this.budget), _by_key(prev.spend)
    rows = [SpendRow(k, spend.get(k), budget.get(k), before.get(k)) for k in sorted(set(spend) | set(budget))]
    return sorted(rows, key=lambda r: (-(r.ratio or 0), -(r.spend or 0), r.key))


# -- canaries and model changes ----------------------------------------------------------------


def hourly_outcomes(series: list[Series], start: float) -> dict[Key, dict[float, dict[str, float]]]:
    """Per agent, per hour (keyed by the hour's end), canary runs by scored outcome, from the hourly
    values of ``agentwatch_canary_runs_total`` series whose first sample is ``start`` or later."""
    out: dict[Key, dict[float, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
    for s in series:
        outcome = s.labels.get("outcome", "")
        if outcome in SCORED and s.samples:
            new = s.samples[0][0] > start + 1  # absent at the baseline: created inside the month
            for t, n in counter_increases(s.samples, from_zero=new):
                out[agent_key(s.labels)][round(t)][outcome] += n
    return out


def pass_ratio_between(hours: dict[float, dict[str, float]], start: float, end: float) -> tuple[float | None, float]:
    """(pass ratio, scored runs) of the hours ending in ``(start, end]``; None without runs."""
    passed = runs = 0.0
    for t, counts in hours.items():
        if start < t <= end:
            passed += counts.get("pass", 0.0)
            runs += sum(counts.values())
    return (passed / runs if runs >= 0.5 else None), runs


def daily_pass_ratio(hours: dict[float, dict[str, float]], start: float, end: float) -> list[tuple[float, float | None]]:
    days = []
    t = start
    while t < end:
        days.append((t, pass_ratio_between(hours, t, t + 86400)[0]))
        t += 86400
    return days


def models_around(models: list[Series], at: float) -> tuple[str, str]:
    """(before, after) a model change at ``at``, from an agent's ``agentwatch_agent_model_info``
    read every minute around it (``queries.around``): before, the model seen last before ``at``
    ("" when there is none: the timestamp was the agent's creation); after, the first other model
    seen from ``at`` on ("" when the history ends first). The exporter shows the new model and the
    change's timestamp in the same scrape, so the new model is never seen before ``at``."""
    seen = sorted((ts, s.labels.get("model", "")) for s in models for ts, _ in s.samples)
    before = max(((ts, m) for ts, m in seen if ts < at), default=(0.0, ""))[1]
    after = next((m for ts, m in seen if ts >= at and m != before), "")
    return before, after


def model_changes(changes: list[Series], models: list[Series], outcomes: dict, start: float, end: float) -> list[ModelChange]:
    per_agent: dict[Key, list[Series]] = defaultdict(list)
    for s in models:
        per_agent[agent_key(s.labels)].append(s)
    out = []
    for s in changes:
        key = agent_key(s.labels)
        for at in values_within(s.samples, start, end):
            before, after = models_around(per_agent[key], at)
            hours = outcomes.get(key, {})
            pb, rb = pass_ratio_between(hours, at - AROUND_CHANGE, at)
            pa, ra = pass_ratio_between(hours, at, at + AROUND_CHANGE)
            out.append(ModelChange(key, at, before, after, pb, rb, pa, ra))
    return sorted(out, key=lambda c: (c.at, c.key))


def pass_ratio_rows(series: list[Series]) -> list[PassRatioRow]:
    table: dict[tuple[Key, str], dict[str, float]] = defaultdict(dict)
    for s in series:
        table[(agent_key(s.labels), s.labels.get("canary", ""))][s.labels.get("period", "")] = s.last
    return [PassRatioRow(k, c, v.get("before_model_change"), v.get("since_model_change")) for (k, c), v in sorted(table.items())]


def chain_rows(series: list[Series]) -> list[ChainRow]:
    rows = [
        ChainRow(s.labels.get("company", ""), s.labels.get("issue", ""), s.labels.get("cause", ""), s.last) for s in series if s.last > 0
    ]
    return sorted(rows, key=lambda r: -r.age)[:TOP]
