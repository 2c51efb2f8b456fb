"""The live-events benchmark (bench/live_events.py, issue 24) in a tiny run against the real
Paperclip and a real Prometheus and Alertmanager: it measures every kind of change on all three
exporters, counts each exporter's requests, sees the live exporter refresh on events, and gets a
page from both paged exporters. No timing is asserted: only that it measures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from live_events_report import KINDS, percentile  # noqa: E402
from live_events_watch import parse  # noqa: E402

TINY = [
    "--agents", "4", "--interval", "30", "--issues", "6", "--issue-changes", "20",
    "--window", "45", "--warmup", "10", "--run-lanes", "1", "--cost-lanes", "1", "--issue-lanes", "1",
    "--run-seconds", "12", "--slow-poll", "8", "--fast-poll", "2", "--sample-timeout", "40",
    "--faults", "1", "--fault-lead", "5", "--for-factor", "60",
]  # fmt: skip


def test_parse_keeps_the_probe_series_and_the_self_metrics():
    text = (
        b"# HELP agentwatch_source_requests_total Requests.\n# TYPE agentwatch_source_requests_total counter\n"
        b'agentwatch_source_requests_total{endpoint="/api/companies/{id}/agents",source="live"} 12.0\n'
        b'agentwatch_source_requests_total{endpoint="/api/health",source="live"} 3.0\n'
        b"# HELP agentwatch_agent_runs_total Runs.\n# TYPE agentwatch_agent_runs_total counter\n"
        b'agentwatch_agent_runs_total{agent="Probe run ok 1",invocation_source="on_demand",source="live",status="succeeded"} 2.0\n'
        b'agentwatch_agent_runs_total{agent="Probe run ok 1",invocation_source="timer",source="live",status="succeeded"} 1.0\n'
        b'agentwatch_agent_runs_total{agent="Worker 001",invocation_source="timer",source="live",status="succeeded"} 7.0\n'
        b"# HELP agentwatch_agent_tasks Tasks.\n# TYPE agentwatch_agent_tasks gauge\n"
        b'agentwatch_agent_tasks{agent="Probe issue 1",source="live",status="todo"} 1.0\n'
    )
    agents, own = parse(text)
    assert agents == {("runs_total", "Probe run ok 1", "succeeded"): 3.0, ("tasks", "Probe issue 1", "todo"): 1.0}
    assert own == {("source_requests_total", "/api/companies/{id}/agents"): 12.0, ("source_requests_total", "/api/health"): 3.0}


def test_percentile_is_linear_between_ranks():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0


@pytest.mark.paperclip
@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Prometheus not installed")
def test_a_tiny_run_measures_every_change_on_every_exporter(paperclip_server, tmp_path):
    out = tmp_path / "live_events.json"
    command = [sys.executable, str(BENCH / "live_events.py"), *TINY, "--paperclip-url", paperclip_server.url]
    done = subprocess.run([*command, "--workdir", str(tmp_path / "work"), "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "## Freshness" in done.stdout and "## Page latency" in done.stdout
    result = json.loads(out.read_text())
    assert result["lane_errors"] == []
    names = ("live", "poll30", "pollfast")
    for name in names:
        fresh = result["freshness"][name]
        assert set(fresh["kinds"]) == set(KINDS)
        for kind in KINDS:  # every kind measured at least once, and shown by every exporter
            assert fresh["kinds"][kind]["n"] >= 1 and fresh["kinds"][kind]["missed"] == 0, (name, kind, fresh["kinds"][kind])
        assert fresh["overall"]["p50"] <= fresh["overall"]["p95"] <= fresh["overall"]["max"]
        traffic = result["traffic"][name]
        assert traffic["requests"] > 0 and traffic["bytes"] > 0 and traffic["requests_per_hour"] > 0
    live, poll30 = result["traffic"]["live"], result["traffic"]["poll30"]
    # the live exporter saw the changes as events and refreshed on them; the polling ones never do
    assert live["refreshes"].get("event", 0) >= 1 and live["by_trigger"]["event"]["requests"] > 0
    assert {"heartbeat.run.queued", "heartbeat.run.status", "activity.logged"} <= set(live["events"])
    assert "event" not in poll30["refreshes"] and poll30["events"] == {}
    assert live["steady"]["full_polls_per_hour"] == 12 and live["steady"]["requests_per_hour"] > 0
    for name in ("live", "poll30"):  # the fault paged through the real stack from both
        (sample,) = result["page"][name]["samples"]
        assert sample["notified"] is not None and sample["exporter_shows"] is not None
    assert set(result["targets"]) == {"freshness_p95_live_le_2s", "page_latency_live_le_for_plus_5s", "live_requests_le_half_of_pollfast"}
    assert result["activity"]["runs_per_minute"] > 0
