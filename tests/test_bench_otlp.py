"""The OTLP ingestion benchmark (bench/otlp.py, docs/benchmarks.md "Issue 23"): its payload is
what a GenAI-instrumented fleet exports, and a tiny run measures both rates and takes in every
span, in process and through the receiver. No timing is asserted: only that it measures."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agentwatch.source.otel.decode import decode_traces
from agentwatch.source.otel.spans import AGENT, LLM, TOOL, records

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from otlp import BATCH_SPANS, payload  # noqa: E402


def test_the_payload_is_a_fleets_batched_exports():
    """Unique ids, every agent's own spans of the three GenAI kinds, batches of at most 512 spans
    of one process each, in export order, and the fleet's times moving forward."""
    batches = payload(spans=3000, agents=24, rate=10_000, turns=3)
    requests = [decode_traces(b.body, "application/x-protobuf") for b in batches]
    rows = [row for request in requests for row in records(request)]
    assert sum(b.spans for b in batches) == len(rows) == 3000
    assert all(len(request.resource_spans) == 1 for request in requests)
    assert max(b.spans for b in batches) == BATCH_SPANS
    assert [b.at for b in batches] == sorted(b.at for b in batches)
    assert len({(r.trace_id, r.span_id) for r in rows}) == len(rows)
    assert Counter(r.kind for r in rows).keys() >= {AGENT, LLM, TOOL}
    agents = {r.agent_name for r in rows if r.kind == AGENT}
    assert len(agents) == 24 and all("-agent-" in name for name in agents)
    conversations = {r.conversation_id for r in rows if r.conversation_id}
    assert len(conversations) > 24  # each agent holds several
    first, last = min(r.start for r in rows), max(r.end for r in rows)
    assert last - first > 1.0  # 3000 spans at 10k spans/s: times move forward


@pytest.mark.slow
def test_a_tiny_run_reports_both_rates(tmp_path):
    out = tmp_path / "otlp.json"
    command = [sys.executable, str(BENCH / "otlp.py"), "--spans", "3000", "--agents", "40", "--repeats", "1"]
    done = subprocess.run(
        [*command, "--poll-spans", "1000", "--offered", "50000", "--json", str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "floor (protobuf parse + touch)" in done.stdout and "agentwatch ingest" in done.stdout
    result = json.loads(out.read_text())
    side = result["side_by_side"]
    assert side["spans"] == 3000
    assert side["floor_rate"] > 0 and side["agentwatch_rate"] > 0
    assert side["ratio"] == pytest.approx(side["floor_cpu"] / side["agentwatch_cpu"])
    assert side["polls"] >= 2 and side["fleet"]["agents"] == 40 and side["fleet"]["dropped"] == 0
    assert set(result["verdict"]) == {"ratio_met", "rate_met", "passed"}
    paced, flood = result["http"]
    for run in (paced, flood):
        assert run["spans_taken"] == 3000 and run["dropped"] == 0
        assert run["statuses"].get("200") == result["requests"]
        assert set(run["statuses"]) <= {"200", "429"}
        assert run["rate_per_core"] > 0
