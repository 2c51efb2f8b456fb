"""The alerting rules with site-specific links: ``agentwatch rules``.

The shipped ``prometheus/rules/alerts.yml`` points ``runbook_url`` at the runbooks agentwatch
serves itself (``/runbooks/<Alert>`` on its default address, as compose publishes it and
``agentwatch stack`` runs it) and ``dashboard_url`` at compose's Grafana. This rewrites both
bases, so a site links its own agentwatch (or wiki) and its own Grafana.
"""

from __future__ import annotations

import re

DEFAULT_RUNBOOK_BASE = "http://127.0.0.1:10133/runbooks/"
DEFAULT_DASHBOARD_BASE = "http://127.0.0.1:3000"


def with_links(rules_text: str, runbook_base: str | None = None, dashboard_base: str | None = None) -> str:
    """``rules_text`` with the shipped runbook and dashboard bases replaced; a base may end in a
    slash or not, and ``None`` (or empty) keeps the shipped one."""
    text = rules_text
    if runbook_base:
        text = text.replace(f"runbook_url: {DEFAULT_RUNBOOK_BASE}", f"runbook_url: {runbook_base.rstrip('/')}/")
    if dashboard_base:
        text = text.replace(f"dashboard_url: {DEFAULT_DASHBOARD_BASE}/d/", f"dashboard_url: {dashboard_base.rstrip('/')}/d/")
    return text


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(value: str) -> int:
    """A Prometheus duration of one unit (``90s``, ``5m``, ``4h``) in seconds."""
    return int(value[:-1]) * _UNITS[value[-1]]


def scale_time(rules_text: str, factor: float, min_range: int = 30, interval: str | None = None, ranges: bool = True) -> str:
    """The rules with time compressed ``factor`` times, for demos and end-to-end tests.

    Every ``for:`` duration and, with ``ranges``, every range selector (``[1h]``) and ``offset``
    is divided by ``factor``; ranges keep at least ``min_range`` seconds so that ``rate()`` still
    sees several scrapes.
    ``interval`` replaces the groups' evaluation interval. The expressions are otherwise the
    shipped ones.
    """
    if factor <= 1 and interval is None:
        return rules_text

    def seconds(value: str, floor: int) -> str:
        return f"{max(floor, round(duration_seconds(value) / factor))}s"

    text = re.sub(r"for: (\d+[smhdw])\b", lambda m: f"for: {seconds(m.group(1), 1)}", rules_text)
    if ranges:
        text = re.sub(r"\[(\d+[smhdw])\]", lambda m: f"[{seconds(m.group(1), min_range)}]", text)
        text = re.sub(r"offset (\d+[smhdw])\b", lambda m: f"offset {seconds(m.group(1), min_range)}", text)
    if interval:
        text = re.sub(r"^(\s*)interval: \S+$", lambda m: f"{m.group(1)}interval: {interval}", text, flags=re.M)
    return text
