"""A scriptable fake of Paperclip's live-events socket, for the socket's fault tests.

``EventsServer`` listens on 127.0.0.1 (a free port, or the one it is given) and serves
``/api/companies/{id}/events/ws`` with the ``websockets`` sync server; any other path is a 404.
It can refuse the upgrade with a status (``refuse``: one for every company, or one per company
id), ping on an interval or never
(``ping_interval``), and runs a *plan* on each socket it opens: the first plan on the first
socket, the next on the next, the last one on every later socket. A plan is a list of steps,
each a function of the connection and the server's stop event:

- ``frames(*texts)``: send these frames (text, or bytes for a binary frame);
- ``flood(n, go)``: wait for ``go``, then send ``n`` events as fast as the socket takes them;
- ``close(code)``: close with that code;
- ``drop``: end the TCP connection (a reset) with no close frame;
- ``raw(data, repeat)``: write bytes straight to the TCP stream (a frame header the client must reject);
- ``hold`` (the end of every plan): keep the socket open, silent, until the server stops.

It counts what it saw: ``upgrades`` (requests to the socket's path), ``opened`` (sockets
opened) and ``companies`` (the company id of each upgrade).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

Step = Callable[[ServerConnection, threading.Event], None]
Plan = Sequence[Step]

SOCKET_PATH = re.compile(r"^/api/companies/([^/]+)/events/ws$")


def event(kind: str, company: str = "c1", **payload: Any) -> str:
    """One event frame as Paperclip sends it."""
    return json.dumps({"id": 1, "companyId": company, "type": kind, "createdAt": "2026-01-01T00:00:00Z", "payload": payload})


def frames(*texts: str | bytes) -> Step:
    def step(conn: ServerConnection, stop: threading.Event) -> None:
        for text in texts:
            conn.send(text)

    return step


def flood(n: int, go: threading.Event | None = None, kind: str = "heartbeat.run.status") -> Step:
    """``n`` run events (alternately started and failed), once ``go`` is set."""

    def step(conn: ServerConnection, stop: threading.Event) -> None:
        if go is not None:
            go.wait()
        for i in range(n):
            if stop.is_set():
                return
            conn.send(event(kind, status="running" if i % 2 else "failed", runId=f"r{i}"))

    return step


def close(code: int) -> Step:
    def step(conn: ServerConnection, stop: threading.Event) -> None:
        conn.close(code, "fake server")

    return step


def drop(conn: ServerConnection, stop: threading.Event) -> None:
    """A connection reset: no close frame, the socket closed with SO_LINGER 0."""
    sock = conn.socket
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.shutdown(socket.SHUT_RDWR)


def raw(data: bytes, repeat: int = 1) -> Step:
    """``data`` written ``repeat`` times; a client that hangs up ends it (no error here)."""

    def step(conn: ServerConnection, stop: threading.Event) -> None:
        try:
            for _ in range(repeat):
                conn.socket.sendall(data)
        except OSError:
            pass

    return step


def text_frame_header(length: int) -> bytes:
    """The header of an unmasked text frame of ``length`` bytes (a server's frame)."""
    return bytes([0x81, 127]) + length.to_bytes(8, "big")


def hold(conn: ServerConnection, stop: threading.Event) -> None:
    stop.wait()


class EventsServer:
    """A fake live-events server; a context manager that starts and stops it."""

    def __init__(self, *plans: Plan, port: int = 0, refuse: int | dict[str, int] | None = None, ping_interval: float | None = None) -> None:
        self.plans = [list(plan) for plan in plans] or [[]]
        self.port = port
        self.refuse = refuse
        self.ping_interval = ping_interval
        self.upgrades = 0
        self.opened = 0
        self.companies: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> EventsServer:
        self._server = serve(
            self._handle,
            "127.0.0.1",
            self.port,
            process_request=self._process_request,
            ping_interval=self.ping_interval,
            ping_timeout=None,
            compression=None,
            close_timeout=1,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-events-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(10)

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        match = SOCKET_PATH.match(request.path)
        if match is None:
            return conn.respond(404, "no such path\n")
        with self._lock:
            self.upgrades += 1
            self.companies.append(match.group(1))
        status = self.refuse.get(match.group(1)) if isinstance(self.refuse, dict) else self.refuse
        if status is not None:
            return conn.respond(status, "refused by the fake server\n")
        return None

    def _handle(self, conn: ServerConnection) -> None:
        with self._lock:
            plan = self.plans[min(self.opened, len(self.plans) - 1)]
            self.opened += 1
        for step in [*plan, hold]:
            if self._stop.is_set():
                return
            step(conn, self._stop)
