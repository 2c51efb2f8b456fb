"""Synthetic agentwatch history over any span (a month or several), for the operator-workflow tests
(``agentwatch audit``; shareable with any test that needs a fleet's past).

``month_of_history(start, end)`` returns OpenMetrics families (``tests/harness/history.py``
format) for a small fleet: five agents of one company in three roles, each working tasks back to
back (log-normal durations around its role's median), spending through each UTC month against its
budget (``agentwatch_agent_spend_month_usd`` restarts at every month), running a canary every two
hours. It tells one story, deterministic for a given seed:

- a model change of one engineer (``Bob``) in the middle of the span's last month: its canary pass
  rate falls from about 95 % to about 55 %, its tasks take longer and cost more;
- a few alert episodes (``default_episodes``) whose metrics agree with them: an ``AgentTaskStuck``
  episode is a task whose age climbs for hours and lands in the histogram's tail when it ends; an
  ``AgentReasoningLoop`` raises ``agentwatch_agent_looping_tasks`` and spends eight times as fast;
- ``ALERTS`` series as Prometheus writes them: one sample a minute while firing, the rule's
  ``severity`` and ``failure_class`` read from ``prometheus/rules/alerts.yml``; ``Watchdog``
  (always firing) sampled only every ``step``, as only its presence matters.

Gauges and counters are sampled every ``step`` seconds (default 30 min: the audit reads them with
``*_over_time`` and ``increase`` over an hour or more), the task-duration histogram every
``hist_step`` (default 3 h: only ``increase()`` over long windows reads it). Coarse on purpose:
``promtool`` backfills 24 h blocks, re-reading the whole file for each, so two months stay a few
seconds of seeding.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from agentwatch.analysis.tasks import TASK_DURATION_BUCKETS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "paperclip"
HOUR, DAY = 3600.0, 86400.0
CANARY_EVERY = 2 * HOUR
CREATED = 90 * DAY  # agents were created this long before the span


@dataclass(frozen=True)
class Agent:
    company: str
    name: str
    role: str
    model: str
    budget: float  # USD a month
    daily_spend: float  # USD a day, normally
    median_task: float  # seconds


@dataclass(frozen=True)
class ModelChange:
    agent: str
    at: float
    model: str


@dataclass(frozen=True)
class Episode:
    """One firing episode of an alert on an agent (or, for company-wide alerts, ``agent`` None)."""

    alertname: str
    agent: str | None
    start: float
    minutes: int

    @property
    def end(self) -> float:
        return self.start + self.minutes * 60


DEFAULT_AGENTS = (
    Agent("Acme Robotics", "Ada", "ceo", "claude-opus-4-1", 400.0, 9.0, 2 * HOUR),
    Agent("Acme Robotics", "Bob", "engineer", "claude-sonnet-4", 300.0, 7.5, 3 * HOUR),
    Agent("Acme Robotics", "Cyd", "engineer", "claude-sonnet-4", 265.0, 8.5, 2.5 * HOUR),
    Agent("Acme Robotics", "Dee", "qa", "gpt-5-mini", 120.0, 3.0, HOUR),
    Agent("Acme Robotics", "Eve", "qa", "gpt-5-mini", 120.0, 3.5, 1.2 * HOUR),
)


def months_in(start: float, end: float) -> list[float]:
    """The first second of every UTC month that starts within ``[start, end)``, plus ``start``'s own."""
    d = datetime.fromtimestamp(start, tz=timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    while d.timestamp() < end:
        out.append(d.timestamp())
        d = d.replace(year=d.year + d.month // 12, month=d.month % 12 + 1)
    return out


def default_model_change(start: float, end: float) -> ModelChange:
    """Bob moves to a new model on the 15th, 12:00 UTC, of the span's last month."""
    return ModelChange("Bob", months_in(start, end)[-1] + 14 * DAY + 12 * HOUR, "claude-haiku-4-5")


def default_episodes(start: float, end: float, change: ModelChange | None = None) -> list[Episode]:
    """A few episodes in every month of the span; more in the last one, some following the change."""
    change = change or default_model_change(start, end)
    months = months_in(start, end)
    out = []
    for m in months[:-1]:
        out += [
            Episode("AgentTaskStuck", "Dee", m + 7 * DAY + 14 * HOUR, 60),
            Episode("AgentHeartbeatMissed", "Eve", m + 19 * DAY + 2 * HOUR, 30),
            Episode("AgentRunsFailing", "Ada", m + 2 * DAY + 9 * HOUR, 20),
        ]
    last = months[-1]
    out += [
        Episode("AgentTaskStuck", "Dee", last + 4 * DAY + 14 * HOUR, 45),
        Episode("AgentTaskStuck", "Bob", change.at + 2 * DAY + 3 * HOUR, 150),
        Episode("AgentTaskStuck", "Bob", change.at + 7 * DAY + 10 * HOUR, 90),
        Episode("AgentReasoningLoop", "Cyd", last + 8 * DAY + 8 * HOUR, 200),
        Episode("AgentBudgetBurnSpike", "Cyd", last + 8 * DAY + 9 * HOUR, 120),
        Episode("CanaryTaskFailing", "Bob", change.at + 20 * HOUR, 240),
        Episode("ModelQualityDegraded", "Bob", change.at + DAY, 600),
        Episode("AgentHeartbeatMissed", "Eve", last + 11 * DAY + 2 * HOUR, 30),
        Episode("TaskDependencyDeadlock", None, last + 19 * DAY, 180),
    ]
    return [e for e in out if start <= e.start and e.end <= end]


def rule_labels(path: Path = ROOT / "prometheus" / "rules" / "alerts.yml") -> dict[str, dict[str, str]]:
    """alertname -> the rule's labels (severity, failure_class), as the shipped rules set them."""
    rules = [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"] if "alert" in r]
    return {r["alert"]: dict(r.get("labels", {})) for r in rules}


class _Fleet:
    def __init__(self, start: float, end: float, step: float, hist_step: float) -> None:
        self.families: dict[str, tuple[str, list]] = {}
        self.times = [float(t) for t in range(int(start), int(end), int(step))]
        self.hist_times = [float(t) for t in range(int(start), int(end), int(hist_step))]

    def add(self, name: str, kind: str, labels: dict, samples: list) -> None:
        self.families.setdefault(name, (kind, []))[1].append((labels, samples))


def _tasks(
    rng: random.Random, agent: Agent, start: float, end: float, change: ModelChange | None, stuck: list[Episode]
) -> list[tuple[float, float]]:
    """(started, completed) of the agent's tasks, back to back with short idle gaps, from a week
    before ``start``. A stuck episode is a task that started hours before it and ends with it."""
    stuck = sorted(stuck, key=lambda e: e.start)
    t, tasks = start - 7 * DAY, []
    while t < end + DAY:
        while stuck and stuck[0].end <= t:
            stuck.pop(0)
        slow = 1.6 if change and t >= change.at else 1.0
        d = math.exp(rng.gauss(math.log(agent.median_task * slow), 0.5))
        if stuck and t + d >= stuck[0].start - 4 * agent.median_task:
            e = stuck.pop(0)
            d = e.end - t
        tasks.append((t, t + d))
        t += d + rng.expovariate(1 / (20 * 60))
    return tasks


def _work(fleet: _Fleet, rng: random.Random, agent: Agent, base: dict, tasks: list[tuple[float, float]], loops: list[Episode]) -> None:
    ends = sorted(e for _, e in tasks)
    by_end = sorted(tasks, key=lambda se: se[1])
    starts = [s for s, _ in tasks]
    ages = []
    for t in fleet.times:
        i = bisect.bisect_right(starts, t) - 1
        ages.append((t, t - tasks[i][0] if i >= 0 and tasks[i][1] > t else 0.0))
    fleet.add("agentwatch_agent_oldest_in_progress_task_age_seconds", "gauge", base, ages)
    fleet.add("agentwatch_agent_tasks_completed", "counter", base, [(t, bisect.bisect_right(ends, t)) for t in fleet.times])
    fleet.add("agentwatch_agent_looping_tasks", "gauge", base, [(t, float(any(e.start <= t < e.end for e in loops))) for t in fleet.times])
    done = [bisect.bisect_right(ends, t) for t in fleet.hist_times]
    bounds = [*TASK_DURATION_BUCKETS, math.inf]
    cumulative = {le: [0] for le in bounds}
    total = [0.0]
    for s, e in by_end:
        for le in bounds:
            cumulative[le].append(cumulative[le][-1] + (e - s <= le))
        total.append(total[-1] + e - s)
    for le in bounds:
        fleet.add(
            "agentwatch_agent_task_duration_seconds_bucket",
            "gauge",
            {**base, "le": "+Inf" if math.isinf(le) else str(le)},
            [(t, cumulative[le][n]) for t, n in zip(fleet.hist_times, done, strict=False)],
        )
    fleet.add(
        "agentwatch_agent_task_duration_seconds_sum", "gauge", base, [(t, total[n]) for t, n in zip(fleet.hist_times, done, strict=False)]
    )
    fleet.add("agentwatch_agent_task_duration_seconds_count", "gauge", base, [(t, n) for t, n in zip(fleet.hist_times, done, strict=False)])


def _spend(fleet: _Fleet, rng: random.Random, agent: Agent, base: dict, change: ModelChange | None, burns: list[Episode]) -> None:
    month_starts = months_in(fleet.times[0], fleet.times[-1] + 1)
    all_time, month_spend, month, cost, spend = 1500.0, 0.0, None, [], []
    step = fleet.times[1] - fleet.times[0]
    day_factor: dict[int, float] = {}
    for t in fleet.times:
        m = month_starts[bisect.bisect_right(month_starts, t) - 1]
        if m != month:
            month, month_spend = m, 0.0
        day = int(t // DAY)
        factor = day_factor.setdefault(day, math.exp(rng.gauss(0.0, 0.2)))
        rate = agent.daily_spend * factor * (1.3 if change and t >= change.at else 1.0)
        rate *= 8.0 if any(e.start <= t < e.end for e in burns) else 1.0
        month_spend += rate * step / DAY
        all_time += rate * step / DAY
        spend.append((t, round(month_spend, 4)))
        cost.append((t, round(all_time, 4)))
    fleet.add("agentwatch_agent_spend_month_usd", "gauge", base, spend)
    fleet.add("agentwatch_agent_budget_monthly_usd", "gauge", base, [(t, agent.budget) for t in fleet.times])
    fleet.add("agentwatch_agent_budget_expected_daily_usd", "gauge", base, [(t, agent.budget / 30) for t in fleet.times])
    fleet.add(
        "agentwatch_agent_cost_usd",
        "counter",
        {**base, "provider": "anthropic", "biller": "anthropic", "model": agent.model, "billing_type": "metered"},
        cost,
    )


def _models(fleet: _Fleet, agent: Agent, base: dict, change: ModelChange | None) -> None:
    created = fleet.times[0] - CREATED
    fleet.add(
        "agentwatch_agent_model_change_timestamp_seconds",
        "gauge",
        base,
        [(t, change.at if change and t >= change.at else created) for t in fleet.times],
    )
    for model, keep in (
        (agent.model, lambda t: not change or t < change.at),
        (change.model if change else None, lambda t: change and t >= change.at),
    ):
        samples = [(t, 1.0) for t in fleet.times if model and keep(t)]
        if samples:
            fleet.add(
                "agentwatch_agent_model_info", "gauge", {**base, "model": model, "adapter_model": model, "recorded_model": model}, samples
            )


def _canary(fleet: _Fleet, rng: random.Random, agent: Agent, base: dict, change: ModelChange | None) -> None:
    runs = []  # (time, model, outcome)
    t = fleet.times[0] - 2 * DAY + rng.uniform(0, CANARY_EVERY)
    while t < fleet.times[-1]:
        after = bool(change and t >= change.at)
        p = 0.55 if after else 0.95
        roll = rng.random()
        outcome = "pass" if roll < p else ("timeout" if roll > 0.98 else "fail")
        runs.append((t, change.model if after else agent.model, outcome))
        t += CANARY_EVERY
    labels = {**base, "canary": "smoke-arith"}
    for model in sorted({m for _, m, _ in runs}):
        first = next(rt for rt, m, _ in runs if m == model)
        for outcome in ("pass", "fail", "timeout"):
            times = [rt for rt, m, o in runs if m == model and o == outcome]
            samples = [(t, bisect.bisect_right(times, t)) for t in fleet.times if t >= first]
            fleet.add("agentwatch_canary_runs", "counter", {**labels, "model": model, "outcome": outcome}, samples)
    ratio = {"before_model_change": [], "since_model_change": []}
    run_times, outcomes = [rt for rt, _, _ in runs], [o for _, _, o in runs]
    cut = bisect.bisect_left(run_times, change.at) if change else 0
    for t in fleet.times:
        done = bisect.bisect_right(run_times, t)
        first = cut if change and t >= change.at else 0  # the exporter's last 20 scored runs of each period
        since = outcomes[max(first, done - 20) : done]
        before = outcomes[max(0, cut - 20) : cut] if first else since
        for period, recent in (("before_model_change", before), ("since_model_change", since)):
            if recent:
                ratio[period].append((t, recent.count("pass") / len(recent)))
    for period, samples in ratio.items():
        fleet.add("agentwatch_canary_pass_ratio", "gauge", {**labels, "period": period}, samples)


def _alerts(fleet: _Fleet, agents: tuple[Agent, ...], episodes: list[Episode], watchdog: bool) -> None:
    labels = rule_labels()
    by_name = {a.name: a for a in agents}
    series = []
    for e in episodes:
        a = by_name.get(e.agent) if e.agent else None
        where = {"source": SOURCE, "company": a.company if a else agents[0].company}
        if a:
            where.update(agent=a.name, role=a.role)
        series.append(
            (
                {"alertname": e.alertname, "alertstate": "firing", **labels[e.alertname], **where},
                [(e.start + 60 * i, 1.0) for i in range(e.minutes)],
            )
        )
    if watchdog:
        series.append(({"alertname": "Watchdog", "alertstate": "firing", **labels["Watchdog"]}, [(t, 1.0) for t in fleet.times]))
    merged: dict[tuple, list] = {}
    for lab, samples in series:  # one alert instance firing twice is one series
        merged.setdefault(tuple(sorted(lab.items())), []).extend(samples)
    for key, samples in merged.items():
        fleet.add("ALERTS", "gauge", dict(key), sorted(samples))


def _stalled_chain(fleet: _Fleet, company: str, episodes: list[Episode]) -> None:
    for e in episodes:
        if e.alertname == "TaskDependencyDeadlock":
            began = e.start - 6 * HOUR
            fleet.add(
                "agentwatch_dependency_stalled_chain_age_seconds",
                "gauge",
                {"source": SOURCE, "company": company, "issue": "ACME-412", "cause": "cancelled_blocker"},
                [(t, t - began) for t in fleet.times if began <= t < e.end],
            )


def month_of_history(
    start: float,
    end: float,
    agents: tuple[Agent, ...] = DEFAULT_AGENTS,
    step: float = 1800.0,
    hist_step: float = 3 * HOUR,
    seed: int = 7,
    change: ModelChange | None = None,
    episodes: list[Episode] | None = None,
    watchdog: bool = True,
) -> dict:
    """The fleet's series from ``start`` to ``end`` (unix seconds); ``change`` and ``episodes``
    default to ``default_model_change`` and ``default_episodes``."""
    change = change or default_model_change(start, end)
    episodes = default_episodes(start, end, change) if episodes is None else episodes
    fleet = _Fleet(start, end, step, hist_step)
    for n, agent in enumerate(agents):
        rng = random.Random(f"{seed}-{n}-{agent.name}")
        base = {"source": SOURCE, "company": agent.company, "agent": agent.name, "role": agent.role}
        own = [e for e in episodes if e.agent == agent.name]
        mine = change if change.agent == agent.name else None
        tasks = _tasks(rng, agent, start, end, mine, [e for e in own if e.alertname == "AgentTaskStuck"])
        _work(fleet, rng, agent, base, tasks, [e for e in own if e.alertname == "AgentReasoningLoop"])
        _spend(fleet, rng, agent, base, mine, [e for e in own if e.alertname in ("AgentReasoningLoop", "AgentBudgetBurnSpike")])
        _models(fleet, agent, base, mine)
        _canary(fleet, rng, agent, base, mine)
    _alerts(fleet, agents, episodes, watchdog)
    _stalled_chain(fleet, agents[0].company, episodes)
    return fleet.families
