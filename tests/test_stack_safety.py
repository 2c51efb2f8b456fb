"""``agentwatch stack`` is safe to start next to other servers (issue 25, "Safety first").

A taken port fails before anything starts, naming the port and its flag; a server on the demo's
port that is not the demo this stack started is refused and never gets a canary (canaries write
tasks); a failed start leaves no child running; and the stack's Prometheus and Alertmanager know
the URLs they are served on, with Alertmanager's timers compressed under ``--time-scale``.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from agentwatch.demo.server import IDENTITY_ENV, IDENTITY_HEADER, DemoServer
from agentwatch.shipped import BUNDLE
from agentwatch.stack import local
from agentwatch.stack.local import Addresses, Process, Stack, StackError
from harness.paperclip import wait_for


def children() -> set[int]:
    """The PIDs of this process's children (other tests' servers included: compare before and after)."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        pids |= {int(pid) for pid in (task / "children").read_text().split()}
    return pids


def running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


class Recorder(ThreadingHTTPServer):
    """A foreign Paperclip-like server: answers 200 ``{}`` to everything and records each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self) -> None:
                recorder.requests.append((self.command, self.path))
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = _answer

        super().__init__(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server_port}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def foreign() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.shutdown()
    server.server_close()


class RecordedProcess(Process):
    """``Process``, remembered, so a test can check that every child the stack started is gone."""

    started: list[Process] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordedProcess.started.append(self)


@pytest.fixture
def recorded(monkeypatch) -> list[Process]:
    RecordedProcess.started = []
    monkeypatch.setattr(local, "Process", RecordedProcess)
    return RecordedProcess.started


# -- before anything starts ----------------------------------------------------------------------


def test_a_taken_port_fails_naming_it_and_its_flag_before_anything_starts(tmp_path):
    before = children()
    with listening_socket() as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(StackError) as err:
            Stack(BUNDLE, tmp_path / "stack", addresses=Addresses(demo=address))
    assert str(err.value) == f"{address} is in use (demo; set --demo.listen-address)"
    assert not (tmp_path / "stack").exists(), "nothing is written before the check"
    assert children() <= before, "no child started"


@pytest.mark.parametrize(
    "part,flag",
    [("prometheus", "--prometheus.listen-address"), ("incidents", "--incidents.listen-address"), ("otlp", "--otlp.listen-address")],
)
def test_every_part_is_checked_with_its_own_flag(tmp_path, part, flag):
    with listening_socket() as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(StackError, match=f"^{address} is in use \\({part}; set {flag}\\)$"):
            Stack(BUNDLE, tmp_path / "stack", addresses=Addresses(**{part: address}))


@pytest.mark.prometheus
def test_agentwatch_stack_says_which_port_is_taken_and_exits(tmp_path, capsys):
    """Through the command: every address is a flag, and a taken one stops it before it starts."""
    from agentwatch import cli

    before = children()
    with listening_socket() as taken:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        argv = ["stack", f"--state.dir={tmp_path / 'stack'}", f"--demo.listen-address={address}"]
        argv += [f"{flag}=127.0.0.1:{local.free_port()}" for part, flag in local.FLAGS.items() if part != "demo"]
        assert cli.main(argv) == 1
    assert capsys.readouterr().err == f"agentwatch: stack: {address} is in use (demo; set --demo.listen-address)\n"
    assert not (tmp_path / "stack").exists()
    assert children() <= before


def test_two_parts_on_one_port_are_refused(tmp_path):
    address = f"127.0.0.1:{local.free_port()}"
    with pytest.raises(StackError, match="is set for both prometheus and alertmanager"):
        Stack(BUNDLE, tmp_path / "stack", addresses=Addresses(prometheus=address, alertmanager=address))


def test_a_malformed_address_names_its_flag(tmp_path):
    with pytest.raises(StackError, match=r"'127\.0\.0\.1:99999': .* \(agentwatch; set --web.listen-address\)"):
        Stack(BUNDLE, tmp_path / "stack", addresses=Addresses(agentwatch="127.0.0.1:99999"))


def test_a_port_the_paperclip_url_makes_unused_is_not_checked(tmp_path, monkeypatch):
    """With your Paperclip, no demo runs: a taken 3100 is no reason to fail."""
    checked: list[dict] = []

    def check_and_stop(addresses: dict) -> None:
        checked.append(addresses)
        raise StackError("stop")

    monkeypatch.setattr(local, "check_addresses", check_and_stop)
    with pytest.raises(StackError, match="stop"):
        Stack(BUNDLE, tmp_path / "stack", paperclip_url="http://127.0.0.1:1", addresses=Addresses(demo="127.0.0.1:3100"))
    assert set(checked[0]) == {"agentwatch", "prometheus", "alertmanager", "incidents"}


# -- the demo proves who it is, and only then gets canaries -------------------------------------------


def test_the_demo_echoes_its_identity_only_when_given_one(monkeypatch):
    monkeypatch.delenv(IDENTITY_ENV, raising=False)
    alone = DemoServer(port=0).start()
    monkeypatch.setenv(IDENTITY_ENV, "n0nce")
    started = DemoServer(port=0).start()
    try:
        assert IDENTITY_HEADER not in requests.get(alone.url + "/api/health", timeout=5).headers
        assert requests.get(started.url + "/api/health", timeout=5).headers[IDENTITY_HEADER] == "n0nce"
        assert requests.get(started.url + "/api/companies", timeout=5).headers[IDENTITY_HEADER] == "n0nce"
    finally:
        alone.stop()
        started.stop()


def test_a_server_that_does_not_prove_its_identity_is_refused_and_the_child_stopped(tmp_path, foreign):
    child = Process([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "child.log")
    with pytest.raises(StackError) as err:
        child.ready(f"http://{foreign.address}/api/health", accept=lambda r: r.headers.get(IDENTITY_HEADER) == "mine", part="demo")
    assert str(err.value) == (
        f"http://{foreign.address}/api/health answers, but not as the process this stack started (demo; set --demo.listen-address)"
    )
    assert not running(child.pid)


@pytest.mark.prometheus
def test_a_foreign_server_on_the_demo_port_gets_no_canary(tmp_path, foreign, recorded, monkeypatch):
    """The port check passed, and then another server took the port (or the check was fooled):
    the demo cannot bind and the foreign server answers /api/health. The stack refuses it, and
    nothing is ever posted to it."""
    monkeypatch.setattr(local, "check_addresses", lambda addresses: None)
    with pytest.raises(StackError, match=foreign.address):
        Stack(BUNDLE, tmp_path / "stack", addresses=Addresses(demo=foreign.address))
    assert [method for method, _ in foreign.requests if method != "GET"] == []
    assert not (tmp_path / "stack" / "agentwatch.yml").exists(), "agentwatch was never configured"
    assert recorded and not any(running(p.pid) for p in recorded)


def test_the_config_for_your_paperclip_has_no_canaries():
    config = local.paperclip_config("http://paperclip.example:3100")
    assert not any((s.get("canary") or {}).get("enabled") for s in config["sources"])
    local.check_canaries(config, None)


def test_canaries_are_refused_anywhere_but_the_proven_demo():
    config = local.demo_config(BUNDLE, "http://127.0.0.1:3100", otlp_address="127.0.0.1:4318")
    assert any((s.get("canary") or {}).get("enabled") for s in config["sources"]), "the shipped demo has canaries"
    local.check_canaries(config, "http://127.0.0.1:3100")
    with pytest.raises(StackError, match="canaries on http://127.0.0.1:3100"):
        local.check_canaries(config, None)
    with pytest.raises(StackError):
        local.check_canaries(config, "http://127.0.0.1:310")  # a prefix of the port is not the demo


# -- a failed start leaves no orphans -------------------------------------------------------------


def test_a_child_that_exits_at_start_raises_with_its_log(tmp_path):
    child = Process([sys.executable, "-c", "print('cannot bind: boom'); raise SystemExit(3)"], tmp_path / "child.log")
    with pytest.raises(StackError, match=r"child\.log exited \(prometheus; set --prometheus.listen-address\): cannot bind: boom"):
        child.ready(f"http://127.0.0.1:{local.free_port()}/-/ready", part="prometheus")


def test_a_child_that_never_becomes_ready_is_stopped(tmp_path):
    child = Process([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "child.log")
    with pytest.raises(TimeoutError, match=r"not ready after 0.5s \(agentwatch; set --web.listen-address\)"):
        child.ready(f"http://127.0.0.1:{local.free_port()}/-/healthy", timeout=0.5, part="agentwatch")
    assert not running(child.pid)


@pytest.mark.prometheus
@pytest.mark.parametrize("failing", ["demo", pytest.param("prometheus", marks=pytest.mark.slow)])
def test_a_part_that_fails_readiness_leaves_no_child_running(tmp_path, recorded, monkeypatch, failing):
    """The part whose wait fails is not in ``Stack.parts`` yet: its child must be stopped anyway,
    and every part started before it too."""
    real_wait = local.wait_ready
    dead = f"http://127.0.0.1:{local.free_port()}/"

    def wait_ready(url, proc, timeout=30.0, accept=None, part=""):
        if part == failing:
            return real_wait(dead, proc, 0.5, None, part)
        return real_wait(url, proc, timeout, accept, part)

    monkeypatch.setattr(local, "wait_ready", wait_ready)
    with pytest.raises(TimeoutError, match=f"\\({failing}; set"):
        Stack(BUNDLE, tmp_path / "stack")
    assert recorded, "the stack started children"
    assert [p.log.name for p in recorded if running(p.pid)] == []


@pytest.mark.prometheus
@pytest.mark.slow
def test_agentwatch_stack_stopped_while_starting_leaves_no_child(tmp_path):
    """SIGTERM (a service manager, a terminal closing) while the parts start: the command stops the
    children it started so far instead of dying and leaving them with PPID 1."""
    state = tmp_path / "stack"
    argv = [sys.executable, "-m", "agentwatch", "stack", f"--state.dir={state}"]
    argv += [f"{flag}=127.0.0.1:{local.free_port()}" for flag in local.FLAGS.values()]
    command = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "serving" in (state / "demo.log").read_text(), timeout=120, what="the demo started")
        started = {int(pid) for task in Path(f"/proc/{command.pid}/task").iterdir() for pid in (task / "children").read_text().split()}
        command.send_signal(signal.SIGTERM)
        assert command.wait(60) in (0, 130), command.stderr.read() if command.stderr else ""
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert started, "the demo is a child of the command"
    assert [pid for pid in started if running(pid)] == []


# -- Alertmanager's timers under --time-scale -----------------------------------------------------------


def test_alertmanager_timers_are_divided_by_the_time_scale():
    shipped = local.alertmanager_config(BUNDLE, "http://127.0.0.1:1")["route"]
    scaled = local.alertmanager_config(BUNDLE, "http://127.0.0.1:1", time_scale=60)["route"]
    assert (shipped["group_wait"], shipped["group_interval"], shipped["repeat_interval"]) == ("30s", "5m", "4h")
    assert (scaled["group_wait"], scaled["group_interval"], scaled["repeat_interval"]) == ("1s", "5s", "240s")
    routes = {r["receiver"]: r for r in scaled["routes"]}
    assert (routes["watchdog"]["group_wait"], routes["watchdog"]["group_interval"]) == ("0s", "1s")
    assert routes["oncall"]["repeat_interval"] == "60s"


def test_alertmanager_defaults_a_route_leaves_out_are_scaled_too():
    route = {"receiver": "team", "routes": [{"receiver": "ops", "group_interval": "10m"}]}
    local.scale_routes(route, 10)
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("3s", "30s", "1440s")
    assert route["routes"][0] == {"receiver": "ops", "group_interval": "60s"}


# -- which Prometheus runs -------------------------------------------------------------------------------


def fake_binary(directory: Path, name: str, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{name}, version {version}+ds (branch: debian/sid)' >&2\n")
    path.chmod(0o755)
    return path


def test_the_flag_then_the_env_then_the_newest_binary_runs(tmp_path, monkeypatch):
    old = fake_binary(tmp_path / "path", "fakeprom", "2.42.0")
    new = fake_binary(tmp_path / "three", "fakeprom", "3.5.3")
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.delenv(local.PROMETHEUS3_DIR_ENV, raising=False)
    assert local.choose_binary(("fakeprom",)) == local.Binary(str(old), (2, 42, 0))
    monkeypatch.setenv(local.PROMETHEUS3_DIR_ENV, str(tmp_path / "three"))
    assert local.choose_binary(("fakeprom",)) == local.Binary(str(new), (3, 5, 3))
    monkeypatch.setenv("FAKEPROM_BIN", str(old))
    assert local.choose_binary(("fakeprom",), env_var="FAKEPROM_BIN").path == str(old)
    assert local.choose_binary(("fakeprom",), explicit=str(new), env_var="FAKEPROM_BIN").path == str(new)
    with pytest.raises(StackError, match="not an executable"):
        local.choose_binary(("fakeprom",), explicit=str(tmp_path / "missing"))
    assert str(local.Binary.at(str(new))) == f"{new} (3.5.3)"


# -- a whole stack on ports of its own ---------------------------------------------------------------


@pytest.mark.prometheus
@pytest.mark.slow
def test_a_whole_stack_runs_on_the_ports_it_is_given_and_links_to_itself(tmp_path):
    addresses = Addresses(**{part: f"127.0.0.1:{local.free_port()}" for part in local.FLAGS})
    stack = Stack(BUNDLE, tmp_path, time_scale=60, interval="1s", addresses=addresses)
    try:
        assert stack.demo is not None
        urls = {
            "demo": stack.demo.url,
            "agentwatch": stack.exporter.url,
            "prometheus": stack.prometheus.url,
            "alertmanager": stack.alertmanager.url,
            "incidents": stack.webhook.url,
        }
        assert urls == {part: f"http://{getattr(addresses, part)}" for part in urls}
        config = yaml.safe_load((tmp_path / "agentwatch.yml").read_text())
        otel = [s for s in config["sources"] if s.get("type") == "otel"]
        assert [s["listen_address"] for s in otel] == [addresses.otlp]
        assert config["ui"]["prometheus_url"] == stack.prometheus.url
        assert config["ui"]["links"]["Prometheus"] == stack.prometheus.url
        # the demo proved itself, so its canaries are on
        assert any((s.get("canary") or {}).get("enabled") and s["url"] == stack.demo.url for s in config["sources"])

        flags = requests.get(stack.prometheus.url + "/api/v1/status/flags", timeout=5).json()["data"]
        assert flags["web.external-url"] == stack.prometheus.url
        rules = (tmp_path / "rules" / "alerts.yml").read_text()
        assert f"runbook_url: {stack.exporter.url}/runbooks/Watchdog" in rules

        status = requests.get(stack.alertmanager.url + "/api/v2/status", timeout=5).json()
        route = yaml.safe_load(status["config"]["original"])["route"]
        assert (route["group_interval"], route["repeat_interval"]) == ("5s", "4m")

        def watchdog():
            records = [r for r in stack.webhook.store.last_heartbeats() if r["labels"].get("alertname") == "Watchdog"]
            return records[0] if records else ("no Watchdog at the incident receiver yet",)

        record = wait_for(watchdog, timeout=60, interval=0.5, what="the Watchdog at the incident receiver")
        assert record["generator_url"].startswith(stack.prometheus.url + "/"), json.dumps(record, default=str)
    finally:
        stack.stop()
