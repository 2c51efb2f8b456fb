"""A planted token never shows up in any output: logs at debug level in both formats, /metrics,
`once`, `check-config`, configuration errors, and a platform error that echoes the credential
back. The platform receives it, so the test would notice a token that was never used."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest
import requests
import yaml

from agentwatch.stack import local as localstack
from harness.paperclip import wait_for

TOKEN = f"pcp_planted_{uuid.uuid4().hex}"


def run(args: list[str], env: dict | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    return result.stdout + result.stderr


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def config(tmp_path, url: str, token_file, **extra) -> str:
    path = tmp_path / "agentwatch.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "poll_interval": "1s",
                "log_level": "debug",
                "sources": [{"name": "pc", "url": url, "token_file": str(token_file), "timeout": "1s", "retries": 0, **extra}],
            }
        )
    )
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_the_token_never_leaves_the_process(tmp_path, server, token_file, fmt):
    outputs: dict[str, str] = {}
    cfg = config(tmp_path, server.url, token_file)
    port = localstack.free_port()
    proc = localstack.Process(
        [sys.executable, "-m", "agentwatch", f"--config.file={cfg}", f"--log.format={fmt}", f"--web.listen-address=127.0.0.1:{port}"],
        tmp_path / "serve.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True, timeout=30)
        # good polls, then every way the platform can refuse the token, one echoing it back
        for fault in (None, "401", "403", "401-echo", "500", "truncated", None):
            server.fault = fault
            polls = len(server.requests)
            wait_for(lambda polls=polls: len(server.requests) > polls + 2, timeout=30)
            outputs[f"/metrics during {fault}"] = requests.get(url + "/metrics", timeout=10).text
        outputs["/"] = requests.get(url + "/", timeout=10).text
    finally:
        proc.stop()
    outputs["serve log"] = (tmp_path / "serve.log").read_text()
    outputs["once"] = run([f"--config.file={cfg}", f"--log.format={fmt}", "once"])
    server.fault = "401-echo"
    outputs["once, refused"] = run([f"--config.file={cfg}", f"--log.format={fmt}", "once"])
    outputs["check-config"] = run([f"--config.file={cfg}", "check-config"])
    # configuration errors next to the token: a bad key, and the token given inline with a bad value elsewhere
    outputs["bad config"] = run(["check-config", f"--config.file={config(tmp_path, server.url, token_file, timeout='soon')}"])
    inline = tmp_path / "inline.yml"
    inline.write_text(yaml.safe_dump({"sources": [{"url": "not a url", "token": TOKEN}]}))
    outputs["bad inline config"] = run(["check-config", f"--config.file={inline}"])
    inline.write_text(yaml.safe_dump({"sources": [{"url": server.url, "token": {"nested": TOKEN}}]}))
    outputs["token of the wrong type"] = run(["check-config", f"--config.file={inline}"])
    outputs["env token, bad env"] = run(["check-config"], env={"AGENTWATCH_PAPERCLIP_TOKEN": TOKEN, "AGENTWATCH_POLL_INTERVAL": "never"})

    assert f"Bearer {TOKEN}" in server.authorizations  # the token was really used
    assert "invalid token Bearer ***" in outputs["once, refused"]  # the echo was logged, masked
    for where, text in outputs.items():
        assert TOKEN not in text, f"the token leaked into {where}"
        assert TOKEN[-16:] not in text, f"part of the token leaked into {where}"
