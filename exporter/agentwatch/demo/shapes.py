"""Row templates with the real Paperclip API's shapes, for the demo simulator.

``shapes.json`` holds, per kind of row, every key the real API returns, with neutral values
(null, 0, false, "", [] or {}): the simulator fills in what it simulates and the rest keeps
the real shape. It is derived from recorded responses of a real server:

    python -m agentwatch.demo.shapes PATH/TO/paperclip/samples > exporter/agentwatch/demo/shapes.json
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

# kind -> (sample file, True when the sample is a list of rows)
SAMPLES = {
    "health": ("api_health.json", False),
    "company": ("api_companies.json", True),
    "agent": ("api_companies_{companyId}_agents.json", True),
    "scheduler_heartbeat": ("api_instance_scheduler-heartbeats.json", True),
    "issue_compact": ("api_companies_{companyId}_issues__view-compact.json", True),
    "issue": ("api_companies_{companyId}_issues__status-blocked_includeBlockedBy-true.json", True),
    "run": ("api_companies_{companyId}_heartbeat-runs__limit-50.json", True),
    "live_run": ("api_companies_{companyId}_live-runs.json", True),
    "cost_by_agent_model": ("api_companies_{companyId}_costs_by-agent-model.json", True),
    "cost_by_agent": ("api_companies_{companyId}_costs_by-agent.json", True),
    "window_spend": ("api_companies_{companyId}_costs_window-spend.json", True),
    "budgets_overview": ("api_companies_{companyId}_budgets_overview.json", False),
    "approval": ("api_companies_{companyId}_approvals.json", True),
    "comment": ("api_issues_{epicIssueId}_comments.json", True),
    "issue_run": ("api_issues_{epicIssueId}_runs.json", True),
    "cost_summary": ("api_issues_{epicIssueId}_cost-summary.json", False),
}
# nested rows of the budgets overview
NESTED = {"budget_policy": ("budgets_overview", "policies"), "budget_incident": ("budgets_overview", "activeIncidents")}


def neutral(value: Any) -> Any:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return 0
    if isinstance(value, str):
        return ""
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


def _first_row(path: Path, is_list: bool) -> dict:
    data = json.loads(path.read_text())
    if is_list:
        rows = [r for r in data if isinstance(r, dict)]
        merged: dict = {}
        for row in rows:  # the union of keys over every recorded row
            for key, value in row.items():
                if merged.get(key) is None:
                    merged[key] = value
        return merged
    return data


def build(samples: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    raw: dict[str, dict] = {}
    for kind, (name, is_list) in SAMPLES.items():
        raw[kind] = _first_row(samples / name, is_list)
        out[kind] = {k: neutral(v) for k, v in raw[kind].items()}
    for kind, (parent, key) in NESTED.items():
        rows = [r for r in raw[parent].get(key) or [] if isinstance(r, dict)]
        merged: dict = {}
        for row in rows:
            for k, v in row.items():
                if merged.get(k) is None:
                    merged[k] = v
        out[kind] = {k: neutral(v) for k, v in merged.items()}
    return out


@lru_cache(maxsize=1)
def _templates() -> dict[str, dict]:
    return json.loads(resources.files("agentwatch.demo").joinpath("shapes.json").read_text())


def row(kind: str, **fields: Any) -> dict:
    """A fresh row of ``kind`` with the real keys, and ``fields`` filled in. The neutral values
    left in place are shared between rows: rows are serialised, never mutated in place."""
    out = dict(_templates()[kind])
    out.update(fields)
    return out


if __name__ == "__main__":
    json.dump(build(Path(sys.argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
