"""How many pages a threshold would have raised over the window's samples. Pure: no I/O.

A page is a firing EPISODE: a run of consecutive evaluations where the rule's condition holds
(signal > threshold, or < for thresholds paging below) that lasts at least the rule's ``for``,
the way Prometheus keeps an alert pending from its first true evaluation and fires once it has
held for ``for``. A run ends at the first false evaluation or at a missing sample (the series
absent: the rule's expression is empty there, which resets a pending alert). One run counts once,
however long it fires. Samples are ``step`` apart, so a run is timed to that step's precision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

GAP_TOLERANCE = 1.5  # samples further apart than this many steps are not consecutive


def episodes(samples: Iterable[tuple[float, float]], threshold: float, for_seconds: float, step: float, direction: str = "above") -> int:
    """Firing episodes of one agent's signal (samples oldest first) against ``threshold``."""
    count = 0
    run_start: float | None = None
    fired = False
    previous = -math.inf
    for t, v in samples:
        holds = v > threshold if direction == "above" else v < threshold
        if run_start is not None and (not holds or t - previous > step * GAP_TOLERANCE):
            run_start = None
        if holds:
            if run_start is None:
                run_start, fired = t, False
            if not fired and t - run_start >= for_seconds:
                count, fired = count + 1, True
        previous = t
    return count
