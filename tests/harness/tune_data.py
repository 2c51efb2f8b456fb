"""Synthetic agentwatch history shaped for ``agentwatch tune``: 15 days of six agents in two roles.

- ``engineer`` (Eng 1-3): timer wakes every hour, regular to within 5 %.
- ``research`` (Res 1-3): the same hourly timer, but the wakes are naturally irregular (gaps
  log-normal, coefficient of variation about 0.6, now and then more than 3 intervals), so the
  brief's ``heartbeat_gap_cv`` (0.5) and ``heartbeat_missed_factor`` (3) page on healthy agents.
- Every agent works tasks back to back with a long tail (log-normal durations, mean 1 h,
  sigma 0.8): about 4 % of tasks run past 3x the mean, so ``stuck_factor`` 3 pages on them.
- Spend per hour varies by day (sigma 0.25) and by hour (sigma 0.5) around 60 % of the expected
  daily spend; unexpected escalations arrive at random, 3 a day per agent.

Deterministic (seeded). Gauges and counters are sampled every 4 minutes (under Prometheus' 5-minute
lookback, so every evaluation step sees a value); the task-duration histogram every 20 minutes
(only ``increase()`` reads it). The window the tests tune is the last 14 days (``END``).
"""

from __future__ import annotations

import bisect
import math
import random

END = 1_749_945_600  # 2025-06-15T00:00:00Z: the end of the seeded data
END_RFC3339 = "2025-06-15T00:00:00Z"
DAYS = 15
START = END - DAYS * 86400
SAMPLE = 240
HIST_SAMPLE = 1200
INTERVAL = 3600.0
BUCKETS = (300, 900, 1800, 3600, 7200, 10800, 14400, 21600, 28800, math.inf)
ROLES = {"engineer": ("Eng 1", "Eng 2", "Eng 3"), "research": ("Res 1", "Res 2", "Res 3")}
GAP_WINDOW = 20  # gaps the exporter's gap statistics span (the recent run window)
RUN_SECONDS = 300.0
EXPECTED_DAILY_USD = 10.0


def _times(step: float) -> list[float]:
    return [float(t) for t in range(START, END + 1, int(step))]


def _wakes(rng: random.Random, role: str) -> list[float]:
    """Timer wake times from two days before the data (so the gap window is full at START)."""
    t, wakes = START - 2 * 86400.0, []
    sigma = 0.6
    mu = math.log(1.2) - sigma * sigma / 2  # mean gap 1.2 intervals
    while t < END:
        wakes.append(t)
        gap = rng.gauss(1.0, 0.05) if role == "engineer" else math.exp(rng.gauss(mu, sigma))
        t += INTERVAL * max(gap, 0.2)
    return wakes


def _gap_stats(wakes: list[float], t: float) -> tuple[int, float, float, float, float]:
    """(gaps, mean, stddev, max, last run finished) over the wakes before ``t``."""
    i = bisect.bisect_right(wakes, t - RUN_SECONDS)  # runs finished by t
    recent = wakes[max(0, i - GAP_WINDOW - 1) : i]
    gaps = [b - a for a, b in zip(recent, recent[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    return len(gaps), mean, std, max(gaps), recent[-1] + RUN_SECONDS


def _tasks(rng: random.Random) -> list[tuple[float, float]]:
    """(start, end) of back-to-back tasks from three days before the data."""
    sigma = 0.8
    mu = math.log(3600.0) - sigma * sigma / 2  # mean 1 h
    t, tasks = START - 3 * 86400.0, []
    while t < END + 86400:
        d = math.exp(rng.gauss(mu, sigma))
        tasks.append((t, t + d))
        t += d
    return tasks


def families() -> dict:
    """The OpenMetrics families (tests/harness/history.py format)."""
    fams: dict[str, tuple[str, list]] = {}

    def add(name: str, kind: str, labels: dict, samples: list) -> None:
        fams.setdefault(name, (kind, []))[1].append((labels, samples))

    times, hist_times = _times(SAMPLE), _times(HIST_SAMPLE)
    for role, agents in ROLES.items():
        for n, agent in enumerate(agents):
            rng = random.Random(f"{role}-{n}")
            base = {"source": "prod", "company": "Acme", "agent": agent, "role": role}
            # heartbeats
            wakes = _wakes(rng, role)
            stats = [_gap_stats(wakes, t) for t in times]
            add("agentwatch_agent_heartbeat_enabled", "gauge", base, [(t, 1) for t in times])
            add("agentwatch_agent_heartbeat_interval_seconds", "gauge", base, [(t, INTERVAL) for t in times])
            add("agentwatch_agent_heartbeat_gaps", "gauge", base, [(t, s[0]) for t, s in zip(times, stats, strict=False)])
            add("agentwatch_agent_heartbeat_gap_mean_seconds", "gauge", base, [(t, s[1]) for t, s in zip(times, stats, strict=False)])
            add("agentwatch_agent_heartbeat_gap_stddev_seconds", "gauge", base, [(t, s[2]) for t, s in zip(times, stats, strict=False)])
            add("agentwatch_agent_heartbeat_gap_max_seconds", "gauge", base, [(t, s[3]) for t, s in zip(times, stats, strict=False)])
            add(
                "agentwatch_agent_last_run_finished_timestamp_seconds",
                "gauge",
                base,
                [(t, s[4]) for t, s in zip(times, stats, strict=False)],
            )
            # tasks: in progress back to back, completions into the histogram and the counter
            tasks = _tasks(rng)
            ends = [e for _, e in tasks]
            ages = []
            for t in times:
                start, _ = tasks[bisect.bisect_right(ends, t)]
                ages.append((t, t - start))
            add("agentwatch_agent_oldest_in_progress_task_age_seconds", "gauge", base, ages)
            add("agentwatch_agent_oldest_progress_age_seconds", "gauge", base, ages)
            add("agentwatch_agent_tasks_completed", "counter", base, [(t, bisect.bisect_right(ends, t)) for t in times])
            add("agentwatch_agent_tasks", "gauge", {**base, "status": "todo"}, [(t, 2) for t in times])
            durations = [e - s for s, e in tasks]
            done_at = [bisect.bisect_right(ends, t) for t in hist_times]
            for le in BUCKETS:
                within = [0]
                for d in durations:
                    within.append(within[-1] + (d <= le))
                counts = [(t, within[done]) for t, done in zip(hist_times, done_at, strict=False)]
                add(
                    "agentwatch_agent_task_duration_seconds_bucket",
                    "gauge",
                    {**base, "le": "+Inf" if le == math.inf else f"{le:g}"},
                    counts,
                )
            cumulative = [0.0]
            for d in durations:
                cumulative.append(cumulative[-1] + d)
            add(
                "agentwatch_agent_task_duration_seconds_sum",
                "gauge",
                base,
                [(t, cumulative[bisect.bisect_right(ends, t)]) for t in hist_times],
            )
            add("agentwatch_agent_task_duration_seconds_count", "gauge", base, [(t, bisect.bisect_right(ends, t)) for t in hist_times])
            # spend: daily and hourly variance around 60 % of the expected daily spend
            day_factor = {d: math.exp(rng.gauss(0, 0.25)) for d in range(DAYS + 1)}
            hour_factor = {h: math.exp(rng.gauss(-0.125, 0.5)) for h in range(DAYS * 24 + 1)}
            spent, cost = 5000.0, []
            for t in times:
                k = int((t - START) // 3600)
                spent += 0.6 * EXPECTED_DAILY_USD / 86400 * SAMPLE * day_factor[k // 24] * hour_factor[k]
                cost.append((t, round(spent, 4)))
            add(
                "agentwatch_agent_cost_usd",
                "counter",
                {**base, "provider": "anthropic", "biller": "anthropic", "model": "claude-sonnet-4", "billing_type": "metered"},
                cost,
            )
            add("agentwatch_agent_budget_expected_daily_usd", "gauge", base, [(t, EXPECTED_DAILY_USD) for t in times])
            # unexpected escalations, Poisson at 3 a day
            count, esc, t_next = 40, [], START + rng.expovariate(3 / 86400)
            for t in times:
                while t_next <= t:
                    count += 1
                    t_next += rng.expovariate(3 / 86400)
                esc.append((t, count))
            add("agentwatch_agent_approvals_requested", "counter", {**base, "type": "budget_override_required", "class": "unexpected"}, esc)
    return fams
