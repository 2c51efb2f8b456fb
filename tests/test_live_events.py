"""Paperclip's live events, against a fake socket: the faults the client must ride out, the
event-to-target table, and the poller's live loop.

The socket tests run ``LiveEvents`` against ``live_socket.EventsServer`` (a scriptable
``websockets`` server on 127.0.0.1): refused, dropped mid-stream, closed with a code, silent
without pings, oversized and malformed frames, a flood, and an upgrade answered 404/401/403.
The loop tests drive ``Poller._run_live`` with a stub source and a stub of the live events (a
feed and a ``healthy`` flag), counting polls and refreshes. Nothing asserts how long anything
took: each test waits, generously, for an outcome (the machine is shared).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from agentwatch.config import LiveEventsConfig, Settings, SourceConfig
from agentwatch.model import Snapshot
from agentwatch.poller import Poller
from agentwatch.source.base import PollStats, SourceError
from agentwatch.source.paperclip import live_events
from agentwatch.source.paperclip.client import PaperclipSource
from agentwatch.source.paperclip.events import KNOWN_TYPES, Target, targets_of, type_label
from agentwatch.source.paperclip.live_events import ChangeFeed, CompanySocket, LiveEvents, LiveEventStats, SocketState
from harness.paperclip import wait_for
from live_socket import EventsServer, close, drop, event, flood, frames, raw, text_frame_header

ALL = frozenset(Target)
RUN_ENDED = frozenset({Target.RUNS, Target.LIVE_RUNS, Target.COSTS, Target.AGENTS, Target.COMPANIES})
SPEND = frozenset({Target.COSTS, Target.IN_FLIGHT_SPEND, Target.BUDGETS, Target.AGENTS, Target.COMPANIES})
BUDGET = SPEND | {Target.APPROVALS}


def quick(**overrides: Any) -> LiveEventsConfig:
    """Durations short enough for a test: reconnects in tens of milliseconds."""
    values: dict[str, Any] = dict(
        ping_timeout=2.0, reconnect_min=0.05, reconnect_max=0.2, unavailable_retry=0.05, max_frame_bytes=64 * 1024, debounce=0.05
    )
    return LiveEventsConfig(**{**values, **overrides})


def until(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    return wait_for(predicate, timeout=timeout, interval=0.02, what=what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def event_threads(source: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(f"events-{source}-") and t.is_alive()]


@contextmanager
def following(url: str, config: LiveEventsConfig, *companies: str, source: str = "t") -> Iterator[LiveEvents]:
    """``LiveEvents`` following ``companies`` (default one, ``c1``) at ``url``; closed after."""
    live = LiveEvents(source, url, None, config)
    live.follow({cid: f"name of {cid}" for cid in companies or ("c1",)})
    try:
        yield live
    finally:
        live.close()


def counters(live: LiveEvents) -> LiveEventStats:
    return live.counters()


def reconnected(live: LiveEvents, server: EventsServer, reason: str) -> bool:
    """The socket was lost for ``reason``, opened again and is open."""
    return counters(live).disconnects.get(reason, 0) >= 1 and server.opened >= 2 and live.states()["c1"] is SocketState.OPEN


# -- stubs for the poller ----------------------------------------------------------------------


class StubLive:
    """What ``Poller._run_live`` reads of the live events: a config, a feed and ``healthy``."""

    def __init__(self, config: LiveEventsConfig) -> None:
        self.config = config
        self.feed = ChangeFeed()
        self.healthy = True


class StubSource:
    """A source with nothing in it that counts its polls and refreshes; a poll follows ``companies``
    on its live events, as ``PaperclipSource`` does."""

    name = "stub"
    request_stats = None

    def __init__(self, live: Any, companies: Mapping[str, str] | None = None) -> None:
        self.live = live
        self.companies = dict(companies or {})
        self.last_poll = PollStats()
        self.calls: list[str] = []
        self.refreshed: list[dict[str, set[Target]]] = []
        self.fail_refreshes = 0
        self.on_refresh: Callable[[], None] = lambda: None

    def poll(self, now: float | None = None) -> Snapshot:
        self.calls.append("poll")
        if self.companies and isinstance(self.live, LiveEvents):
            self.live.follow(self.companies)
        return Snapshot(source=self.name, taken_at=now or time.time())

    def refresh(self, changes: Mapping[str, set[Target]], now: float | None = None, spend_agents=None) -> Snapshot:
        self.calls.append("refresh")
        self.refreshed.append({cid: set(targets) for cid, targets in changes.items()})
        self.on_refresh()
        if self.fail_refreshes:
            self.fail_refreshes -= 1
            raise SourceError("connection", "/api/companies/{id}/agents", "refused")
        return Snapshot(source=self.name, taken_at=now or time.time())

    def close(self) -> None:
        if isinstance(self.live, LiveEvents):
            self.live.close()


@contextmanager
def polling(source: StubSource, poll_interval: float) -> Iterator[Poller]:
    cfg = SourceConfig(name=source.name, poll_interval=poll_interval)
    poller = Poller(source, cfg, Settings(sources=[cfg]))
    poller.start()
    try:
        yield poller
    finally:
        poller.stop()
    assert poller._thread is not None and not poller._thread.is_alive(), "the poller's loop outlived stop()"


def refreshes(poller: Poller, trigger: str) -> int:
    return poller.read().refreshes.get(trigger, 0)


# -- 1-3: refused, dropped, closed -------------------------------------------------------------


def test_a_refused_socket_backs_off_and_opens_once_the_server_is_there():
    port = free_port()
    with following(f"http://127.0.0.1:{port}", quick()) as live:
        seen: set[SocketState] = set()

        def refused_and_backing_off() -> bool:
            seen.add(live.states()["c1"])
            return counters(live).disconnects.get("refused", 0) >= 3 and SocketState.BACKOFF in seen

        until(refused_and_backing_off, "three refused connects, and the socket backing off")
        assert SocketState.OPEN not in seen
        assert not live.feed.take()  # a refusal loses no event: nothing to read again yet
        with EventsServer(port=port) as server:
            until(lambda: live.states()["c1"] is SocketState.OPEN, "the socket to open")
            assert server.opened == 1 and server.companies[-1] == "c1"
            assert live.feed.take().resync  # what changed while it was down came as no event
            assert live.healthy


def test_a_socket_dropped_mid_stream_asks_for_a_full_poll_and_reconnects():
    with EventsServer([frames(event("agent.status")), drop], []) as server:
        with following(server.url, quick()) as live:
            until(lambda: reconnected(live, server, "dropped"), "a reconnect after the drop")
            changes = live.feed.take()
            assert changes.resync and changes.targets == {"c1": {Target.AGENTS}}
            assert counters(live).events == {"agent.status": 1}
            assert live.healthy


@pytest.mark.parametrize(("code", "reason"), [(1013, "try_again_later"), (1000, "closed"), (1011, "dropped")])
def test_a_close_from_the_server_asks_for_a_full_poll_and_reconnects(code, reason):
    with EventsServer([close(code)], []) as server:
        with following(server.url, quick()) as live:
            until(lambda: reconnected(live, server, reason), f"a reconnect after a close with {code}")
            assert live.feed.take().resync
            assert set(counters(live).disconnects) == {reason}


# -- 4: pings ----------------------------------------------------------------------------------


def test_a_socket_with_no_ping_and_no_frame_is_lost_after_the_ping_timeout(monkeypatch):
    monkeypatch.setattr(live_events, "RECV_TICK", 0.05)
    with EventsServer(ping_interval=None) as server:
        with following(server.url, quick(ping_timeout=0.5)) as live:
            until(lambda: reconnected(live, server, "ping_timeout"), "a reconnect after the missed ping")
            assert live.feed.take().resync


@pytest.mark.slow
def test_a_server_that_pings_keeps_a_silent_socket_open(monkeypatch):
    monkeypatch.setattr(live_events, "RECV_TICK", 0.05)
    with EventsServer(ping_interval=0.1) as server:
        with following(server.url, quick(ping_timeout=1.0)) as live:
            until(lambda: live.states()["c1"] is SocketState.OPEN, "the socket to open")
            time.sleep(2.5)  # over twice the ping timeout, with no event: only the pings
            assert counters(live).disconnects == {}
            assert server.opened == 1 and live.states()["c1"] is SocketState.OPEN


# -- 5, 6: oversized and malformed frames ------------------------------------------------------

OVERSIZED = {
    "whole": [frames("x" * 200_000)],  # over the 64 KiB limit
    # the header of an 8 MiB frame, then its payload streamed: kept, it would show in the peak
    "streamed": [raw(text_frame_header(8 << 20)), raw(b"x" * 65536, repeat=128)],
}


@pytest.mark.parametrize("plan", OVERSIZED.values(), ids=OVERSIZED.keys())
def test_an_oversized_frame_drops_the_socket_without_keeping_the_frame(plan):
    with EventsServer(plan, []) as server:
        tracemalloc.start()
        try:
            with following(server.url, quick()) as live:
                until(lambda: reconnected(live, server, "oversized"), "a reconnect after the oversized frame")
                peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20, f"{peak} bytes at the peak"
        changes = live.feed.take()
        assert changes.resync and not changes.targets
        assert counters(live).events == {} and counters(live).rejected == {}


MALFORMED = {
    "not json": "not json {",
    "array": "[1, 2, 3]",
    "no type": '{"id": 1, "companyId": "c1", "payload": {}}',
    "type not a string": '{"type": 7}',
    "binary garbage": b"\x00\xff\xfe garbage",
    "nested too deep": "[" * 50_000,
}


@pytest.mark.parametrize("frame", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_frame_is_counted_and_marks_everything(frame):
    with EventsServer([frames(frame, event("heartbeat.run.log"))]) as server:
        with following(server.url, quick()) as live:
            until(lambda: counters(live).events.get("heartbeat.run.log"), "the good event after the bad frame")
            assert counters(live).rejected == {"malformed": 1}
            assert live.feed.take().targets == {"c1": ALL}  # the log event alone marks nothing
            assert live.states()["c1"] is SocketState.OPEN and server.opened == 1
            assert counters(live).disconnects == {}


def test_malformed_frames_leave_the_socket_open_and_the_next_event_is_taken():
    with EventsServer([frames(*MALFORMED.values()), frames(event("agent.status"))]) as server:
        with following(server.url, quick()) as live:
            until(lambda: counters(live).events.get("agent.status"), "the good event")
            assert counters(live).rejected == {"malformed": len(MALFORMED)}
            assert live.feed.take().targets == {"c1": ALL}
            assert server.opened == 1 and counters(live).disconnects == {}
            assert live.states()["c1"] is SocketState.OPEN


# -- 7: a flood --------------------------------------------------------------------------------


def test_a_marked_part_is_held_once_however_often_it_is_marked():
    feed = ChangeFeed()
    for i in range(20_000):
        feed.mark("c1", targets_of({"type": "heartbeat.run.status", "payload": {"status": "running" if i % 2 else "failed"}}))
        feed.mark("c2", {Target.ISSUES})
    changes = feed.take()
    assert changes.targets == {"c1": set(RUN_ENDED), "c2": {Target.ISSUES}} and not changes.resync
    assert not feed.take()


def test_a_flood_of_events_is_a_few_refreshes_and_never_blocks_a_scrape():
    burst = 20_000
    go = threading.Event()
    with EventsServer([flood(burst, go)]) as server:
        live = LiveEvents("flood", server.url, None, quick(debounce=0.2, min_refresh_interval=1.0, full_poll_interval=600))
        source = StubSource(live, {"c1": "one"})
        received: list[int] = []
        source.on_refresh = lambda: received.append(sum(counters(live).events.values()))
        with polling(source, poll_interval=600) as poller:
            until(lambda: refreshes(poller, "resync") >= 1, "the full poll when the socket opens")
            reads_mid_burst = 0

            def scrape_through_the_burst() -> None:
                nonlocal reads_mid_burst
                while not received or received[-1] < burst:
                    before = sum(counters(live).events.values())
                    poller.read()
                    reads_mid_burst += 0 < before < burst
                    time.sleep(0.005)

            scraper = threading.Thread(target=scrape_through_the_burst, name="scraper", daemon=True)
            scraper.start()
            go.set()
            until(lambda: received and received[-1] == burst, "a refresh after the last event", timeout=60)
            scraper.join(10)
            assert counters(live).events == {"heartbeat.run.status": burst}
            assert 1 <= refreshes(poller, "event") <= 5, poller.read().refreshes
            assert refreshes(poller, "resync") == 1 and refreshes(poller, "scheduled") == 1
            assert all(r == {"c1": set(RUN_ENDED)} for r in source.refreshed), source.refreshed
            assert reads_mid_burst >= 2  # the state was read while the burst went on


# -- 8: no socket on this server ---------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 401, 403])
def test_no_socket_at_the_upgrade_is_logged_once_and_polled(status, caplog):
    caplog.set_level(logging.WARNING, logger="agentwatch.source")
    with EventsServer(refuse=status) as server:
        live = LiveEvents(f"u{status}", server.url, None, quick(full_poll_interval=600))
        source = StubSource(live, {"c1": "one"})
        with polling(source, poll_interval=0.1) as poller:
            seen: set[SocketState] = set()

            def retried_and_polled() -> bool:
                seen.add(live.states().get("c1", SocketState.CONNECTING))
                return server.upgrades >= 4 and refreshes(poller, "scheduled") >= 5 and SocketState.UNAVAILABLE in seen

            # far sooner than the slow full poll: the source is polled on its poll interval
            until(retried_and_polled, "retries of the socket and polls on the poll interval", timeout=10)
            assert not seen & {SocketState.OPEN, SocketState.BACKOFF}
            assert not live.healthy
            assert set(counters(live).disconnects) == {"unavailable"} and counters(live).disconnects["unavailable"] >= 3
            assert "resync" not in poller.read().refreshes and "event" not in poller.read().refreshes
    warnings = [r for r in caplog.records if r.name == "agentwatch.source" and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["live events unavailable; polling instead"]


def test_a_server_error_at_the_upgrade_is_retried_with_backoff(caplog):
    caplog.set_level(logging.WARNING, logger="agentwatch.source")
    with EventsServer(refuse=500) as server:
        with following(server.url, quick()) as live:
            until(lambda: counters(live).disconnects.get("http_5xx", 0) >= 3, "three retries")
            assert live.states()["c1"] in (SocketState.BACKOFF, SocketState.CONNECTING)
            assert not live.feed.take()
    assert not [r for r in caplog.records if r.name == "agentwatch.source" and "unavailable" in r.getMessage()]


# -- 9, 10: backoff and the event table --------------------------------------------------------


@pytest.mark.parametrize("draw", [0.0, 0.001, 0.5, 0.999, 1.0])
def test_the_backoff_stays_within_its_bounds(draw):
    cfg = quick(reconnect_min=1.0, reconnect_max=60.0)
    sock = CompanySocket("t", "http://127.0.0.1:1", "c1", None, cfg, ChangeFeed(), LiveEventStats(), threading.Lock(), rng=lambda: draw)
    delays = [sock.backoff(attempt) for attempt in range(1, 80)]
    for attempt, delay in enumerate(delays, start=1):
        assert cfg.reconnect_min / 10 <= delay <= min(cfg.reconnect_max, cfg.reconnect_min * 2 ** (attempt - 1))
    assert delays == sorted(delays)  # a later attempt never waits less, for the same draw
    if draw == 1.0:
        assert delays[0] == cfg.reconnect_min and delays[-1] == cfg.reconnect_max


def test_the_backoff_is_jittered():
    cfg = quick(reconnect_min=1.0, reconnect_max=60.0)
    rng = random.Random(7)
    sock = CompanySocket("t", "http://127.0.0.1:1", "c1", None, cfg, ChangeFeed(), LiveEventStats(), threading.Lock(), rng=rng.random)
    assert len({round(sock.backoff(6), 6) for _ in range(20)}) > 10


def activity(**payload: Any) -> dict[str, Any]:
    return {"type": "activity.logged", "payload": payload}


def run_status(status: str | None) -> dict[str, Any]:
    return {"type": "heartbeat.run.status", "payload": {} if status is None else {"status": status, "runId": "r1"}}


TARGETS: list[tuple[str, Any, frozenset[Target]]] = [
    ("run queued", {"type": "heartbeat.run.queued", "payload": {"runId": "r1"}}, frozenset({Target.LIVE_RUNS})),
    ("status running", run_status("running"), frozenset({Target.LIVE_RUNS})),
    ("status queued", run_status("queued"), frozenset({Target.LIVE_RUNS})),
    ("status succeeded", run_status("succeeded"), RUN_ENDED),
    ("status failed", run_status("failed"), RUN_ENDED),
    ("status cancelled", run_status("cancelled"), RUN_ENDED),
    ("status stripped", run_status(None), RUN_ENDED),
    ("progress", {"type": "heartbeat.run.progress", "payload": {"runId": "r1"}}, frozenset()),
    ("run event", {"type": "heartbeat.run.event", "payload": {"runId": "r1"}}, frozenset()),
    ("run log", {"type": "heartbeat.run.log", "payload": {"chunk": "x"}}, frozenset()),
    ("agent status", {"type": "agent.status", "payload": {"agentId": "a1", "status": "paused"}}, frozenset({Target.AGENTS})),
    ("issue", activity(entityType="issue", action="issue.updated"), frozenset({Target.ISSUES})),
    ("approval", activity(entityType="approval", action="approval.created"), frozenset({Target.APPROVALS, Target.ISSUES})),
    ("approval on an issue", activity(entityType="issue", action="approval.approved"), frozenset({Target.APPROVALS, Target.ISSUES})),
    ("cost", activity(entityType="cost_event", action="cost.reported"), SPEND),
    ("cost action alone", activity(entityType="company", action="cost.reported"), SPEND),
    ("budget policy", activity(entityType="budget_policy", action="budget.updated"), BUDGET),
    ("budget incident", activity(entityType="budget_incident", action="resolved"), BUDGET),
    ("company budget", activity(entityType="company", action="company.budget_changed"), BUDGET),
    ("company changed", activity(entityType="company", action="company.updated"), frozenset({Target.COMPANIES})),
    ("agent", activity(entityType="agent", action="agent.paused"), frozenset({Target.AGENTS, Target.SCHEDULES})),
    ("heartbeat run", activity(entityType="heartbeat_run", action="heartbeat.invoked"), frozenset({Target.RUNS, Target.LIVE_RUNS})),
    ("other entity", activity(entityType="project", action="project.created"), frozenset()),
    ("action alone, other", activity(action="project.created"), frozenset()),
    ("activity stripped", activity(), ALL),
    ("activity without payload", {"type": "activity.logged"}, ALL),
    ("unknown type", {"type": "plugin.ui.updated", "payload": {}}, frozenset()),
    ("type not a string", {"type": 7}, frozenset()),
    ("no type", {"payload": {"status": "failed"}}, frozenset()),
    ("a string", "heartbeat.run.status", frozenset()),
    ("a list", [{"type": "agent.status"}], frozenset()),
    ("none", None, frozenset()),
]


@pytest.mark.parametrize(("event_", "expected"), [(e, t) for _, e, t in TARGETS], ids=[name for name, _, _ in TARGETS])
def test_what_an_event_says_changed(event_, expected):
    assert targets_of(event_) == expected


@pytest.mark.parametrize(
    ("event_", "label"),
    [
        *(({"type": kind}, kind) for kind in KNOWN_TYPES),
        ({"type": "plugin.ui.updated"}, "other"),
        ({"type": "x" * 10_000}, "other"),
        ({"type": 7}, "other"),
        ({}, "other"),
        (["agent.status"], "other"),
        ("agent.status", "other"),
    ],
)
def test_an_event_type_label_is_a_known_type_or_other(event_, label):
    assert type_label(event_) == label


# -- 11: the poller's live loop ----------------------------------------------------------------


def loop_config(**overrides: Any) -> LiveEventsConfig:
    return quick(**{"full_poll_interval": 600, "debounce": 0.05, "min_refresh_interval": 0.05, **overrides})


def test_the_full_poll_slows_while_every_socket_is_open_and_not_otherwise():
    live = StubLive(loop_config())
    with polling(StubSource(live), poll_interval=0.1) as poller:
        until(lambda: refreshes(poller, "scheduled") >= 1, "the first poll")
        time.sleep(0.6)  # six poll intervals, every socket open: the next full poll is 600 s away
        assert refreshes(poller, "scheduled") == 1
        live.healthy = False
        live.feed.notify()  # as a socket that changes state does
        until(lambda: refreshes(poller, "scheduled") >= 4, "polls on the poll interval", timeout=10)
        live.healthy = True
        live.feed.notify()
        settled = refreshes(poller, "scheduled")
        time.sleep(0.6)
        assert refreshes(poller, "scheduled") <= settled + 1  # at most the one under way


def test_a_failed_targeted_refresh_is_followed_by_a_full_poll():
    live = StubLive(loop_config())
    source = StubSource(live)
    source.fail_refreshes = 1
    with polling(source, poll_interval=600) as poller:
        until(lambda: refreshes(poller, "scheduled") >= 1, "the first poll")
        live.feed.mark("c1", {Target.AGENTS})
        until(lambda: refreshes(poller, "resync") >= 1, "the full poll after the failed refresh")
        assert source.calls == ["poll", "refresh", "poll"]
        assert poller.read().refreshes == {"scheduled": 1, "event": 1, "resync": 1}
        assert poller.read().up  # the full poll read it all again


def test_marks_within_the_debounce_window_are_one_refresh_of_their_union():
    live = StubLive(loop_config(debounce=0.5))
    source = StubSource(live)
    with polling(source, poll_interval=600) as poller:
        until(lambda: refreshes(poller, "scheduled") >= 1, "the first poll")
        live.feed.mark("c1", {Target.AGENTS})
        time.sleep(0.05)
        live.feed.mark("c1", {Target.ISSUES})
        live.feed.mark("c2", frozenset({Target.COSTS, Target.BUDGETS}))
        until(lambda: source.refreshed, "the refresh")
        time.sleep(0.2)  # a second refresh, were there one, would be under way by now
        assert source.refreshed == [{"c1": {Target.AGENTS, Target.ISSUES}, "c2": {Target.COSTS, Target.BUDGETS}}]
        assert poller.read().refreshes == {"scheduled": 1, "event": 1}


def test_a_resync_with_marks_is_one_full_poll_and_no_refresh():
    live = StubLive(loop_config(debounce=0.2))
    source = StubSource(live)
    with polling(source, poll_interval=600) as poller:
        until(lambda: refreshes(poller, "scheduled") >= 1, "the first poll")
        live.feed.mark("c1", {Target.AGENTS})
        live.feed.resync()
        until(lambda: refreshes(poller, "resync") >= 1, "the full poll")
        assert source.calls == ["poll", "poll"] and not live.feed.take()


# -- 12: stopping ------------------------------------------------------------------------------


def test_a_notify_wakes_a_waiter_with_no_mark():
    feed = ChangeFeed()
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(feed.wait(600)), name="feed-waiter", daemon=True)
    waiter.start()
    until(lambda: waiter.is_alive(), "the waiter")
    time.sleep(0.05)  # let it block
    feed.notify()  # a stop, or a socket that changed state: nothing marked
    waiter.join(10)
    assert woke == [False]
    feed.mark("c1", {Target.AGENTS})
    assert feed.wait(600) is True  # a mark already there: no wait


def test_stopping_the_poller_ends_its_live_loop_at_once():
    live = StubLive(loop_config())
    poller = Poller(StubSource(live), SourceConfig(name="stub", poll_interval=600), Settings())
    poller.start()
    until(lambda: refreshes(poller, "scheduled") >= 1, "the first poll")
    poller.stop(timeout=30)  # the loop waits on the feed for up to the poll interval: stop wakes it
    assert poller._thread is not None and not poller._thread.is_alive()


def test_closing_the_live_events_ends_every_socket_thread():
    cfg = quick(reconnect_min=30.0, reconnect_max=60.0, unavailable_retry=600.0)
    with EventsServer(refuse={"gone": 404, "erring": 500}) as server:
        live = LiveEvents("stops", server.url, None, cfg)
        live.follow({"open": "one", "gone": "two", "erring": "three"})
        expected = {"open": SocketState.OPEN, "gone": SocketState.UNAVAILABLE, "erring": SocketState.BACKOFF}
        until(lambda: live.states() == expected, "each socket in its state")
        sockets = list(live._sockets.values())
        assert len(event_threads("stops")) == 3
        live.close()
        assert event_threads("stops") == []
        assert [s.state for s in sockets] == [SocketState.STOPPED] * 3 and live.states() == {}


def test_stopping_the_poller_ends_its_socket_threads():
    with EventsServer() as server:
        live = LiveEvents("pstop", server.url, None, quick())
        source = StubSource(live, {"c1": "one", "c2": "two"})
        poller = Poller(source, SourceConfig(name="stub", poll_interval=600), Settings())
        poller.start()
        try:
            until(lambda: live.healthy and len(live.states()) == 2, "both sockets open")
            assert len(event_threads("pstop")) == 2
        finally:
            poller.stop()
        assert event_threads("pstop") == []
        assert poller._thread is not None and not poller._thread.is_alive()


# -- the in-flight spend of the agent a cost names ------------------------------------------------


def test_a_cost_that_names_its_agent_reads_that_agents_spend_alone():
    from agentwatch.source.paperclip.events import spend_agent

    cost = {"type": "activity.logged", "payload": {"action": "cost.reported", "entityType": "cost_event", "agentId": "a1"}}
    board_cost = {"type": "activity.logged", "payload": {"action": "cost.reported", "entityType": "cost_event", "agentId": None}}
    assert spend_agent(cost) == "a1" and spend_agent(board_cost) is None
    assert spend_agent({"type": "agent.status", "payload": {"agentId": "a1"}}) is None  # not a cost
    feed = ChangeFeed()
    feed.mark("c1", targets_of(cost), spend_agent(cost))
    feed.mark("c1", targets_of({**cost, "payload": {**cost["payload"], "agentId": "a2"}}), "a2")
    feed.mark("c2", targets_of(cost), "a1")
    feed.mark("c2", targets_of(board_cost), spend_agent(board_cost))  # one unnamed: every agent's
    feed.mark("c2", targets_of(cost), "a3")
    feed.mark("c3", {Target.AGENTS}, "a9")  # no in-flight spend marked: no agents kept
    changes = feed.take()
    assert changes.spend_agents == {"c1": {"a1", "a2"}, "c2": None}


def test_the_in_flight_spend_of_unnamed_agents_is_kept_and_ended_runs_drop_out():
    from agentwatch.model import Run

    source = PaperclipSource(SourceConfig(name="s", url="http://127.0.0.1:9", live_events={"enabled": False}))
    asked: list[str] = []
    source._agent_spend_since = lambda base, agent_started: asked.append(agent_started[0]) or 9.0  # type: ignore[method-assign]
    try:
        live = [
            Run(id=f"r{n}", company_id="c1", agent_id=aid, status="running", started_at=100.0 + n) for n, aid in enumerate(("a1", "a2"))
        ]
        held = {"a1": 1.0, "a2": 2.0, "gone": 3.0}
        assert source._in_flight_spend("/b", live, held, {"a2"}) == {"a1": 1.0, "a2": 9.0}
        assert asked == ["a2"]
        assert source._in_flight_spend("/b", live) == {"a1": 9.0, "a2": 9.0}  # a poll reads every one
    finally:
        source.close()
