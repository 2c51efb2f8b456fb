"""Bad input never crashes the exporter and never loses data: the Paperclip-specific cases.

For each fault the source goes down (``agentwatch_up`` 0), the last good metrics keep being
served with their age visible, errors are counted by kind, one log line is written per
failure episode (not per poll), and the next good poll recovers without a restart. The faults
every source must survive that way run per source in test_source_conformance.py; this file
holds Paperclip's own (older builds, unhealthy status, dropped rows, retries) and the helpers
(``make_exporter``, ``Clock``) the other test files build an exporter with.
"""

from __future__ import annotations

import logging
import platform
import threading
from typing import Callable

import pytest
from prometheus_client import generate_latest

from agentwatch import memory
from agentwatch.cli import build_registry
from agentwatch.config import Settings, SourceConfig
from agentwatch.poller import Poller
from agentwatch.source import Source
from agentwatch.source.paperclip.client import PaperclipSource
from harness.exporter import parse_exposition


class Clock:
    def __init__(self, t: float = 1_795_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_exporter(
    url: str, clock: Clock, limits: dict | None = None, make_source: Callable[[SourceConfig], Source] = PaperclipSource, **source
):
    """A poller of one source named ``pc`` (``make_source``: the source for its config) and the
    registry a scrape reads, both on ``clock``."""
    source.setdefault("live_events", {"enabled": False})  # the fake platforms have no socket
    cfg = SourceConfig(name="pc", url=url, timeout=source.pop("timeout", 2.0), retries=source.pop("retries", 0), **source)
    settings = Settings(sources=[cfg], limits=limits or {})
    poller = Poller(make_source(cfg), cfg, settings, clock=clock)
    from agentwatch.exposition.collector import AgentwatchCollector

    registry = build_registry([poller])
    for collector in list(registry._collector_to_names):  # the collector reads the same fake clock
        if isinstance(collector, AgentwatchCollector):
            collector.clock = clock
    return poller, registry


def scrape(registry):
    return parse_exposition(generate_latest(registry).decode())


@pytest.fixture
def errors(caplog):
    caplog.set_level(logging.INFO, logger="agentwatch")
    logger = logging.getLogger("agentwatch")
    old = logger.propagate
    logger.propagate = True  # let caplog see the exporter's own logger
    yield lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]
    logger.propagate = old


def test_missing_fields_are_tolerated(server):
    """Rows that keep only their id still parse; nothing crashes and the source stays up."""
    clock = Clock()
    server.fault = "missing_fields"
    poller, registry = make_exporter(server.url, clock)
    assert poller.poll_once()
    s = scrape(registry)
    assert s.get_value("agentwatch_up", source="pc") == 1.0
    assert len(s.select("agentwatch_agent_info")) == 5


def test_schema_drift_unknown_enums_and_wrong_types(server):
    clock = Clock()
    server.fault = "drift"
    poller, registry = make_exporter(server.url, clock)
    assert poller.poll_once()
    s = scrape(registry)
    assert s.get_value("agentwatch_up", source="pc") == 1.0
    # an unknown agent status is still shown as the current state
    assert s.get_value("agentwatch_agent_status", agent="Ceo Bot", status="brand_new_status") == 1.0
    tasks = s.select("agentwatch_company_tasks", status="brand_new_status")
    assert tasks and tasks[0][1] == 12.0


def test_rows_without_ids_are_dropped_and_counted(server):
    clock = Clock()
    server.overrides["/api/companies/07473e15-1df6-4a00-8bf2-802cea090451/approvals"] = [
        {"type": "hire_agent"},
        7,
        None,
        {"id": "x", "type": "hire_agent", "status": "pending"},
    ]
    poller, registry = make_exporter(server.url, clock)
    assert poller.poll_once()
    s = scrape(registry)
    assert s.get_value("agentwatch_source_dropped_rows_total", endpoint="approvals") == 3.0
    assert s.get_value("agentwatch_approvals", type="hire_agent", status="pending") == 1.0


def test_unhealthy_platform_is_down(server):
    clock = Clock()
    server.overrides["/api/health"] = {"status": "unhealthy", "error": "database_unreachable"}
    poller, registry = make_exporter(server.url, clock)
    assert poller.poll_once() is False
    assert scrape(registry).get_value("agentwatch_poll_failures_total", source="pc", kind="unhealthy") == 1.0


def test_no_threads_leak_across_failing_polls(server):
    baseline = threading.active_count()
    clock = Clock()
    poller, _ = make_exporter(server.url, clock, timeout=0.3)
    server.fault = "500"
    for _ in range(10):
        clock.t += 1
        poller.poll_once()
    server.fault = None
    poller.poll_once()
    poller.stop()
    leftover = [t for t in threading.enumerate() if t.name.startswith(("poll-", "company-", "poller-"))]
    assert leftover == []
    assert threading.active_count() <= baseline + 1


class Records(logging.Handler):
    """Every record that reaches the logger it is attached to, once, whatever the root logger's
    handlers (caplog's) and the propagation that earlier tests left."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_older_build_degrades_gracefully_and_says_so_once(server):
    """No afterId/updatedSince, no scheduler table, no live runs or window spend: the poll still works."""
    logger = logging.getLogger("agentwatch")
    records, level = Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.WARNING)
    try:
        server.reject_params = {"afterId", "updatedSince"}
        server.missing_paths = {r"^/api/instance/scheduler-heartbeats$", r"^/api/companies/[^/]+/costs/window-spend$"}
        clock = Clock()
        poller, registry = make_exporter(server.url, clock, issue_page_size=5)
        for _ in range(3):
            clock.t += 30
            assert poller.poll_once()
        s = scrape(registry)
        assert s.get_value("agentwatch_up", source="pc") == 1.0
        assert s.total("agentwatch_company_tasks") == 12.0
        assert s.select("agentwatch_agent_heartbeat_scheduler_active") == []
        assert any("offset=" in r for r in server.requests)  # paging fell back to offsets
        declared = poller.last_snapshot.capabilities  # the missing window spend is declared, so its families go
        assert not declared.window_spend and declared.budgets and declared.live_runs and declared.schedules
        features = sorted(r.feature for r in records.records if r.getMessage() == "platform feature unavailable, degrading")
        assert features == ["after_id", "scheduler_heartbeats", "updated_since", "window_spend"]  # each once
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)


def test_a_5xx_burst_within_the_retries_is_absorbed(server, errors):
    """Two 503s then a good answer: the GET retries (urllib3 Retry, backoff) and the poll succeeds."""
    clock = Clock()
    poller, registry = make_exporter(server.url, clock, retries=2)
    server.burst = 2
    assert poller.poll_once()
    s = scrape(registry)
    assert s.get_value("agentwatch_up", source="pc") == 1.0
    assert errors() == []
    assert server.burst == 0


def test_429_retry_after_is_honoured(server):
    """A 429 with Retry-After: 1 is retried no sooner than a second later (urllib3 honours the header)."""
    import time

    stamps: list[float] = []
    handle = server._handle

    def stamped(h):
        stamps.append(time.monotonic())
        return handle(h)

    server._handle = stamped
    server.overrides["/api/companies"] = []  # a short poll: health, companies, scheduler
    clock = Clock()
    poller, registry = make_exporter(server.url, clock, retries=1)
    server.fault = "429"
    assert poller.poll_once() is False
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 0.9  # the wait the platform asked for, a lower bound only
    assert scrape(registry).get_value("agentwatch_poll_failures_total", source="pc", kind="rate_limited") == 1.0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_the_exporter_fixes_the_mmap_threshold_on_glibc():
    """agentwatch/memory.py: the large blocks of a poll get their own mmap (docs/benchmarks.md)."""
    assert memory.fix_mmap_threshold()


def test_the_exporter_runs_the_cycle_collector_less_often():
    """agentwatch/memory.py: a poll's hundred thousand live objects do not set off a collection
    every 700 allocations; everything outside a cycle is still freed by reference counting."""
    import gc

    before = gc.get_threshold()
    try:
        memory.setup()
        assert gc.get_threshold() == memory.GC_THRESHOLDS
        assert memory.GC_THRESHOLDS[0] > before[0] or before == memory.GC_THRESHOLDS
    finally:
        gc.set_threshold(*before)


@pytest.mark.slow
def test_memory_stays_bounded_across_failing_polls():
    """Hundreds of failing polls of every kind: the heap the exporter holds does not keep growing.

    Measured in a child interpreter (harness/heap_probe.py) holding only the exporter and the
    replay server, whose own allocations are left out.
    """
    import json
    import subprocess
    import sys
    from pathlib import Path

    probe = Path(__file__).parent / "harness" / "heap_probe.py"
    out = subprocess.run([sys.executable, str(probe), "15", "30"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    heap = json.loads(out.stdout.strip().splitlines()[-1])
    growth = heap["after"] - heap["warm"]
    # measured: ~320 KiB held after warm-up, growing by a few KiB over the next 240 polls and flattening
    assert growth < 64 * 1024, f"exporter heap grew by {growth / 1024:.0f} KiB over {heap['polls']} polls"


def test_bodies_read_into_a_reused_buffer_stay_whole_and_apart():
    """``HttpClient`` reads each body into its thread's buffer (source/http.py): bodies of any
    size, in any order, with failures between them, decode exactly as sent; the buffer of an
    outsized body, read or refused, is given back after its read."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from agentwatch.source import SourceError
    from agentwatch.source.http import KEPT_BUFFER_BYTES, HttpClient

    def body(n: int) -> bytes:
        return json.dumps(["x" * n]).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            size = self.path.strip("/")
            if size == "unbounded":  # no Content-Length: the body ends when the connection closes
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body(2 * KEPT_BUFFER_BYTES))
                return
            payload = b'["unterminated' if size == "bad" else body(int(size))
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    client = HttpClient(f"http://127.0.0.1:{httpd.server_address[1]}", timeout=10, retries=0)
    try:
        for size in (300_000, 10, 2_000_000, "bad", 5, KEPT_BUFFER_BYTES + 1, 1_000, 0):
            if size == "bad":
                with pytest.raises(SourceError) as failed:
                    client.get("/bad", "/bad")
                assert failed.value.kind == "decode"
                continue
            assert client.get(f"/{size}", "/{size}").data == ["x" * size]
            kept = getattr(client._buffers, "body", None)
            assert (kept is None) == (size == KEPT_BUFFER_BYTES + 1)
        # a body cut off as too large once it outgrew the kept size: that memory goes too
        client.get("/10", "/{size}")
        client.max_response_bytes = KEPT_BUFFER_BYTES + 100_000
        with pytest.raises(SourceError) as failed:
            client.get("/unbounded", "/unbounded")
        assert failed.value.kind == "too_large" and getattr(client._buffers, "body", None) is None
        client.max_response_bytes = 64 << 20
        assert client.get("/3", "/{size}").data == ["xxx"]
        # a decoder that keeps no reference gets a view it may read only during the call
        seen = client.get("/7", "/{size}", decode=lambda view: bytes(view)).data
        assert seen == body(7)
    finally:
        client.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_the_environment_is_read_once_and_a_netrc_entry_does_not_replace_the_token(tmp_path, monkeypatch):
    """``HttpClient`` takes the proxies, ``no_proxy`` and CA bundle from the environment when it
    is made (source/http.py), not at each request; so a ``~/.netrc`` entry for the platform's
    host does not replace the bearer token, as requests' own ``trust_env`` would let it."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from agentwatch.source.http import HttpClient

    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    local = HttpClient(f"http://127.0.0.1:{httpd.server_address[1]}", token="the-token", timeout=10, retries=0)
    remote = HttpClient("https://platform.invalid", token="t", retries=0)
    try:
        assert local.session.proxies == {} and local.session.verify == str(bundle)  # no_proxy holds for this host
        assert remote.session.proxies.get("https") == "http://proxy.invalid:3128"
        assert local.get("/x", "/x").data == {}
        monkeypatch.delenv("NO_PROXY")  # read once: a later change does not reach a client made before
        assert local.get("/x", "/x").data == {}
        assert seen == ["Bearer the-token", "Bearer the-token"]
    finally:
        local.close()
        remote.close()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
