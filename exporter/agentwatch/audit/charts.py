"""The report's charts as SVG text, drawn with matplotlib's object API (no pyplot, no display, no
global backend): text is drawn as paths, so a chart needs no font to be viewed.

Each chart has its own series colour (``COLOURS``); the previous month is always grey.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from agentwatch.audit.layout import pct, usd
from agentwatch.audit.report import Key, Report, agent_key

COLOURS = {
    "durations": "#1f77b4",
    "ages": "#9467bd",
    "stuck": "#ff7f0e",
    "slowest": "#8c564b",
    "spend": "#2ca02c",
    "alerts": "#d62728",
    "canary": "#17becf",
}
CANARY_SHADES = ("#17becf", "#0b6e78", "#7adfe9", "#0f9aa8")
PREVIOUS = "#b4b4b4"
INK = "#333333"
WIDTH = 10.0


def label(key: Key, report: Report) -> str:
    """An agent's name, with its company when the fleet has several."""
    companies = {r.key[0] for r in report.spend} | {r.key[0] for r in report.agent_durations} | {r.key[0] for r in report.agent_ages}
    return f"{key[1]} ({key[0]})" if len(companies) > 1 else key[1]


def time_unit(seconds: float) -> tuple[float, str]:
    for div, name in ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes")):
        if seconds >= 2 * div:
            return div, name
    return 1.0, "seconds"


def _figure(height: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    ax = fig.add_subplot()
    _style(ax)
    return fig, ax


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(colors=INK, labelsize=9)
    ax.grid(axis="x" if ax.name == "rectilinear" else "both", color="#e6e6e6", linewidth=0.8)
    ax.set_axisbelow(True)


def _svg(fig: Figure, name: str) -> str:
    out = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"agentwatch-{name}", "svg.fonttype": "path"}):
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return out.getvalue()


def _legend_outside(ax) -> None:
    ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _versus(ax, names: list[str], prev: list[float], now: list[float], colour: str, report: Report, horizontal: bool = True) -> list[float]:
    """Each of ``names`` with the previous month's bar (grey) beside this month's (``colour``):
    top to bottom, or left to right. Returns where this month's bars are."""
    pos = list(range(len(names)))[::-1] if horizontal else list(range(len(names)))
    shift, width = (0.2, 0.35) if horizontal else (-0.2, 0.4)
    draw = ax.barh if horizontal else ax.bar
    draw([p + shift for p in pos], prev, width, color=PREVIOUS, label=report.previous)
    draw([p - shift for p in pos], now, width, color=colour, label=report.month)
    (ax.set_yticks if horizontal else ax.set_xticks)(pos, names)
    return [p - shift for p in pos]


def _hbar_height(n: int) -> float:
    return min(1.2 + 0.36 * n, 9.0)


def durations(report: Report) -> Figure | None:
    rows = report.role_durations
    if not any(r.this.count > 0.5 for r in rows):
        return None
    top = max(max(r.this.p95 or 0, r.prev.p95 or 0) for r in rows)
    div, unit = time_unit(top)
    fig = Figure(figsize=(WIDTH, 3.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (q, attr) in zip(axes, (("median (p50)", "p50"), ("p95", "p95")), strict=False):
        _style(ax)
        ax.grid(axis="x", visible=False)
        ax.grid(axis="y", color="#e6e6e6")
        _versus(
            ax,
            [r.key[2] for r in rows],
            [(getattr(r.prev, attr) or 0) / div for r in rows],
            [(getattr(r.this, attr) or 0) / div for r in rows],
            COLOURS["durations"],
            report,
            horizontal=False,
        )
        ax.set_title(f"Completed-task duration, {q}", fontsize=10, color=INK)
    axes[0].set_ylabel(unit)
    axes[1].legend(frameon=False, fontsize=9)
    return fig


def ages(report: Report) -> Figure | None:
    rows = [r for r in report.role_ages if r.values or r.prev_values]
    if not any(r.values for r in rows):
        return None
    div, unit = time_unit(max(max(r.values + r.prev_values) for r in rows))
    fig, ax = _figure(3.6)
    ax.grid(axis="x", visible=False)
    ax.grid(axis="y", color="#e6e6e6")
    for i, r in enumerate(rows):
        for data, pos, colour in ((r.prev_values, i - 0.2, PREVIOUS), (r.values, i + 0.2, COLOURS["ages"])):
            if data:
                ax.boxplot(
                    [v / div for v in data],
                    positions=[pos],
                    widths=0.34,
                    whis=(5, 95),
                    showfliers=False,
                    patch_artist=True,
                    boxprops={"facecolor": colour, "edgecolor": INK},
                    medianprops={"color": INK},
                    whiskerprops={"color": INK},
                    capprops={"color": INK},
                )
    ax.set_xticks(range(len(rows)), [r.key[2] for r in rows])
    ax.set_xlim(-0.7, len(rows) - 0.3)
    ax.set_ylabel(f"oldest in-progress task, {unit}")
    ax.bar([0], [0], color=PREVIOUS, label=report.previous)
    ax.bar([0], [0], color=COLOURS["ages"], label=report.month)
    ax.legend(frameon=False, fontsize=9)
    ax.set_title("Hourly oldest in-progress task age per role (boxes p25–p75, whiskers p5–p95)", fontsize=10, color=INK)
    return fig


def _dates(ax: Axes, report: Report) -> None:
    days = range(int(report.start), int(report.end), 86400 * 5)
    ax.set_xticks(list(days), [datetime.fromtimestamp(d, tz=timezone.utc).strftime("%d %b") for d in days])
    ax.set_xlim(report.start, report.end)


def stuck(report: Report) -> Figure | None:
    eps = report.stuck_episodes
    if not eps:
        return None
    rows = report.stuck
    keys = [r.name for r in rows]
    fig = Figure(figsize=(WIDTH, _hbar_height(len(keys))), layout="constrained")
    when_ax, count_ax = fig.subplots(1, 2, sharey=True, width_ratios=(3, 1))
    ys = {k: len(keys) - 1 - i for i, k in enumerate(keys)}
    for ax in (when_ax, count_ax):
        _style(ax)
    for e in eps:
        y = ys[agent_key(e.labels)]
        when_ax.broken_barh([(e.start, e.end - e.start)], (y - 0.3, 0.6), color=COLOURS["stuck"])
        when_ax.plot([e.start], [y], marker="D", markersize=9, color=COLOURS["stuck"], linestyle="none")
    _versus(
        count_ax, [label(k, report) for k in keys], [r.prev_episodes for r in rows], [r.episodes for r in rows], COLOURS["stuck"], report
    )
    when_ax.set_ylim(-0.7, len(keys) - 0.3)
    _dates(when_ax, report)
    when_ax.set_title("When: each episode's start (diamond) and length", fontsize=10, color=INK)
    count_ax.xaxis.get_major_locator().set_params(integer=True)
    count_ax.set_title("Episodes per agent", fontsize=10, color=INK)
    _legend_outside(count_ax)
    return fig


def slowest(report: Report) -> Figure | None:
    rows = report.slowest_by_age
    if not rows:
        return None
    oldest = [r.max or 0.0 for r in rows]  # every row of slowest_by_age has a max
    div, unit = time_unit(oldest[0])
    fig, ax = _figure(_hbar_height(len(rows)))
    ys = range(len(rows))[::-1]
    ax.barh(list(ys), [v / div for v in oldest], 0.6, color=COLOURS["slowest"], label="oldest in-progress task")
    p95 = {r.key: r.this.p95 for r in report.agent_durations}
    ticks = [(y, v / div) for y, r in zip(ys, rows, strict=False) if (v := p95.get(r.key))]
    if ticks:
        ax.plot(
            [x for _, x in ticks],
            [y for y, _ in ticks],
            marker="|",
            markersize=18,
            markeredgewidth=2.5,
            color=INK,
            linestyle="none",
            label="agent's p95 completed task",
        )
    ax.set_yticks(list(ys), [label(r.key, report) for r in rows])
    ax.set_xlabel(unit)
    _legend_outside(ax)
    return fig


@dataclass(frozen=True)
class SpendAxis:
    """How the spend chart's USD axis is scaled: ``log`` from ``low`` when the values span more than
    ``LOG_SPREAD`` (an hour's spend beside a $20,000 budget would be an invisible sliver on a linear
    axis), else linear from 0 (where bar lengths compare directly)."""

    log: bool
    low: float


LOG_SPREAD = 50.0


def spend_axis(values: list[float]) -> SpendAxis:
    """The scale for bars and budget ticks of ``values`` (USD): on a log axis the smallest positive
    value's bar still spans a factor of 4 (0.6 of a decade)."""
    positive = [v for v in values if v > 0]
    if not positive or max(positive) / min(positive) <= LOG_SPREAD:
        return SpendAxis(False, 0.0)
    return SpendAxis(True, min(positive) / 4)


def spend(report: Report) -> Figure | None:
    spent = [(r, r.spend) for r in report.spend if r.spend is not None]
    if not spent:
        return None
    rows = [r for r, _ in spent]
    prev = [r.prev_spend or 0 for r in rows]
    axis = spend_axis([v for _, v in spent] + prev + [r.budget or 0 for r in rows])
    fig, ax = _figure(_hbar_height(len(rows)))
    if axis.log:
        ax.set_xscale("log")
    ys = _versus(ax, [label(r.key, report) for r in rows], prev, [v for _, v in spent], COLOURS["spend"], report)
    budgets = [(y + 0.2, r.budget) for y, r in zip(ys, rows, strict=False) if r.budget]
    if budgets:
        ax.plot(
            [b for _, b in budgets],
            [y for y, _ in budgets],
            marker="|",
            markersize=22,
            markeredgewidth=2.5,
            color=INK,
            linestyle="none",
            label="monthly budget",
        )
    for y, (r, v) in zip(ys, spent, strict=False):
        ax.annotate(
            usd(v) + (f" ({pct(r.ratio)})" if r.ratio is not None else ""),
            (max(v, r.budget or 0.0, axis.low), y),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=INK,
        )
    if axis.log:
        ax.set_xlim(left=axis.low)
        ax.set_xlabel("USD, log scale (×10 per gridline), so that a small spend shows beside a large budget")
    else:
        ax.set_xlabel("USD")
    _legend_outside(ax)
    return fig


def alerts(report: Report) -> Figure | None:
    rows = report.classes
    if not report.alerts:
        return None
    fig, ax = _figure(_hbar_height(len(rows)))
    ys = _versus(ax, [r.name for r in rows], [r.prev_episodes for r in rows], [r.episodes for r in rows], COLOURS["alerts"], report)
    for y, r in zip(ys, rows, strict=False):
        ax.annotate(str(r.episodes), (r.episodes, y), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8, color=INK)
    ax.set_xlabel("firing episodes")
    _legend_outside(ax)
    return fig


def canary(report: Report) -> Figure | None:
    daily = {k: days for k, days in report.canary_daily.items() if any(v is not None for _, v in days)}
    if not daily:
        return None
    changed = sorted({c.key for c in report.model_changes if c.key in daily})
    fig, ax = _figure(3.8)
    ax.grid(axis="y", color="#e6e6e6")
    shown = changed or sorted(daily)[: len(CANARY_SHADES)]
    rest = [k for k in daily if k not in shown]
    if rest:  # the agents without a model change, averaged, as the reference
        pooled = []
        for i, (t, _) in enumerate(daily[rest[0]]):
            values = [v for k in rest if (v := daily[k][i][1]) is not None]
            if values:
                pooled.append((t + 43200, 100 * sum(values) / len(values)))
        ax.plot([t for t, _ in pooled], [v for _, v in pooled], color=PREVIOUS, linewidth=2, label="other agents (mean)")
    for i, key in enumerate(shown):
        pts = [(t + 43200, v * 100) for t, v in daily[key] if v is not None]
        ax.plot(
            [t for t, _ in pts],
            [v for _, v in pts],
            color=CANARY_SHADES[i % len(CANARY_SHADES)],
            linewidth=2.5,
            marker="o",
            markersize=4,
            label=label(key, report),
        )
    for c in report.model_changes:
        ax.axvline(c.at, color=INK, linestyle="--", linewidth=1.2)
        ax.annotate(
            f"{label(c.key, report)}: → {c.after or '?'}",
            (c.at, 4),
            xytext=(4, 0),
            textcoords="offset points",
            rotation=90,
            va="bottom",
            fontsize=8,
            color=INK,
        )
    ax.set_ylim(0, 105)
    ax.set_ylabel("canary pass rate per day, %")
    _dates(ax, report)
    ax.legend(frameon=False, fontsize=9, loc="lower left")
    return fig


CHARTS: dict[str, Callable[[Report], Figure | None]] = {
    "durations": durations,
    "ages": ages,
    "stuck": stuck,
    "slowest": slowest,
    "spend": spend,
    "alerts": alerts,
    "canary": canary,
}


def render(report: Report) -> dict[str, str]:
    """Every chart the report has data for, by name, as SVG text."""
    out = {}
    for name, draw in CHARTS.items():
        fig = draw(report)
        if fig is not None:
            out[name] = _svg(fig, name)
    return out
