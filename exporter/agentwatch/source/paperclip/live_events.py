"""Paperclip's live events: one WebSocket per company, read on its own thread.

Each company's socket (``/api/companies/{id}/events/ws``) is read by a ``CompanySocket``
thread. A frame is decoded, mapped to what it says changed (``events.targets_of``) and marked
in the source's ``ChangeFeed``; nothing else happens on that thread, so a flood of events costs
a JSON decode each and never a request. The poller takes the feed's marks, gathered over a
debounce window, and refreshes exactly those parts (``PaperclipSource.refresh``).

Resilience, as the README's "How it polls" tells it:

- a socket that cannot connect, or drops, is tried again after a jittered, doubling backoff
  (``reconnect_min`` to ``reconnect_max``);
- a 404, 401 or 403 at the upgrade means this server or token has no socket: it is logged once,
  the company is ``unavailable`` and polled, and tried again after ``unavailable_retry``;
- a close with 1013 (the server's queue for a slow reader overflowed), a socket that goes
  ``ping_timeout`` with no ping and no frame, a frame over ``max_frame_bytes`` and any reconnect
  after a drop mean events were lost: the feed asks for a full poll (``resync``);
- a frame that is not an event is counted and treated as "something changed".

Only the socket state, the counters and the marks live here; the REST reads stay in ``client``.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Mapping
from urllib.parse import quote

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Opcode
from websockets.sync.client import ClientConnection, connect

from agentwatch.config import LiveEventsConfig
from agentwatch.source.paperclip.events import EVERYTHING, Target, spend_agent, targets_of, type_label

log = logging.getLogger("agentwatch.source")

# the protocol's own log: at debug, websockets logs the handshake's headers, the token among them
PROTOCOL_LOG = logging.getLogger("agentwatch.source.websocket")
PROTOCOL_LOG.setLevel(logging.INFO)

RECV_TICK = 1.0  # how often a quiet reader wakes to check for a missed ping or a stop
UNAVAILABLE_STATUSES = (401, 403, 404)


class SocketState(str, Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    BACKOFF = "backoff"  # waiting to reconnect after a failure or a drop
    UNAVAILABLE = "unavailable"  # 404, 401 or 403 at the upgrade: polled until ``unavailable_retry``
    STOPPED = "stopped"


STATES = tuple(SocketState)


@dataclass
class Changes:
    """What the feed gathered since the poller last took it: the parts to read again per company,
    and whether events may have been lost (then a full poll, not a targeted refresh)."""

    targets: dict[str, set[Target]] = field(default_factory=dict)
    resync: bool = False
    # per company marked with IN_FLIGHT_SPEND: the agents whose spend to read (None: every agent)
    spend_agents: dict[str, set[str] | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.resync or bool(self.targets)


class ChangeFeed:
    """The marks of every company's socket, taken by the poller. Marks of one part collapse into
    one, so a burst of any length is one refresh and holds at most one set per company."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._changes = Changes()

    def mark(self, company_id: str, targets: frozenset[Target] | set[Target], spend_agent: str | None = None) -> None:
        """Mark ``targets`` of a company as changed; ``spend_agent``: the one agent whose
        in-flight spend changed, if the event named it (else every agent's is read)."""
        if not targets:
            return
        with self._cond:
            changes = self._changes
            changes.targets.setdefault(company_id, set()).update(targets)
            if Target.IN_FLIGHT_SPEND in targets:
                agents = changes.spend_agents.get(company_id, set())
                if spend_agent is None or agents is None:
                    changes.spend_agents[company_id] = None
                else:
                    changes.spend_agents[company_id] = agents | {spend_agent}
            self._cond.notify_all()

    def resync(self) -> None:
        with self._cond:
            self._changes.resync = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """Block until something is marked or ``notify`` is called, at most ``timeout`` seconds;
        whether something is marked. (Not ``wait_for``: a notify without a mark must wake it.)"""
        with self._cond:
            if not self._changes:
                self._cond.wait(timeout=max(0.0, timeout))
            return bool(self._changes)

    def take(self) -> Changes:
        with self._cond:
            changes, self._changes = self._changes, Changes()
            return changes

    def notify(self) -> None:
        """Wake a waiter without a mark (a stop, or a socket that changed state)."""
        with self._cond:
            self._cond.notify_all()


@dataclass
class LiveEventStats:
    """Counters the self-metrics read: events by type, frames rejected, disconnects by reason."""

    events: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    disconnects: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def bump(counts: dict[str, int], key: str) -> None:
        counts[key] = counts.get(key, 0) + 1


class _PingAwareConnection(ClientConnection):
    """A client connection that notes when the server last pinged (the sync API answers pings
    itself and tells nobody)."""

    last_ping = 0.0

    def process_event(self, event: Any) -> None:
        if getattr(event, "opcode", None) is Opcode.PING:
            self.last_ping = time.monotonic()
        super().process_event(event)


def ws_url(base_url: str, company_id: str) -> str:
    """The socket's URL: the source's http(s) URL as ws(s), and the company's path."""
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/companies/{quote(company_id, safe='')}/events/ws"


class CompanySocket:
    """One company's socket, read on its own thread until ``stop``."""

    def __init__(
        self,
        source: str,
        base_url: str,
        company_id: str,
        token: str | None,
        config: LiveEventsConfig,
        feed: ChangeFeed,
        stats: LiveEventStats,
        lock: threading.Lock,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.source, self.company_id, self.config = source, company_id, config
        self.url = ws_url(base_url, company_id)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.feed, self.stats, self._lock, self._rng = feed, stats, lock, rng
        self.name = company_id  # the company's name, the ``company`` label (``LiveEvents.follow``)
        self.state = SocketState.CONNECTING
        self.connects = 0
        self._stop = threading.Event()
        self._conn: ClientConnection | None = None
        self._logged_unavailable = False
        self._thread = threading.Thread(target=self._run, name=f"events-{source}-{company_id[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.signal_stop()
        self.join(timeout)

    def signal_stop(self) -> None:
        """Ask the thread to end: it does within a receive tick, or once a connect in progress
        gives up (``open_timeout``); the thread is a daemon, so no exit waits on it."""
        self._stop.set()
        conn = self._conn
        if conn is not None:
            conn.close()

    def join(self, timeout: float) -> None:
        if self._thread.ident is not None:
            self._thread.join(max(0.0, timeout))
        self._set(SocketState.STOPPED)

    def _set(self, state: SocketState) -> None:
        if state is not self.state:
            self.state = state
            self.feed.notify()  # the poller's full-poll interval depends on every socket's state

    def _count(self, counts: dict[str, int], key: str) -> None:
        with self._lock:
            LiveEventStats.bump(counts, key)

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._set(SocketState.CONNECTING)
            outcome = self._session()
            if self._stop.is_set():
                break
            if outcome == "unavailable":
                failures = 0
                self._set(SocketState.UNAVAILABLE)
                self._stop.wait(self.config.unavailable_retry)
                continue
            failures = 0 if outcome == "dropped" else failures + 1
            self._set(SocketState.BACKOFF)
            self._stop.wait(self.backoff(max(failures, 1)))

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random delay up to ``reconnect_min * 2**(attempt-1)``, capped at
        ``reconnect_max``, and at least a tenth of ``reconnect_min``."""
        cap = min(self.config.reconnect_max, self.config.reconnect_min * 2.0 ** min(attempt - 1, 30))
        return max(self.config.reconnect_min / 10, cap * self._rng())

    def _session(self) -> str:
        """Connect and read until the socket ends: "unavailable", "refused" (no connection) or
        "dropped" (it was open, then ended)."""
        try:
            with connect(
                self.url,
                additional_headers=self.headers,
                open_timeout=10,
                ping_interval=None,  # the server pings; a missed ping is watched for below
                close_timeout=2,
                max_size=self.config.max_frame_bytes,
                create_connection=_PingAwareConnection,
                logger=PROTOCOL_LOG,
            ) as conn:
                self._conn = conn
                return self._read(conn)  # it handles the socket's own end
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in UNAVAILABLE_STATUSES:
                self._unavailable(f"the server answered {status} to the upgrade")
                return "unavailable"
            self._count(self.stats.disconnects, f"http_{status // 100}xx")
            return "refused"
        except InvalidURI as exc:
            self._unavailable(f"invalid socket URL: {exc}")
            return "unavailable"
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            self._count(self.stats.disconnects, "refused")
            log.debug("live events socket refused", extra={"source": self.source, "company": self.company_id, "error": str(exc)})
            return "refused"
        finally:
            self._conn = None

    def _read(self, conn: ClientConnection) -> str:
        self.connects += 1
        self.feed.resync()  # what changed before it opened (or while it was down) came as no event
        self._set(SocketState.OPEN)
        log.info("live events socket open", extra={"source": self.source, "company": self.company_id})
        last_heard = time.monotonic()
        while not self._stop.is_set():
            try:
                frame = conn.recv(timeout=RECV_TICK)
            except TimeoutError:
                heard = max(last_heard, getattr(conn, "last_ping", 0.0))
                if time.monotonic() - heard > self.config.ping_timeout:
                    return self._lost("ping_timeout", "no ping from the server")
                continue
            except ConnectionClosed as exc:
                return "dropped" if self._stop.is_set() else self._closed(exc)
            last_heard = time.monotonic()
            self._take(frame)
        return "dropped"

    def _take(self, frame: str | bytes) -> None:
        try:
            event = json.loads(frame)
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the interpreter recurses
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self._count(self.stats.rejected, "malformed")
            self.feed.mark(self.company_id, EVERYTHING)  # it may have been an event
            return
        self._count(self.stats.events, type_label(event))
        self.feed.mark(self.company_id, targets_of(event), spend_agent(event))

    def _closed(self, exc: ConnectionClosed) -> str:
        code = exc.rcvd.code if exc.rcvd is not None else (exc.sent.code if exc.sent is not None else 1006)
        reason = {1013: "try_again_later", 1009: "oversized", 1000: "closed", 1001: "going_away"}.get(code, "dropped")
        return self._lost(reason, f"closed with {code}")

    def _lost(self, reason: str, message: str) -> str:
        """The socket ended after it was open: events may be lost, so a full poll follows."""
        self._count(self.stats.disconnects, reason)
        self.feed.resync()
        log.warning(
            "live events socket lost; polling until it is back",
            extra={"source": self.source, "company": self.company_id, "reason": reason, "error": message},
        )
        return "dropped"

    def _unavailable(self, why: str) -> None:
        self._count(self.stats.disconnects, "unavailable")
        if not self._logged_unavailable:
            self._logged_unavailable = True
            log.warning(
                "live events unavailable; polling instead",
                extra={"source": self.source, "company": self.company_id, "reason": why},
            )


class LiveEvents:
    """Every company's socket for one source, and the feed they mark."""

    def __init__(self, source: str, base_url: str, token: str | None, config: LiveEventsConfig) -> None:
        self.source, self.base_url, self.token, self.config = source, base_url, token, config
        self.feed = ChangeFeed()
        self.stats = LiveEventStats()
        self._lock = threading.Lock()
        self._sockets: dict[str, CompanySocket] = {}

    def follow(self, companies: Mapping[str, str]) -> None:
        """Keep one socket per company of the last poll (id -> name): open the new ones, stop the
        gone ones."""
        for cid in set(self._sockets) - set(companies):
            self._sockets.pop(cid).stop()
        for cid, name in companies.items():
            sock = self._sockets.get(cid)
            if sock is None:
                sock = self._sockets[cid] = CompanySocket(
                    self.source, self.base_url, cid, self.token, self.config, self.feed, self.stats, self._lock
                )
                sock.start()
            sock.name = name

    def states(self) -> dict[str, SocketState]:
        """Each company's socket state, by company id."""
        return {cid: sock.state for cid, sock in list(self._sockets.items())}

    def named_states(self) -> list[tuple[str, SocketState]]:
        """(company name, socket state) of each company, for the ``company`` label."""
        return sorted((sock.name, sock.state) for sock in list(self._sockets.values()))

    @property
    def healthy(self) -> bool:
        """Every company's socket is open (and there is at least one): the slow full poll is safe."""
        states = self.states()
        return bool(states) and all(s is SocketState.OPEN for s in states.values())

    def counters(self) -> LiveEventStats:
        with self._lock:
            return LiveEventStats(dict(self.stats.events), dict(self.stats.rejected), dict(self.stats.disconnects))

    def close(self, timeout: float = 5.0) -> None:
        """Stop every socket, waiting at most ``timeout`` in all (not per company)."""
        sockets = list(self._sockets.values())
        self._sockets.clear()
        for sock in sockets:
            sock.signal_stop()
        deadline = time.monotonic() + timeout
        for sock in sockets:
            sock.join(deadline - time.monotonic())
        self.feed.notify()
