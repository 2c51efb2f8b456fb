"""``agentwatch stack``: the whole stack without Docker, from distro packages.

Prometheus and Alertmanager (Debian: ``apt-get install prometheus prometheus-alertmanager``)
run with the bundle's own files (``prometheus/prometheus.yml``, ``prometheus/rules/``,
``alertmanager/``); only the addresses are rewritten to 127.0.0.1, and, with
``--time-scale``, the intervals, ``for`` durations and rule ranges are compressed. agentwatch
runs with the demo (default) or your Paperclip, and a webhook receiver records every
notification into the incident log (``incidents/`` in the state directory). Every process is started and
stopped by its PID. The end-to-end tests use these same classes.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import yaml

from agentwatch.files import write_atomic
from agentwatch.stack.bundle import scale_time

if TYPE_CHECKING:
    from agentwatch.incidents.receiver import IncidentReceiver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError(f"none of {', '.join(names)} on PATH (apt-get install prometheus prometheus-alertmanager)")


def incident_receiver(workdir: Path, port: int = 0, remediation: dict[str, Any] | None = None) -> IncidentReceiver:
    """The incident receiver (``agentwatch incidents``) in this process, with a fresh random shared
    secret in ``workdir/incidents_secret`` (its ``secret_file``) for Alertmanager's ``credentials_file``."""
    from agentwatch.incidents.receiver import IncidentReceiver
    from agentwatch.incidents.remediate import Remediator, platform_api
    from agentwatch.incidents.settings import RemediationSettings
    from agentwatch.incidents.store import IncidentLog

    secret_file = workdir / "incidents_secret"
    write_atomic(secret_file, secrets.token_urlsafe(24), mode=0o600)
    policy = RemediationSettings(**(remediation or {}))
    store = IncidentLog(workdir / "incidents")
    receiver = IncidentReceiver(store, Remediator(policy, store, platform_api(policy)), secret_file.read_text(), port=port)
    receiver.secret_file = secret_file
    return receiver


class Process:
    """A child process with its output in a log file, stopped by its PID."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_ready(url: str, proc: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.log.name} exited: {proc.log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def alertmanager_config(bundle: Path, webhook_url: str, fast: bool = False, secret_file: Path | None = None) -> dict:
    """The shipped alertmanager.yml with every webhook sent to ``webhook_url/alerts/<receiver>``,
    with the shared secret read from ``secret_file`` (or none)."""
    config = yaml.safe_load((bundle / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/alerts/{receiver['name']}"
            if secret_file is not None:
                hook.setdefault("http_config", {})["authorization"] = {"type": "Bearer", "credentials_file": str(secret_file)}
            else:
                hook.pop("http_config", None)
    config["templates"] = [str(bundle / "alertmanager" / "templates" / "*.tmpl")]
    if fast:

        def squash(route: dict) -> None:
            for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1m")):
                if key in route:
                    route[key] = value
            for child in route.get("routes", []):
                squash(child)

        config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1m")
        squash(config["route"])
    return config


class Alertmanager:
    def __init__(
        self, bundle: Path, workdir: Path, webhook_url: str, fast: bool = False, port: int | None = None, secret_file: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump(alertmanager_config(bundle, webhook_url, fast, secret_file)))
        self.process = Process(
            [
                binary("prometheus-alertmanager", "alertmanager"),
                f"--config.file={cfg}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            workdir / "alertmanager.log",
        )
        wait_ready(self.url + "/-/ready", self.process)

    def post(self, alerts: list[dict]) -> None:
        requests.post(self.url + "/api/v2/alerts", json=alerts, timeout=5).raise_for_status()

    def alerts(self) -> list[dict]:
        return requests.get(self.url + "/api/v2/alerts", timeout=5).json()

    def stop(self) -> None:
        self.process.stop()


class Prometheus:
    """The shipped prometheus.yml and rules; scrape targets and the Alertmanager address rewritten."""

    def __init__(
        self,
        bundle: Path,
        workdir: Path,
        targets: list[str],
        alertmanager: str,
        time_scale: float = 1,
        interval: str | None = None,
        port: int | None = None,
        scale_ranges: bool = True,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules_dir = workdir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted((bundle / "prometheus" / "rules").glob("*.yml")):
            (rules_dir / path.name).write_text(scale_time(path.read_text(), time_scale, interval=interval, ranges=scale_ranges))
        config = yaml.safe_load((bundle / "prometheus" / "prometheus.yml").read_text())
        if interval:
            config["global"].update(scrape_interval=interval, evaluation_interval=interval)
        config["rule_files"] = [str(rules_dir / "*.yml")]
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager.removeprefix("http://")]
        scrapes = []
        for job in config["scrape_configs"]:
            if job["job_name"] == "agentwatch":
                job["static_configs"] = [{"targets": targets}]
                if interval:
                    job.update(scrape_interval=interval, scrape_timeout=interval)
            elif job["job_name"] == "prometheus":
                job["static_configs"] = [{"targets": [f"127.0.0.1:{self.port}"]}]
            else:
                continue
            scrapes.append(job)
        config["scrape_configs"] = scrapes
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = Process(
            [
                binary("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--rules.alert.resend-delay=1s",
            ],
            workdir / "prometheus.log",
        )
        wait_ready(self.url + "/-/ready", self.process)

    def query(self, expr: str) -> list[dict]:
        body = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10).json()
        if body.get("status") != "success":
            raise ValueError(f"{expr}: {body.get('error')}")
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return requests.get(self.url + "/api/v1/alerts", timeout=10).json()["data"]["alerts"]

    def stop(self) -> None:
        self.process.stop()


class Exporter:
    """agentwatch itself, as a child process with a config file."""

    def __init__(self, config: dict, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path = workdir / "agentwatch.yml"
        path.write_text(yaml.safe_dump(config))
        self.process = Process(
            [sys.executable, "-m", "agentwatch", f"--config.file={path}", f"--web.listen-address=127.0.0.1:{self.port}"],
            workdir / "agentwatch.log",
        )
        wait_ready(self.url + "/-/healthy", self.process)

    def stop(self) -> None:
        self.process.stop()


class DemoProcess:
    """``agentwatch demo`` as a child process."""

    def __init__(self, workdir: Path, pace: float = 1.0, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            [sys.executable, "-m", "agentwatch", "demo", f"--demo.listen-address=127.0.0.1:{self.port}", f"--demo.pace={pace}"],
            workdir / "demo.log",
        )
        wait_ready(self.url + "/api/health", self.process)

    def stop(self) -> None:
        self.process.stop()


def demo_config(bundle: Path, demo_url: str, poll_interval: str = "5s", otlp_port: int | None = None) -> dict:
    """The shipped demo configuration (``deploy/demo/agentwatch.yml``) pointed at ``demo_url``; its
    OpenTelemetry sources listen on 127.0.0.1 (``otlp_port``, else a free port)."""
    config = yaml.safe_load((bundle / "deploy" / "demo" / "agentwatch.yml").read_text())
    config["poll_interval"] = poll_interval
    demo = bundle / "deploy" / "demo"
    for source in config["sources"]:
        if source.get("type") == "otel":
            source["listen_address"] = f"127.0.0.1:{otlp_port or free_port()}"
            if source.get("canary_suite_file"):
                source["canary_suite_file"] = str(demo / Path(source["canary_suite_file"]).name)
            continue
        source["url"] = demo_url + source["url"].split(":3100", 1)[-1]
        canary = source.get("canary") or {}
        if canary.get("suite_file"):
            canary["suite_file"] = str(demo / Path(canary["suite_file"]).name)
    return config


class Stack:
    """Demo (or a Paperclip URL), agentwatch, Prometheus, Alertmanager and a webhook receiver."""

    def __init__(
        self,
        bundle: Path,
        workdir: Path,
        paperclip_url: str | None = None,
        time_scale: float = 1,
        interval: str | None = None,
        fast_alertmanager: bool = False,
        ports: dict[str, int] | None = None,
    ) -> None:
        ports = ports or {}
        workdir.mkdir(parents=True, exist_ok=True)
        self.parts: list = []
        try:
            self.webhook = incident_receiver(workdir, port=ports.get("webhook", 0))
            self.parts.append(self.webhook)
            if paperclip_url:
                self.demo = None
                config = {"sources": [{"name": "paperclip", "url": paperclip_url}]}
            else:
                self.demo = DemoProcess(workdir, port=ports.get("demo"))
                self.parts.append(self.demo)
                config = demo_config(bundle, self.demo.url, otlp_port=ports.get("otlp"))
            self.exporter = Exporter(config, workdir, port=ports.get("agentwatch"))
            self.parts.append(self.exporter)
            self.alertmanager = Alertmanager(
                bundle,
                workdir,
                self.webhook.url,
                fast=fast_alertmanager,
                port=ports.get("alertmanager"),
                secret_file=self.webhook.secret_file,
            )
            self.parts.append(self.alertmanager)
            self.prometheus = Prometheus(
                bundle,
                workdir,
                [self.exporter.url.removeprefix("http://")],
                self.alertmanager.url,
                time_scale=time_scale,
                interval=interval,
                port=ports.get("prometheus"),
            )
            self.parts.append(self.prometheus)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception:
                pass
        self.parts.clear()
