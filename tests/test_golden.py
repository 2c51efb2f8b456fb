"""Golden exposition helpers: the exposition rendered from recorded responses, with a fixed clock.

The golden tests themselves run per source in test_source_conformance.py (Paperclip's file is
tests/golden/paperclip.prom). Regenerate after an intended change with
``AGENTWATCH_UPDATE_GOLDEN=1 pytest tests/test_source_conformance.py -k golden`` and review the
diff. Timing-dependent self-metrics (latencies, poll duration) are left out.
"""

from __future__ import annotations

import subprocess
from typing import Any

from prometheus_client import generate_latest

from harness.tools import tool
from source_kits import PAPERCLIP, SourceKit
from test_faults import Clock, make_exporter

VOLATILE = (
    "agentwatch_source_request_duration_seconds",
    "agentwatch_poll_duration_seconds",
    "agentwatch_build_info",
    "agentwatch_source_response_bytes_total",
    "agentwatch_poll_response_bytes",
    "agentwatch_source_data_age_seconds",  # the wall clock, not the recording's
)


def render(platform: Any, kit: SourceKit = PAPERCLIP) -> str:
    """The /metrics body after one poll of ``platform`` (the kit's recorded answers, perhaps
    changed by the test), on the clock of the recording."""
    poller, registry = make_exporter(platform.url, Clock(kit.recorded_at), make_source=kit.source)
    assert poller.poll_once()
    return generate_latest(registry).decode()


def stable_lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line and not line.startswith("#") and not line.startswith(VOLATILE))


def promtool_check(text: str) -> str:
    result = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return (result.stdout + result.stderr).strip()
