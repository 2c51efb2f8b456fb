"""A loopback HTTP server that replays responses recorded from a real Paperclip 2026.916.1.

Used by the golden tests and the bad-input tests: ``fault`` switches it into a failure
mode (``down`` is done by stopping it). It is not a Paperclip simulator: it serves the
recorded files, whatever the query, with a few routes mapped to their filtered variants.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "paperclip"
COMPANY_ID = "07473e15-1df6-4a00-8bf2-802cea090451"

ROUTES = [
    (r"^/api/health$", "api_health.json"),
    (r"^/api/companies$", "api_companies.json"),
    (r"^/api/instance/scheduler-heartbeats$", "api_instance_scheduler-heartbeats.json"),
    (r"^/api/companies/[^/]+/agents$", "api_companies_{companyId}_agents.json"),
    (r"^/api/companies/[^/]+/heartbeat-runs$", "api_companies_{companyId}_heartbeat-runs__limit-50.json"),
    (r"^/api/companies/[^/]+/live-runs$", "api_companies_{companyId}_live-runs.json"),
    (r"^/api/companies/[^/]+/costs/by-agent-model$", "api_companies_{companyId}_costs_by-agent-model.json"),
    (r"^/api/companies/[^/]+/costs/by-agent$", "api_companies_{companyId}_costs_by-agent.json"),
    (r"^/api/companies/[^/]+/costs/window-spend$", "api_companies_{companyId}_costs_window-spend.json"),
    (r"^/api/companies/[^/]+/activity$", "api_companies_{companyId}_activity__limit-20_entityType-cost_event.json"),
    (r"^/api/companies/[^/]+/budgets/overview$", "api_companies_{companyId}_budgets_overview.json"),
    (r"^/api/companies/[^/]+/approvals$", "api_companies_{companyId}_approvals.json"),
]


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


class ReplayServer:
    """``fault`` is one of None, "500", "429", "slow", "malformed", "missing_fields",
    "drift", "401", "403", "401-echo", "huge", "truncated"; ``slow_seconds`` sets the delay for "slow"."""

    def __init__(self) -> None:
        self.fault: str | None = None
        self.slow_seconds = 3.0
        self.burst = 0
        self.requests: list[str] = []
        self.authorizations: list[str] = []  # the Authorization headers received
        self.overrides: dict[str, object] = {}
        self.reject_params: set[str] = set()  # query parameters an older build answers with 400
        self.missing_paths: set[str] = set()  # regexes of routes an older build does not have (404)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                server.authorizations.append(self.headers.get("Authorization", ""))
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        # a short poll interval: stop() returns within 50 ms rather than the default 500
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> "ReplayServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def body_for(self, path: str, query: dict) -> object | None:
        if path in self.overrides:
            return self.overrides[path]
        if re.match(r"^/api/companies/[^/]+/issues$", path):
            if query.get("afterId") or query.get("offset", ["0"]) != ["0"]:
                return []
            if query.get("status") == ["blocked"]:
                return load("api_companies_{companyId}_issues__status-blocked_includeBlockedBy-true.json")
            rows = load("api_companies_{companyId}_issues__view-compact.json")
            blocked = {r["id"]: r for r in load("api_companies_{companyId}_issues__status-blocked_includeBlockedBy-true.json")}
            for row in rows:
                if row["id"] in blocked:
                    row["blockedBy"] = blocked[row["id"]].get("blockedBy", [])
            if query.get("updatedSince"):
                return []
            return rows
        for pattern, name in ROUTES:
            if re.match(pattern, path):
                return load(name)
        return None

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        fault = self.fault
        if self.burst > 0:  # the next `burst` requests fail with 503, then the server is well again
            self.burst -= 1
            return self._send(h, 503, b'{"error":"Service unavailable"}')
        if fault == "slow":
            time.sleep(self.slow_seconds)
        refusal = self._refusal(h, fault, parts.path, query)
        if refusal is not None:
            return self._send(h, *refusal)
        body = self.body_for(parts.path, query)
        if body is None:
            return self._send(h, 404, b'{"error":"API route not found"}')
        self._send(h, 200, _faulty_body(fault, body))

    def _refusal(self, h: BaseHTTPRequestHandler, fault: str | None, path: str, query: dict) -> tuple[int, bytes, dict | None] | None:
        """The error the server answers instead of the data: (status, body, headers), or None."""
        if fault in REFUSALS:
            return REFUSALS[fault]
        if fault == "401-echo":  # a platform that repeats the credential it was given in its error
            return 401, json.dumps({"error": f"invalid token {h.headers.get('Authorization', '')}"}).encode(), None
        if any(p in query for p in self.reject_params):
            return 400, b'{"error":"Unsupported query parameter"}', None
        if any(re.match(rx, path) for rx in self.missing_paths):
            return 404, b'{"error":"API route not found"}', None
        return None

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, raw: bytes, headers: dict | None = None) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass


REFUSALS: dict[str | None, tuple[int, bytes, dict | None]] = {
    "500": (500, b'{"error":"Internal server error"}', None),
    "429": (429, b'{"error":"Too many requests","retryAfterSeconds":1}', {"Retry-After": "1"}),
    "401": (401, b'{"error":"Unauthorized"}', None),
    "403": (403, b'{"error":"Forbidden"}', None),
}


def _faulty_body(fault: str | None, body: object) -> bytes:
    """The 200 body as the fault shapes it: fields missing or drifted, cut short, not JSON, or huge."""
    if fault == "missing_fields":
        body = _strip(body)
    if fault == "drift":
        body = _drift(body)
    raw = json.dumps(body).encode()
    if fault == "truncated":
        raw = raw[: max(1, len(raw) // 2)]
    if fault == "malformed":  # what a proxy in front of the platform answers
        raw = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    if fault == "huge" and isinstance(body, list):
        raw = json.dumps(body * 2000).encode()
    return raw


def _strip(body):
    """Keep only ids: every other field goes missing."""
    if isinstance(body, list):
        return [{"id": r.get("id")} if isinstance(r, dict) else r for r in body]
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k in ("id", "status")}
    return body


def _drift(body):
    """Unknown enum values, extra fields, wrong types."""
    if isinstance(body, list):
        out = []
        for r in body:
            if isinstance(r, dict):
                r = dict(r, status="brand_new_status", extraField={"x": 1}, createdAt=12345, costCents="NaN")
            out.append(r)
        return out
    return body
