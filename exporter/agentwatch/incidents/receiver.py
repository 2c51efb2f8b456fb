"""The Alertmanager webhook receiver: ``POST /alerts/<receiver>`` (or ``/alerts``).

Checks the shared secret (``Authorization: Bearer <secret>``, as Alertmanager's
``http_config.authorization.credentials_file`` sends it) in constant time, records the
notification, answers, and hands fresh firing alerts to the remediator on its own thread, so
Alertmanager never waits on the platform. ``GET /-/healthy`` answers 200 without a secret.
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from agentwatch.incidents.events import AlertEvent, events_from
from agentwatch.incidents.remediate import Remediator
from agentwatch.incidents.store import IncidentLog

log = logging.getLogger("agentwatch.incidents")
Notification = tuple[list[AlertEvent], list[AlertEvent]]  # every alert of a notification, and those not seen before

MAX_BODY = 8 * 1024 * 1024


class IncidentReceiver:
    def __init__(
        self, store: IncidentLog, remediator: Remediator | None = None, secret: str | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.store = store
        self.remediator = remediator
        self.secret = secret.encode() if secret else None
        self.secret_file: Path | None = None  # where the caller keeps the secret, when Alertmanager reads it from a file
        self.work: queue.Queue[Notification | None] = queue.Queue()  # None stops the remediation thread
        self.httpd = ThreadingHTTPServer((host, port), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_port}"
        # stop() returns within 50 ms (the serving loop's poll interval) rather than the default 500
        self.threads = [threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True, name="incidents-http")]
        if remediator is not None:
            self.threads.append(threading.Thread(target=self._remediate, args=(remediator,), daemon=True, name="incidents-remediate"))
        for t in self.threads:
            t.start()

    def authorized(self, header: str) -> bool:
        if self.secret is None:
            return True
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.secret)

    def _remediate(self, remediator: Remediator) -> None:
        while True:
            item = self.work.get()
            if item is None:
                return
            events, fresh = item
            try:
                remediator.handle(events, fresh, datetime.now(timezone.utc))
            except Exception:  # a bug here must not stop the receiver
                log.exception("remediation failed")
            finally:
                self.work.task_done()

    def drain(self) -> None:
        """Wait until every queued remediation has been handled (tests, shutdown)."""
        self.work.join()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.remediator is not None:
            self.drain()
            self.work.put(None)

    def alerts(self, status: str = "firing") -> list[tuple[str, dict]]:
        """(receiver, alert) for every recorded event with ``status``, and the last heartbeats; the
        stack and its tests read this."""
        return [
            (
                r["receiver"],
                {"labels": r["labels"], "annotations": r["annotations"], "status": r["event"], "generatorURL": r.get("generator_url", "")},
            )
            for r in [*self.store.records(), *self.store.last_heartbeats()]
            if r["event"] == status
        ]


def _handler(receiver: IncidentReceiver) -> type[BaseHTTPRequestHandler]:
    """The HTTP handler class of one receiver: the health endpoints and ``POST /alerts[/<name>]``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, code: int, text: str = "") -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._answer(200, "ok\n") if self.path in ("/-/healthy", "/-/ready") else self._answer(404)

        def do_POST(self):
            if not receiver.authorized(self.headers.get("Authorization", "")):
                self._answer(401, "missing or wrong shared secret\n")
                return
            if not (self.path == "/alerts" or self.path.startswith("/alerts/")):
                self._answer(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413)
                return
            try:
                payload = json.loads(self.rfile.read(length))
                name = self.path.rstrip("/").rsplit("/", 1)[-1]
                events = events_from(payload, name if name != "alerts" else str(payload.get("receiver", "")))
            except ValueError as exc:
                self._answer(400, f"{exc}\n")
                return
            try:
                fresh = receiver.store.record_alerts(events, datetime.now(timezone.utc))
            except OSError as exc:
                log.error("incident log write failed; Alertmanager will retry", extra={"error": exc.strerror})
                self._answer(500, "incident log write failed\n")
                return
            if receiver.remediator is not None:
                receiver.work.put((events, fresh))
            self._answer(200, "recorded\n")

    return Handler
