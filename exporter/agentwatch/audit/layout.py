"""The report laid out for reading: sections of formatted tables, notes and chart slots, shared by
the HTML and the Markdown renderers. Pure."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from agentwatch.analysis.tasks import TASK_DURATION_BUCKETS
from agentwatch.audit.report import STUCK_ALERT, Durations, Key, Report, agent_key


@dataclass(frozen=True)
class Table:
    caption: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    id: str
    title: str
    source: str  # where the numbers come from
    empty: str | None = None  # set when the month has no data for the section
    charts: list[str] = field(default_factory=list)  # names of charts.CHARTS
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)  # under the tables: how to read them


NONE = "–"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    for limit, unit, div in ((90, "s", 1), (90 * 60, "min", 60), (48 * 3600, "h", 3600)):
        if seconds < limit:
            return f"{seconds / div:.0f} {unit}" if div < 3600 else f"{seconds / div:.1f} {unit}"
    return f"{seconds / 86400:.1f} d"


def usd(value: float | None) -> str:
    return NONE if value is None else f"${value:,.2f}"


def pct(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.0f}%"


def count(value: float | None) -> str:
    return NONE if value is None else f"{value:,.0f}"


def change(now: float | None, before: float | None) -> str:
    if now is None or before is None or before == 0:
        return NONE
    return f"{(now - before) / before * 100:+.0f}%"


def when(t: float | None) -> str:
    return NONE if t is None else datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def bound(seconds: float) -> str:
    """A histogram bucket bound in its own round unit: 60 -> ``1 min``, 86400 -> ``1 d``."""
    for div, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= div and seconds % div == 0:
            return f"{seconds / div:g} {unit}"
    return f"{seconds:g} s"


def agent_cells(key: Key) -> list[str]:
    return [key[0], key[1], key[2]]


AGENT_HEADERS = ["Company", "Agent", "Role"]


def _duration_cells(d: Durations) -> list[str]:
    return [count(d.count), duration(d.mean), duration(d.p50), duration(d.p90), duration(d.p95)]


def _durations(report: Report) -> Section:
    s = Section(
        "durations",
        "Task duration (completed tasks)",
        "Completed tasks, `startedAt` to `completedAt`: `increase(agentwatch_agent_task_duration_seconds_bucket[month])` "
        "summed per agent and per role, quantiles interpolated inside the buckets as `histogram_quantile` does "
        "(so a quantile is only as precise as the bucket it falls in); the mean is `_sum` over `_count`.",
    )
    if not any(r.this.count > 0.5 for r in report.role_durations):
        s.empty = f"No completed task in {report.month}: `agentwatch_agent_task_duration_seconds` did not grow."
        return s
    s.charts = ["durations"]
    head = ["Tasks", "Mean", "p50", "p90", "p95"]
    s.tables.append(
        Table(
            "Per role",
            ["Role", *head, f"p50 {report.previous}", f"p95 {report.previous}", "p95 change"],
            [
                [r.key[2], *_duration_cells(r.this), duration(r.prev.p50), duration(r.prev.p95), change(r.this.p95, r.prev.p95)]
                for r in report.role_durations
            ],
        )
    )
    s.tables.append(
        Table(
            "Per agent",
            [*AGENT_HEADERS, *head, f"p95 {report.previous}", "p95 change"],
            [
                [*agent_cells(r.key), *_duration_cells(r.this), duration(r.prev.p95), change(r.this.p95, r.prev.p95)]
                for r in report.agent_durations
            ],
        )
    )
    s.footnotes.append(_quantile_note(report))
    return s


def _quantile_note(report: Report) -> str:
    """Why two agents can show the very same p50, p90 and p95: say it under the tables, and name them."""
    note = (
        "p50, p90 and p95 are estimates, interpolated inside the histogram's buckets (bounds "
        f"{', '.join(bound(b) for b in TASK_DURATION_BUCKETS)}), as `histogram_quantile` does: agents whose "
        "tasks fall in the same bucket get the same estimate, so identical quantiles mean the same bucket, not "
        "the same durations. Tasks and the mean (`_sum` over `_count`) are exact."
    )
    alike: dict[tuple, list[str]] = defaultdict(list)
    for r in report.agent_durations:
        if r.this.p50 is not None:
            alike[(r.this.p50, r.this.p90, r.this.p95)].append(r.key[1])
    same = [names for names in alike.values() if len(names) > 1]
    if same:
        note += " Identical here: " + "; ".join(", ".join(names) for names in same) + "."
    return note


def _ages(report: Report) -> Section:
    s = Section(
        "ages",
        "Task age (oldest in-progress task)",
        "`agentwatch_agent_oldest_in_progress_task_age_seconds`, its maximum in each hour "
        "(`max_over_time(...[1h])`); hours with no task in progress (value 0) are left out. "
        "The distribution is over those hourly values: p50 is a typical hour, max the oldest a task got.",
    )
    if not any(r.hours for r in report.role_ages):
        s.empty = f"No in-progress task in {report.month}: the age gauge was 0 or absent all month."
        return s
    s.charts = ["ages"]
    head = ["Hours busy", "p50", "p95", "Max", f"p50 {report.previous}", f"Max {report.previous}"]

    def cells(r):
        return [count(r.hours), duration(r.p50), duration(r.p95), duration(r.max), duration(r.prev_p50), duration(r.prev_max)]

    s.tables.append(Table("Per role (all agents of the role)", ["Role", *head], [[r.key[2], *cells(r)] for r in report.role_ages]))
    s.tables.append(Table("Per agent", [*AGENT_HEADERS, *head], [[*agent_cells(r.key), *cells(r)] for r in report.agent_ages]))
    return s


def _stuck(report: Report) -> Section:
    s = Section(
        "stuck",
        "Stuck tasks",
        f"Firing episodes of the `{STUCK_ALERT}` alert, from Prometheus' `ALERTS` series sampled every minute: "
        "an episode is one alert instance (one agent) firing without a break. The alert is per agent, so two "
        "tasks stuck at once on one agent are one episode. agentwatch exports no per-task stuck series.",
    )
    if not report.stuck_episodes:
        s.empty = f"No `{STUCK_ALERT}` episode in {report.month}."
        if any(r.prev_episodes for r in report.stuck):
            s.empty += f" {report.previous} had {sum(r.prev_episodes for r in report.stuck)}."
        return s
    s.charts = ["stuck"]
    total = len(report.stuck_episodes)
    s.notes.append(
        f"{total} episode(s) on {sum(1 for r in report.stuck if r.episodes)} agent(s); "
        f"{report.previous}: {sum(r.prev_episodes for r in report.stuck)}."
    )
    s.tables.append(
        Table(
            "Per agent",
            [*AGENT_HEADERS, "Episodes", "Hours firing", "Longest", f"Episodes {report.previous}"],
            [
                [*agent_cells(r.name), count(r.episodes), f"{r.hours:.1f}", f"{r.longest:.1f} h", count(r.prev_episodes)]
                for r in report.stuck
            ],
        )
    )
    s.tables.append(
        Table(
            "Episodes",
            [*AGENT_HEADERS, "From", "To"],
            [[*agent_cells(agent_key(e.labels)), when(e.start), when(e.end)] for e in report.stuck_episodes],
        )
    )
    return s


def _slowest(report: Report) -> Section:
    s = Section(
        "slowest",
        "Slowest work",
        "agentwatch exports no per-task series (no issue id label), so the slowest work is shown per agent: the "
        "oldest an in-progress task got, and the p95 of completed tasks. The only task-level series are the "
        "top-N stalled dependency chains, by head issue (`agentwatch_dependency_stalled_chain_age_seconds`).",
    )
    ages, p95s = report.slowest_by_age, report.slowest_by_p95
    if not ages and not p95s and not report.stalled_chains:
        s.empty = f"No task in progress or completed in {report.month}."
        return s
    if ages:
        s.charts = ["slowest"]
        s.tables.append(
            Table(
                "Oldest in-progress task per agent",
                [*AGENT_HEADERS, "Oldest", "In the hour from", "Agent's p95 completed"],
                [[*agent_cells(r.key), duration(r.max), when(r.max_at), duration(_p95_of(report, r.key))] for r in ages],
            )
        )
    if p95s:
        s.tables.append(
            Table(
                "Slowest completed tasks (p95) per agent",
                [*AGENT_HEADERS, "Tasks", "p95", f"p95 {report.previous}"],
                [[*agent_cells(r.key), count(r.this.count), duration(r.this.p95), duration(r.prev.p95)] for r in p95s],
            )
        )
    if report.stalled_chains:
        s.tables.append(
            Table(
                "Longest-stalled dependency chains",
                ["Company", "Head issue", "Cause", "Stalled for (max)"],
                [[c.company, c.issue, c.cause, duration(c.age)] for c in report.stalled_chains],
            )
        )
    return s


def _p95_of(report: Report, key: Key) -> float | None:
    return next((r.this.p95 for r in report.agent_durations if r.key == key), None)


def _spend(report: Report) -> Section:
    s = Section(
        "spend",
        "Spend against budget",
        "`agentwatch_agent_spend_month_usd` (the platform's spend in the UTC month) and "
        "`agentwatch_agent_budget_monthly_usd`, their last values before the month ended (0 budget = none).",
    )
    rows = [r for r in report.spend if r.spend is not None]
    if not rows:
        s.empty = f"No spend recorded in {report.month}: `agentwatch_agent_spend_month_usd` has no sample."
        return s
    s.charts = ["spend"]
    spent = sum(r.spend for r in report.spend if r.spend is not None)
    budget = sum(r.budget or 0 for r in rows)
    over = [r for r in rows if r.ratio is not None and r.ratio >= 1]
    s.notes.append(
        f"Fleet: {usd(spent)} spent of {usd(budget)} budgeted ({pct(spent / budget if budget else None)}); "
        f"{len(over)} agent(s) at or over budget."
    )
    s.tables.append(
        Table(
            "Per agent",
            [*AGENT_HEADERS, "Spend", "Budget", "Used", f"Spend {report.previous}", "Change"],
            [
                [
                    *agent_cells(r.key),
                    usd(r.spend),
                    usd(r.budget) if r.budget else "none",
                    pct(r.ratio),
                    usd(r.prev_spend),
                    change(r.spend, r.prev_spend),
                ]
                for r in rows
            ],
        )
    )
    return s


def _alerts(report: Report) -> Section:
    s = Section(
        "alerts",
        "Alerts per failure class",
        'Firing episodes from Prometheus\' `ALERTS{alertstate="firing"}` series of the agentwatch rules (those with a '
        "`failure_class` label; `Watchdog`, class `meta`, always fires and is left out), sampled every minute. "
        "An episode is one alert instance firing without a break; one still firing when the month began counts too.",
    )
    if not report.alerts:
        s.empty = f"No agentwatch alert fired in {report.month}."
        return s
    s.charts = ["alerts"]
    s.notes.append(
        f"{sum(r.episodes for r in report.classes)} episode(s) in {report.month}; "
        f"{sum(r.prev_episodes for r in report.classes)} in {report.previous}."
    )
    s.tables.append(
        Table(
            "Per failure class",
            ["Class", "Episodes", "Hours firing", f"Episodes {report.previous}", "Change"],
            [
                [r.name, count(r.episodes), f"{r.hours:.1f}", count(r.prev_episodes), change(r.episodes, r.prev_episodes)]
                for r in report.classes
            ],
        )
    )
    s.tables.append(
        Table(
            "Per alert",
            ["Alert", "Class", "Severity", "Episodes", "Hours firing", f"Episodes {report.previous}"],
            [[r.name, r.failure_class, r.severity, count(r.episodes), f"{r.hours:.1f}", count(r.prev_episodes)] for r in report.alerts],
        )
    )
    return s


def _canary(report: Report) -> Section:
    s = Section(
        "canary",
        "Canary pass rates around model changes",
        "Daily pass rate of the canary runs: `agentwatch_canary_runs_total` read every hour, its growth summed per day "
        "(a reset or a series new in the month, such as a new model's, counts from zero), passes over scored runs "
        "(`pass`, `fail`, `timeout`, `error`; `skipped` does not count). Model changes are the values "
        "`agentwatch_agent_model_change_timestamp_seconds` took within the month, the models from "
        "`agentwatch_agent_model_info`; a change's rates are over the 7 days before and after it, within the month. "
        "The last table is the exporter's own `agentwatch_canary_pass_ratio` at the month's end.",
    )
    has_runs = any(v is not None for days in report.canary_daily.values() for _, v in days)
    if not has_runs and not report.model_changes:
        s.empty = f"No canary run and no model change in {report.month}."
        return s
    if has_runs:
        s.charts = ["canary"]
    else:
        s.notes.append(f"No canary run in {report.month}.")
    if report.model_changes:
        s.tables.append(
            Table(
                "Model changes",
                [*AGENT_HEADERS, "At", "From", "To", "Pass 7 d before", "Runs", "Pass 7 d after", "Runs"],
                [
                    [
                        *agent_cells(c.key),
                        when(c.at),
                        c.before or "(unknown)",
                        c.after or "(unknown)",
                        pct(c.pass_before),
                        count(c.runs_before),
                        pct(c.pass_after),
                        count(c.runs_after),
                    ]
                    for c in report.model_changes
                ],
            )
        )
    else:
        s.notes.append(f"No model change in {report.month}.")
    if report.pass_ratios:
        s.tables.append(
            Table(
                "Exporter's pass ratio at the month's end",
                [*AGENT_HEADERS, "Canary", "Before the last change", "Since"],
                [[*agent_cells(r.key), r.canary, pct(r.before), pct(r.since)] for r in report.pass_ratios],
            )
        )
    return s


def sections(report: Report) -> list[Section]:
    return [_durations(report), _ages(report), _stuck(report), _slowest(report), _spend(report), _alerts(report), _canary(report)]


def headline(report: Report) -> list[tuple[str, str, str]]:
    """(label, this month, the previous month) for the summary at the top."""
    tasks = [sum(r.this.count for r in report.role_durations), sum(r.prev.count for r in report.role_durations)]
    spend = [sum(r.spend or 0 for r in report.spend), sum(r.prev_spend or 0 for r in report.spend)]
    alerts = [sum(r.episodes for r in report.classes), sum(r.prev_episodes for r in report.classes)]
    stuck = [sum(r.episodes for r in report.stuck), sum(r.prev_episodes for r in report.stuck)]
    oldest = [max((r.max or 0 for r in report.role_ages), default=0), max((r.prev_max or 0 for r in report.role_ages), default=0)]
    return [
        ("Tasks completed", count(tasks[0]), count(tasks[1])),
        ("Oldest in-progress task", duration(oldest[0] or None), duration(oldest[1] or None)),
        ("Stuck-task episodes", count(stuck[0]), count(stuck[1])),
        ("Alert episodes", count(alerts[0]), count(alerts[1])),
        ("Spend", usd(spend[0]), usd(spend[1])),
        ("Model changes", count(len(report.model_changes)), NONE),
    ]
