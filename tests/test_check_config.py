"""``agentwatch check-config`` tells the truth (issue 25): it refuses what ``serve`` refuses, with the
same lines, all of them at once, a "did you mean" for a misspelt key, and no malformed URL; and the
shipped example passes it on a machine that has none of the files the example mentions.

check-config runs in process (``main([...])``); serve runs as a real subprocess on free loopback
ports, since with a good configuration it would poll and serve until stopped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch.cli import main
from harness.paperclip import free_port

ROOT = Path(__file__).resolve().parents[1]
PLAIN_PASSWORD = "hunter2"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AGENTWATCH_"):
            monkeypatch.delenv(name)


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AGENTWATCH_")}


def base_config() -> dict[str, Any]:
    """A configuration serve would start with: one Paperclip source on a free port nothing listens on."""
    return {"listen_address": f"127.0.0.1:{free_port()}", "sources": [{"name": "p", "url": f"http://127.0.0.1:{free_port()}"}]}


def write(tmp_path: Path, data: dict[str, Any], name: str = "agentwatch.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def check_config(capsys, *args: str) -> tuple[int, list[str], str]:
    """check-config in process: exit code, stderr lines, stdout."""
    rc = main(["check-config", *args])
    out, err = capsys.readouterr()
    return rc, err.splitlines(), out


def run_agentwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real command line. A serve that wrongly starts is killed by the timeout, and then fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "agentwatch", *args], capture_output=True, text=True, env=clean_environ(), cwd=cwd, timeout=60
    )


# --- the table: each a bad configuration, and what every error line must say ---


def missing_suite(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    suite = tmp_path / "absent" / "canaries.yml"
    data["sources"][0]["canary"] = {"enabled": True, "suite_file": str(suite)}
    return data, [f"sources.0.canary.suite_file='{suite}': cannot be read: No such file or directory"]


def bad_suite(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    suite = tmp_path / "canaries.yml"
    suite.write_text(
        yaml.safe_dump({"canaries": [{"name": "no spaces allowed", "title": "t", "scorer": {"type": "exact", "expected": "x"}}]})
    )
    data["sources"][0]["canary"] = {"enabled": True, "suite_file": str(suite)}
    return data, [f"sources.0.canary.suite_file='{suite}': canary suite canaries.0.name='no spaces allowed'"]


def otel_suite_not_yaml(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    suite = tmp_path / "reported.yml"
    suite.write_text("canaries: [a, b\n")
    data["sources"].append({"type": "otel", "name": "o", "listen_address": f"127.0.0.1:{free_port()}", "canary_suite_file": str(suite)})
    return data, [f"sources.1.canary_suite_file='{suite}': not valid YAML"]


def web_config_plain_password(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"admin": PLAIN_PASSWORD}}))
    data["web_config_file"] = str(web)
    return data, [f"web.config.file='{web}': basic_auth_users.admin='**********': must be a bcrypt hash"]


def web_config_missing_certificate(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(tmp_path / "tls.crt"), "key_file": str(tmp_path / "tls.key")}}))
    data["web_config_file"] = str(web)
    return data, [f"web.config.file='{web}': tls_server_config.cert_file='{tmp_path / 'tls.crt'}'"]


def two_receivers_on_one_port(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    address = f"127.0.0.1:{free_port()}"
    data["sources"] += [
        {"type": "otel", "name": "o1", "listen_address": address},
        {"type": "otel", "name": "o2", "listen_address": address},
    ]
    return data, [f"sources.2.listen_address='{address}': sources.1.listen_address listens on that port too"]


def receiver_on_the_web_port(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    port = data["listen_address"].rpartition(":")[2]
    data["listen_address"] = f"0.0.0.0:{port}"
    data["sources"].append({"type": "otel", "name": "o", "listen_address": f"127.0.0.1:{port}"})
    return data, [f"sources.1.listen_address='127.0.0.1:{port}': listen_address listens on that port too"]


def queue_smaller_than_a_request(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    data["sources"].append({"type": "otel", "name": "o", "max_request_bytes": 8192, "queue_bytes": 4096})
    return data, ["sources.1.queue_bytes=4096: less than max_request_bytes (8192)"]


def schema_errors(tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    data = base_config()
    data["sources"][0].update(url="http://paperclip internal:3100", token_file=str(tmp_path / "token"), poll_intervall="30s")
    data["ui"] = {"links": {"grafana": "http://:99999"}}
    return data, [
        "sources.0.url='http://paperclip internal:3100': a URL has no spaces",
        f"sources.0.token_file='{tmp_path / 'token'}': cannot be read: No such file or directory",
        "sources.0.poll_intervall: unknown key (did you mean 'poll_interval'?)",
        "ui.links.grafana='http://:99999': the URL names no host",
    ]


BAD_CONFIGS: list[Callable[[Path], tuple[dict[str, Any], list[str]]]] = [
    missing_suite,
    bad_suite,
    otel_suite_not_yaml,
    web_config_plain_password,
    web_config_missing_certificate,
    two_receivers_on_one_port,
    receiver_on_the_web_port,
    queue_smaller_than_a_request,
    schema_errors,
]


@pytest.mark.parametrize("case", BAD_CONFIGS, ids=lambda case: case.__name__)
def test_check_config_refuses_what_serve_refuses_with_the_same_lines(case, tmp_path, capsys):
    data, expected = case(tmp_path)
    path = write(tmp_path, data)
    rc, lines, out = check_config(capsys, f"--config.file={path}")
    assert rc == 2 and out == "", lines
    assert len(lines) == len(expected), lines
    for line, fragment in zip(lines, expected, strict=True):
        assert line.startswith("agentwatch: invalid configuration: ") and fragment in line, (line, fragment)
    serve = run_agentwatch("serve", f"--config.file={path}", cwd=tmp_path)
    assert serve.returncode == 2, serve.stderr
    assert serve.stderr.splitlines() == lines
    assert PLAIN_PASSWORD not in serve.stderr + "\n".join(lines)


def test_the_real_command_line_reports_a_missing_suite_file(tmp_path):
    """``python -m agentwatch check-config --config.file=...``, as a user types it."""
    data, expected = missing_suite(tmp_path)
    path = write(tmp_path, data)
    result = run_agentwatch("check-config", f"--config.file={path}", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"agentwatch: invalid configuration: {expected[0]}"]


def test_every_file_error_at_once(tmp_path, capsys):
    """Once the keys hold, every file they name is read, and each that fails has its line."""
    data = base_config()
    suite, web = tmp_path / "absent.yml", tmp_path / "web.yml"
    web.write_text("basic_auth_users: {admin: hunter2}\n")
    address = f"127.0.0.1:{free_port()}"
    data["web_config_file"] = str(web)
    data["sources"][0]["canary"] = {"enabled": True, "suite_file": str(suite)}
    data["sources"] += [
        {"type": "otel", "name": "o1", "listen_address": address, "canary_suite_file": str(suite)},
        {"type": "otel", "name": "o2", "listen_address": address},
    ]
    rc, lines, _ = check_config(capsys, f"--config.file={write(tmp_path, data)}")
    keys = [line.removeprefix("agentwatch: invalid configuration: ").split("=", 1)[0] for line in lines]
    assert rc == 2
    assert keys == ["web.config.file", "sources.0.canary.suite_file", "sources.1.canary_suite_file", "sources.2.listen_address"]


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"pol_interval": "30s"}, "pol_interval: unknown key (did you mean 'poll_interval'?)"),
        ({"sources": [{"name": "a", "poll_intervall": "30s"}]}, "sources.0.poll_intervall: unknown key (did you mean 'poll_interval'?)"),
        (
            {"sources": [{"type": "otel", "listen_addres": "127.0.0.1:0"}]},
            "sources.0.listen_addres: unknown key (did you mean 'listen_address'?)",
        ),
        ({"sources": [{"canary": {"suit_file": "x"}}]}, "sources.0.canary.suit_file: unknown key (did you mean 'suite_file'?)"),
        (
            {"thresholds": {"roles": {"qa": {"stuk_factor": 5}}}},
            "thresholds.roles.qa.stuk_factor: unknown key (did you mean 'stuck_factor'?)",
        ),
        ({"ui": {"prometheus": "http://127.0.0.1:1"}}, "ui.prometheus: unknown key (did you mean 'prometheus_url'?)"),
        ({"zzz": 1}, "zzz: unknown key"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_an_unknown_key_gets_a_did_you_mean(tmp_path, capsys, data, expected):
    rc, lines, _ = check_config(capsys, f"--config.file={write(tmp_path, data)}")
    assert rc == 2 and lines == [f"agentwatch: invalid configuration: {expected}"]


MALFORMED_URLS = [
    ("http://paperclip internal:3100", "a URL has no spaces"),
    ("http://:99999", "the URL names no host"),
    ("http://paperclip:99999", "the port must be a number from 1 to 65535"),
    ("paperclip.internal:3100", "expected an http:// or https:// URL"),
    ("ftp://paperclip.internal", "expected an http:// or https:// URL"),
    ("http://pa$perclip:3100", "'pa$perclip' is not a host name"),
]
URL_KEYS = [
    ("sources.0.url", lambda url: {"sources": [{"name": "a", "url": url}]}),
    ("ui.prometheus_url", lambda url: {"ui": {"prometheus_url": url}}),
    ("ui.links.grafana", lambda url: {"ui": {"links": {"grafana": url}}}),
]


@pytest.mark.parametrize("key, config_with", URL_KEYS, ids=[k for k, _ in URL_KEYS])
@pytest.mark.parametrize("url, reason", MALFORMED_URLS, ids=[u for u, _ in MALFORMED_URLS])
def test_a_malformed_url_is_refused_under_every_url_key(tmp_path, capsys, key, config_with, url, reason):
    rc, lines, _ = check_config(capsys, f"--config.file={write(tmp_path, config_with(url))}")
    assert rc == 2 and lines == [f"agentwatch: invalid configuration: {key}={url!r}: {reason}"]


def test_a_malformed_url_from_the_environment_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("AGENTWATCH_PAPERCLIP_URL", "http://paperclip internal:3100")
    rc, lines, _ = check_config(capsys)
    assert rc == 2 and lines == ["agentwatch: invalid configuration: paperclip_url='http://paperclip internal:3100': a URL has no spaces"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:3100", "https://paperclip.example.test/base/", "http://[::1]:3100", "http://paperclip_1:80"]
)
def test_well_formed_urls_pass(tmp_path, capsys, url):
    data = {"sources": [{"name": "a", "url": url}], "ui": {"prometheus_url": url, "links": {"x": url}}}
    rc, lines, out = check_config(capsys, f"--config.file={write(tmp_path, data)}")
    assert rc == 0 and lines == [] and "1 source(s): a" in out


def test_check_config_binds_nothing(tmp_path, capsys):
    """An OTLP port another process holds is serve's to find (it binds); check-config only reads."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        address = f"127.0.0.1:{held.getsockname()[1]}"
        data = base_config()
        data["sources"].append({"type": "otel", "name": "o", "listen_address": address})
        path = write(tmp_path, data)
        rc, lines, out = check_config(capsys, f"--config.file={path}")
        assert rc == 0 and lines == [] and "2 source(s): p, o" in out
        serve = run_agentwatch("serve", f"--config.file={path}", cwd=tmp_path)
    assert serve.returncode == 2
    assert f"agentwatch: invalid configuration: sources.1.listen_address='{address}': Address already in use" in serve.stderr


def test_the_shipped_example_passes_on_a_fresh_machine(tmp_path):
    """As shipped, from a directory that is not the checkout, with no AGENTWATCH_* variable: the
    files it mentions (tokens, suites) are commented out, so none of them need exist here."""
    example = ROOT / "examples" / "agentwatch.yml"
    result = run_agentwatch("check-config", f"--config.file={example}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration OK: 3 source(s): prod, staging, frameworks"


def test_the_example_with_its_files_set_names_each_missing_one(tmp_path, capsys):
    """Uncomment what the example leaves commented, on a machine without those files: each is named."""
    text = (ROOT / "examples" / "agentwatch.yml").read_text()
    text = text.replace("enabled: false                    # true needs suite_file", "enabled: true")
    for key in ("token_file", "suite_file", "canary_suite_file"):
        text = text.replace(f"# {key}: /", f"{key}: {tmp_path}/absent/")
    path = tmp_path / "agentwatch.yml"
    path.write_text(text)
    rc, lines, _ = check_config(capsys, f"--config.file={path}")
    keys = sorted(line.removeprefix("agentwatch: invalid configuration: ").split("=", 1)[0] for line in lines)
    assert rc == 2
    assert keys == ["sources.0.canary.token_file", "sources.0.live_events.token_file", "sources.0.token_file", "sources.2.token_file"]
    for name in ("paperclip_board_token", "paperclip_canary_token", "paperclip_agent_key", "otlp_token"):
        secret = tmp_path / "absent" / "run" / "secrets" / name
        secret.parent.mkdir(parents=True, exist_ok=True)
        secret.write_text("pcp_board_x\n")
    rc, lines, _ = check_config(capsys, f"--config.file={path}")
    keys = [line.removeprefix("agentwatch: invalid configuration: ").split("=", 1)[0] for line in lines]
    assert rc == 2 and keys == ["sources.0.canary.suite_file", "sources.2.canary_suite_file"]  # then the files they name


def test_an_unreadable_token_file_from_the_environment_is_named(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("AGENTWATCH_PAPERCLIP_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("AGENTWATCH_POLL_INTERVAL", "soon")
    rc, lines, _ = check_config(capsys)
    assert rc == 2
    assert lines == [
        "agentwatch: invalid configuration: poll_interval='soon': expected a duration such as 30s, 5m or 1h",
        f"agentwatch: invalid configuration: paperclip_token_file='{tmp_path / 'token'}': cannot be read: No such file or directory",
    ]
