"""From an observed distribution to a proposed threshold, with the reason. Pure: no I/O.

- Thresholds that page when the signal is *above* them (every factor, ``heartbeat_gap_cv``):
  the proposal is the larger of the 99th percentile and mean + 3 standard deviations of the
  observed samples (for ``stuck_factor`` also the completed-task p99/mean), rounded *up* to two
  significant digits. The brief's number (the ``Thresholds`` default) is a FLOOR: a proposal is
  never more sensitive than the brief.
- Thresholds that page when the signal is *below* them (``throughput_drop_ratio``): lower is less
  sensitive, so the floor logic is inverted. The proposal is the 1st percentile, rounded *down*;
  the brief's number is a CEILING (never propose paging at a higher share of the baseline than the
  brief). A 1st percentile under ``LOWER_BOUNDS`` is no proposal: healthy agents fall that low,
  so no ratio quiets the alert, and a ratio near 0 would never fire. The
  mean - k·stddev form is not used for the lower tail: a ratio bounded by 0 with a skewed spread
  makes it negative.
- Fewer than ``MIN_SAMPLES`` samples: no proposal, never a guess.
- Per role when the roles differ meaningfully (their proposals more than ``ROLE_DIFFERENCE``
  apart): the default becomes the most sensitive role's proposal and every other role gets its
  own. Otherwise one default from every sample pooled. A role already overridden in the config
  keeps its own value (tuned from its own samples): someone decided it differs.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import AbstractSet

from agentwatch.config import Thresholds

UPPER_PERCENTILE = 99  # percentile of the samples for thresholds paging above
LOWER_PERCENTILE = 1  # ... and below
K_SIGMA = 3.0  # mean + K_SIGMA standard deviations, for thresholds paging above
MIN_SAMPLES = 200  # fewer samples in a scope: no proposal
ROLE_DIFFERENCE = 1.25  # largest / smallest role proposal beyond which roles get their own values
LOWER_BOUNDS = {"throughput_drop_ratio": 0.1}  # below-thresholds are never proposed under this


def brief_value(threshold: str) -> float:
    """The brief's number: the ``Thresholds`` default (a floor, or a ceiling for below-thresholds)."""
    return float(Thresholds.model_fields[threshold].default)


@dataclass(frozen=True)
class Proposal:
    value: float | None  # None: no proposal
    reason: str
    samples: int = 0
    agents: int = 0


@dataclass
class ScopeData:
    """The observed samples of one scope (a role, or the fleet) and how many agents they come from."""

    values: list[float] = field(default_factory=list)
    agents: int = 0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation between the closest ranks."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def round_away(value: float, direction: str) -> float:
    """Two significant digits, rounded toward less sensitive (up for "above", down for "below")."""
    if value <= 0 or not math.isfinite(value):
        return value
    exponent = math.floor(math.log10(value)) - 1
    unit = 10.0**exponent
    steps = value / unit
    steps = math.ceil(steps - 1e-9) if direction == "above" else math.floor(steps + 1e-9)
    return round(steps * unit, max(0, -exponent))


def fmt(value: float) -> str:
    return f"{value:g}"


def propose(threshold: str, direction: str, data: ScopeData, what: str, extra: dict[str, float] | None = None) -> Proposal:
    """The proposal for one scope from its samples. ``extra``: more named candidates (above only)."""
    values = [v for v in data.values if math.isfinite(v)]
    n = len(values)
    if n < MIN_SAMPLES:
        return Proposal(None, f"no proposal ({n} samples, need {MIN_SAMPLES})", n, data.agents)
    brief = brief_value(threshold)
    over = f"over {n} samples from {data.agents} agent{'s' if data.agents != 1 else ''}"
    if direction == "above":
        mean, std = statistics.fmean(values), statistics.pstdev(values)
        candidates = {f"p{UPPER_PERCENTILE}": percentile(values, UPPER_PERCENTILE), f"mean+{K_SIGMA:g}σ": mean + K_SIGMA * std}
        candidates.update(extra or {})
        name, stat = max(candidates.items(), key=lambda kv: kv[1])
        value = max(brief, round_away(stat, "above"))
        stats = ", ".join(f"{k} {v:.2f}" for k, v in candidates.items())
        why = f"floor {fmt(brief)} holds" if value == brief else f"{name} rounded up; floor {fmt(brief)}"
        return Proposal(value, f"{what}: {stats} {over}; {why}", n, data.agents)
    low = percentile(values, LOWER_PERCENTILE)
    bound = LOWER_BOUNDS.get(threshold, 0.0)
    if low < bound:
        return Proposal(
            None,
            f"no proposal: {what}: p{LOWER_PERCENTILE} {low:.2f} {over} is under the bound {fmt(bound)}: "
            "healthy agents reach it, so no ratio would quiet this alert",
            n,
            data.agents,
        )
    value = min(brief, round_away(low, "below"))
    why = f"ceiling {fmt(brief)} holds" if value == brief else f"p{LOWER_PERCENTILE} rounded down; ceiling {fmt(brief)}"
    return Proposal(value, f"{what}: p{LOWER_PERCENTILE} {low:.2f} {over}; {why} (lower is less sensitive)", n, data.agents)


def more_sensitive(a: float, b: float, direction: str) -> bool:
    return a < b if direction == "above" else a > b


def by_scope(
    threshold: str,
    direction: str,
    roles: dict[str, ScopeData],
    what: str,
    overridden: AbstractSet[str] = frozenset(),
    extra: dict[str | None, dict[str, float]] | None = None,
) -> dict[str | None, Proposal]:
    """Proposals per scope: ``None`` is the default, then the roles that get a value of their own.

    ``roles``: the samples of each role; ``overridden``: roles the config already overrides for
    this threshold; ``extra``: more candidates per role (``None``: for the pooled fleet).
    """
    extra = extra or {}
    per_role = {r: propose(threshold, direction, d, what, extra.get(r)) for r, d in sorted(roles.items())}
    valued = {r: p.value for r, p in per_role.items() if p.value is not None}
    out: dict[str | None, Proposal] = {}
    split = len(valued) >= 2 and max(valued.values()) / min(valued.values()) > ROLE_DIFFERENCE
    if split:
        pick = min(valued, key=valued.__getitem__) if direction == "above" else max(valued, key=valued.__getitem__)
        p = per_role[pick]
        out[None] = Proposal(
            p.value, f"role {pick}, the most sensitive (roles differ more than {ROLE_DIFFERENCE:g}x): {p.reason}", p.samples, p.agents
        )
        for r, p in per_role.items():
            if (p.value is not None and p.value != out[None].value) or r in overridden:
                out[r] = p
    else:
        pooled = ScopeData([v for d in roles.values() for v in d.values], sum(d.agents for d in roles.values()))
        out[None] = propose(threshold, direction, pooled, what, extra.get(None))
        out.update({r: per_role[r] for r in sorted(overridden) if r in per_role})
    for r in sorted(overridden - set(per_role)):
        out[r] = Proposal(None, f"no proposal (0 samples, need {MIN_SAMPLES})")
    return out
