"""One background poller per source.

Each poll reads the platform, updates the run ledger and prebuilds the source's metric
families. A source with live events (Paperclip's sockets, ``source.paperclip.live_events``)
is also refreshed in part whenever its events say something changed: the events of a
``debounce`` window are gathered into one refresh, refreshes start at most one per
``min_refresh_interval`` (spaced from their starts), and the full poll slows to
``full_poll_interval`` while every socket is open. A failed poll keeps the last good families
(their age is exposed), sets the source down and writes one log line when the failure starts or
changes kind, not one per poll. A scrape reads only what is stored here.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from agentwatch.analysis.company import CompanyAnalyses
from agentwatch.analysis.ledger import RunLedger
from agentwatch.analysis.models_in_use import ModelTracker
from agentwatch.config import OtelSourceConfig, Settings, SourceConfig
from agentwatch.exposition.families import Rendered
from agentwatch.exposition.fleet import FleetBuilder
from agentwatch.model import Snapshot
from agentwatch.source import Source, SourceError
from agentwatch.source.http import RequestStats
from agentwatch.source.paperclip.live_events import Changes, LiveEvents

log = logging.getLogger("agentwatch.poller")


@dataclass
class SourceState:
    """What the last polls of one source left for the scrape to read."""

    name: str
    up: bool = False
    # the fleet's families as the last good poll wrote them: a scrape only joins the bytes
    rendered: Rendered = field(default_factory=dict)
    snapshot_taken_at: float | None = None
    last_success: float | None = None
    last_poll_duration: float = 0.0
    last_poll_requests: int = 0
    last_poll_bytes: int = 0
    polls: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    dropped_series: dict[str, int] = field(default_factory=dict)
    dropped_series_total: dict[str, int] = field(default_factory=dict)  # summed over polls
    dropped_rows: dict[str, int] = field(default_factory=dict)
    platform_version: str = ""
    platform: str = ""
    last_error_kind: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    refreshes: dict[str, int] = field(default_factory=dict)  # by trigger: scheduled, event, resync


class Poller:
    def __init__(self, source: Source, config: SourceConfig | OtelSourceConfig, settings: Settings, clock=time.time) -> None:
        self.source = source
        self.config = config
        self.settings = settings
        self.clock = clock
        self.builder = FleetBuilder(settings)
        self.ledger = RunLedger(self.builder.windows, settings.analysis.context_high_ratio)
        self.analyses: dict[str, CompanyAnalyses] = {}  # per company id, kept across polls
        self.models = ModelTracker()
        self.state = SourceState(name=source.name, thresholds=settings.thresholds.defaults.model_dump())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_snapshot: Snapshot | None = None

    @property
    def request_stats(self) -> RequestStats | None:
        return self.source.request_stats

    def ingest_stats(self):
        """What a source that is sent its data (OpenTelemetry) has taken in; None for the others."""
        stats = getattr(self.source, "ingest_stats", None)
        return stats() if stats is not None else None

    @property
    def last_snapshot(self) -> Snapshot | None:
        return self._last_snapshot

    def read(self) -> SourceState:
        with self._lock:
            return SourceState(**{k: getattr(self.state, k) for k in SourceState.__dataclass_fields__})

    def poll_once(self, trigger: str = "scheduled") -> bool:
        """Read the whole platform once (``trigger``: why, for ``agentwatch_refreshes_total``)."""
        return self._read(lambda now: self.source.poll(now), trigger)

    def refresh_once(self, changes: Changes) -> bool:
        """Read again only what live events said changed, per company."""
        refresh = getattr(self.source, "refresh", None)
        if refresh is None:
            return self.poll_once("event")
        ok = self._read(lambda now: refresh(changes.targets, now, spend_agents=changes.spend_agents), "event")
        if not ok and self.live is not None:
            self.live.feed.resync()  # what it was to read is not read: read everything next
        return ok

    def _read(self, read: Callable[[float], Snapshot], trigger: str) -> bool:
        started = time.perf_counter()
        now = self.clock()
        kind: str | None = None
        message = ""
        snapshot = None
        try:
            snapshot = read(now)
            self.track(snapshot, now)
            families, dropped = self.builder.build(snapshot, self.ledger, now, self.analyses, self.models)
            rendered = families.render()  # here, so that a scrape never renders the fleet
        except SourceError as exc:  # the platform is down or misbehaving (a SchemaError among them)
            kind, message = exc.kind, str(exc)
        except Exception as exc:  # a bug must not kill the poller; it is counted and logged
            kind, message = "internal", f"{type(exc).__name__}: {exc}"
            log.debug("poll failed with an internal error", exc_info=True, extra={"source": self.source.name})
        duration = time.perf_counter() - started
        stats = self.source.last_poll
        with self._lock:
            st = self.state
            st.polls += 1
            st.refreshes[trigger] = st.refreshes.get(trigger, 0) + 1
            st.last_poll_duration = duration
            st.last_poll_requests = stats.requests
            st.last_poll_bytes = stats.bytes
            for endpoint, n in stats.dropped_rows.items():
                st.dropped_rows[endpoint] = st.dropped_rows.get(endpoint, 0) + n
            if kind is None:
                assert snapshot is not None
                st.up = True
                st.rendered = rendered
                st.snapshot_taken_at = snapshot.taken_at
                st.last_success = now
                st.platform_version = snapshot.version
                st.platform = snapshot.platform
                st.dropped_series = dropped
                for what, n in dropped.items():
                    st.dropped_series_total[what] = st.dropped_series_total.get(what, 0) + n
                recovered = st.last_error_kind is not None
                st.last_error_kind = None
                self._last_snapshot = snapshot
            else:
                st.up = False
                st.failures[kind] = st.failures.get(kind, 0) + 1
                changed = st.last_error_kind != kind
                st.last_error_kind = kind
        if kind is None:
            if recovered:
                log.info("poll recovered", extra={"source": self.source.name})
            return True
        if changed:
            log.error(
                "poll failed; serving the last good data",
                extra={"source": self.source.name, "kind": kind, "error": message},
            )
        return False

    def track(self, snapshot: Snapshot, now: float) -> None:
        """Take one snapshot into what is kept across polls: the runs ledger, the models in use
        and each company's analyses."""
        for cid, cs in snapshot.companies.items():
            issues = cs.issues
            # the ledger asks only about the runs' tasks: which are canaries, which are known
            canaries = {r.issue_id for r in cs.runs if r.issue_id in issues and issues[r.issue_id].is_canary}
            self.ledger.record(cid, cs.runs, canaries, issues)
            self.models.update(cs, now)
            self.ledger.forget_agents(cid, set(cs.agents))
            try:
                self.analyses.setdefault(cid, CompanyAnalyses()).update(cs, now)
            finally:  # taken in: the snapshot held until the next poll need not hold the issues of the one before
                cs.issue_delta = None
        for cid in set(self.analyses) - set(snapshot.companies):
            del self.analyses[cid]
            self.models.forget(cid)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"poller-{self.source.name}", daemon=True)
        self._thread.start()

    @property
    def live(self) -> LiveEvents | None:
        """The source's live events, if it has them (a Paperclip source with them enabled)."""
        return getattr(self.source, "live", None)

    def _run(self) -> None:
        interval = float(self.config.poll_interval or self.settings.poll_interval)
        live = self.live
        if live is None:
            while not self._stop.is_set():
                started = time.monotonic()
                self.poll_once()
                self._stop.wait(max(0.0, interval - (time.monotonic() - started)))
            return
        self._run_live(live, interval)

    def _run_live(self, live: LiveEvents, interval: float) -> None:
        """Full polls on the slow interval while every socket is open (the poll interval
        otherwise), and targeted refreshes when events mark changes."""
        cfg = live.config
        last_full = last_refresh = -float("inf")
        while not self._stop.is_set():
            period = cfg.full_poll_interval if live.healthy and self.state.up else interval
            due = last_full + period - time.monotonic()
            if due <= 0:
                self.poll_once()
                last_full = time.monotonic()
                continue
            # wake at least once a poll interval, to see a socket that changed state unmarked
            if not live.feed.wait(min(due, interval)) or self._stop.is_set():
                continue
            if self._stop.wait(max(cfg.debounce, last_refresh + cfg.min_refresh_interval - time.monotonic())):
                break
            changes = live.feed.take()
            last_refresh = time.monotonic()  # the interval runs from a refresh's start: a change waits at most that
            if changes.resync:
                self.poll_once("resync")
                last_full = time.monotonic()
            elif changes.targets:
                self.refresh_once(changes)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.live is not None:
            self.live.feed.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        self.source.close()
