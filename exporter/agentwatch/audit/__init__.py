"""``agentwatch audit``: the monthly report from Prometheus history, as HTML and Markdown.

Layers, top-down: ``queries`` reads the series (through ``history.client``, the only HTTP);
``report`` and ``stats`` compute (pure); ``layout`` formats; ``charts`` draws SVG; ``render``
writes the HTML and Markdown text; this module checks the arguments and writes the files.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from agentwatch import logs
from agentwatch.audit import render
from agentwatch.audit.period import Month, last_complete_month, parse_month
from agentwatch.audit.queries import fetch_month
from agentwatch.audit.report import Report, build
from agentwatch.files import write_atomic
from agentwatch.history.client import HistoryError, PrometheusHistory

log = logging.getLogger("agentwatch.audit")

EXIT_USAGE = 2
EXIT_PROMETHEUS = 1
INSTALL_AUDIT = "the audit draws its charts with matplotlib, an extra: pip install 'agentwatch[audit]'"


def run(args: argparse.Namespace) -> int:
    logs.setup(args.log_level or "info", args.log_format or "logfmt")
    now = time.time()
    try:
        month = parse_month(args.month) if args.month else last_complete_month(now)
        if month.start >= now:
            raise ValueError("the month has not begun")
    except ValueError as exc:
        print(f"agentwatch: month={args.month!r}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from agentwatch.audit import charts  # matplotlib: needs a writable cache directory (MPLCONFIGDIR)
    except ImportError as exc:  # the plain install has no plotting stack
        print(f"agentwatch: audit: {exc.name or exc} is not installed: {INSTALL_AUDIT}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"agentwatch: audit: {exc}", file=sys.stderr)
        return 1
    url = without_credentials(args.prometheus_url)
    try:
        report = collect(PrometheusHistory(args.prometheus_url), month, now)
    except HistoryError as exc:
        print(f"agentwatch: prometheus.url={url!r}: {str(exc).replace(args.prometheus_url.rstrip('/'), url.rstrip('/'))}", file=sys.stderr)
        return EXIT_PROMETHEUS
    try:
        paths = write(report, charts.render(report), Path(args.out_dir))
    except OSError as exc:
        print(f"agentwatch: out.dir={args.out_dir!r}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    log.info("audit written", extra={"month": month.label, "html": str(paths[0]), "markdown": str(paths[1])})
    return 0


def collect(history: PrometheusHistory, month: Month, now: float) -> Report:
    """The report of ``month`` (up to ``now`` if it is not over) against the month before."""
    end = min(month.end, now)
    before = month.previous()
    url = without_credentials(history.url)
    log.info("reading history", extra={"month": month.label, "prometheus": url})
    this = fetch_month(history, month.start, end)
    prev = fetch_month(history, before.start, before.end, detail=False)
    return build(this, prev, month.label, before.label, end < month.end, url)


def without_credentials(url: str) -> str:
    """``url`` as shown in messages and in the report: a user and password in it are left out."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def write(report: Report, svgs: dict[str, str], out_dir: Path) -> tuple[Path, Path]:
    """``agentwatch-audit-YYYY-MM.html`` and ``.md`` in ``out_dir``, the Markdown's charts (``svgs``,
    by name) in the folder of the same name; every file written atomically, charts of an earlier
    run that the report no longer has removed."""
    stem = f"agentwatch-audit-{report.month}"
    chart_dir = out_dir / stem
    for name, svg in svgs.items():
        write_atomic(chart_dir / f"{name}.svg", svg)
    if chart_dir.is_dir():
        for old in chart_dir.glob("*.svg"):
            if old.stem not in svgs:
                old.unlink()
    html_path, md_path = out_dir / f"{stem}.html", out_dir / f"{stem}.md"
    write_atomic(html_path, render.to_html(report, svgs))
    write_atomic(md_path, render.to_markdown(report, {name: f"{stem}/{name}.svg" for name in svgs}))
    return html_path, md_path
