"""The configuration contract: env names, YAML, defaults, and one-line errors naming the key and value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentwatch import config

SECRET = "pcp_board_0123456789abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith("AGENTWATCH_"):
            monkeypatch.delenv(name)


def test_defaults():
    s = config.load(None)
    assert s.listen_address == "0.0.0.0:10133"
    assert s.poll_interval == 30.0
    assert len(s.sources) == 1
    src = s.sources[0]
    assert (src.name, src.url, src.token, src.poll_interval, src.max_concurrency) == ("paperclip", "http://127.0.0.1:3100", None, 30.0, 8)
    assert s.escalations.expected == ["hire_agent", "approve_ceo_strategy"]
    assert s.thresholds.defaults.loop_min_age == 4 * 3600 and s.thresholds.defaults.loop_min_calls == 20


@pytest.mark.parametrize("value, seconds", [("30s", 30), ("2m", 120), ("45", 45), ("1.5h", 5400), ("500ms", 0.5)])
def test_poll_interval_from_env(monkeypatch, value, seconds):
    monkeypatch.setenv("AGENTWATCH_POLL_INTERVAL", value)
    assert config.load(None).sources[0].poll_interval == seconds


def test_single_source_from_env(monkeypatch, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n")
    monkeypatch.setenv("AGENTWATCH_PAPERCLIP_URL", "https://paperclip.example.test/")
    monkeypatch.setenv("AGENTWATCH_PAPERCLIP_TOKEN_FILE", str(token_file))
    src = config.load(None).sources[0]
    assert src.url == "https://paperclip.example.test"
    assert src.token.get_secret_value() == SECRET
    assert SECRET not in repr(src)


def test_yaml_with_several_sources_and_env_override(monkeypatch, tmp_path):
    path = tmp_path / "agentwatch.yml"
    path.write_text(
        """
poll_interval: 1m
sources:
  - name: prod
    url: http://10.0.0.1:3100
    companies: [Acme, 0f8fad5b-d9cb-469f-a165-70867728950e]
    timeout: 5s
    poll_interval: 15s
  - name: staging
    url: http://127.0.0.1:3200
escalations:
  expected: [hire_agent]
  unexpected: [request_board_approval]
  default: expected
limits: {max_agents: 50, top_n: 5}
"""
    )
    monkeypatch.setenv("AGENTWATCH_LOG_LEVEL", "debug")
    s = config.load(path)
    assert [x.name for x in s.sources] == ["prod", "staging"]
    assert s.sources[0].companies == ["Acme", "0f8fad5b-d9cb-469f-a165-70867728950e"]
    assert (s.sources[0].timeout, s.sources[0].poll_interval, s.sources[1].poll_interval) == (5.0, 15.0, 60.0)
    assert s.escalations.default == "expected" and s.limits.top_n == 5
    assert s.log_level == "debug"
    monkeypatch.setenv("AGENTWATCH_PAPERCLIP_URL", "http://127.0.0.1:9999")
    assert config.load(path).sources[0].url == "http://127.0.0.1:9999"  # env overrides the file's first source


def run_cli(*args, env=None):
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTWATCH_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "agentwatch", *args], capture_output=True, text=True, env=full_env, timeout=30)


BAD = [
    ("bogus: 1\n", "bogus: unknown key"),
    ("sources: [{name: a, url: 'ftp://x'}]\n", "sources.0.url='ftp://x'"),
    ("poll_interval: often\n", "poll_interval='often'"),
    ("listen_address: nowhere\n", "listen_address='nowhere'"),
    ("sources: [{name: a, timeout: -3}]\n", "sources.0.timeout=-3"),
    ("sources: [{name: a}, {name: a}]\n", "'a' is repeated"),
    ("sources: [{name: a, token_file: /nonexistent/token}]\n", "sources.0.token_file='/nonexistent/token': cannot be read"),
    ("sources: [{name: a, canary: {enabled: true}}]\n", "canary.enabled needs canary.suite_file"),
    ("sources: [{name: a, live_events: {debounce: soon}}]\n", "sources.0.live_events.debounce='soon'"),
    ("sources: [{name: a, live_events: {max_frame_bytes: 10}}]\n", "sources.0.live_events.max_frame_bytes=10"),
    ("sources: [{name: a, live_events: {reconnect_min: 5m, reconnect_max: 1s}}]\n", "reconnect_max (1s) is less than reconnect_min (300s)"),
    (
        "sources: [{name: a, live_events: {token_file: /nonexistent/key}}]\n",
        "sources.0.live_events.token_file='/nonexistent/key': cannot be read",
    ),
    ("sources: [{name: a, live_events: {bogus: 1}}]\n", "sources.0.live_events.bogus: unknown key"),
    ("sources: [a, b\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
]


@pytest.mark.parametrize("body, fragment", BAD)
def test_bad_config_exits_2_with_one_line_naming_key_and_value(tmp_path, body, fragment):
    path = tmp_path / "bad.yml"
    path.write_text(body)
    result = run_cli(f"--config.file={path}", "check-config")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_env_value_and_secret_never_printed():
    result = run_cli("check-config", env={"AGENTWATCH_POLL_INTERVAL": "soon", "AGENTWATCH_PAPERCLIP_TOKEN": SECRET})
    assert result.returncode == 2
    assert "poll_interval='soon'" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_check_config_ok():
    result = run_cli("check-config")
    assert result.returncode == 0
    assert "1 source(s): paperclip" in result.stdout


def test_unreadable_config_file():
    result = run_cli("--config.file=/nonexistent/agentwatch.yml", "check-config")
    assert result.returncode == 2
    assert "config.file='/nonexistent/agentwatch.yml': cannot be read" in result.stderr


def test_thresholds_resolve_agent_over_role_over_defaults():
    s = config.load(
        None,
        {
            "thresholds": {
                "defaults": {"stuck_factor": 4},
                "roles": {"qa": {"stuck_factor": 5, "loop_min_age": "1h"}},
                "agents": {"Qa Bot": {"stuck_factor": 6}},
            }
        },
    )
    t = s.thresholds
    assert t.resolve("Other", "id", "engineer").stuck_factor == 4
    assert t.resolve("Other", "id", "qa").stuck_factor == 5 and t.resolve("Other", "id", "qa").loop_min_age == 3600
    assert t.resolve("Qa Bot", "id", "qa").stuck_factor == 6
    assert t.resolve("Qa Bot", "id", "qa").runs_failing_consecutive == 3  # untouched keys keep their defaults


def test_unknown_threshold_names_the_key(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("thresholds: {roles: {qa: {stuk_factor: 5}}}\n")
    result = run_cli(f"--config.file={path}", "check-config")
    assert result.returncode == 2 and "thresholds.roles" in result.stderr


def test_shipped_examples_validate(monkeypatch, tmp_path):
    from pathlib import Path

    from agentwatch.canary.suite import load_suite

    examples = Path(__file__).resolve().parents[1] / "examples"
    # the example names its secret files in comments (tests/test_check_config.py runs it as shipped): stand them in
    text = (examples / "agentwatch.yml").read_text()
    for name in ("paperclip_board_token", "paperclip_canary_token", "otlp_token"):
        (tmp_path / name).write_text("pcp_board_x\n")
        text = text.replace(f"# token_file: /run/secrets/{name}", f"token_file: {tmp_path / name}")
    path = tmp_path / "agentwatch.yml"
    path.write_text(text)
    settings = config.load(path)
    assert [s.name for s in settings.sources] == ["prod", "staging", "frameworks"]
    assert settings.sources[0].token is not None and settings.sources[0].canary.token is not None and settings.sources[2].token is not None
    otel = settings.sources[2]
    assert isinstance(otel, config.OtelSourceConfig) and otel.agents["researcher"].heartbeat_interval == 900
    suite = load_suite(examples / "canaries.yml")
    assert len(suite.canaries) == 5
