"""``agentwatch demo``: serve demo worlds over HTTP, as Paperclip would.

Two instances share one port: the main company at ``/`` (``/api/...``), and a small healthy
company at ``/flaky`` (``/flaky/api/...``) whose platform goes down on a schedule, for the
platform and exporter alerts (``PaperclipDown``, ``AgentwatchPollFailing``, ``AgentwatchDataStale``).

Started by ``agentwatch stack``, the demo gets a random identity in ``AGENTWATCH_DEMO_IDENTITY``
and echoes it in an ``X-Agentwatch-Demo`` header on every answer: the stack enables the demo's
canaries (which write tasks) only once the server on the demo's port has proven it is that demo.
On its own the demo has no identity and sends no such header.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from agentwatch.demo import api
from agentwatch.demo.world import World

log = logging.getLogger("agentwatch.demo")

STOP_WITHIN = 0.05  # seconds: how long stop() may wait for the serving thread to notice

IDENTITY_ENV = "AGENTWATCH_DEMO_IDENTITY"
IDENTITY_HEADER = "X-Agentwatch-Demo"

# the flaky instance is down for two minutes every ten, from minute four (times pace)
FLAKY_OUTAGES = tuple((240 + 600 * k, 360 + 600 * k) for k in range(144))
# and, two minutes before each outage, refuses the exporter's key for 80 s (a revoked board key):
# the platform is up and the last outage over 5 minutes old, so AgentwatchPollFailing pages alone
FLAKY_REFUSALS = tuple((120 + 600 * k, 200 + 600 * k) for k in range(144))


def make_worlds(pace: float = 1.0, start: float | None = None) -> dict[str, World]:
    return {
        "": World(pace=pace, start=start),
        "/flaky": World("Flaky Labs", "FLK", pace=pace, start=start, outages=FLAKY_OUTAGES, cast="healthy", refusals=FLAKY_REFUSALS),
    }


def _handler(served: dict[str, World], intercept, echoed: str | None) -> type[BaseHTTPRequestHandler]:
    """The request handler over ``served`` (prefix -> world); ``echoed`` goes back in ``X-Agentwatch-Demo``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "agentwatch-demo"

        def log_message(self, fmt, *args):
            log.debug("request", extra={"request": fmt % args})

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            prefix = "/flaky" if parts.path.startswith("/flaky/") else ""
            body = None
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:
                    self._send(400, {"error": "invalid JSON"})
                    return
            query = dict(parse_qsl(parts.query))
            answer = intercept(method, parts.path, query) if intercept else None
            status, payload = answer or api.handle(served[prefix], method, parts.path[len(prefix) :], query, body)
            self._send(status, payload, method == "GET")

        def _send(self, status: int, payload, validate: bool = False) -> None:
            """The JSON answer; with ``validate`` (a GET), a weak ``ETag`` as Express sends one,
            and a 304 without a body when the request's ``If-None-Match`` holds it."""
            data = json.dumps(payload).encode()
            etag = f'W/"{len(data):x}-{hashlib.sha1(data).hexdigest()[:27]}"' if validate and 200 <= status < 300 else None
            if etag and etag in (self.headers.get("If-None-Match") or "").split(", "):
                status, data = 304, b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            if etag:
                self.send_header("ETag", etag)
            if echoed:
                self.send_header(IDENTITY_HEADER, echoed)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_PATCH(self):
            self._dispatch("PATCH")

    return Handler


class DemoServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3100,
        pace: float = 1.0,
        worlds: dict[str, World] | None = None,
        intercept=None,
        identity: str | None = None,
    ) -> None:
        """``intercept(method, path, query)`` may answer a request itself (status, payload), or
        return None to let the worlds answer (the benchmark records and mutates through it).
        ``identity`` (default: ``$AGENTWATCH_DEMO_IDENTITY``) is echoed in ``X-Agentwatch-Demo``."""
        self.worlds = served = worlds if worlds is not None else make_worlds(pace)
        self.identity = echoed = identity if identity is not None else os.environ.get(IDENTITY_ENV)

        self.httpd = ThreadingHTTPServer((host, port), _handler(served, intercept, echoed))
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=STOP_WITHIN)

    def start(self) -> "DemoServer":
        threading.Thread(target=self.serve_forever, daemon=True, name="demo-http").start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
