"""The alerting rules with site-specific links: ``agentwatch rules``.

The shipped ``prometheus/rules/alerts.yml`` points ``runbook_url`` at the project's runbooks and
``dashboard_url`` at Grafana paths (``/d/<uid>``). This rewrites both prefixes, so a site can
serve the runbooks from its own wiki or repository and link its own Grafana.
"""

from __future__ import annotations

import re

DEFAULT_RUNBOOK_BASE = "https://github.com/agentwatch/agentwatch/blob/main/docs/runbooks/"


def with_links(rules_text: str, runbook_base: str | None = None, dashboard_base: str | None = None) -> str:
    text = rules_text
    if runbook_base:
        text = text.replace(f"runbook_url: {DEFAULT_RUNBOOK_BASE}", f"runbook_url: {runbook_base.rstrip('/')}/")
    if dashboard_base:
        text = re.sub(r"dashboard_url: /d/", f"dashboard_url: {dashboard_base.rstrip('/')}/d/", text)
    return text
