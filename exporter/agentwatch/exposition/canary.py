"""Metric families for canary results and the models agents use."""

from __future__ import annotations

from agentwatch.analysis.histogram import Histogram
from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.canary.runner import CanaryRecord, CanaryRunner
from agentwatch.exposition.families import Families, LabelSet

LATENCY_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)


def agent_model(
    f: Families, agent_id: str, labels: LabelSet, current: str, adapter_model: str, recorded_model: str, changed_at: float
) -> None:
    """The model the agent uses (``ModelTracker``); the lines change only with its model, so they
    are kept between polls."""
    inputs = (labels.body, current, adapter_model, recorded_model, changed_at)
    f.kept(("agent model", agent_id), inputs, _agent_model, f, labels, *inputs[1:])


def _agent_model(f: Families, labels: LabelSet, current: str, adapter_model: str, recorded_model: str, changed_at: float) -> None:
    f.info(
        "agentwatch_agent_model",
        "The model an agent uses: from its adapter configuration, else the newest model recorded in its cost events or runs.",
        {**labels, "model": current, "adapter_model": adapter_model, "recorded_model": recorded_model},
    )
    f.gauge(
        "agentwatch_agent_model_change_timestamp_seconds",
        "When the agent's model last changed (adapter model, or a new model in its cost events); its creation before any change.",
        labels,
        changed_at,
    )


def _pass_ratio(rec: CanaryRecord, since: float) -> tuple[tuple[int, float] | None, tuple[int, float] | None]:
    before = [ok for t, ok in rec.history if t < since]
    after = [ok for t, ok in rec.history if t >= since]
    ratio = lambda xs: (len(xs), sum(xs) / len(xs)) if xs else None  # noqa: E731
    return ratio(before), ratio(after)


def canary_families(f: Families, source: str, runner: CanaryRunner, models: ModelTracker) -> None:
    f.declare(
        "agentwatch_canary_runs", "Canary runs by outcome (pass, fail, timeout, error, skipped), per canary, agent and model.", "counter"
    )
    for (name, agent_id), rec in sorted(runner.view().items()):
        labels = {"source": source, "company": rec.company, "canary": name, "agent": rec.agent, "role": rec.role}
        for (model, outcome), n in sorted(rec.runs.items()):
            f.counter("agentwatch_canary_runs", "", {**labels, "model": model, "outcome": outcome}, n)
        for model, score in sorted(rec.score.items()):
            f.gauge("agentwatch_canary_score", "Score of the last scored canary run (0..1), per model.", {**labels, "model": model}, score)
        latency = Histogram.of(LATENCY_BUCKETS, rec.durations)
        f.histogram(
            "agentwatch_canary_duration_seconds",
            "Time from creating a canary task to its answer.",
            labels,
            LATENCY_BUCKETS,
            latency.counts,
            latency.count,
            latency.total,
        )
        if rec.last_success is not None:
            f.gauge("agentwatch_canary_last_success_timestamp_seconds", "When the canary last passed.", labels, rec.last_success)
        f.gauge(
            "agentwatch_canary_consecutive_failures",
            "Canary runs in a row that failed, timed out or errored (skips do not count).",
            labels,
            rec.consecutive_failures,
        )
        f.counter("agentwatch_canary_spend_usd", "Spend of the canary's tasks.", labels, rec.spend_usd)
        canary = next((c for c in runner.suite.canaries if c.name == name), None)
        if canary is not None:
            f.gauge(
                "agentwatch_canary_spend_cap_usd",
                "Daily spend cap of the canary per agent (suite max_spend_per_day).",
                labels,
                canary.max_spend_per_day,
            )
        state = models.agents.get(agent_id)
        before, after = _pass_ratio(rec, state.changed_at if state else 0.0)
        for period, value in (("before_model_change", before), ("since_model_change", after)):
            if value is None:
                continue
            n, ratio = value
            f.gauge(
                "agentwatch_canary_pass_ratio",
                "Pass ratio of the canary's recent scored runs before and since the agent's last model change.",
                {**labels, "period": period},
                ratio,
            )
            f.gauge(
                "agentwatch_canary_scored_runs", "Scored canary runs behind agentwatch_canary_pass_ratio.", {**labels, "period": period}, n
            )
