"""``agentwatch stack``: the whole stack without Docker, from distro packages.

Prometheus and Alertmanager (Debian: ``apt-get install prometheus prometheus-alertmanager``)
run with the bundle's own files (``prometheus/prometheus.yml``, ``prometheus/rules/``,
``alertmanager/``); only the addresses and links are rewritten, and, with ``--time-scale``, the
intervals, ``for`` durations, rule ranges and Alertmanager's grouping timers are compressed.
agentwatch runs with the demo (default) or your Paperclip, and a webhook receiver records every
notification into the incident log (``incidents/`` in the state directory). The end-to-end tests
use these same classes.

The stack is careful about what it touches, because canaries write tasks on the platform they
watch: every address is checked before anything starts (a taken port fails, named with its
flag); the demo must prove it is the process this stack started (a random identity it echoes in
a header) before its canaries are configured; and a part that fails to start stops its own child,
so a failed start leaves no orphans. Every process is started and stopped by its PID.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import yaml

from agentwatch.config import split_listen_address
from agentwatch.demo.server import IDENTITY_ENV, IDENTITY_HEADER
from agentwatch.files import write_atomic
from agentwatch.stack.bundle import duration_seconds, scale_time, with_links

if TYPE_CHECKING:
    from agentwatch.incidents.receiver import IncidentReceiver

log = logging.getLogger("agentwatch.stack")

LOCALHOST = "127.0.0.1"

# the flag of ``agentwatch stack`` that sets each part's address, named in every address error
FLAGS = {
    "demo": "--demo.listen-address",
    "agentwatch": "--web.listen-address",
    "prometheus": "--prometheus.listen-address",
    "alertmanager": "--alertmanager.listen-address",
    "incidents": "--incidents.listen-address",
    "otlp": "--otlp.listen-address",
}

# a directory holding a newer Prometheus and Alertmanager (CI: tests/harness/prometheus3.sh)
PROMETHEUS3_DIR_ENV = "AGENTWATCH_PROMETHEUS3_BIN"


class StackError(RuntimeError):
    """The stack cannot start safely; the message names the address and the flag that sets it."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Addresses:
    """Where each part of the stack listens (``HOST:PORT``); a part left None gets a free port on
    127.0.0.1 (the tests). ``agentwatch stack`` passes its ``--<part>.listen-address`` flags."""

    demo: str | None = None
    agentwatch: str | None = None
    prometheus: str | None = None
    alertmanager: str | None = None
    incidents: str | None = None
    otlp: str | None = None

    def resolved(self) -> Addresses:
        """Every part with an address: the given ones, and distinct free ports for the rest."""
        taken = {getattr(self, f.name) for f in fields(self)}
        chosen: dict[str, str] = {}
        for f in fields(self):
            if getattr(self, f.name) is None:
                address = f"{LOCALHOST}:{free_port()}"
                while address in taken:
                    address = f"{LOCALHOST}:{free_port()}"
                taken.add(address)
                chosen[f.name] = address
        return replace(self, **chosen)

    def url(self, part: str) -> str:
        """The part's base URL as a browser on this machine reaches it."""
        return url_of(getattr(self, part) or "", part)

    def host_port(self, part: str) -> tuple[str, int]:
        return split(getattr(self, part) or "", part)


def hint(part: str) -> str:
    return f"({part}; set {FLAGS[part]})"


def split(address: str, part: str) -> tuple[str, int]:
    try:
        return split_listen_address(address)
    except ValueError as exc:
        raise StackError(f"{address!r}: {exc} {hint(part)}") from None


def url_of(address: str, part: str) -> str:
    """``http://host:port``; a wildcard host (0.0.0.0, ::) is reached at 127.0.0.1."""
    host, port = split(address, part)
    if host in ("0.0.0.0", "::"):
        host = LOCALHOST
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_addresses(addresses: dict[str, str]) -> None:
    """Fail before anything starts when two parts share a port or a port is taken.

    A part that cannot bind dies quietly into its log, and whatever holds the port answers in its
    place (a real Paperclip on 3100 would get the demo's canaries), so every address is bound
    once here. SO_REUSEADDR as the servers themselves set it: a port in TIME_WAIT is free, a
    listening one is not.
    """
    by_port: dict[int, str] = {}
    for part, address in addresses.items():
        host, port = split(address, part)
        if port in by_port:
            raise StackError(f"{address} is set for both {by_port[port]} and {part} {hint(part)}")
        by_port[port] = part
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc.strerror}"
                raise StackError(f"{address} {reason} {hint(part)}") from None


def binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError(f"none of {', '.join(names)} on PATH (apt-get install prometheus prometheus-alertmanager)")


@dataclass(frozen=True)
class Binary:
    """An executable and the version it reports (``prometheus, version 3.5.3+ds1 (...)``)."""

    path: str
    version: tuple[int, ...]

    @classmethod
    def at(cls, path: str) -> Binary:
        return cls(path, version_of(path))

    def __str__(self) -> str:
        return f"{self.path} ({'.'.join(map(str, self.version)) or 'unknown version'})"


@lru_cache(maxsize=None)
def version_of(path: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    match = re.search(r"version (\d+(?:\.\d+)*)", out.stdout + out.stderr)
    return tuple(int(n) for n in match.group(1).split(".")) if match else ()


def choose_binary(names: tuple[str, ...], explicit: str | None = None, env_var: str | None = None) -> Binary:
    """The executable to run: ``explicit`` (a flag), else ``$env_var``, else the newest of ``names``
    on PATH and in ``$AGENTWATCH_PROMETHEUS3_BIN`` (the directory CI unpacks Prometheus 3 into)."""
    chosen = explicit or (os.environ.get(env_var) if env_var else None)
    if chosen:
        path = shutil.which(chosen)
        if path is None:
            raise StackError(f"{chosen}: not an executable")
        return Binary.at(path)
    candidates = [shutil.which(name) for name in names]
    extra = os.environ.get(PROMETHEUS3_DIR_ENV)
    if extra:
        candidates += [shutil.which(name, path=extra) for name in names]
    found = [Binary.at(path) for path in dict.fromkeys(candidates) if path]
    if not found:
        raise FileNotFoundError(f"none of {', '.join(names)} on PATH (apt-get install prometheus prometheus-alertmanager)")
    return max(found, key=lambda b: b.version)


def incident_receiver(workdir: Path, port: int = 0, remediation: dict[str, Any] | None = None, host: str = LOCALHOST) -> IncidentReceiver:
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
    receiver = IncidentReceiver(store, Remediator(policy, store, platform_api(policy)), secret_file.read_text(), host=host, port=port)
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

    def ready(self, url: str, timeout: float = 30.0, accept: Callable[[requests.Response], bool] | None = None, part: str = "") -> None:
        """``wait_ready``, stopping this process when the wait fails: the part that started it is
        not built yet, so nothing else would, and the child would run on with PPID 1."""
        try:
            wait_ready(url, self, timeout, accept, part)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_ready(
    url: str, proc: Process, timeout: float = 30.0, accept: Callable[[requests.Response], bool] | None = None, part: str = ""
) -> None:
    """Until ``url`` answers 200 from ``proc``: an exit raises with the tail of its log, and so does
    an answer after it exited (another server holds its port); ``accept`` must hold for the answer
    (the demo's identity), else another server answers and this raises at once."""
    where = f" {hint(part)}" if part else ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise StackError(f"{proc.log.name} exited{where}: {proc.log.read_text()[-2000:]}")
        try:
            response = requests.get(url, timeout=1)
        except requests.RequestException:
            response = None
        if response is not None and response.status_code == 200:
            if accept is not None and not accept(response):
                raise StackError(f"{url} answers, but not as the process this stack started{where}")
            if proc.proc.poll() is not None:
                raise StackError(f"{proc.log.name} exited and another server answers {url}{where}: {proc.log.read_text()[-2000:]}")
            return
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s{where}")


# Alertmanager's own defaults for the timers a route may leave out
ROUTE_TIMERS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}


def each_route(route: dict) -> Iterator[dict]:
    """``route`` and every route under it, depth first."""
    yield route
    for child in route.get("routes", []):
        yield from each_route(child)


def scale_routes(route: dict, factor: float) -> None:
    """Divide every route's timers by ``factor`` (floor 1 s; 0 stays 0), so that under
    ``--time-scale`` notifications and resolutions keep pace with the compressed rules."""
    for key, default in ROUTE_TIMERS.items():
        route.setdefault(key, default)
    for each in each_route(route):
        for key in ROUTE_TIMERS:
            if key in each:
                seconds = duration_seconds(each[key])
                each[key] = f"{max(1, round(seconds / factor))}s" if seconds else each[key]


def alertmanager_config(bundle: Path, webhook_url: str, fast: bool = False, secret_file: Path | None = None, time_scale: float = 1) -> dict:
    """The shipped alertmanager.yml with every webhook sent to ``webhook_url/alerts/<receiver>``,
    with the shared secret read from ``secret_file`` (or none); its timers divided by
    ``time_scale``, or all squashed to seconds with ``fast`` (the tests)."""
    config = yaml.safe_load((bundle / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook_url}/alerts/{receiver['name']}"
            if secret_file is not None:
                hook.setdefault("http_config", {})["authorization"] = {"type": "Bearer", "credentials_file": str(secret_file)}
            else:
                hook.pop("http_config", None)
    config["templates"] = [str(bundle / "alertmanager" / "templates" / "*.tmpl")]
    if time_scale > 1:
        scale_routes(config["route"], time_scale)
    if fast:
        fast_timers = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1m"}
        config["route"].update(fast_timers)
        for route in each_route(config["route"]):
            route.update({key: value for key, value in fast_timers.items() if key in route})
    return config


def listen(address: str | None, part: str) -> tuple[str, str]:
    """``(HOST:PORT, URL)`` for a part: the given address, or a free port on 127.0.0.1."""
    address = address or f"{LOCALHOST}:{free_port()}"
    return address, url_of(address, part)


class Alertmanager:
    def __init__(
        self,
        bundle: Path,
        workdir: Path,
        webhook_url: str,
        fast: bool = False,
        secret_file: Path | None = None,
        *,
        address: str | None = None,
        time_scale: float = 1,
        binary_path: str | None = None,
    ) -> None:
        self.address, self.url = listen(address, "alertmanager")
        cfg = workdir / "alertmanager.yml"
        cfg.write_text(yaml.safe_dump(alertmanager_config(bundle, webhook_url, fast, secret_file, time_scale)))
        self.process = Process(
            [
                binary_path or binary("prometheus-alertmanager", "alertmanager"),
                f"--config.file={cfg}",
                f"--storage.path={workdir / 'am-data'}",
                f"--web.listen-address={self.address}",
                f"--web.external-url={self.url}",
                "--cluster.listen-address=",
            ],
            workdir / "alertmanager.log",
        )
        self.process.ready(self.url + "/-/ready", part="alertmanager")

    def post(self, alerts: list[dict]) -> None:
        requests.post(self.url + "/api/v2/alerts", json=alerts, timeout=5).raise_for_status()

    def alerts(self) -> list[dict]:
        return requests.get(self.url + "/api/v2/alerts", timeout=5).json()

    def stop(self) -> None:
        self.process.stop()


class Prometheus:
    """The shipped prometheus.yml and rules; scrape targets, the Alertmanager address and the rules'
    links rewritten. ``--web.external-url`` is the URL it serves, so an alert's ``generatorURL``
    opens (not ``http://<hostname>:9090``)."""

    def __init__(
        self,
        bundle: Path,
        workdir: Path,
        targets: list[str],
        alertmanager: str,
        time_scale: float = 1,
        interval: str | None = None,
        scale_ranges: bool = True,
        *,
        address: str | None = None,
        binary_path: str | None = None,
        runbook_base: str | None = None,
        dashboard_base: str | None = None,
    ) -> None:
        self.address, self.url = listen(address, "prometheus")
        rules_dir = workdir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted((bundle / "prometheus" / "rules").glob("*.yml")):
            text = scale_time(path.read_text(), time_scale, interval=interval, ranges=scale_ranges)
            (rules_dir / path.name).write_text(with_links(text, runbook_base, dashboard_base))
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
                job["static_configs"] = [{"targets": [self.url.removeprefix("http://")]}]
            else:
                continue
            scrapes.append(job)
        config["scrape_configs"] = scrapes
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = Process(
            [
                binary_path or binary("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address={self.address}",
                f"--web.external-url={self.url}",
                "--rules.alert.resend-delay=1s",
            ],
            workdir / "prometheus.log",
        )
        self.process.ready(self.url + "/-/ready", part="prometheus")

    def query(self, expr: str) -> list[dict]:
        body = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10).json()
        if body.get("status") != "success":
            raise ValueError(f"{expr}: {body.get('error')}")
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return requests.get(self.url + "/api/v1/alerts", timeout=10).json()["data"]["alerts"]

    def ui(self) -> str | None:
        """Where this Prometheus's web UI answers, or None. Debian's packages leave out the React
        UI: 2.x keeps the old one at ``/classic/``, 3.x serves none (its ``/query`` is a 404);
        upstream builds serve ``/query`` (3.x) or ``/graph`` (2.x, where Debian redirects)."""
        for path in ("/query", "/classic/graph", "/graph"):
            try:
                if requests.get(self.url + path, timeout=5, allow_redirects=False).status_code == 200:
                    return self.url + path
            except requests.RequestException:
                pass
        return None

    def stop(self) -> None:
        self.process.stop()


class Exporter:
    """agentwatch itself, as a child process with a config file."""

    def __init__(self, config: dict, workdir: Path, address: str | None = None) -> None:
        self.address, self.url = listen(address, "agentwatch")
        path = workdir / "agentwatch.yml"
        path.write_text(yaml.safe_dump(config))
        self.process = Process(
            [sys.executable, "-m", "agentwatch", f"--config.file={path}", f"--web.listen-address={self.address}"],
            workdir / "agentwatch.log",
        )
        self.process.ready(self.url + "/-/healthy", part="agentwatch")

    def stop(self) -> None:
        self.process.stop()


class DemoProcess:
    """``agentwatch demo`` as a child process that proves it is this one: it gets a random
    identity (``AGENTWATCH_DEMO_IDENTITY``) and must echo it (``X-Agentwatch-Demo``) before it
    counts as ready, so a server that was already on the port is refused, not polled."""

    def __init__(self, workdir: Path, pace: float = 1.0, address: str | None = None) -> None:
        self.address, self.url = listen(address, "demo")
        self.identity = secrets.token_urlsafe(16)
        self.process = Process(
            [sys.executable, "-m", "agentwatch", "demo", f"--demo.listen-address={self.address}", f"--demo.pace={pace}"],
            workdir / "demo.log",
            env={**os.environ, IDENTITY_ENV: self.identity},
        )
        self.process.ready(self.url + "/api/health", accept=self.answered_by_me, part="demo")

    def answered_by_me(self, response: requests.Response) -> bool:
        return secrets.compare_digest(response.headers.get(IDENTITY_HEADER, ""), self.identity)

    def stop(self) -> None:
        self.process.stop()


def demo_config(bundle: Path, demo_url: str, poll_interval: str = "5s", otlp_address: str | None = None) -> dict:
    """The shipped demo configuration (``deploy/demo/agentwatch.yml``) pointed at ``demo_url``; its
    OpenTelemetry sources listen on ``otlp_address`` (else a free port on 127.0.0.1)."""
    config = yaml.safe_load((bundle / "deploy" / "demo" / "agentwatch.yml").read_text())
    config["poll_interval"] = poll_interval
    demo = bundle / "deploy" / "demo"
    for source in config["sources"]:
        if source.get("type") == "otel":
            source["listen_address"] = otlp_address or f"{LOCALHOST}:{free_port()}"
            if source.get("canary_suite_file"):
                source["canary_suite_file"] = str(demo / Path(source["canary_suite_file"]).name)
            continue
        source["url"] = demo_url + source["url"].split(":3100", 1)[-1]
        canary = source.get("canary") or {}
        if canary.get("suite_file"):
            canary["suite_file"] = str(demo / Path(canary["suite_file"]).name)
    return config


def paperclip_config(paperclip_url: str) -> dict:
    """Your Paperclip, polled read-only: no canaries, which would write tasks on it."""
    return {"sources": [{"name": "paperclip", "url": paperclip_url}]}


def check_canaries(config: dict, demo_url: str | None) -> None:
    """Refuse a config that would run canaries anywhere but the demo this stack started and
    proved (``demo_url``): canaries write tasks, and a platform the user did not name is not ours."""
    for source in config.get("sources", []):
        if not (source.get("canary") or {}).get("enabled"):
            continue
        url = str(source.get("url", ""))
        if demo_url is None or not (url == demo_url or url.startswith(demo_url + "/")):
            raise StackError(f"source {source.get('name')!r}: canaries on {url}, which is not the demo this stack started")


def ui_config(prometheus_url: str, alertmanager_url: str) -> dict:
    """The landing page's firing alerts and links: the stack's Prometheus and Alertmanager
    (Debian's Alertmanager has no web UI: its API lists the alerts)."""
    return {
        "prometheus_url": prometheus_url,
        "links": {"Prometheus": prometheus_url, "Alertmanager alerts (API)": f"{alertmanager_url}/api/v2/alerts"},
    }


class Stack:
    """Demo (or a Paperclip URL), agentwatch, Prometheus, Alertmanager and a webhook receiver.

    The rules' runbook links point at this agentwatch (``/runbooks/``) unless ``runbook_base`` is
    given, and their dashboard links at ``dashboard_base`` when given (the shipped Grafana otherwise).

    Before anything starts, every address is checked (``StackError`` names a taken one and its
    flag) and the binaries are found; then the parts start in order, and a failure stops the ones
    already running (each part stops its own child when its start fails).
    """

    def __init__(
        self,
        bundle: Path,
        workdir: Path,
        paperclip_url: str | None = None,
        time_scale: float = 1,
        interval: str | None = None,
        fast_alertmanager: bool = False,
        addresses: Addresses | None = None,
        prometheus_binary: str | None = None,
        alertmanager_binary: str | None = None,
        dashboard_base: str | None = None,
        runbook_base: str | None = None,
    ) -> None:
        self.addresses = (addresses or Addresses()).resolved()
        parts = [f.name for f in fields(self.addresses) if paperclip_url is None or f.name not in ("demo", "otlp")]
        check_addresses({part: getattr(self.addresses, part) for part in parts})
        prometheus = Binary.at(prometheus_binary or binary("prometheus"))
        alertmanager = Binary.at(alertmanager_binary or binary("prometheus-alertmanager", "alertmanager"))
        log.info("stack binaries", extra={"prometheus": str(prometheus), "alertmanager": str(alertmanager)})
        workdir.mkdir(parents=True, exist_ok=True)
        url = self.addresses.url
        self.parts: list = []
        self.demo: DemoProcess | None = None
        try:
            config = self._start_platform(bundle, workdir, paperclip_url)
            config["ui"] = ui_config(url("prometheus"), url("alertmanager"))
            self.exporter = Exporter(config, workdir, address=self.addresses.agentwatch)
            self.parts.append(self.exporter)
            self.alertmanager = Alertmanager(
                bundle,
                workdir,
                url("incidents"),
                fast=fast_alertmanager,
                secret_file=self.webhook.secret_file,
                address=self.addresses.alertmanager,
                time_scale=time_scale,
                binary_path=alertmanager.path,
            )
            self.parts.append(self.alertmanager)
            self.prometheus = Prometheus(
                bundle,
                workdir,
                [self.exporter.url.removeprefix("http://")],
                self.alertmanager.url,
                time_scale=time_scale,
                interval=interval,
                address=self.addresses.prometheus,
                binary_path=prometheus.path,
                runbook_base=runbook_base or f"{self.exporter.url}/runbooks/",
                dashboard_base=dashboard_base,
            )
            self.parts.append(self.prometheus)
        except BaseException:
            self.stop()
            raise

    def _start_platform(self, bundle: Path, workdir: Path, paperclip_url: str | None) -> dict:
        """The incident receiver, and the demo unless ``paperclip_url``; the exporter's config for
        the platform, with canaries only on the demo this stack started."""
        host, port = self.addresses.host_port("incidents")
        self.webhook = incident_receiver(workdir, port=port, host=host)
        self.parts.append(self.webhook)
        if paperclip_url:
            config = paperclip_config(paperclip_url)
        else:
            self.demo = DemoProcess(workdir, address=self.addresses.demo)
            self.parts.append(self.demo)
            config = demo_config(bundle, self.demo.url, otlp_address=self.addresses.otlp)
        check_canaries(config, self.demo.url if self.demo else None)
        return config

    def stop(self) -> None:
        for part in reversed(self.parts):
            try:
                part.stop()
            except Exception:
                pass
        self.parts.clear()
