"""What the live-events benchmark (``bench/live_events.py``) sees: each exporter's /metrics read
every ``PERIOD`` seconds, the series the benchmark's own changes move, the refreshes each
exporter made, and the raw traffic of the company's live-events socket.

A ``Scraper`` thread per exporter GETs /metrics (no gzip) and keeps, from the text, only the
per-agent series of the benchmark's probe and fault agents and the self-metrics it reports
(``parse``). ``View`` holds the latest values of every exporter and the pending
``Expectation``s: a change the benchmark is about to make names the series that shows it and
how (``check(value, baseline)``), with each exporter's value just before as its baseline; the
first scrape of an exporter whose value passes the check is when that exporter showed the
change (the time the scrape started: /metrics is rendered as it is asked for).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import quote

import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

PERIOD = 0.1  # how often each exporter's /metrics is read

# a series' labels: any character but a closing brace outside a quoted value (an endpoint
# label holds braces: ``/api/companies/{id}/agents``)
_LABELS = rb'((?:[^"}\n]|"(?:[^"\\\n]|\\.)*")*)'
# the per-agent families a change moves, summed per (agent, status): runs over invocation source
# and error code, spend over models
AGENT_FAMILIES = ("live_runs", "runs_total", "cost_usd_total", "tasks", "consecutive_failed_runs")
_AGENT_SERIES = re.compile(
    rb"^agentwatch_agent_(\w+)" rb'\{(?=(?:[^\n]*?,)?agent="((?:Probe|Fault) [^"]*)")' + _LABELS + rb"\} (\S+)$",
    re.M,
)
_STATUS = re.compile(r'(?:^|,)status="([^"]*)"')
SELF_FAMILIES = (
    "refreshes_total",
    "polls_total",
    "poll_requests",
    "poll_response_bytes",
    "poll_duration_seconds",
    "source_requests_total",
    "source_response_bytes_total",
    "source_not_modified_total",
    "source_request_duration_seconds",
    "live_events_received_total",
    "live_events_socket_state",
)
_SELF_SERIES = re.compile(rb"^agentwatch_(\w+?)(?:\{" + _LABELS + rb"\})? (\S+)$", re.M)
_LABEL = re.compile(r'(trigger|endpoint|type|state)="([^"]*)"')

Key = tuple[str, str, str]  # (family, agent, status or "")


def block(text: bytes, family: str) -> bytes:
    """The lines of one family (its HELP line to the next family's), or nothing: a /metrics of
    100 agents is some 1.6 MB, and a regular expression over all of it ten times a second would
    cost the benchmark more than the exporters spend."""
    start = text.find(b"# HELP agentwatch_" + family.encode() + b" ")
    if start < 0:
        return b""
    end = text.find(b"\n# HELP ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def parse(text: bytes) -> tuple[dict[Key, float], dict[tuple[str, str], float]]:
    """The probe agents' series, summed per (family, agent, status), and the self-metrics summed
    per (family, trigger/endpoint/type/state label or "")."""
    agents: dict[Key, float] = {}
    for family, agent, labels, value in _AGENT_SERIES.findall(b"\n".join(block(text, "agent_" + f) for f in AGENT_FAMILIES)):
        status = _STATUS.search(labels.decode())
        key = (family.decode(), agent.decode(), status.group(1) if status else "")
        agents[key] = agents.get(key, 0.0) + float(value)
    own: dict[tuple[str, str], float] = {}
    for family, labels, value in _SELF_SERIES.findall(b"\n".join(block(text, f) for f in SELF_FAMILIES)):
        if family == b"live_events_socket_state" and b'state="open"' not in labels or family.endswith(b"_bucket"):
            continue
        label = _LABEL.search(labels.decode()) if labels else None
        k = (family.decode(), label.group(2) if label else "")
        own[k] = own.get(k, 0.0) + float(value)
    return agents, own


@dataclass
class Expectation:
    """One change the benchmark makes, and when each exporter first showed it."""

    kind: str
    lane: str
    key: Key
    check: Callable[[float, float], bool]
    baselines: dict[str, float]
    t0: float | None = None  # when the platform made the change (its own timestamp)
    seen: dict[str, float] = field(default_factory=dict)  # exporter -> time of the first scrape showing it
    done: threading.Event = field(default_factory=threading.Event)

    def latencies(self) -> dict[str, float | None]:
        t0 = self.t0
        return {name: (self.seen[name] - t0 if name in self.seen and t0 is not None else None) for name in self.baselines}


@dataclass
class Refresh:
    """One poll or refresh of an exporter, as its self-metrics told it between two scrapes."""

    at: float
    trigger: str
    requests: float
    bytes: float
    duration: float


class View:
    """The latest scrape of every exporter, the pending expectations, and each exporter's polls."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.values: dict[str, dict[Key, float]] = {}
        self.own: dict[str, dict[tuple[str, str], float]] = {}
        self.refreshes: dict[str, list[Refresh]] = {n: [] for n in names}
        self.ambiguous: dict[str, int] = {n: 0 for n in names}  # scrapes that saw two refreshes at once
        self._pending: list[Expectation] = []

    def update(self, name: str, at: float, values: dict[Key, float], own: dict[tuple[str, str], float]) -> None:
        with self._lock:
            self._note_refreshes(name, at, self.own.get(name), own)
            self.values[name], self.own[name] = values, own
            for exp in list(self._pending):
                if name not in exp.seen and exp.check(values.get(exp.key, 0.0), exp.baselines[name]):
                    exp.seen[name] = at
                    if len(exp.seen) == len(exp.baselines):
                        self._pending.remove(exp)
                        exp.done.set()
            self._changed.notify_all()

    def _note_refreshes(self, name: str, at: float, before: dict | None, after: dict) -> None:
        if before is None:
            return
        grown = {k[1]: v - before.get(k, 0.0) for k, v in after.items() if k[0] == "refreshes_total" and v > before.get(k, 0.0)}
        if sum(grown.values()) == 1:
            (trigger,) = grown
            self.refreshes[name].append(
                Refresh(
                    at,
                    trigger,
                    after.get(("poll_requests", ""), 0.0),
                    after.get(("poll_response_bytes", ""), 0.0),
                    after.get(("poll_duration_seconds", ""), 0.0),
                )
            )
        elif grown:
            self.ambiguous[name] += 1

    def ready(self, timeout: float) -> None:
        """Wait until every exporter has been read once."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.values) == len(self.names), timeout):
                raise TimeoutError(f"no /metrics from {sorted(set(self.names) - set(self.values))}")

    def expect(self, kind: str, lane: str, key: Key, check: Callable[[float, float], bool]) -> Expectation:
        """Watch for a change about to be made: each exporter's value now is its baseline."""
        with self._lock:
            exp = Expectation(kind, lane, key, check, {n: self.values[n].get(key, 0.0) for n in self.names})
            self._pending.append(exp)
            return exp

    def give_up(self, exp: Expectation) -> None:
        with self._lock:
            if exp in self._pending:
                self._pending.remove(exp)

    def settle(self, key: Key, ok: Callable[[float], bool], timeout: float) -> bool:
        """Wait until every exporter's value of ``key`` passes ``ok``."""
        with self._changed:
            return self._changed.wait_for(lambda: all(ok(self.values[n].get(key, 0.0)) for n in self.names), timeout)

    def self_metrics(self) -> dict[str, dict[tuple[str, str], float]]:
        with self._lock:
            return {n: dict(v) for n, v in self.own.items()}


class Scraper:
    """Reads one exporter's /metrics every ``PERIOD`` seconds into the view, on its own thread."""

    def __init__(self, name: str, url: str, view: View, stop: threading.Event) -> None:
        self.name, self.url, self.view, self.stop = name, url.rstrip("/") + "/metrics", view, stop
        self.session = requests.Session()
        self.session.headers["Accept-Encoding"] = "identity"
        self.scrapes = 0
        self.bytes = 0
        self.errors = 0
        self.thread = threading.Thread(target=self._run, name=f"scrape-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            started = time.time()
            try:
                body = self.session.get(self.url, timeout=5).content
            except requests.RequestException:
                self.errors += 1
            else:
                self.scrapes += 1
                self.bytes += len(body)
                self.view.update(self.name, started, *parse(body))
            self.stop.wait(max(0.0, PERIOD - (time.time() - started)))
        self.session.close()


class SocketTap:
    """A socket of its own on the company's live events, counting the frames and bytes the
    server pushes while ``counting`` is set: the traffic the live exporter's socket carries too."""

    def __init__(self, base_url: str, company_id: str, stop: threading.Event) -> None:
        scheme, rest = base_url.rstrip("/").split("://", 1)
        self.url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/companies/{quote(company_id, safe='')}/events/ws"
        self.stop = stop
        self.counting = threading.Event()
        self.frames: dict[str, int] = {}
        self.bytes = 0
        self.run_statuses: dict[str, int] = {}  # heartbeat.run.status events by the status they carry
        self.thread = threading.Thread(target=self._run, name="socket-tap", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        with connect(self.url, open_timeout=10, max_size=None) as conn:
            while not self.stop.is_set():
                try:
                    frame = conn.recv(timeout=0.5)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    return
                if self.counting.is_set():
                    self._count(frame)

    def _count(self, frame: str | bytes) -> None:
        self.bytes += len(frame.encode() if isinstance(frame, str) else frame)
        try:
            event = json.loads(frame)
        except ValueError:
            event = {}
        kind = str(event.get("type", "other"))
        self.frames[kind] = self.frames.get(kind, 0) + 1
        payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
        if kind == "heartbeat.run.status":
            status = str(payload.get("status"))
            self.run_statuses[status] = self.run_statuses.get(status, 0) + 1
