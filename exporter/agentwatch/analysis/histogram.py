"""A cumulative histogram that values can enter and leave, and its frozen snapshot.

``Histogram`` is an accumulator an index keeps and updates in place; what an index hands out is
a ``HistogramSnapshot``, a frozen copy that a later observation cannot change.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Iterable

import msgspec


class HistogramSnapshot(msgspec.Struct, frozen=True, gc=False):
    """A histogram's state at one moment: the same fields as ``Histogram``, read-only (a struct:
    cheap to make, as an index makes one for every histogram that changed)."""

    buckets: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    total: float


@dataclass
class Histogram:
    """``counts[i]``: the values at or below ``buckets[i]`` (ascending, without +Inf), as the text
    format writes them. ``observe(value, -1)`` takes a value out again; with integral values the
    total stays exact however many enter and leave (floats hold integers exactly up to 2**53)."""

    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    count: int = 0
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)

    def copy(self) -> "Histogram":
        return Histogram(self.buckets, list(self.counts), self.count, self.total)

    def snapshot(self) -> "HistogramSnapshot":
        """The histogram as it is now, frozen."""
        return HistogramSnapshot(self.buckets, tuple(self.counts), self.count, self.total)

    def observe(self, value: float, times: int = 1) -> None:
        self.count += times
        self.total += value * times
        counts, buckets = self.counts, self.buckets
        # the buckets at or above the value: none for NaN or a value above every bound
        first = bisect_left(buckets, value) if buckets and value <= buckets[-1] else len(counts)
        for i in range(first, len(counts)):
            counts[i] += times

    @classmethod
    def of(cls, buckets: tuple[float, ...], values: Iterable[float]) -> "Histogram":
        """The histogram of ``values``, observed at once (one bisection and one count per value)."""
        per_bucket = [0] * (len(buckets) + 1)  # the last slot: above every bound, or NaN
        count = 0
        total = 0.0
        top = buckets[-1] if buckets else float("-inf")
        for v in values:
            count += 1
            total += v
            per_bucket[bisect_left(buckets, v) if v <= top else -1] += 1
        return cls(buckets, list(accumulate(per_bucket[:-1])), count, total)
