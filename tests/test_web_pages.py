"""The pages on agentwatch's web port besides /metrics, served by a real ``MetricsServer`` on
127.0.0.1 over a real ``Poller`` of the recorded Paperclip (tests/replay.py):

- every shipped runbook renders at /runbooks/<Alert> (title, links between runbooks rewritten,
  no raw HTML), /runbooks/ lists them, and unknown names and traversal attempts are 404;
- basic auth from a web config guards /, /runbooks/ and /-/ready as it guards /metrics;
- /-/ready is 503 until the first good poll of every source and 200 after; /-/healthy is 200;
- the landing page shows each source's health, last good poll and snapshot age, the firing
  alerts of a Prometheus API (a small stand-in server: the page reads only /api/v1/alerts), says
  when that Prometheus cannot be reached, and lists the configured links, every value escaped.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml
from prometheus_client import generate_latest

from agentwatch import runbooks
from agentwatch.config import UiConfig
from agentwatch.landing import source_statuses
from agentwatch.server import MetricsServer
from agentwatch.webconfig import WebConfig
from harness.paperclip import free_port, wait_for
from test_faults import Clock, make_exporter

CHECKOUT_RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks"


@contextmanager
def serving(poller, registry, ui: UiConfig | None = None, web: WebConfig | None = None):
    """A real MetricsServer on a free loopback port, reading ``poller``; yields its base URL."""
    server = MetricsServer("127.0.0.1", 0, lambda: generate_latest(registry), web, status=lambda: source_statuses([poller]), ui=ui)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def exporter(server, clock):
    """A poller of the recorded Paperclip (not polled yet) and its registry."""
    poller, registry = make_exporter(server.url, clock)
    yield poller, registry
    poller.source.close()


@pytest.fixture
def base(exporter) -> str:
    with serving(*exporter) as url:
        yield url


@pytest.fixture(scope="module")
def pages() -> str:
    """A server with no sources, for the pages that do not depend on them (the runbooks)."""
    server = MetricsServer("127.0.0.1", 0, lambda: b"")
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalising of ``..`` or ``%2e``)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


# -- runbooks ----------------------------------------------------------------------------------


def test_the_package_ships_every_runbook_of_the_checkout():
    assert runbooks.names() == tuple(sorted(p.stem for p in CHECKOUT_RUNBOOKS.glob("*.md")))
    assert "AgentTaskStuck" in runbooks.names()


@pytest.mark.parametrize("name", runbooks.names())
def test_every_shipped_runbook_is_served_with_its_title(pages, name):
    answer = requests.get(f"{pages}/runbooks/{name}", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert f"<title>{name} · agentwatch runbook</title>" in answer.text
    assert f"<h1>{name}</h1>" in answer.text
    assert '<a href="./">All runbooks</a>' in answer.text  # back to the index
    assert "<h2>" in answer.text  # the Markdown is rendered, not dumped


def test_links_between_runbooks_point_at_the_served_pages_and_raw_html_stays_text(tmp_path):
    (tmp_path / "First.md").write_text(
        "# First\n\nSee [Second](Second.md), [its cause](./Second.md#cause), [the metrics](../metrics.md),\n"
        "[elsewhere](https://example.org/Second.md) and [nothing](Missing.md).\n\n"
        "<script>alert(1)</script>\n\n| alert | severity |\n|---|---|\n| First | warning |\n"
    )
    (tmp_path / "Second.md").write_text("# Second\n\n## Cause\n")
    page = runbooks.page("First", tmp_path)
    assert page is not None
    text = page.decode()
    assert '<a href="Second">Second</a>' in text
    assert '<a href="Second#cause">its cause</a>' in text
    assert '<a href="../metrics.md">' in text  # not a runbook: left as written
    assert '<a href="https://example.org/Second.md">' in text
    assert '<a href="Missing.md">' in text  # no such runbook: not made into a page link
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<table>" in text and "<td>warning</td>" in text
    assert runbooks.page("Second", tmp_path) is not None
    assert runbooks.page("Second.md", tmp_path) is None


def test_the_index_lists_every_runbook(pages):
    answer = requests.get(f"{pages}/runbooks/", timeout=10)
    assert answer.status_code == 200
    for name in runbooks.names():
        assert f'<a href="{name}">{name}</a>' in answer.text
    moved = requests.get(f"{pages}/runbooks", timeout=10, allow_redirects=False)
    assert moved.status_code == 301 and moved.headers["Location"] == "runbooks/"  # relative: works behind a path prefix
    followed = requests.get(f"{pages}/runbooks", timeout=10)
    assert followed.url == f"{pages}/runbooks/" and followed.text == answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/runbooks/NoSuchAlert",
        "/runbooks/AgentTaskStuck.md",
        "/runbooks/AgentTaskStuck/",
        "/runbooks/agenttaskstuck",
        "/runbooks/..",
        "/runbooks/../../pyproject.toml",
        "/runbooks/%2e%2e/%2e%2e/pyproject.toml",
        "/runbooks/%2e%2e%2fAgentTaskStuck",
        "/runbooks/..%2f..%2fREADME",
        "/runbooks//etc/passwd",
        "/runbooks/%2fetc%2fpasswd",
        "/runbooks/AgentTaskStuck%00",
    ],
)
def test_unknown_names_and_traversal_are_not_found(pages, path):
    status, body = raw_get(pages, path)
    assert status == 404
    assert body == b"not found\n"


# -- auth --------------------------------------------------------------------------------------

PASSWORD = "pages-password"


@pytest.fixture(scope="module")
def web() -> WebConfig:
    return WebConfig(basic_auth_users={"reader": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()})


@pytest.mark.parametrize("path", ["/", "/runbooks/", "/runbooks", "/runbooks/AgentTaskStuck", "/runbooks/NoSuchAlert", "/-/ready"])
def test_basic_auth_guards_every_page(exporter, web, path):
    poller, registry = exporter
    assert poller.poll_once()
    with serving(poller, registry, web=web) as base:
        for auth in (None, ("reader", "wrong"), ("someone", PASSWORD)):
            refused = requests.get(f"{base}{path}", auth=auth, timeout=10, allow_redirects=False)
            assert refused.status_code == 401, auth
            assert "AgentTaskStuck" not in refused.text and "agentwatch" not in refused.text
        allowed = requests.get(f"{base}{path}", auth=("reader", PASSWORD), timeout=10, allow_redirects=False)
        assert allowed.status_code == (404 if "NoSuch" in path else 301 if path == "/runbooks" else 200)


# -- readiness ---------------------------------------------------------------------------------


def test_ready_only_after_the_first_good_poll_of_every_source(server, exporter, base):
    poller, _ = exporter
    assert requests.get(f"{base}/-/ready", timeout=10).status_code == 503  # not polled yet
    server.fault = "500"
    assert not poller.poll_once()
    answer = requests.get(f"{base}/-/ready", timeout=10)
    assert (answer.status_code, answer.text) == (503, "not ready: no good poll yet of pc\n")
    assert requests.get(f"{base}/-/healthy", timeout=10).status_code == 200  # liveness: the process serves
    server.fault = None
    assert poller.poll_once()
    assert requests.get(f"{base}/-/ready", timeout=10).status_code == 200
    server.fault = "500"
    assert not poller.poll_once()
    # ready stays ready: a platform outage is agentwatch_up 0 and an alert, not a pod taken out of service
    assert requests.get(f"{base}/-/ready", timeout=10).status_code == 200


def test_ready_waits_for_every_source(server, clock):
    """Two sources, one polled: not ready, naming the other."""
    first, registry = make_exporter(server.url, clock)
    second, _ = make_exporter(server.url, clock)
    object.__setattr__(second.state, "name", "other")  # SourceState is a plain dataclass: the name shown
    try:
        assert first.poll_once()
        server_ = MetricsServer("127.0.0.1", 0, lambda: generate_latest(registry), status=lambda: source_statuses([first, second]))
        server_.start()
        try:
            base = f"http://127.0.0.1:{server_.port}"
            answer = requests.get(f"{base}/-/ready", timeout=10)
            assert (answer.status_code, answer.text) == (503, "not ready: no good poll yet of other\n")
            assert second.poll_once()
            assert requests.get(f"{base}/-/ready", timeout=10).status_code == 200
        finally:
            server_.stop()
    finally:
        first.source.close()
        second.source.close()


# -- the landing page --------------------------------------------------------------------------


def source_row(page: str, name: str) -> str:
    """The table row of source ``name`` on the landing page."""
    start = page.index(f"<tr><td>{name}</td>")
    return page[start : page.index("</tr>", start)]


def test_the_landing_page_shows_each_source_its_health_and_age(server, exporter, base, clock):
    poller, _ = exporter
    page = requests.get(f"{base}/", timeout=10).text
    assert "agentwatch 0." in page and "Not ready" in page
    assert 'class="pending">pending' in source_row(page, "pc") and "<td>never</td>" in source_row(page, "pc")

    polled_at = clock.t
    assert poller.poll_once()
    clock.t += 42
    row = source_row(requests.get(f"{base}/", timeout=10).text, "pc")
    assert "<td>paperclip</td>" in row
    assert 'class="up">up' in row
    assert "<td>42 s</td>" in row  # the snapshot's age
    assert polled_at == 1_795_000_000.0 and "<td>2026-11-18 11:06:40 UTC</td>" in row  # the last good poll

    server.fault = "500"
    clock.t += 10
    assert not poller.poll_once()
    page = requests.get(f"{base}/", timeout=10).text
    row = source_row(page, "pc")
    assert 'class="down">down' in row
    assert "<td>52 s</td>" in row  # the last good data, older now
    assert "<td>http_5xx</td>" in row
    assert "Ready: every source" in page  # had its first good poll
    assert "Firing alerts" not in page  # no Prometheus configured


def test_the_landing_page_links_its_own_pages_and_the_configured_ones(exporter):
    ui = UiConfig(links={"Grafana": "http://127.0.0.1:1/d/x?a=1&b=2", "<b>Alertmanager</b>": "http://127.0.0.1:2/"})
    with serving(*exporter, ui=ui) as base:
        page = requests.get(f"{base}/", timeout=10).text
    for href in ("metrics", "-/ready", "-/healthy", "runbooks/"):
        assert f'<a href="{href}">' in page
    assert '<a href="http://127.0.0.1:1/d/x?a=1&amp;b=2">Grafana</a>' in page
    assert '<a href="http://127.0.0.1:2/">&lt;b&gt;Alertmanager&lt;/b&gt;</a>' in page


class FakePrometheus:
    """``GET /api/v1/alerts`` answering ``status`` and ``body`` (a JSON value, or bytes as they are), on 127.0.0.1."""

    def __init__(self, body, status: int = 200) -> None:
        self.body, self.status = body, status
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                data = owner.body if isinstance(owner.body, bytes) else json.dumps(owner.body).encode()
                self.send_response(owner.status if self.path == "/api/v1/alerts" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakePrometheus:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def alert(name: str, state: str, severity: str, runbook_url: str, **labels: str) -> dict:
    return {
        "labels": {"alertname": name, "severity": severity, "instance": "x:1", "job": "agentwatch", **labels},
        "annotations": {"summary": f"{labels.get('agent', '')} is in trouble", "runbook_url": runbook_url},
        "state": state,
        "activeAt": "2026-11-18T20:50:00Z",
        "value": "1e+00",
    }


ALERTS = {
    "status": "success",
    "data": {
        "alerts": [
            alert("AgentTaskStuck", "firing", "warning", "http://127.0.0.1:9/runbooks/AgentTaskStuck", agent="<img src=x>", source="pc"),
            alert("AgentBudgetHardStop", "firing", "critical", "javascript:alert(1)", agent="cfo", source="pc"),
            alert("AgentReasoningLoop", "pending", "critical", "http://127.0.0.1:9/runbooks/AgentReasoningLoop", agent="cto"),
        ]
    },
}


def test_the_landing_page_shows_the_firing_alerts_of_prometheus(exporter):
    with FakePrometheus(ALERTS) as prometheus, serving(*exporter, ui=UiConfig(prometheus_url=prometheus.url + "/")) as base:
        page = requests.get(f"{base}/", timeout=10).text
    alerts = page[page.index("<h2>Firing alerts</h2>") :]
    assert "AgentReasoningLoop" not in alerts  # pending is not firing
    assert alerts.index("AgentBudgetHardStop") < alerts.index("AgentTaskStuck")  # critical first
    assert "<td>agent=&lt;img src=x&gt;, source=pc</td>" in alerts  # the key labels, escaped
    assert "instance=" not in alerts and "job=" not in alerts
    assert "<td>&lt;img src=x&gt; is in trouble</td>" in alerts
    assert '<a href="http://127.0.0.1:9/runbooks/AgentTaskStuck">runbook</a>' in alerts
    assert 'href="javascript:' not in alerts and "javascript:alert(1)" in alerts  # shown, not linked
    assert "<img" not in page


NOT_ALERTS = "Unknown: Prometheus answered something other than its alerts."


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (200, None, "Unknown: Prometheus could not be reached (ConnectionError)."),
        (503, {"status": "error"}, "Unknown: Prometheus answered HTTP 503."),
        (200, b"<html>a proxy's error page</html>", NOT_ALERTS),
        (200, {"status": "success", "data": []}, NOT_ALERTS),
        (200, {"status": "success", "data": {"alerts": [["not", "an", "alert"]]}}, NOT_ALERTS),
        (200, {"status": "success", "data": {"alerts": []}}, "<p>None firing.</p>"),
    ],
)
def test_the_landing_page_survives_a_prometheus_it_cannot_read(exporter, status, body, shown):
    if body is None:  # nothing listens there
        ui = UiConfig(prometheus_url=f"http://127.0.0.1:{free_port()}")
        with serving(*exporter, ui=ui) as base:
            answer = requests.get(f"{base}/", timeout=10)
    else:
        with FakePrometheus(body, status) as prometheus, serving(*exporter, ui=UiConfig(prometheus_url=prometheus.url)) as base:
            answer = requests.get(f"{base}/", timeout=10)
    assert answer.status_code == 200
    assert shown in answer.text
    assert "<h2>Sources</h2>" in answer.text


# -- wired into `agentwatch` -------------------------------------------------------------------


@pytest.mark.slow
def test_the_exporter_serves_readiness_the_landing_page_and_runbooks(tmp_path, server):
    """The real command, as ``serve`` wires it: 503 while the platform fails, 200 once a poll is good."""
    server.fault = "500"
    port = free_port()
    config = tmp_path / "agentwatch.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "poll_interval": "1s",
                "sources": [{"name": "pc", "url": server.url, "timeout": "2s", "retries": 0, "live_events": {"enabled": False}}],
                "ui": {"links": {"Alertmanager": "http://127.0.0.1:1/"}},
            }
        )
    )
    log = tmp_path / "agentwatch.log"
    with open(log, "wb") as out:
        args = [sys.executable, "-m", "agentwatch", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:

        def polled_and_failed() -> bool:
            if proc.poll() is not None:
                raise AssertionError(log.read_text())
            try:
                return 'class="down">down' in requests.get(f"{base}/", timeout=5).text
            except requests.ConnectionError:
                return False

        wait_for(polled_and_failed, timeout=30)
        assert requests.get(f"{base}/-/ready", timeout=5).status_code == 503
        assert '<a href="http://127.0.0.1:1/">Alertmanager</a>' in requests.get(f"{base}/", timeout=5).text
        assert "<h1>AgentTaskStuck</h1>" in requests.get(f"{base}/runbooks/AgentTaskStuck", timeout=5).text
        server.fault = None
        wait_for(lambda: requests.get(f"{base}/-/ready", timeout=5).status_code == 200, timeout=30)
    finally:
        proc.terminate()
        proc.wait(15)
