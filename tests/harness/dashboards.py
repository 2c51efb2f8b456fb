"""The committed Grafana dashboards, and their queries as plain PromQL for Prometheus itself.

Grafana's variables are substituted the way a dashboard with every variable at "All" sends them:
``$__rate_interval``, ``$__interval`` and ``$__range`` become a duration given by the caller, and
template variables (``$source``, ``${agent}``, ``${model:regex}``, …) become ``.*`` (their
``allValue``; every dashboard uses them as ``=~"$var"``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"

_INTERVAL = re.compile(r"\$(?:__(rate_interval|interval|range)\b|\{__(rate_interval|interval|range)\})")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def dashboards(directory: Path = DASHBOARDS) -> dict[str, dict]:
    """uid -> dashboard, for every ``*.json`` in the directory (a repeated uid raises)."""
    boards: dict[str, dict] = {}
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text())
        if board["uid"] in boards:
            raise ValueError(f"{path.name}: uid {board['uid']} is used twice")
        boards[board["uid"]] = board
    return boards


def substitute(expr: str, rate_interval: str = "5m") -> str:
    """Grafana's variables replaced: intervals by ``rate_interval``, template variables by ``.*``."""
    expr = _INTERVAL.sub(rate_interval, expr)
    return _VARIABLE.sub(".*", expr)


def panel_queries(rate_interval: str = "5m") -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every panel target."""
    for uid, board in dashboards().items():
        for panel in _panels(board["panels"]):
            for target in panel.get("targets", []):
                yield uid, panel["title"], substitute(target["expr"], rate_interval)


def annotation_queries(rate_interval: str = "5m") -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, annotation name, expr) for every Prometheus annotation."""
    for uid, board in dashboards().items():
        for annotation in board["annotations"]["list"]:
            if "expr" in annotation:
                yield uid, annotation["name"], substitute(annotation["expr"], rate_interval)


def variable_queries() -> Iterator[tuple[str, str, str, str]]:
    """(dashboard uid, variable name, series selector, label) for every ``label_values(selector, label)`` variable."""
    for uid, board in dashboards().items():
        for var in board["templating"]["list"]:
            query = var.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query or ""
            match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip(), re.S)
            if match:
                yield uid, var["name"], substitute(match.group(1)), match.group(2)


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:  # collapsed rows keep their panels inside
        yield panel
        yield from _panels(panel.get("panels", []))
