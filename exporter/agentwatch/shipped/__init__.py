"""The bundle as the package ships it: the checkout's own files, reached through symlinks here.

``prometheus/`` (scrape config, rules), ``alertmanager/`` (routing, templates), ``deploy/demo/``
(the demo's config and canary suites), ``docs/runbooks/`` and ``grafana/dashboards/`` keep one
copy each, where the checkout has them. The symlinks in this folder point at them: an editable
install reads the checkout through them, and a wheel holds real copies (``package-data`` in
pyproject.toml follows the links). So ``agentwatch rules``, ``agentwatch stack`` and the served
runbooks work from any folder, installed or not. ``BUNDLE`` has the checkout's layout.
"""

from __future__ import annotations

from pathlib import Path

BUNDLE = Path(__file__).resolve().parent
"""A folder laid out like the checkout: ``BUNDLE / "prometheus" / "rules" / "alerts.yml"``."""

RULES = BUNDLE / "prometheus" / "rules"
RUNBOOKS = BUNDLE / "docs" / "runbooks"
DASHBOARDS = BUNDLE / "grafana" / "dashboards"
