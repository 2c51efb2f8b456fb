"""The collector registered with prometheus_client: self-metrics plus every source's fleet families."""

from __future__ import annotations

import platform
import time
from typing import Iterable

from prometheus_client.core import Metric

from agentwatch import __version__
from agentwatch.exposition.canary import canary_families
from agentwatch.exposition.families import Families, Family, Rendered, join_rendered, parse_rendered
from agentwatch.source.http import LATENCY_BUCKETS
from agentwatch.source.paperclip.live_events import STATES

BUILD_INFO = Family("agentwatch_build_info", "gauge", "agentwatch build information.")
UP = Family("agentwatch_up", "gauge", "1 when the last poll of the source succeeded.")
THRESHOLD = Family("agentwatch_threshold", "gauge", "Default alert thresholds from the config (per agent: agentwatch_agent_threshold).")
LAST_SUCCESSFUL_POLL = Family(
    "agentwatch_last_successful_poll_timestamp_seconds", "gauge", "Time of the last successful poll of the source."
)
SNAPSHOT_AGE = Family(
    "agentwatch_snapshot_age_seconds",
    "gauge",
    "Age of the data served for the source (grows while polls fail; -1 before the first success).",
)
POLL_DURATION = Family("agentwatch_poll_duration_seconds", "gauge", "Duration of the last poll.")
POLL_REQUESTS = Family("agentwatch_poll_requests", "gauge", "HTTP requests made by the last poll.")
POLL_RESPONSE_BYTES = Family("agentwatch_poll_response_bytes", "gauge", "Response bytes read by the last poll.")
POLLS = Family("agentwatch_polls", "counter", "Polls of the source.")
POLL_FAILURES = Family("agentwatch_poll_failures", "counter", "Failed polls by kind of error.")
SOURCE_INFO = Family("agentwatch_source_info", "gauge", "The platform behind the source.")
DROPPED_SERIES = Family("agentwatch_dropped_series", "gauge", "Series left out by the cardinality guard in the last poll.")
SERIES_DROPPED = Family("agentwatch_series_dropped", "counter", "Series left out by the cardinality guard, summed over polls.")
DROPPED_ROWS = Family("agentwatch_source_dropped_rows", "counter", "API rows dropped because they lacked an id.")
SOURCE_REQUESTS = Family("agentwatch_source_requests", "counter", "HTTP requests to the platform per endpoint.")
RATE_LIMITED = Family("agentwatch_source_rate_limited", "counter", "HTTP 429 answers per endpoint.")
NOT_MODIFIED = Family("agentwatch_source_not_modified", "counter", "HTTP 304 answers (ETag hits) per endpoint.")
SOURCE_RESPONSE_BYTES = Family("agentwatch_source_response_bytes", "counter", "Response bytes per endpoint.")
REQUEST_DURATION = Family("agentwatch_source_request_duration_seconds", "histogram", "Platform request latency per endpoint.")
REQUEST_ERRORS = Family("agentwatch_source_request_errors", "counter", "Failed platform requests by endpoint and kind.")
OTLP_REQUESTS = Family(
    "agentwatch_otlp_requests",
    "counter",
    "OTLP/HTTP export requests by outcome (accepted, bad_request, too_large, unauthorized, queue_full, ...).",
)
OTLP_SPANS = Family("agentwatch_otlp_spans_received", "counter", "Spans taken in from accepted OTLP requests.")
OTLP_DROPPED = Family(
    "agentwatch_otlp_spans_dropped",
    "counter",
    "Spans counted and dropped, by reason (unknown_agent, agent_limit, unattributed, trace_limit, span_limit, ...).",
)
OTLP_QUEUE = Family("agentwatch_otlp_queue_requests", "gauge", "Accepted OTLP requests waiting to be taken in.")
OTLP_QUEUE_BYTES = Family("agentwatch_otlp_queue_bytes", "gauge", "Bytes of the OTLP requests waiting to be taken in.")
OTLP_HELD = Family("agentwatch_otlp_spans_held", "gauge", "Spans waiting for an ancestor that names their agent.")
LIVE_STATE = Family(
    "agentwatch_live_events_socket_state",
    "gauge",
    "1 for the state each company's live-events socket is in (connecting, open, backoff, unavailable, stopped).",
)
LIVE_EVENTS = Family(
    "agentwatch_live_events_received", "counter", "Live events received, by type (other: a type agentwatch does not read)."
)
LIVE_REJECTED = Family("agentwatch_live_events_rejected", "counter", "Live-event frames that were not an event, by reason.")
LIVE_DISCONNECTS = Family(
    "agentwatch_live_events_disconnects",
    "counter",
    "Live-events sockets refused or lost, by reason (refused, unavailable, try_again_later, ping_timeout, oversized, dropped, ...).",
)
REFRESHES = Family(
    "agentwatch_refreshes",
    "counter",
    "Reads of the source by trigger: scheduled (the full poll), event (a targeted refresh), resync (a full poll after lost events).",
)
DATA_AGE = Family("agentwatch_source_data_age_seconds", "gauge", "Time since each endpoint last answered (200 or 304).")


class AgentwatchCollector:
    def __init__(self, pollers: list, clock=time.time, runners: dict | None = None) -> None:
        self.pollers = pollers
        self.clock = clock
        self.runners = runners or {}  # source name -> CanaryRunner

    def describe(self) -> Iterable[Metric]:
        return []  # never poll at registration time

    def collect(self) -> Iterable[Metric]:
        return parse_rendered(self._groups())

    def exposition(self) -> bytes:
        """What /metrics serves: the small live families rendered now, and every source's fleet
        families as they were rendered after its last poll, so a scrape never waits for a render
        of the fleet (nor on the platform). The same samples as ``collect()``."""
        return join_rendered(self._groups())

    def _groups(self) -> list[Rendered]:
        """Self-metrics and canary families, built now; then each source's fleet as rendered by its
        last good poll."""
        now = self.clock()
        own = Families()
        own.add(BUILD_INFO, {"version": __version__, "python_version": platform.python_version()}, 1.0)
        canaries: list[Rendered] = []
        states = []
        for poller in self.pollers:
            state = poller.read()
            states.append(state)
            self._source(own, state, now, poller.request_stats)
            ingest = poller.ingest_stats()
            if ingest is not None:
                _ingest(own, {"source": state.name}, ingest)
            live = poller.live
            if live is not None:
                _live(own, {"source": state.name}, live)
            runner = self.runners.get(state.name)
            if runner is not None:
                canary = Families()
                canary_families(canary, state.name, runner, poller.models)
                canaries.append(canary.render())
        return [own.render(), *canaries, *(state.rendered for state in states)]

    @staticmethod
    def _source(f: Families, st, now: float, request_stats) -> None:
        src = {"source": st.name}
        f.add(UP, src, 1.0 if st.up else 0.0)
        for name, value in st.thresholds.items():
            f.add(THRESHOLD, {**src, "threshold": name}, value)
        f.declare(LAST_SUCCESSFUL_POLL)
        if st.last_success is not None:
            f.add(LAST_SUCCESSFUL_POLL, src, st.last_success)
        f.add(SNAPSHOT_AGE, src, now - st.snapshot_taken_at if st.snapshot_taken_at is not None else -1.0)
        f.add(POLL_DURATION, src, st.last_poll_duration)
        f.add(POLL_REQUESTS, src, st.last_poll_requests)
        f.add(POLL_RESPONSE_BYTES, src, st.last_poll_bytes)
        f.add(POLLS, src, st.polls)
        _counts(f, POLL_FAILURES, src, "kind", st.failures)
        _counts(f, REFRESHES, src, "trigger", st.refreshes)
        if st.platform_version:
            f.add(SOURCE_INFO, {**src, "platform": st.platform or "paperclip", "version": st.platform_version}, 1.0)
        _counts(f, DROPPED_SERIES, src, "kind", st.dropped_series)
        _counts(f, SERIES_DROPPED, src, "kind", st.dropped_series_total)
        _counts(f, DROPPED_ROWS, src, "endpoint", st.dropped_rows)
        if request_stats is not None:
            _requests(f, src, request_stats, now)


def _counts(f: Families, family: Family, src: dict[str, str], label: str, counts: dict[str, int]) -> None:
    """``family`` declared, with one series per key of ``counts`` (sorted) under ``label``."""
    f.declare(family)
    for key, n in sorted(counts.items()):
        f.add(family, {**src, label: key}, n)


def _ingest(f: Families, src: dict[str, str], stats) -> None:
    _counts(f, OTLP_REQUESTS, src, "outcome", stats.requests)
    f.add(OTLP_SPANS, src, stats.spans_received)
    _counts(f, OTLP_DROPPED, src, "reason", stats.spans_dropped)
    f.add(OTLP_QUEUE, src, stats.queue_depth)
    f.add(OTLP_QUEUE_BYTES, src, stats.queue_bytes)
    f.add(OTLP_HELD, src, stats.spans_held)


def _live(f: Families, src: dict[str, str], live) -> None:
    f.declare(LIVE_STATE)
    for company, current in live.named_states():
        for state in STATES:
            f.add(LIVE_STATE, {**src, "company": company, "state": state.value}, 1.0 if state is current else 0.0)
    counters = live.counters()
    _counts(f, LIVE_EVENTS, src, "type", counters.events)
    _counts(f, LIVE_REJECTED, src, "reason", counters.rejected)
    _counts(f, LIVE_DISCONNECTS, src, "reason", counters.disconnects)


def _requests(f: Families, src: dict[str, str], request_stats, now: float) -> None:
    f.declare(DATA_AGE)
    for endpoint, es in sorted(request_stats.snapshot().items()):
        labels = {**src, "endpoint": endpoint}
        if es.last_success is not None:
            f.add(DATA_AGE, labels, max(0.0, now - es.last_success))
        f.add(SOURCE_REQUESTS, labels, es.requests)
        f.add(RATE_LIMITED, labels, es.rate_limited)
        f.add(NOT_MODIFIED, labels, es.not_modified)
        f.add(SOURCE_RESPONSE_BYTES, labels, es.bytes)
        f.histogram(REQUEST_DURATION, labels, LATENCY_BUCKETS, es.latency_buckets, es.latency_count, es.latency_sum)
        _counts(f, REQUEST_ERRORS, labels, "kind", es.errors)
