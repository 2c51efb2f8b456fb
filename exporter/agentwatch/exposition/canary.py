"""Metric families for canary results, written fresh at each scrape from the canary runner."""

from __future__ import annotations

from agentwatch.analysis.histogram import Histogram
from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.canary.runner import CanaryRecord, CanaryRunner
from agentwatch.exposition.families import Families, Family

LATENCY_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)

RUNS = Family(
    "agentwatch_canary_runs", "counter", "Canary runs by outcome (pass, fail, timeout, error, skipped), per canary, agent and model."
)
SCORE = Family("agentwatch_canary_score", "gauge", "Score of the last scored canary run (0..1), per model.")
DURATION = Family("agentwatch_canary_duration_seconds", "histogram", "Time from creating a canary task to its answer.")
LAST_SUCCESS = Family("agentwatch_canary_last_success_timestamp_seconds", "gauge", "When the canary last passed.")
CONSECUTIVE_FAILURES = Family(
    "agentwatch_canary_consecutive_failures", "gauge", "Canary runs in a row that failed, timed out or errored (skips do not count)."
)
SPEND = Family("agentwatch_canary_spend_usd", "counter", "Spend of the canary's tasks.")
SPEND_CAP = Family("agentwatch_canary_spend_cap_usd", "gauge", "Daily spend cap of the canary per agent (suite max_spend_per_day).")
PASS_RATIO = Family(
    "agentwatch_canary_pass_ratio", "gauge", "Pass ratio of the canary's recent scored runs before and since the agent's last model change."
)
SCORED_RUNS = Family("agentwatch_canary_scored_runs", "gauge", "Scored canary runs behind agentwatch_canary_pass_ratio.")


def _pass_ratio(rec: CanaryRecord, since: float) -> tuple[tuple[int, float] | None, tuple[int, float] | None]:
    before = [ok for t, ok in rec.history if t < since]
    after = [ok for t, ok in rec.history if t >= since]
    ratio = lambda xs: (len(xs), sum(xs) / len(xs)) if xs else None  # noqa: E731
    return ratio(before), ratio(after)


def canary_families(f: Families, source: str, runner: CanaryRunner, models: ModelTracker) -> None:
    f.declare(RUNS)
    for (name, agent_id), rec in sorted(runner.view().items()):
        labels = {"source": source, "company": rec.company, "canary": name, "agent": rec.agent, "role": rec.role}
        for (model, outcome), n in sorted(rec.runs.items()):
            f.add(RUNS, {**labels, "model": model, "outcome": outcome}, n)
        for model, score in sorted(rec.score.items()):
            f.add(SCORE, {**labels, "model": model}, score)
        latency = Histogram.of(LATENCY_BUCKETS, rec.durations)
        f.histogram(DURATION, labels, LATENCY_BUCKETS, latency.counts, latency.count, latency.total)
        if rec.last_success is not None:
            f.add(LAST_SUCCESS, labels, rec.last_success)
        f.add(CONSECUTIVE_FAILURES, labels, rec.consecutive_failures)
        f.add(SPEND, labels, rec.spend_usd)
        canary = next((c for c in runner.suite.canaries if c.name == name), None)
        if canary is not None:
            f.add(SPEND_CAP, labels, canary.max_spend_per_day)
        state = models.agents.get(agent_id)
        before, after = _pass_ratio(rec, state.changed_at if state else 0.0)
        for period, value in (("before_model_change", before), ("since_model_change", after)):
            if value is None:
                continue
            n, ratio = value
            f.add(PASS_RATIO, {**labels, "period": period}, ratio)
            f.add(SCORED_RUNS, {**labels, "period": period}, n)
