"""The dashboards' queries as plain PromQL, for checks against a real Prometheus."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"


def dashboards() -> dict[str, dict]:
    return {json.loads(p.read_text())["uid"]: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def substitute(expr: str, rate_interval: str = "5m") -> str:
    """Grafana's variables replaced: intervals by ``rate_interval``, template variables by ``.*``."""
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", rate_interval, expr)
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def panel_queries(rate_interval: str = "5m") -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every panel target."""
    for uid, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield uid, panel["title"], substitute(target["expr"], rate_interval)


def annotation_queries(rate_interval: str = "5m") -> Iterator[tuple[str, str, str]]:
    for uid, board in dashboards().items():
        for annotation in board["annotations"]["list"]:
            if "expr" in annotation:
                yield uid, annotation["name"], substitute(annotation["expr"], rate_interval)
