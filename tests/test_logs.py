"""Structured logs: one line per event, extra keys kept, secrets masked in both formats."""

from __future__ import annotations

import io
import json
import logging

import pytest

from agentwatch import logs

SECRET = "pcp_board_feedfacefeedfacefeedfacefeedfacefeedfacefeedface"


@pytest.fixture
def capture():
    stream = io.StringIO()

    def setup(fmt):
        logs.setup("debug", fmt, stream)
        return logging.getLogger("agentwatch.test"), stream

    yield setup
    logging.getLogger("agentwatch").handlers[:] = []


def test_logfmt_one_line_with_ids_and_quoting(capture):
    log, stream = capture("logfmt")
    log.info("canary finished", extra={"task_id": "t-1", "run_id": "r-1", "note": 'two words "quoted"\nnext'})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = lines[0]
    assert "level=info" in line and 'msg="canary finished"' in line
    assert "task_id=t-1" in line and "run_id=r-1" in line
    assert 'note="two words \\"quoted\\"\\nnext"' in line


def test_json_one_object_per_line(capture):
    log, stream = capture("json")
    log.warning("poll failed", extra={"source": "prod", "kind": "timeout"})
    record = json.loads(stream.getvalue())
    assert record["msg"] == "poll failed" and record["source"] == "prod" and record["level"] == "warning"


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_registered_secrets_are_masked_everywhere(capture, fmt):
    logs.register_secret(SECRET)
    log, stream = capture(fmt)
    log.error("request with %s failed", SECRET, extra={"error": f"Bearer {SECRET}"})
    try:
        raise RuntimeError(f"token {SECRET} rejected")
    except RuntimeError:
        log.exception("boom")
    out = stream.getvalue()
    assert SECRET not in out
    assert out.count("***") >= 3
