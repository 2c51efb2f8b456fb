"""The test harness's own stand-ins, where a fault in them would take the real Paperclip down."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

HARNESS = Path(__file__).resolve().parent / "harness"


def test_fake_claude_reads_its_whole_prompt_before_it_exits(tmp_path):
    """Paperclip's claude_local adapter writes the prompt to the CLI's stdin only after it has stored
    the run, and Paperclip 2026.916.1 dies of an unhandled EPIPE if the CLI has exited by then. So the
    stand-in, like the real CLI, waits for its prompt however late it comes, and then answers."""
    env = {"PATH": "/usr/bin:/bin", "FAKE_SLEEP_SEC": "0", "FAKE_STATE_DIR": str(tmp_path), "PAPERCLIP_AGENT_ID": "a1"}
    proc = subprocess.Popen(["bash", str(HARNESS / "fake-claude")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        assert proc.poll() is None, "fake-claude exited before its prompt was written"
        out, _ = proc.communicate(b"You are agent a1. " * 20000, timeout=30)  # larger than a pipe's buffer
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    events = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["type"] for e in events] == ["system", "assistant", "result"]
    assert events[-1]["usage"]["input_tokens"] == 2000
