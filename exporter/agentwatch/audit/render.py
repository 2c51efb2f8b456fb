"""The laid-out report as HTML (one self-contained file: CSS and SVG charts inline, nothing
fetched) and as Markdown (charts as SVG files in a folder beside it, linked relatively)."""

from __future__ import annotations

import html
import re
from datetime import datetime

from agentwatch.audit.layout import Section, Table, headline, sections, when
from agentwatch.audit.report import Report

CSS = """
body { margin: 0; background: #f6f6f6; color: #222; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 36px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; } p.meta, p.source, p.footnote { color: #555; font-size: 13px; margin: 4px 0 10px; }
p.empty { background: #f1f1f1; border-left: 4px solid #888; padding: 8px 12px; }
nav a { color: #333; margin-right: 14px; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 12px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: 600; } td.n, th.n { text-align: right; }
table.summary td { font-size: 18px; font-weight: 600; padding-right: 28px; } table.summary td.prev { font-size: 13px; color: #666; font-weight: 400; }
figure.chart { margin: 8px 0 14px; } figure.chart svg { width: 100%; height: auto; display: block; }
code { background: #f1f1f1; padding: 0 3px; font-size: 12px; }
"""


def month_name(label: str) -> str:
    return datetime.strptime(label, "%Y-%m").strftime("%B %Y")


def _intro(report: Report) -> str:
    partial = " (month not over: data up to the end shown)" if report.partial else ""
    return (
        f"UTC month {when(report.start)} to {when(report.end)}{partial}, compared with {report.previous}. "
        f"From the Prometheus at `{report.source}`."
    )


# -- HTML --------------------------------------------------------------------------------------


def _text(s: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(s))


def inline_svg(svg: str, prefix: str) -> str:
    """An SVG file's text made fit to sit inside HTML: no XML prolog or DOCTYPE, no namespace URLs
    (the HTML parser supplies them), and ids prefixed so that several charts never share one."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)
    return re.sub(r'(\bid="|href="#|url\(#)', rf"\1{prefix}-", svg)


def _numeric(cell: str) -> bool:
    return bool(re.fullmatch(r"[-+$]?[\d,.]+(\s?(%|s|min|h|d))?", cell))


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    rows = "".join(
        "<tr>" + "".join(f'<td class="n">{html.escape(c)}</td>' if _numeric(c) else f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in t.rows
    )
    return f"<h3>{html.escape(t.caption)}</h3>\n<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _html_section(s: Section, charts: dict[str, str]) -> str:
    parts = [f'<section id="{s.id}">', f"<h2>{html.escape(s.title)}</h2>", f'<p class="source">{_text(s.source)}</p>']
    if s.empty:
        parts.append(f'<p class="empty">{_text(s.empty)}</p>')
    parts += [f"<p>{_text(n)}</p>" for n in s.notes]
    parts += [f'<figure class="chart" id="chart-{n}">{inline_svg(charts[n], n)}</figure>' for n in s.charts if n in charts]
    parts += [_html_table(t) for t in s.tables]
    parts += [f'<p class="footnote">{_text(n)}</p>' for n in s.footnotes]
    parts.append("</section>")
    return "\n".join(parts)


def to_html(report: Report, charts: dict[str, str]) -> str:
    secs = sections(report)
    summary = "".join(
        f'<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td><td class="prev">{html.escape(p)}</td></tr>' for k, v, p in headline(report)
    )
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in secs)
    title = f"agentwatch audit — {month_name(report.month)}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<main>",
            f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">{_text(_intro(report))}</p>',
            f'<table class="summary"><thead><tr><th></th><th>{report.month}</th><th>{report.previous}</th></tr></thead>'
            f"<tbody>{summary}</tbody></table>",
            f"<nav>{nav}</nav>",
            *(_html_section(s, charts) for s in secs),
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


# -- Markdown ----------------------------------------------------------------------------------


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> list[str]:
    return [
        f"**{t.caption}**",
        "",
        "| " + " | ".join(map(_cell, t.headers)) + " |",
        "|" + "---|" * len(t.headers),
        *("| " + " | ".join(map(_cell, row)) + " |" for row in t.rows),
        "",
    ]


def to_markdown(report: Report, chart_files: dict[str, str]) -> str:
    """``chart_files`` maps a chart name to its path relative to the Markdown file."""
    lines = [
        f"# agentwatch audit — {month_name(report.month)}",
        "",
        _intro(report),
        "",
        f"| | {report.month} | {report.previous} |",
        "|---|---|---|",
        *(f"| {_cell(k)} | {_cell(v)} | {_cell(p)} |" for k, v, p in headline(report)),
        "",
    ]
    for s in sections(report):
        lines += [f"## {s.title}", "", f"_{s.source}_", ""]
        if s.empty:
            lines += [f"> {s.empty}", ""]
        lines += [x for n in s.notes for x in (n, "")]
        lines += [x for n in s.charts if n in chart_files for x in (f"![{s.title}]({chart_files[n]})", "")]
        for t in s.tables:
            lines += _md_table(t)
        lines += [x for n in s.footnotes for x in (f"_{n}_", "")]
    return "\n".join(lines).rstrip() + "\n"
