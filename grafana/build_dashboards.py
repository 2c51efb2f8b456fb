"""Generate the agentwatch Grafana dashboards (``grafana/dashboards/*.json``).

    python grafana/build_dashboards.py          # rewrite the JSON files
    python grafana/build_dashboards.py --check  # exit 1 if the files differ from this script

Panel thresholds come from the exporter's threshold defaults (``agentwatch.config.Thresholds``),
the same numbers the alerting rules use; ``THRESHOLD_PANELS`` records which panel shows which.
Every query uses the provisioned datasource (uid ``agentwatch-prometheus``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agentwatch.config import Thresholds

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "agentwatch-prometheus"}
T = Thresholds()
SEL = 'source=~"$source",company=~"$company",role=~"$role",agent=~"$agent"'
CO = 'source=~"$source",company=~"$company"'
BY = "source, company, agent"

# (dashboard uid, panel title) -> the config threshold its red step shows
THRESHOLD_PANELS: dict[tuple[str, str], str] = {}


# -- building blocks -----------------------------------------------------------------------------


def variable(name: str, query: str, label: str | None = None) -> dict:
    q = f"label_values({query}, {label or name})"
    return {
        "name": name, "label": name.title(), "type": "query", "datasource": DS,
        "query": {"query": q, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
        "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*", "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [],
    }


def variables(*names: str) -> list[dict]:
    queries = {
        "source": ("agentwatch_up", None),
        "company": ('agentwatch_agent_info{source=~"$source"}', None),
        "role": (f'agentwatch_agent_info{{{CO}}}', None),
        "agent": (f'agentwatch_agent_info{{{CO},role=~"$role"}}', None),
        "canary": ('agentwatch_canary_runs_total{source=~"$source"}', None),
    }
    return [variable(n, *queries[n]) for n in names]


def target(expr: str, legend: str = "", ref: str = "A", table: bool = False) -> dict:
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "refId": ref, "range": not table, "instant": table}
    if table:
        t["format"] = "table"
    return t


def steps(*reds: tuple[str, float]) -> dict:
    return {"mode": "absolute", "steps": [{"color": "green", "value": None}] + [{"color": c, "value": v} for c, v in reds]}


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
            description: str = "", threshold: str | None = None, reds: tuple = (), options: dict | None = None,
            custom: dict | None = None, extra_defaults: dict | None = None) -> None:
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        defaults: dict = {"unit": unit, "color": {"mode": "palette-classic" if kind == "timeseries" else "thresholds"}}
        if threshold:
            THRESHOLD_PANELS[(self.uid, title)] = threshold
            value = getattr(T, threshold)
            reds = tuple(r for r in reds if r[1] != value) + (("red", value),)
            description = f"{description} Red at the {threshold} threshold ({value:g}), as in the alert.".strip()
        if reds:
            defaults["thresholds"] = steps(*sorted(reds, key=lambda r: r[1]))
        if custom:
            defaults["custom"] = custom
        if extra_defaults:
            defaults.update(extra_defaults)
        panel = {
            "id": len(self.panels) + 1, "type": kind, "title": title, "description": description, "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "targets": [dict(t, refId=chr(65 + i)) for i, t in enumerate(targets)],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options or default_options(kind),
        }
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def annotate(self, name: str, expr: str, title: str) -> None:
        self.annotations.append({
            "datasource": DS, "enable": True, "iconColor": "orange", "name": name, "expr": expr,
            "titleFormat": title, "textFormat": "", "step": "60s", "useValueForTime": True,
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


def default_options(kind: str) -> dict:
    if kind == "timeseries":
        return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
                "tooltip": {"mode": "multi", "sort": "desc"}}
    if kind in ("stat", "gauge", "bargauge"):
        opts = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "orientation": "auto"}
        if kind == "stat":
            opts.update(colorMode="background", graphMode="none", justifyMode="auto", textMode="auto")
        if kind == "bargauge":
            opts.update(displayMode="gradient", showUnfilled=True, valueMode="color")
        return opts
    if kind == "table":
        return {"showHeader": True, "cellHeight": "sm"}
    return {}


UP = {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]}
TS_CUSTOM = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": True}
STACKED = dict(TS_CUSTOM, stacking={"mode": "normal", "group": "A"})


def per_agent(metric: str) -> str:
    return f"max by ({BY}) ({metric}{{{SEL}}})"


BURN_RATIO = (f"max by ({BY}) (agent:agentwatch_cost_usd:rate1h{{{SEL}}}) * 86400 / on({BY}) "
              f"({per_agent('agentwatch_agent_budget_expected_daily_usd')} > 0)")
BUDGET_USED = (f"{per_agent('agentwatch_agent_spend_month_usd')} / on({BY}) "
               f"({per_agent('agentwatch_agent_budget_monthly_usd')} > 0)")


def soft_limit_colours(b: "Board") -> None:
    """Budget panels: orange from the soft-limit ratio (the alert), red at 100 %."""
    b.panels[-1]["fieldConfig"]["defaults"]["thresholds"] = steps(("orange", T.budget_soft_ratio), ("red", 1.0))


# -- the dashboards ------------------------------------------------------------------------------


def fleet() -> Board:
    b = Board("agentwatch-fleet", "agentwatch / Fleet overview",
              "The five health signals of every agent at a glance, and what is firing.",
              variables("source", "company", "role", "agent"))
    b.add("stat", "Sources up", [target('min(agentwatch_up{source=~"$source"})')], w=4, h=4, unit="bool_yes_no",
          extra_defaults={"thresholds": UP})
    b.add("stat", "Agents", [target(f'count(agentwatch_agent_info{{{SEL}}})')], w=4, h=4)
    b.add("stat", "Firing alerts", [target('count(ALERTS{alertstate="firing",alertname!="Watchdog"}) or vector(0)')], w=4, h=4,
          reds=(("orange", 1),))
    b.add("stat", "Spend today (USD)", [target(f'sum(agent:agentwatch_cost_usd:increase1d{{{SEL}}})')], w=4, h=4, unit="currencyUSD")
    b.add("stat", "Open tasks", [target(f'sum(agent:agentwatch_open_tasks:sum{{{SEL}}})')], w=4, h=4)
    b.add("stat", "Stalled dependency chains", [target(f'sum(agentwatch_dependency_stalled_chains{{{CO}}})')], w=4, h=4,
          reds=(("orange", 1),))
    b.add("timeseries", "Throughput: tasks completed per hour", [
        target(f"sum by (agent) (agent:agentwatch_tasks_completed:rate1h{{{SEL}}}) * 3600", "{{agent}}"),
    ], unit="short", custom=TS_CUSTOM, description="Completions per agent; its 7-day baseline is on the Agent detail dashboard.")
    b.add("bargauge", "Stuck: oldest in-progress task / average duration", [
        target(f"{per_agent('agentwatch_agent_oldest_in_progress_task_age_seconds')} / on({BY}) "
               f"max by ({BY}) (agent:agentwatch_task_duration_seconds:baseline{{{SEL}}})", "{{agent}}"),
    ], unit="x", threshold="stuck_factor", reds=(("yellow", 1.5),),
        description="How many times its usual task duration the agent's oldest in-progress task has taken.")
    b.add("bargauge", "Heartbeat: time since last run / interval", [
        target(f"(time() - {per_agent('agentwatch_agent_last_run_finished_timestamp_seconds')}) / on({BY}) "
               f"({per_agent('agentwatch_agent_heartbeat_interval_seconds')} > 0)", "{{agent}}"),
    ], unit="x", threshold="heartbeat_missed_factor", reds=(("yellow", 1.5),))
    b.add("bargauge", "Budget burn: spend rate / expected", [
        target(BURN_RATIO, "{{agent}}"),
    ], unit="x", threshold="burn_spike_factor", reds=(("yellow", 1),),
        description="The last hour's spend rate over the agent's budget spread evenly over the month.")
    b.add("bargauge", "Budget used this month", [
        target(BUDGET_USED, "{{agent}}"),
    ], unit="percentunit", threshold="budget_soft_ratio", reds=(("red", 1.0),),
        extra_defaults={"min": 0, "max": 1})
    soft_limit_colours(b)
    b.add("timeseries", "Escalations: unexpected approvals per hour", [
        target(f"sum by (agent) (agent:agentwatch_escalations_unexpected:rate1h{{{SEL}}}) * 3600", "{{agent}}"),
    ], custom=TS_CUSTOM, description="Expected approval gates (hire_agent, …) are not counted.")
    b.add("table", "Firing alerts", [target('ALERTS{alertstate="firing"}', table=True)], w=24, h=8, unit="none",
          extra_defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}})
    return b


def agent() -> Board:
    b = Board("agentwatch-agent", "agentwatch / Agent detail",
              "One agent against its own and its role's baseline: throughput, heartbeats, runs, spend, loops and context.",
              variables("source", "company", "role", "agent"))
    b.add("timeseries", "Tasks completed per hour vs 7-day baseline", [
        target(f"sum by (agent) (agent:agentwatch_tasks_completed:rate1h{{{SEL}}}) * 3600", "{{agent}}"),
        target(f"sum by (agent) (agent:agentwatch_tasks_completed:rate1h_avg7d{{{SEL}}}) * 3600", "{{agent}} baseline"),
    ], custom=TS_CUSTOM)
    b.add("timeseries", "Open tasks by status", [
        target(f'sum by (agent, status) (agentwatch_agent_tasks{{{SEL},status=~"todo|in_progress|in_review|blocked"}})', "{{agent}} {{status}}"),
    ], custom=STACKED)
    b.add("timeseries", "Heartbeat gaps", [
        target(f"{per_agent('agentwatch_agent_heartbeat_gap_mean_seconds')}", "{{agent}} mean gap"),
        target(f"{per_agent('agentwatch_agent_heartbeat_gap_stddev_seconds')}", "{{agent}} stddev"),
        target(f"{per_agent('agentwatch_agent_heartbeat_interval_seconds')}", "{{agent}} interval"),
    ], unit="s", custom=TS_CUSTOM)
    b.add("bargauge", "Time since the last finished run", [
        target(f"time() - {per_agent('agentwatch_agent_last_run_finished_timestamp_seconds')}", "{{agent}}"),
    ], unit="s")
    b.add("timeseries", "Runs by status", [
        target(f"sum by (agent, status) (rate(agentwatch_agent_runs_total{{{SEL}}}[$__rate_interval])) * 3600", "{{agent}} {{status}}"),
    ], unit="short", custom=STACKED, description="Runs per hour.")
    b.add("stat", "Failed runs in a row", [target(per_agent("agentwatch_agent_consecutive_failed_runs"), "{{agent}}")],
          threshold="runs_failing_consecutive", reds=(("yellow", 1),))
    b.add("timeseries", "Spend per day vs expected", [
        target(f"max by ({BY}) (agent:agentwatch_cost_usd:rate1h{{{SEL}}}) * 86400", "{{agent}} spend rate"),
        target(per_agent("agentwatch_agent_budget_expected_daily_usd"), "{{agent}} expected"),
    ], unit="currencyUSD", custom=TS_CUSTOM)
    b.add("gauge", "Monthly budget used", [
        target(BUDGET_USED, "{{agent}}"),
    ], unit="percentunit", extra_defaults={"min": 0, "max": 1})
    soft_limit_colours(b)
    THRESHOLD_PANELS[(b.uid, "Monthly budget used")] = "budget_soft_ratio"
    b.add("bargauge", "Runs without progress (most on one task)", [
        target(per_agent("agentwatch_agent_max_runs_without_progress"), "{{agent}}"),
    ], threshold="loop_min_calls", reds=(("yellow", 10),))
    b.add("timeseries", "Loop signals", [
        target(per_agent("agentwatch_agent_looping_tasks"), "{{agent}} looping tasks"),
        target(f"{per_agent('agentwatch_agent_oldest_progress_age_seconds')} / 3600", "{{agent}} hours without progress"),
    ], custom=TS_CUSTOM)
    b.add("bargauge", "Context: latest prompt / model window", [
        target(f"max by ({BY}, model) (agentwatch_agent_context_latest_ratio{{{SEL}}})", "{{agent}} {{model}}"),
    ], unit="percentunit", threshold="context_ratio", reds=(("yellow", 0.5),), extra_defaults={"min": 0, "max": 1})
    b.add("bargauge", "Context growth on the current task", [
        target(f"max by ({BY}, model) (agentwatch_agent_context_growth_ratio{{{SEL}}})", "{{agent}} {{model}}"),
    ], unit="x", threshold="context_growth")
    return b


def tasks() -> Board:
    b = Board("agentwatch-tasks", "agentwatch / Tasks & dependencies",
              "Status flow, task ages and durations, stuck tasks and stalled dependency chains.",
              variables("source", "company", "role", "agent"))
    b.add("timeseries", "Tasks by status", [target(f"sum by (status) (agentwatch_agent_tasks{{{SEL}}})", "{{status}}")],
          custom=STACKED)
    b.add("timeseries", "Completions per hour", [
        target(f"sum by (agent) (agent:agentwatch_tasks_completed:rate1h{{{SEL}}}) * 3600", "{{agent}}"),
    ], custom=TS_CUSTOM)
    b.add("timeseries", "Completed-task duration (all history)", [
        target(f"histogram_quantile(0.5, sum by (le) (agentwatch_agent_task_duration_seconds_bucket{{{SEL}}}))", "p50"),
        target(f"histogram_quantile(0.9, sum by (le) (agentwatch_agent_task_duration_seconds_bucket{{{SEL}}}))", "p90"),
    ], unit="s", custom=TS_CUSTOM)
    b.add("bargauge", "Oldest in-progress task per agent", [
        target(per_agent("agentwatch_agent_oldest_in_progress_task_age_seconds"), "{{agent}}"),
    ], unit="s")
    b.add("bargauge", "Time without progression per agent", [
        target(per_agent("agentwatch_agent_oldest_progress_age_seconds"), "{{agent}}"),
    ], unit="s", description="Progression: a status change, a handoff or a new subtask; a comment alone is not.")
    b.add("stat", "Dependency cycles", [target(f"sum(agentwatch_dependency_cycles{{{CO}}})")], w=6, reds=(("red", 1),))
    b.add("stat", "Oldest stalled chain", [target(f"max(agentwatch_dependency_oldest_stalled_chain_age_seconds{{{CO}}})")],
          w=6, unit="s", threshold="deadlock_min_age")
    b.add("timeseries", "Stalled chains by cause", [
        target(f"sum by (cause) (agentwatch_dependency_stalled_chains{{{CO}}})", "{{cause}}"),
    ], custom=STACKED)
    b.add("table", "Stalled chains (top N)", [
        target(f"agentwatch_dependency_stalled_chain_age_seconds{{{CO}}}", table=True),
    ], w=24, unit="s", extra_defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}})
    b.add("timeseries", "Stale locks and phantom running agents", [
        target(f"sum by (agent, lock) (agentwatch_agent_stale_locks{{{SEL}}})", "{{agent}} {{lock}} lock"),
        target(per_agent("agentwatch_agent_running_without_live_run"), "{{agent}} running without a run"),
    ], custom=TS_CUSTOM)
    b.add("timeseries", "Tasks blocked on a person", [
        target(per_agent("agentwatch_agent_tasks_blocked_on_human"), "{{agent}}"),
    ], custom=TS_CUSTOM)
    return b


def cost() -> Board:
    b = Board("agentwatch-cost", "agentwatch / Cost & budget",
              "Spend against what the budget allows, per agent and model; budget policies and incidents.",
              variables("source", "company", "role", "agent"))
    b.add("timeseries", "Spend rate per agent (USD/day)", [
        target(f"sum by (agent) (agent:agentwatch_cost_usd:rate1h{{{SEL}}}) * 86400", "{{agent}}"),
    ], unit="currencyUSD", custom=TS_CUSTOM)
    b.add("bargauge", "Burn: spend rate / expected", [
        target(BURN_RATIO, "{{agent}}"),
    ], unit="x", threshold="burn_spike_factor", reds=(("yellow", 1),))
    b.add("timeseries", "Spend rate per model (USD/day)", [
        target(f"sum by (model) (rate(agentwatch_agent_cost_usd_total{{{SEL}}}[$__rate_interval])) * 86400", "{{model}}"),
    ], unit="currencyUSD", custom=STACKED)
    b.add("bargauge", "Month to date per agent", [target(per_agent("agentwatch_agent_spend_month_usd"), "{{agent}}")],
          unit="currencyUSD")
    b.add("bargauge", "Budget policies: used", [
        target(f"max by (scope_type, scope, window) (agentwatch_budget_policy_utilization_ratio{{{CO}}})", "{{scope_type}} {{scope}}"),
    ], unit="percentunit", extra_defaults={"min": 0, "max": 1})
    soft_limit_colours(b)
    THRESHOLD_PANELS[(b.uid, "Budget policies: used")] = "budget_soft_ratio"
    b.add("stat", "Open budget incidents", [target(f"sum(agentwatch_budget_incidents_open{{{CO}}})")], w=6, reds=(("red", 1),))
    b.add("stat", "Agents paused by budget", [target(f'sum(agentwatch_agent_paused{{{SEL},reason="budget"}})')], w=6,
          reds=(("red", 1),))
    b.add("bargauge", "Spend of live runs not yet stopped", [target(per_agent("agentwatch_agent_in_flight_spend_usd"), "{{agent}}")],
          unit="currencyUSD", description="Cost recorded since the agent's oldest live run started: what a hard stop cannot act on yet.")
    b.add("timeseries", "Company spend windows", [
        target(f"sum by (window) (agentwatch_company_window_spend_usd{{{CO}}})", "{{window}}"),
    ], unit="currencyUSD", custom=TS_CUSTOM)
    return b


def quality() -> Board:
    b = Board("agentwatch-quality", "agentwatch / Quality",
              "Canary tasks with known answers, pass rates before and since each agent's last model change.",
              variables("source", "company", "role", "agent", "canary"))
    c = f'{SEL},canary=~"$canary"'
    b.annotate("Model changes", f'changes(agentwatch_agent_model_change_timestamp_seconds{{{SEL}}}[10m]) > 0', "{{agent}}: model change")
    b.add("timeseries", "Canary runs by outcome", [
        target(f"sum by (canary, outcome) (increase(agentwatch_canary_runs_total{{{c}}}[$__rate_interval]))", "{{canary}} {{outcome}}"),
    ], custom=STACKED)
    b.add("bargauge", "Pass ratio before and since the model change", [
        target(f"agentwatch_canary_pass_ratio{{{c}}}", "{{agent}} {{canary}} {{period}}"),
    ], unit="percentunit", reds=(("red", 0.0),), extra_defaults={"min": 0, "max": 1})
    b.panels[-1]["fieldConfig"]["defaults"]["thresholds"] = {
        "mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "orange", "value": 0.5}, {"color": "green", "value": 0.9}]}
    b.add("stat", "Failures in a row", [target(f"max by (agent, canary) (agentwatch_canary_consecutive_failures{{{c}}})", "{{agent}} {{canary}}")],
          threshold="canary_consecutive_failures", reds=(("yellow", 1),))
    b.add("timeseries", "Canary latency (p90)", [
        target(f"histogram_quantile(0.9, sum by (le, canary) (agentwatch_canary_duration_seconds_bucket{{{c}}}))", "{{canary}}"),
    ], unit="s", custom=TS_CUSTOM)
    b.add("bargauge", "Since the last pass", [
        target(f"time() - max by (agent, canary) (agentwatch_canary_last_success_timestamp_seconds{{{c}}})", "{{agent}} {{canary}}"),
    ], unit="s")
    b.add("timeseries", "Canary spend (USD/day)", [
        target(f"sum by (canary) (rate(agentwatch_canary_spend_usd_total{{{c}}}[$__rate_interval])) * 86400", "{{canary}}"),
    ], unit="currencyUSD", custom=TS_CUSTOM)
    b.add("table", "Model in use", [target(f"agentwatch_agent_model_info{{{SEL}}}", table=True)], w=24, unit="none",
          extra_defaults={"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}})
    return b


def self_health() -> Board:
    b = Board("agentwatch-self", "agentwatch / Self-health",
              "Is agentwatch itself polling, fresh and cheap?", variables("source"))
    s = 'source=~"$source"'
    b.add("stat", "Source up", [target(f"agentwatch_up{{{s}}}", "{{source}}")], w=6, unit="bool_yes_no", extra_defaults={"thresholds": UP})
    b.add("stat", "Data age", [target(f"agentwatch_snapshot_age_seconds{{{s}}}", "{{source}}")], w=6, unit="s",
          threshold="stale_data_age", reds=(("yellow", 60),))
    b.add("timeseries", "Poll duration", [target(f"agentwatch_poll_duration_seconds{{{s}}}", "{{source}}")], unit="s", custom=TS_CUSTOM)
    b.add("timeseries", "Poll failures by kind", [
        target(f"sum by (source, kind) (increase(agentwatch_poll_failures_total{{{s}}}[$__rate_interval]))", "{{source}} {{kind}}"),
    ], custom=STACKED)
    b.add("timeseries", "Request errors by endpoint", [
        target(f"sum by (source, endpoint, kind) (increase(agentwatch_source_request_errors_total{{{s}}}[$__rate_interval]))",
               "{{source}} {{endpoint}} {{kind}}"),
    ], custom=STACKED)
    b.add("timeseries", "Requests and bytes per poll", [
        target(f"agentwatch_poll_requests{{{s}}}", "{{source}} requests"),
        target(f"agentwatch_poll_response_bytes{{{s}}} / 1024", "{{source}} KiB"),
    ], custom=TS_CUSTOM)
    b.add("timeseries", "Scrape of agentwatch", [
        target('scrape_duration_seconds{job="agentwatch"}', "{{instance}} scrape seconds"),
        target('scrape_samples_scraped{job="agentwatch"} / 1000', "{{instance}} thousand samples"),
    ], custom=TS_CUSTOM)
    b.add("stat", "Series dropped by the cardinality guard", [target("sum(agentwatch_dropped_series)")], reds=(("orange", 1),))
    return b


BOARDS = {"fleet": fleet, "agent": agent, "tasks": tasks, "cost": cost, "quality": quality, "self": self_health}


def render() -> dict[str, str]:
    THRESHOLD_PANELS.clear()
    return {f"{name}.json": json.dumps(build().json(), indent=2, sort_keys=False) + "\n" for name, build in BOARDS.items()}


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
