"""What ``agentwatch tune`` reads from Prometheus: the PromQL, run through the history client.

For every tuned threshold there is one *signal* per agent: the value the alerting rule compares
with the threshold, over the window at a fixed step (what the dry run replays), and an *observed*
distribution the proposal is computed from (the signal itself unless said otherwise). The
expressions inline the recording rules of ``prometheus/rules/recording.yml`` over the raw series,
so they work on any Prometheus that holds agentwatch's series, recording rules loaded or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentwatch.history.client import PrometheusHistory, Series
from agentwatch.stack.bundle import duration_seconds

BY = "source, company, agent, role"
# A window's step: one evaluation every 5 minutes over 14 days (Prometheus refuses more than
# 11,000 points per series); shorter windows go down to the rules' own 1-minute interval.
TARGET_POINTS = 4032
MIN_STEP = 60.0
BASELINE_RESOLUTION = "5m"  # of the subqueries standing in for the 7-day average recording rules

# The `for` of each alert as shipped in prometheus/rules/alerts.yml; read from --rules.file
# instead when that file exists (tests/test_tune.py keeps the two in step).
FOR_SECONDS = {
    "AgentHeartbeatMissed": 300.0,
    "AgentHeartbeatIrregular": 1800.0,
    "AgentThroughputDrop": 3600.0,
    "AgentTaskStuck": 900.0,
    "AgentBudgetBurnSpike": 900.0,
    "AgentEscalationSpike": 1800.0,
}


def _m(expr: str) -> str:
    return f"max by ({BY}) ({expr})"


_INTERVAL = f"({_m('agentwatch_agent_heartbeat_interval_seconds')} > 0)"
_HB_GUARDS = f" and on({BY}) ({_m('agentwatch_agent_heartbeat_gaps')} >= 3) and on({BY}) ({_m('agentwatch_agent_heartbeat_enabled')} == 1)"
_THROUGHPUT = f"sum by ({BY}) (rate(agentwatch_agent_tasks_completed_total[1h]))"
_THROUGHPUT_BASE = f"avg_over_time({_THROUGHPUT}[7d:{BASELINE_RESOLUTION}])"
_OPEN = 'sum by ({by}) (agentwatch_agent_tasks{{status=~"todo|in_progress|in_review"}}{offset})'
_ESCALATIONS = f'sum by ({BY}) (rate(agentwatch_agent_approvals_requested_total{{class="unexpected"}}[1h]))'
_PAUSED = _m('agentwatch_agent_status{status=~"paused|terminated|pending_approval"}')
_IN_PROGRESS = _m("agentwatch_agent_oldest_in_progress_task_age_seconds")
_NO_PROGRESS = _m("agentwatch_agent_oldest_progress_age_seconds")
# agent:agentwatch_task_duration_seconds:baseline without its last fallback (the role's average,
# which needs agentwatch_agent_info): the 7-day average, else the all-history one (3 tasks minimum)
_DURATION_BASE = (
    f"(sum by ({BY}) (increase(agentwatch_agent_task_duration_seconds_sum[7d]))"
    f" / (sum by ({BY}) (increase(agentwatch_agent_task_duration_seconds_count[7d])) > 0))"
    f" or (sum by ({BY}) (agentwatch_agent_task_duration_seconds_sum)"
    f" / (sum by ({BY}) (agentwatch_agent_task_duration_seconds_count) >= 3))"
)


@dataclass(frozen=True)
class Spec:
    """One tuned threshold."""

    threshold: str
    alert: str
    direction: str  # "above": the rule fires while the signal exceeds the threshold; "below": under it
    signal: str  # PromQL, per agent: what the rule compares with the threshold
    what: str  # the observed distribution in words, for the reasons
    observed: str | None = None  # PromQL of the distribution the proposal reads, when not the signal


SPECS: tuple[Spec, ...] = (
    Spec(
        "stuck_factor",
        "AgentTaskStuck",
        "above",
        # both ages must exceed the factor: the smaller of the two, over the duration baseline
        f"((({_IN_PROGRESS}) <= on({BY}) ({_NO_PROGRESS})) or on({BY}) (({_NO_PROGRESS}) < on({BY}) ({_IN_PROGRESS})))"
        f" / on({BY}) ({_DURATION_BASE}) > 0",
        "in-progress age / mean task duration",
    ),
    Spec(
        "heartbeat_missed_factor",
        "AgentHeartbeatMissed",
        "above",
        f"(time() - {_m('agentwatch_agent_last_run_finished_timestamp_seconds or agentwatch_agent_last_heartbeat_timestamp_seconds')})"
        f" / on({BY}) {_INTERVAL}"
        f" and on({BY}) ({_m('agentwatch_agent_heartbeat_enabled')} == 1)"
        f" unless on({BY}) ({_PAUSED} == 1)",
        "longest heartbeat gap / interval",
        observed=f"{_m('agentwatch_agent_heartbeat_gap_max_seconds')} / on({BY}) {_INTERVAL}{_HB_GUARDS}",
    ),
    Spec(
        "heartbeat_irregular_factor",
        "AgentHeartbeatIrregular",
        "above",
        f"{_m('agentwatch_agent_heartbeat_gap_mean_seconds')} / on({BY}) {_INTERVAL}{_HB_GUARDS}",
        "mean heartbeat gap / interval",
    ),
    Spec(
        "heartbeat_gap_cv",
        "AgentHeartbeatIrregular",
        "above",
        f"{_m('agentwatch_agent_heartbeat_gap_stddev_seconds')}"
        f" / on({BY}) ({_m('agentwatch_agent_heartbeat_gap_mean_seconds')} > 0){_HB_GUARDS}",
        "heartbeat gap stddev / mean",
    ),
    Spec(
        "burn_spike_factor",
        "AgentBudgetBurnSpike",
        "above",
        f"sum by ({BY}) (rate(agentwatch_agent_cost_usd_total[1h])) * 86400"
        f" / on({BY}) ({_m('agentwatch_agent_budget_expected_daily_usd')} > 0)"
        f" unless on({BY}) ({_THROUGHPUT} > on({BY}) {_THROUGHPUT_BASE} * 1.5)",
        "hourly spend rate / expected daily spend",
    ),
    Spec(
        "throughput_drop_ratio",
        "AgentThroughputDrop",
        "below",
        f"{_THROUGHPUT} / on({BY}) ({_THROUGHPUT_BASE} > 0)"
        f" and on({BY}) ({_OPEN.format(by=BY, offset='')} > 0)"
        f" and on({BY}) ({_OPEN.format(by=BY, offset='')} >= on({BY}) {_OPEN.format(by=BY, offset=' offset 1h')})",
        "hourly completions / 7-day baseline",
    ),
    Spec(
        "escalation_spike_factor",
        "AgentEscalationSpike",
        "above",
        f"{_ESCALATIONS} / on({BY}) (avg_over_time({_ESCALATIONS}[7d:{BASELINE_RESOLUTION}]) > 0)",
        "hourly unexpected escalations / 7-day baseline",
    ),
)

# Completed tasks: p99 of the duration histogram over the mean, per role and over the fleet. A
# second candidate for stuck_factor: healthy tasks reach this far before they finish.
_TAIL = (
    "histogram_quantile(0.99, sum by ({by}le) (increase(agentwatch_agent_task_duration_seconds_bucket[{w}])))"
    " / on({on}) (sum by ({on}) (increase(agentwatch_agent_task_duration_seconds_sum[{w}]))"
    " / (sum by ({on}) (increase(agentwatch_agent_task_duration_seconds_count[{w}])) > 0))"
)


@dataclass
class Observation:
    spec: Spec
    signal: list[Series]  # per agent, one sample per step
    observed: list[Series]
    tail: dict[str | None, float] = field(default_factory=dict)  # role (None: the fleet) -> completed p99/mean


def step_for(window: float) -> float:
    """The range-query step for a window: whole minutes, at least the rules' 1-minute interval."""
    return max(MIN_STEP, math.ceil(window / TARGET_POINTS / 60) * 60.0)


def for_durations(rules_file: str | None) -> tuple[dict[str, float], str]:
    """Each tuned alert's ``for`` (seconds) from ``rules_file`` when it exists, else the shipped ones."""
    fors = dict(FOR_SECONDS)
    if not rules_file or not Path(rules_file).is_file():
        return fors, "shipped rules (no rules file read)"
    try:
        doc = yaml.safe_load(Path(rules_file).read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if rule.get("alert") in fors:
                    fors[rule["alert"]] = float(duration_seconds(str(rule["for"]))) if rule.get("for") else 0.0
    except (OSError, yaml.YAMLError, AttributeError, KeyError, ValueError, TypeError):
        return dict(FOR_SECONDS), f"shipped rules ({rules_file} could not be read)"
    return fors, rules_file


def observe(history: PrometheusHistory, start: float, end: float, step: float) -> list[Observation]:
    """Run every query over [start, end]. Raises ``HistoryError``."""
    out = []
    for spec in SPECS:
        signal = history.query_range(spec.signal, start, end, step)
        observed = history.query_range(spec.observed, start, end, step) if spec.observed else signal
        out.append(Observation(spec, signal, observed))
    window = f"{int(end - start)}s"
    stuck = next(o for o in out if o.spec.threshold == "stuck_factor")
    for by, on in (("role, ", "role"), ("", "")):
        for s in history.query(_TAIL.format(by=by, on=on, w=window), end):
            if math.isfinite(s.last):
                stuck.tail[s.labels.get("role") if on else None] = s.last
    return out
