"""Golden test: the exposition rendered from real recorded Paperclip responses, with a fixed clock.

Regenerate after an intended change with ``AGENTWATCH_UPDATE_GOLDEN=1 pytest tests/test_golden.py``
and review the diff. Timing-dependent self-metrics (latencies, poll duration) are left out.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from prometheus_client import generate_latest

from harness.tools import tool
from replay import ReplayServer
from test_faults import Clock, make_exporter

GOLDEN = Path(__file__).parent / "golden" / "paperclip.prom"
VOLATILE = (
    "agentwatch_source_request_duration_seconds",
    "agentwatch_poll_duration_seconds",
    "agentwatch_build_info",
    "agentwatch_source_response_bytes_total",
    "agentwatch_poll_response_bytes",
)
# the recorded samples were captured on 2026-11-24 around 05:11 UTC
RECORDED_AT = 1795497120.0


def render(server: ReplayServer) -> str:
    poller, registry = make_exporter(server.url, Clock(RECORDED_AT))
    assert poller.poll_once()
    return generate_latest(registry).decode()


def stable_lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line and not line.startswith("#") and not line.startswith(VOLATILE))


def test_exposition_matches_the_golden_file():
    with ReplayServer() as server:
        lines = stable_lines(render(server))
    if os.environ.get("AGENTWATCH_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text("\n".join(lines) + "\n")
    expected = GOLDEN.read_text().splitlines()
    assert lines == expected


def promtool_check(text: str) -> str:
    result = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return (result.stdout + result.stderr).strip()


def test_exposition_passes_promtool_cleanly():
    with ReplayServer() as server:
        assert promtool_check(render(server)) == ""
