"""The matrix as a Markdown table, and its place in ``docs/detection.md`` (between markers)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from detection.driver import Outcome, Results

BEGIN, END = "<!-- detection-matrix:begin -->", "<!-- detection-matrix:end -->"


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} s"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def row(o: Outcome) -> str:
    if o.not_applicable:
        fired = paged = "n/a"
    else:
        fired = "yes" if o.fired else ("no" if o.fault_at is not None else "–")
        if o.paged:
            paged = f"yes ({o.receiver})"
        elif o.paged_at is not None:
            paged = f"wrong labels: {', '.join(o.label_problems)}"
        else:
            paged = "no" if o.fault_at is not None else "–"
    notes = []
    if o.not_applicable:
        notes.append(o.not_applicable)
    elif o.fault_at is None:
        notes.append("fault not injected")
    if not o.rule_present:
        notes.append("rule absent")
    if o.fired_before_fault:
        notes.append("fired before the fault")
    notes += [n for n in o.notes if n.startswith("exporter restarted") or " newest " in n]
    if o.also:
        notes.append("also: " + ", ".join(o.also))
    return (
        "| "
        + " | ".join(
            _cell(c)
            for c in (
                f"`{o.variant}`" + (" (CI)" if o.ci else ""),
                o.failure,
                o.title,
                o.alert,
                o.verdict,
                fired,
                _secs(o.to_fire),
                paged,
                _secs(o.to_page),
                "; ".join(notes),
            )
        )
        + " |"
    )


def table(results: Results) -> str:
    lines = [
        "| Variant | Class | Fault injected | Alert expected | Verdict | Fired (Prometheus) | Fault → firing | Paged (receiver) | Fault → page | Notes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [row(o) for o in results.outcomes]
    control = ", ".join(results.control_alerts) if results.control_alerts else "nothing fired, nothing paged"
    lines.append(
        f"| control | healthy company | 30 s timers and assignments that finish their tasks, a dependency that resolves, 1 ¢ runs, "
        f"a claude agent with no budget at 0.01 USD a run, one hire_agent approval | none | "
        f"{'CONTROL PAGED' if results.control_alerts else 'silent'} | | | | | {_cell(control)} |"
    )
    return "\n".join(lines)


def summary(results: Results) -> str:
    rows = [o for o in results.outcomes if not o.not_applicable]
    paged = sum(o.paged for o in rows)
    when = datetime.fromtimestamp(results.started_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    thresholds = ", ".join(f"{k}={v}" for k, v in results.thresholds.items())
    lines = [
        f"Run of {when}{f' at `{results.tree}`' if results.tree else ''}: {len({o.variant for o in results.outcomes})} variants, {len(rows)} expected pages, "
        f"**{paged} paged**, {len(rows) - paged} not; the control "
        f"{'paged: ' + ', '.join(results.control_alerts) if results.control_alerts else 'stayed silent'}. "
        f"The matrix took {results.duration:.0f} s (stack up in {results.setup_seconds:.0f} s).",
        "",
        f"Compressed: every `for` divided by 60; thresholds {thresholds}.",
    ]
    if results.missing_thresholds:
        lines.append(f"Thresholds not in this tree's config, left at nothing: {', '.join(results.missing_thresholds)}.")
    return "\n".join(lines)


def details(results: Results) -> str:
    """The notes and the evidence of every variant that did not page, for the report."""
    out = []
    for o in results.outcomes:
        if o.paged or o.not_applicable:
            continue
        out.append(f"### {o.variant}: {o.alert} ({o.verdict})")
        out += [f"- {n}" for n in o.notes]
        out += [f"    {e}" for e in o.evidence]
    if results.control_alerts:
        out.append("### control: " + ", ".join(results.control_alerts))
        out += [f"    {e}" for e in results.control_evidence]
    return "\n".join(out)


def rewrite_doc(path: Path, results: Results) -> None:
    text = path.read_text()
    block = f"{BEGIN}\n{summary(results)}\n\n{table(results)}\n{END}"
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} has no {BEGIN} ... {END} block")
    path.write_text(re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S))
