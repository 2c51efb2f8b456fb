"""The arithmetic of the audit, on plain numbers: quantiles from histogram buckets and from samples,
firing episodes from a range query's samples, the values a timestamp gauge took."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a histogram, as PromQL's ``histogram_quantile`` computes it.

    ``buckets`` are (upper bound ``le``, cumulative count), in any order, with the ``+Inf`` bucket.
    Linear interpolation inside the bucket holding the rank; the first bucket's lower bound is 0; a
    rank in the ``+Inf`` bucket answers the highest finite bound. None without observations.
    """
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    counts, running = [], 0.0
    for _, n in ordered:  # increase() over float samples can dip a little: keep it monotonic
        running = max(running, n)
        counts.append(running)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    i = next(i for i, c in enumerate(counts) if c >= rank)
    if i == len(ordered) - 1:
        return ordered[-2][0]
    upper = ordered[i][0]
    lower, below = (0.0, 0.0) if i == 0 else (ordered[i - 1][0], counts[i - 1])
    if i == 0 and upper <= 0:
        return upper
    inside = counts[i] - below
    return lower + (upper - lower) * ((rank - below) / inside if inside > 0 else 1.0)


def sample_quantile(q: float, values: Sequence[float]) -> float | None:
    """The ``q`` quantile of ``values``, interpolated between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def episodes(times: Iterable[float], step: float) -> list[tuple[float, float]]:
    """Firing episodes from the evaluation times at which a range query (step ``step``) returned the
    series: a gap of more than one step ends an episode. Each is (first, last + step), so an
    episode seen at a single step lasts one step."""
    ordered = sorted(times)
    if not ordered:
        return []
    spans: list[tuple[float, float]] = []
    first = last = ordered[0]
    for t in ordered[1:]:
        if t - last > step * 1.5:
            spans.append((first, last + step))
            first = t
        last = t
    spans.append((first, last + step))
    return spans


def counter_increases(samples: Iterable[tuple[float, float]], from_zero: bool) -> list[tuple[float, float]]:
    """How much a counter grew up to each of its samples (taken at regular steps). A drop is a reset:
    the new value is the growth. The first sample is only a baseline unless ``from_zero`` (the
    series was created inside the range, so everything it counts is new)."""
    out, prev = [], (0.0 if from_zero else None)
    for t, v in samples:
        if prev is not None:
            out.append((t, v - prev if v >= prev else v))
        prev = v
    return out


def values_within(samples: Iterable[tuple[float, float]], start: float, end: float) -> list[float]:
    """The distinct values in ``[start, end)`` of a gauge whose value is a unix time (such as
    ``agentwatch_agent_model_change_timestamp_seconds``), oldest first."""
    return sorted({v for _, v in samples if start <= v < end})
