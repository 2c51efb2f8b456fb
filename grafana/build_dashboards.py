"""Generate the agentwatch Grafana dashboards (``grafana/dashboards/*.json``). Standard library only.

    python grafana/build_dashboards.py          # rewrite the JSON files
    python grafana/build_dashboards.py --check  # exit 1 if the files differ from this script

Panel thresholds are the exporter's alert threshold defaults (class ``Thresholds`` in
``exporter/agentwatch/config.py``, read from the source so that no dependency is needed), the
same numbers the alerting rules join on. ``THRESHOLD_PANELS`` records which panel shows which;
``tests/test_grafana.py`` checks both against the real class. Every query uses the provisioned
datasource (uid ``agentwatch-prometheus``).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
CONFIG = HERE.parent / "exporter" / "agentwatch" / "config.py"
DS = {"type": "prometheus", "uid": "agentwatch-prometheus"}

SEL = 'source=~"$source",company=~"$company",role=~"$role",agent=~"$agent"'  # per-agent series
CO = 'source=~"$source",company=~"$company"'  # per-company series
BY = "source, company, agent"

# (dashboard uid, panel title) -> {colour: threshold key, or a plain number}
THRESHOLD_PANELS: dict[tuple[str, str], dict[str, str | float]] = {}


def threshold_defaults(config: Path = CONFIG) -> dict[str, float]:
    """The defaults of ``class Thresholds`` in config.py: ``x: float = Field(default=3.0, ...)`` or ``x: float = 600.0``."""
    tree = ast.parse(config.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Thresholds")
    defaults = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Call):
                value = next(k.value for k in value.keywords if k.arg == "default")
            # constants and arithmetic on them (4 * 3600.0) only: no names, no builtins
            defaults[node.target.id] = float(eval(compile(ast.Expression(value), str(config), "eval"), {"__builtins__": {}}))
    return defaults


T = threshold_defaults()


# -- building blocks -----------------------------------------------------------------------------


def variable(name: str, metric: str, label: str | None = None) -> dict:
    return {
        "name": name, "label": name.title(), "type": "query", "datasource": DS,
        "query": {"query": f"label_values({metric}, {label or name})", "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [],
    }


VARIABLES = {  # each filtered by the ones before it
    "source": "agentwatch_up",
    "company": 'agentwatch_company_info{source=~"$source"}',
    "role": f"agentwatch_agent_info{{{CO}}}",
    "agent": f'agentwatch_agent_info{{{CO},role=~"$role"}}',
    "model": f'agentwatch_agent_cost_usd_total{{{SEL}}}',
    "canary": f'agentwatch_canary_runs_total{{{SEL}}}',
}


def variables(*names: str) -> list[dict]:
    return [variable(n, VARIABLES[n]) for n in names]


def target(expr: str, legend: str = "", table: bool = False, heatmap: bool = False) -> dict:
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": "A", "range": not table, "instant": table}
    if table or heatmap:
        t["format"] = "table" if table else "heatmap"
    return t


def steps(base: str = "green", **colours: float) -> dict:
    ordered = sorted(colours.items(), key=lambda kv: kv[1])
    return {"mode": "absolute", "steps": [{"color": base, "value": None}] + [{"color": c, "value": v} for c, v in ordered]}


def hide(*columns: str) -> list[dict]:
    """Table transformation: drop the columns an instant query adds that nobody reads."""
    return [{"id": "organize", "options": {"excludeByName": {c: True for c in columns}, "indexByName": {}, "renameByName": {}}}]


TS = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": True}
STACKED = dict(TS, stacking={"mode": "normal", "group": "A"})
TABLE = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
UP = steps("red", green=1)


def default_options(kind: str) -> dict:
    if kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind in ("stat", "gauge", "bargauge"):
        opts: dict = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "orientation": "auto"}
        if kind == "stat":
            opts.update(colorMode="background", graphMode="none", justifyMode="auto", textMode="auto")
        if kind == "bargauge":
            opts.update(orientation="horizontal", displayMode="gradient", showUnfilled=True, valueMode="color")
        return opts
    if kind == "table":
        return {"showHeader": True, "cellHeight": "sm"}
    if kind == "heatmap":
        return {"calculate": False, "cellGap": 1, "showValue": "never", "yAxis": {"axisPlacement": "left", "unit": "s"},
                "rowsFrame": {"layout": "auto"}, "legend": {"show": True}, "exemplars": {"color": "rgba(255,0,255,0.7)"},
                "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": False},
                "color": {"mode": "scheme", "scheme": "Oranges", "fill": "dark-orange", "scale": "exponential",
                          "exponent": 0.5, "steps": 64, "reverse": False}}
    raise ValueError(kind)


class Board:
    def __init__(self, uid: str, title: str, description: str, variables: list[dict]) -> None:
        self.uid, self.title, self.description, self.variables = uid, title, description, variables
        self.panels: list[dict] = []
        self.annotations: list[dict] = [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]
        self.x = self.y = self.row_h = 0

    def add(self, kind: str, title: str, targets: list[dict], w: int = 12, h: int = 8, unit: str = "short",
            description: str = "", thresholds: dict[str, str | float] | None = None, base: str = "green",
            options: dict | None = None, custom: dict | None = None, minmax: tuple[float, float] | None = None,
            transformations: list[dict] | None = None) -> None:
        """``thresholds``: colour -> a key of ``Thresholds`` (the alert's number) or a plain number."""
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        defaults: dict = {"unit": unit, "color": {"mode": "palette-classic" if kind in ("timeseries", "heatmap") else "thresholds"}}
        if thresholds:
            keys = {c: k for c, k in thresholds.items() if isinstance(k, str)}
            if keys:
                THRESHOLD_PANELS[(self.uid, title)] = dict(thresholds)
                shown = ", ".join(f"{c} at {k} ({T[k]:g})" for c, k in keys.items())
                description = f"{description} Thresholds as in the alert: {shown}.".strip()
            defaults["thresholds"] = steps(base, **{c: T[k] if isinstance(k, str) else float(k) for c, k in thresholds.items()})
        if minmax:
            defaults["min"], defaults["max"] = minmax
        if custom:
            defaults["custom"] = custom
        panel = {
            "id": len(self.panels) + 1, "type": kind, "title": title, "description": description, "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "targets": [dict(t, refId=chr(65 + i)) for i, t in enumerate(targets)],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options or default_options(kind),
        }
        if transformations:
            panel["transformations"] = transformations
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def annotate(self, name: str, expr: str, title: str, text: str = "") -> None:
        """An annotation per distinct value of ``expr``, a timestamp in milliseconds (Grafana's "series value as timestamp")."""
        self.annotations.append({
            "datasource": DS, "enable": True, "iconColor": "orange", "name": name, "expr": expr,
            "titleFormat": title, "textFormat": text, "tagKeys": "agent", "step": "60s", "useValueForTime": True,
        })

    def json(self) -> dict:
        return {
            "uid": self.uid, "title": self.title, "description": self.description, "tags": ["agentwatch"],
            "editable": True, "graphTooltip": 1, "timezone": "browser", "refresh": "30s", "schemaVersion": 41,
            "time": {"from": "now-6h", "to": "now"}, "fiscalYearStartMonth": 0, "liveNow": False,
            "templating": {"list": self.variables}, "annotations": {"list": self.annotations},
            "links": [{"title": "agentwatch", "type": "dashboards", "tags": ["agentwatch"], "asDropdown": True,
                       "icon": "external link", "includeVars": True, "keepTime": True, "targetBlank": False, "tooltip": "", "url": ""}],
            "panels": self.panels,
        }


def per_agent(metric: str, selector: str = SEL) -> str:
    return f"max by ({BY}) ({metric}{{{selector}}})"


# shared by several dashboards, so that the same panel title always means the same query
THROUGHPUT = f"sum by (agent) (agent:agentwatch_tasks_completed:rate1h{{{SEL}}}) * 3600"
STUCK_RATIO = (f"{per_agent('agentwatch_agent_oldest_in_progress_task_age_seconds')} / on({BY}) "
               f"max by ({BY}) (agent:agentwatch_task_duration_seconds:baseline{{{SEL}}})")
SILENCE_RATIO = (f"(time() - {per_agent('agentwatch_agent_last_run_finished_timestamp_seconds')}) / on({BY}) "
                 f"({per_agent('agentwatch_agent_heartbeat_interval_seconds')} > 0)")
BURN_RATIO = (f"max by ({BY}) (agent:agentwatch_cost_usd:rate1h{{{SEL}}}) * 86400 / on({BY}) "
              f"({per_agent('agentwatch_agent_budget_expected_daily_usd')} > 0)")
BUDGET_USED = (f"{per_agent('agentwatch_agent_spend_month_usd')} / on({BY}) "
               f"({per_agent('agentwatch_agent_budget_monthly_usd')} > 0)")
ESCALATIONS = f"sum by (agent) (agent:agentwatch_escalations_unexpected:rate1h{{{SEL}}}) * 3600"
SOFT_LIMIT = {"yellow": "budget_soft_ratio", "red": 1.0}  # the soft-limit alert, then the budget itself


# -- the dashboards ------------------------------------------------------------------------------


def fleet() -> Board:
    b = Board("agentwatch-fleet", "agentwatch / Fleet overview",
              "The five health signals of every agent at a glance (throughput, stuck work, heartbeats, budget burn, "
              "escalations), and what is firing. Each ratio is drawn against the threshold its alert uses.",
              variables("source", "company", "role", "agent"))
    b.add("stat", "Sources up", [target('min(agentwatch_up{source=~"$source"})')], w=4, h=4, unit="bool_yes_no",
          thresholds={"green": 1}, base="red")
    b.add("stat", "Agents", [target(f"count(agentwatch_agent_info{{{SEL}}})")], w=4, h=4)
    b.add("stat", "Firing alerts", [target('count(ALERTS{alertstate="firing",alertname!="Watchdog"}) or vector(0)')], w=4, h=4,
          thresholds={"orange": 1}, description="Watchdog, the always-firing dead man's switch, is not counted.")
    b.add("stat", "Spend in the last 24 h", [target(f"sum(agent:agentwatch_cost_usd:increase1d{{{SEL}}})")], w=4, h=4,
          unit="currencyUSD")
    b.add("stat", "Open tasks", [target(f"sum(agent:agentwatch_open_tasks:sum{{{SEL}}})")], w=4, h=4)
    b.add("stat", "Stalled dependency chains", [target(f"sum(agentwatch_dependency_stalled_chains{{{CO}}})")], w=4, h=4,
          thresholds={"orange": 1})
    b.add("timeseries", "Throughput: tasks completed per hour", [target(THROUGHPUT, "{{agent}}")], custom=TS,
          description="Completions per agent over the last hour; its 7-day baseline is on the Agent detail dashboard.")
    b.add("bargauge", "Stuck: oldest in-progress task / usual duration", [target(STUCK_RATIO, "{{agent}}")], unit="x",
          thresholds={"yellow": 1.5, "red": "stuck_factor"},
          description="How many times its usual task duration (7-day, else all-history, else its role's) the agent's oldest in-progress task has taken.")
    b.add("bargauge", "Heartbeat: time since last run / interval", [target(SILENCE_RATIO, "{{agent}}")], unit="x",
          thresholds={"yellow": 1.5, "red": "heartbeat_missed_factor"},
          description="Time since the agent's last finished run, in heartbeat intervals (agents with a timer only).")
    b.add("bargauge", "Budget burn: spend rate / expected", [target(BURN_RATIO, "{{agent}}")], unit="x",
          thresholds={"yellow": 1, "red": "burn_spike_factor"},
          description="The last hour's spend rate over the agent's monthly budget spread evenly over the month.")
    b.add("bargauge", "Budget used this month", [target(BUDGET_USED, "{{agent}}")], unit="percentunit",
          thresholds=SOFT_LIMIT, minmax=(0, 1), description="Month-to-date spend over the monthly budget (agents with a budget).")
    b.add("timeseries", "Escalations: unexpected approvals per hour", [target(ESCALATIONS, "{{agent}}")], custom=TS,
          description="Expected approval gates (hire_agent, …) are not counted.")
    b.add("table", "Firing alerts", [target('ALERTS{alertstate="firing"}', table=True)], w=24, h=8, unit="none", custom=TABLE,
          transformations=hide("Time", "Value", "__name__", "alertstate"),
          description="Every firing alert with its labels; the Watchdog row means the alerting pipeline is alive.")
    return b


def agent() -> Board:
    b = Board("agentwatch-agent", "agentwatch / Agent detail",
              "One agent against its own and its role's baseline: throughput, heartbeats, runs, spend, escalations, loops and context.",
              variables("source", "company", "role", "agent"))
    b.add("timeseries", "Tasks completed per hour vs 7-day baseline", [
        target(THROUGHPUT, "{{agent}}"),
        target(f"sum by (agent) (agent:agentwatch_tasks_completed:rate1h_avg7d{{{SEL}}}) * 3600", "{{agent}} baseline"),
    ], custom=TS, description=f"AgentThroughputDrop fires below {T['throughput_drop_ratio']:g} × the baseline while the queue does not shrink.")
    b.add("timeseries", "Open tasks by status", [
        target(f'sum by (agent, status) (agentwatch_agent_tasks{{{SEL},status=~"todo|in_progress|in_review|blocked"}})', "{{agent}} {{status}}"),
    ], custom=STACKED)
    b.add("timeseries", "Heartbeat gaps", [
        target(per_agent("agentwatch_agent_heartbeat_gap_mean_seconds"), "{{agent}} mean gap"),
        target(per_agent("agentwatch_agent_heartbeat_gap_stddev_seconds"), "{{agent}} stddev"),
        target(per_agent("agentwatch_agent_heartbeat_interval_seconds"), "{{agent}} interval"),
    ], unit="s", custom=TS, description="Gaps between timer wakes in the recent run window, against the configured interval.")
    b.add("bargauge", "Heartbeat: time since last run / interval", [target(SILENCE_RATIO, "{{agent}}")], unit="x",
          thresholds={"yellow": 1.5, "red": "heartbeat_missed_factor"})
    b.add("timeseries", "Runs by status", [
        target(f"sum by (agent, status) (rate(agentwatch_agent_runs_total{{{SEL}}}[$__rate_interval])) * 3600", "{{agent}} {{status}}"),
    ], custom=STACKED, description="Finished runs per hour.")
    b.add("stat", "Failed runs in a row", [target(per_agent("agentwatch_agent_consecutive_failed_runs"), "{{agent}}")], w=6,
          thresholds={"yellow": 1, "red": "runs_failing_consecutive"})
    b.add("stat", "Runs failing (1 h)", [target(f"max by ({BY}) (agent:agentwatch_runs_failed:ratio1h{{{SEL}}})", "{{agent}}")], w=6,
          unit="percentunit", thresholds={"yellow": 0.2, "red": "runs_failure_ratio"}, description="Share of the last hour's runs that failed or timed out.")
    b.add("timeseries", "Spend per day vs expected", [
        target(f"max by ({BY}) (agent:agentwatch_cost_usd:rate1h{{{SEL}}}) * 86400", "{{agent}} spend rate"),
        target(per_agent("agentwatch_agent_budget_expected_daily_usd"), "{{agent}} expected"),
    ], unit="currencyUSD", custom=TS, description="The last hour's spend rate, per day, against the monthly budget spread over the month.")
    b.add("gauge", "Monthly budget used", [target(BUDGET_USED, "{{agent}}")], unit="percentunit", thresholds=SOFT_LIMIT, minmax=(0, 1))
    b.add("timeseries", "Unexpected escalations per hour vs 7-day baseline", [
        target(ESCALATIONS, "{{agent}}"),
        target(f"sum by (agent) (agent:agentwatch_escalations_unexpected:rate1h_avg7d{{{SEL}}}) * 3600", "{{agent}} baseline"),
    ], custom=TS, description=f"AgentEscalationSpike fires above {T['escalation_spike_factor']:g} × the baseline.")
    b.add("bargauge", "Runs without progress (most on one task)", [
        target(per_agent("agentwatch_agent_max_runs_without_progress"), "{{agent}}"),
    ], thresholds={"yellow": 10, "red": "loop_min_calls"},
        description="Progression: a status change, a handoff or a new subtask; a comment alone is not.")
    b.add("timeseries", "Loop signals", [
        target(per_agent("agentwatch_agent_looping_tasks"), "{{agent}} looping tasks"),
        target(f"{per_agent('agentwatch_agent_oldest_progress_age_seconds')} / 3600", "{{agent}} hours without progress"),
        target(per_agent("agentwatch_agent_unproductive_runs_without_progress"), "{{agent}} unproductive runs"),
        target(per_agent("agentwatch_agent_work_runs_without_progress"), "{{agent}} runs since its work progressed"),
        target(per_agent("agentwatch_agent_work_looping"), "{{agent}} work looping"),
    ], custom=TS, description="Per task (runs tied to a task), and for the agent's work as a whole: its tasks in progress "
                              "and parked, timer runs included.")
    b.add("bargauge", "Context: latest prompt / model window", [
        target(f"max by ({BY}, model) (agentwatch_agent_context_latest_ratio{{{SEL}}})", "{{agent}} {{model}}"),
    ], unit="percentunit", thresholds={"yellow": 0.5, "red": "context_ratio"}, minmax=(0, 1))
    b.add("bargauge", "Context growth on the current task", [
        target(f"max by ({BY}, model) (agentwatch_agent_context_growth_ratio{{{SEL}}})", "{{agent}} {{model}}"),
    ], unit="x", thresholds={"red": "context_growth"}, description="Latest prompt over the first one on the same open task (1 = flat).")
    return b


def tasks() -> Board:
    b = Board("agentwatch-tasks", "agentwatch / Tasks & dependencies",
              "Status flow, task ages and durations, stuck tasks and stalled dependency chains.",
              variables("source", "company", "role", "agent"))
    b.add("timeseries", "Company tasks by status", [target(f"sum by (status) (agentwatch_company_tasks{{{CO}}})", "{{status}}")],
          custom=STACKED, description="Every task of the selected companies, canaries excluded.")
    b.add("timeseries", "Completions per hour", [target(THROUGHPUT, "{{agent}}")], custom=TS)
    b.add("bargauge", "Stuck: oldest in-progress task / usual duration", [target(STUCK_RATIO, "{{agent}}")], unit="x",
          thresholds={"yellow": 1.5, "red": "stuck_factor"},
          description="AgentTaskStuck also needs the task to have gone that long without progression (next panels).")
    b.add("bargauge", "Oldest in-progress task per agent", [
        target(per_agent("agentwatch_agent_oldest_in_progress_task_age_seconds"), "{{agent}}"),
    ], unit="s")
    b.add("bargauge", "Time without progression per agent", [
        target(per_agent("agentwatch_agent_oldest_progress_age_seconds"), "{{agent}}"),
    ], unit="s", description="Progression: a status change, a handoff or a new subtask; a comment alone is not.")
    b.add("timeseries", "Completed-task duration (all history)", [
        target(f"histogram_quantile(0.5, sum by (le) (agentwatch_agent_task_duration_seconds_bucket{{{SEL}}}))", "p50"),
        target(f"histogram_quantile(0.9, sum by (le) (agentwatch_agent_task_duration_seconds_bucket{{{SEL}}}))", "p90"),
    ], unit="s", custom=TS, description="From startedAt to completedAt, over every done task the platform holds.")
    b.add("heatmap", "Tasks completed by duration", [
        target(f"sum by (le) (increase(agentwatch_agent_task_duration_seconds_bucket{{{SEL}}}[$__rate_interval]))", "{{le}}", heatmap=True),
    ], w=24, unit="short", description="How long the tasks completed in each interval took.")
    b.add("stat", "Dependency cycles", [target(f"sum(agentwatch_dependency_cycles{{{CO}}})")], w=6, thresholds={"red": 1})
    b.add("stat", "Oldest stalled chain", [target(f"max(agentwatch_dependency_oldest_stalled_chain_age_seconds{{{CO}}})")],
          w=6, unit="s", thresholds={"yellow": 1, "red": "deadlock_min_age"})
    b.add("timeseries", "Stalled chains by cause", [
        target(f"sum by (cause) (agentwatch_dependency_stalled_chains{{{CO}}})", "{{cause}}"),
    ], custom=STACKED)
    b.add("table", "Stalled chains (top N, oldest first)", [
        target(f"agentwatch_dependency_stalled_chain_age_seconds{{{CO}}}", table=True),
    ], w=24, unit="s", custom=TABLE, transformations=hide("Time", "__name__"),
        description="Value: age of the chain. The issue is the chain's most downstream task.")
    b.add("timeseries", "Stale locks and phantom running agents", [
        target(f"sum by (agent, lock) (agentwatch_agent_stale_locks{{{SEL}}})", "{{agent}} {{lock}} lock"),
        target(per_agent("agentwatch_agent_running_without_live_run"), "{{agent}} running without a run"),
    ], custom=TS)
    b.add("timeseries", "Tasks blocked on a person, and parked by the platform", [
        target(per_agent("agentwatch_agent_tasks_blocked_on_human"), "{{agent}} blocked on a person"),
        target(per_agent("agentwatch_agent_tasks_parked"), "{{agent}} parked"),
    ], custom=TS, description="Parked: Paperclip's recovery set the task to blocked and asked the board for a disposition (AgentTaskParked).")
    return b


def cost() -> Board:
    b = Board("agentwatch-cost", "agentwatch / Cost & budget",
              "Spend against what the budget allows, per agent and per model; budget policies and incidents.",
              variables("source", "company", "role", "agent", "model"))
    m = f'{SEL},model=~"$model"'
    b.add("timeseries", "Spend rate per agent (USD/day)", [
        target(f"sum by (agent) (agent:agentwatch_cost_usd:rate1h{{{SEL}}}) * 86400", "{{agent}}"),
    ], unit="currencyUSD", custom=TS)
    b.add("bargauge", "Burn: spend rate / expected", [target(BURN_RATIO, "{{agent}}")], unit="x",
          thresholds={"yellow": 1, "red": "burn_spike_factor"})
    b.add("timeseries", "Spend rate per model (USD/day)", [
        target(f"sum by (model) (rate(agentwatch_agent_cost_usd_total{{{m}}}[$__rate_interval])) * 86400", "{{model}}"),
    ], unit="currencyUSD", custom=STACKED)
    b.add("timeseries", "Tokens per model (per second)", [
        target(f"sum by (model, kind) (rate(agentwatch_agent_tokens_total{{{m}}}[$__rate_interval]))", "{{model}} {{kind}}"),
    ], custom=STACKED)
    b.add("bargauge", "Month to date per agent", [target(per_agent("agentwatch_agent_spend_month_usd"), "{{agent}}")],
          unit="currencyUSD")
    b.add("bargauge", "Budget used this month", [target(BUDGET_USED, "{{agent}}")], unit="percentunit",
          thresholds=SOFT_LIMIT, minmax=(0, 1))
    b.add("bargauge", "Budget policies: used", [
        target(f"max by (scope_type, scope, window) (agentwatch_budget_policy_utilization_ratio{{{CO}}})", "{{scope_type}} {{scope}} {{window}}"),
    ], unit="percentunit", thresholds=SOFT_LIMIT, minmax=(0, 1))
    b.add("stat", "Open budget incidents", [target(f"sum(agentwatch_budget_incidents_open{{{CO}}})")], w=6, thresholds={"red": 1})
    b.add("stat", "Agents paused by budget", [target(f'sum(agentwatch_agent_paused{{{SEL},reason="budget"}})')], w=6,
          thresholds={"red": 1})
    b.add("bargauge", "Spend of live runs not yet stopped", [target(per_agent("agentwatch_agent_in_flight_spend_usd"), "{{agent}}")],
          unit="currencyUSD", description="Cost recorded since the agent's oldest live run started: what a hard stop cannot act on yet.")
    b.add("timeseries", "Company spend windows", [
        target(f"sum by (window) (agentwatch_company_window_spend_usd{{{CO}}})", "{{window}}"),
    ], unit="currencyUSD", custom=TS, description="Rolling spend over 5 h, 24 h and 7 d.")
    return b


def quality() -> Board:
    b = Board("agentwatch-quality", "agentwatch / Quality",
              "Canary tasks with known answers; pass rates before and since each agent's last model change (orange marks).",
              variables("source", "company", "role", "agent", "canary"))
    c = f'{SEL},canary=~"$canary"'
    b.annotate("Model changes", f"max by ({BY}) (agentwatch_agent_model_change_timestamp_seconds{{{SEL}}}) * 1000",
               "{{agent}}: model changed", "The agent's creation when it never changed model.")
    b.add("timeseries", "Canary runs by outcome", [
        target(f"sum by (canary, outcome) (increase(agentwatch_canary_runs_total{{{c}}}[$__rate_interval]))", "{{canary}} {{outcome}}"),
    ], custom=STACKED, description="Runs per interval: pass, fail, timeout, error, skipped.")
    b.add("bargauge", "Pass ratio before and since the model change", [
        target(f"agentwatch_canary_pass_ratio{{{c}}}", "{{agent}} {{canary}} {{period}}"),
    ], unit="percentunit", thresholds={"orange": 0.5, "green": 0.9}, base="red", minmax=(0, 1))
    b.add("bargauge", "Pass-ratio drop since the model change", [
        target(f'agentwatch_canary_pass_ratio{{{c},period="before_model_change"}} - ignoring(period) '
               f'agentwatch_canary_pass_ratio{{{c},period="since_model_change"}}', "{{agent}} {{canary}}"),
    ], unit="percentunit", thresholds={"red": "model_quality_drop"}, minmax=(-1, 1),
        description="ModelQualityDegraded also needs two scored runs since the change.")
    b.add("stat", "Failures in a row", [target(f"max by (agent, canary) (agentwatch_canary_consecutive_failures{{{c}}})", "{{agent}} {{canary}}")],
          thresholds={"yellow": 1, "red": "canary_consecutive_failures"})
    b.add("timeseries", "Canary latency (p90)", [
        target(f"histogram_quantile(0.9, sum by (le, canary) (agentwatch_canary_duration_seconds_bucket{{{c}}}))", "{{canary}}"),
    ], unit="s", custom=TS, description="From creating the task to its answer, over every run since agentwatch started.")
    b.add("bargauge", "Since the last pass", [
        target(f"time() - max by (agent, canary) (agentwatch_canary_last_success_timestamp_seconds{{{c}}})", "{{agent}} {{canary}}"),
    ], unit="s")
    b.add("timeseries", "Canary spend (USD/day)", [
        target(f"sum by (canary) (rate(agentwatch_canary_spend_usd_total{{{c}}}[$__rate_interval])) * 86400", "{{canary}}"),
    ], w=24, h=6, unit="currencyUSD", custom=TS)
    b.add("table", "Model in use", [target(f"agentwatch_agent_model_info{{{SEL}}}", table=True)], w=24, unit="none", custom=TABLE,
          transformations=hide("Time", "Value", "__name__"))
    return b


def self_health() -> Board:
    b = Board("agentwatch-self", "agentwatch / Self-health",
              "Is agentwatch itself polling, fresh and cheap?", variables("source"))
    s = 'source=~"$source"'
    b.add("stat", "Source up", [target(f"agentwatch_up{{{s}}}", "{{source}}")], w=6, unit="bool_yes_no",
          thresholds={"green": 1}, base="red", description="Whether the last poll of the source worked.")
    b.add("stat", "Data age", [target(f"agentwatch_snapshot_age_seconds{{{s}}}", "{{source}}")], w=6, unit="s",
          thresholds={"yellow": 60, "red": "stale_data_age"}, description="-1: no successful poll yet.")
    b.add("timeseries", "Poll duration", [target(f"agentwatch_poll_duration_seconds{{{s}}}", "{{source}}")], unit="s", custom=TS)
    b.add("timeseries", "Poll failures by kind", [
        target(f"sum by (source, kind) (increase(agentwatch_poll_failures_total{{{s}}}[$__rate_interval]))", "{{source}} {{kind}}"),
    ], custom=STACKED)
    b.add("timeseries", "Request errors by endpoint", [
        target(f"sum by (source, endpoint, kind) (increase(agentwatch_source_request_errors_total{{{s}}}[$__rate_interval]))",
               "{{source}} {{endpoint}} {{kind}}"),
    ], custom=STACKED)
    b.add("timeseries", "Request latency by endpoint (p90)", [
        target(f"histogram_quantile(0.9, sum by (le, endpoint) (rate(agentwatch_source_request_duration_seconds_bucket{{{s}}}[$__rate_interval])))",
               "{{endpoint}}"),
    ], unit="s", custom=TS)
    b.add("timeseries", "Requests and bytes per poll", [
        target(f"agentwatch_poll_requests{{{s}}}", "{{source}} requests"),
        target(f"agentwatch_poll_response_bytes{{{s}}} / 1024", "{{source}} KiB"),
    ], custom=TS)
    b.add("timeseries", "Scrape of agentwatch (render)", [
        target('scrape_duration_seconds{job="agentwatch"}', "{{instance}} scrape seconds"),
        target('scrape_samples_scraped{job="agentwatch"} / 1000', "{{instance}} thousand samples"),
    ], custom=TS, description="A scrape renders the last snapshot; it never waits on the platform.")
    b.add("timeseries", "Reads of the platform by trigger", [
        target(f"sum by (source, trigger) (rate(agentwatch_refreshes_total{{{s}}}[$__rate_interval])) * 3600", "{{source}} {{trigger}} per hour"),
    ], unit="short", custom=STACKED,
          description="scheduled: the full poll; event: a targeted refresh after live events; resync: a full poll because events may have been lost.")
    b.add("timeseries", "Live-events sockets by state", [
        target(f"sum by (source, state) (agentwatch_live_events_socket_state{{{s}}} == 1)", "{{source}} {{state}}"),
        target(f"sum by (source, reason) (increase(agentwatch_live_events_disconnects_total{{{s}}}[$__rate_interval]))",
               "{{source}} lost: {{reason}}"),
    ], unit="short", custom=TS,
          description="Paperclip sources: companies whose socket is open, connecting, in backoff or unavailable (polled), and sockets lost by reason.")
    b.add("stat", "Series dropped by the cardinality guard", [target(f"sum(agentwatch_dropped_series{{{s}}})")],
          thresholds={"orange": 1})
    b.add("timeseries", "OTLP requests by outcome", [
        target(f"sum by (source, outcome) (rate(agentwatch_otlp_requests_total{{{s}}}[$__rate_interval]))", "{{source}} {{outcome}}"),
    ], unit="short", custom=STACKED,
          description="OpenTelemetry sources: export requests accepted, refused (400, 401, 413, 415) or turned away with 429 while the queue was full.")
    b.add("timeseries", "OTLP spans received and dropped", [
        target(f"sum by (source) (rate(agentwatch_otlp_spans_received_total{{{s}}}[$__rate_interval]))", "{{source}} received"),
        target(f"sum by (source, reason) (rate(agentwatch_otlp_spans_dropped_total{{{s}}}[$__rate_interval]))", "{{source}} dropped: {{reason}}"),
        target(f"agentwatch_otlp_queue_requests{{{s}}}", "{{source}} queued requests"),
    ], custom=TS, description="Spans of unknown or over-limit agents, or never placed under an agent, are counted and dropped.")
    return b


BOARDS = {"fleet": fleet, "agent": agent, "tasks": tasks, "cost": cost, "quality": quality, "self": self_health}


def render() -> dict[str, str]:
    THRESHOLD_PANELS.clear()
    return {f"{name}.json": json.dumps(build().json(), indent=2) + "\n" for name, build in BOARDS.items()}


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [n for n, text in files.items() if not (OUT / n).exists() or (OUT / n).read_text() != text]
        if stale:
            print(f"out of date: {', '.join(stale)}; run python grafana/build_dashboards.py", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(exist_ok=True)
    for name, text in files.items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
