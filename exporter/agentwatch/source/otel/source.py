"""The OpenTelemetry source: agents of any framework, from the OTLP/HTTP traces they export.

Unlike Paperclip, this platform is not read but listened to. ``OtelSource`` runs an OTLP/HTTP
receiver (``receiver``) on its own address and one ingest thread, which takes the accepted
requests off the receiver's bounded queue, reads their spans (``spans``) and folds them into the
fleet (``fleet``). ``poll`` then hands out a snapshot of that fleet, like any source: the scrape
never waits for the receiver, nor the receiver for a scrape.

The source is down (``SourceError`` of kind ``unhealthy``) only when its receiver has stopped
serving or its ingest thread has died; a framework that sends nothing is silence, which the
heartbeat and hung-work alerts judge per agent.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from agentwatch.config import OtelSourceConfig, split_listen_address
from agentwatch.model import Snapshot, SourceCapabilities
from agentwatch.source.base import PollStats, SourceError
from agentwatch.source.otel.fleet import SpanFleet
from agentwatch.source.otel.receiver import OtlpReceiver
from agentwatch.source.otel.spans import SEMCONV_VERSION, records
from agentwatch.webconfig import WebConfig

log = logging.getLogger("agentwatch.otel")
ENDPOINT = "/v1/traces"
# why a span is dropped (each shown, at 0 until it happens)
DROP_REASONS = (
    "unknown_agent",
    "agent_limit",
    "unattributed",
    "trace_limit",
    "span_limit",
    "run_backlog",
    "canary_without_agent",
    "internal",
)


@dataclass
class IngestStats:
    """What the receiver and the ingest thread have taken in, for the self-metrics."""

    requests: dict[str, int] = field(default_factory=dict)  # outcome -> requests
    spans_received: int = 0
    spans_dropped: dict[str, int] = field(default_factory=dict)  # reason -> spans
    queue_depth: int = 0
    queue_bytes: int = 0
    spans_held: int = 0


def capabilities_of(config: OtelSourceConfig) -> SourceCapabilities:
    """What spans can tell: no budget policies (budgets only where the config gives them), no
    rolling-window spend, no task locks; approvals are the configured escalation tools."""
    budgets = any(a.budget_monthly_usd > 0 for a in (*config.agents.values(), *config.roles.values()))
    return SourceCapabilities(budgets=budgets, window_spend=False, task_locks=False)


class OtelSource:
    def __init__(self, config: OtelSourceConfig, max_agents: int = 2000, web: WebConfig | None = None) -> None:
        self.config = config
        self._capabilities = capabilities_of(config)
        self.fleet = SpanFleet(config, max_agents)
        self._web = web
        self.receiver = self._receiver()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_poll = PollStats()
        self._polled_requests = 0
        self._polled_bytes = 0
        self.internal_errors = 0
        self._counted: tuple[dict[str, int], int] = (dict.fromkeys(DROP_REASONS, 0), 0)  # dropped, held: as of the last poll
        self.requests_got = 0  # taken off the queue ...
        self.requests_taken = 0  # ... and folded in
        self.receiver.start()
        self._thread = threading.Thread(target=self._ingest, name=f"otel-ingest-{config.name}", daemon=True)
        self._thread.start()

    def _receiver(self) -> OtlpReceiver:
        host, port = split_listen_address(self.config.listen_address)
        token = self.config.token.get_secret_value() if self.config.token else None
        return OtlpReceiver(
            host,
            port,
            web=self._web,
            bearer_token=token,
            max_body_bytes=self.config.max_request_bytes,
            queue_size=self.config.queue_size,
            max_queue_bytes=self.config.queue_bytes,
        )

    def restart_receiver(self) -> None:
        """Serve again after the receiver stopped (its counters start afresh)."""
        self.receiver.stop()
        self.receiver = self._receiver()
        self.receiver.start()
        self._polled_requests = self._polled_bytes = 0

    @property
    def idle(self) -> bool:
        """Nothing accepted is waiting to be taken in (for tests and benchmarks)."""
        return self.receiver.stats.queue_depth == 0 and self.requests_got == self.requests_taken

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def url(self) -> str:
        return self.receiver.url

    @property
    def capabilities(self) -> SourceCapabilities:
        return self._capabilities

    @property
    def last_poll(self) -> PollStats:
        return self._last_poll

    @property
    def request_stats(self) -> None:
        return None

    def _ingest(self) -> None:
        while not self._stop.is_set():
            request = self.receiver.get(timeout=0.2)
            if request is None:
                continue
            self.requests_got += 1
            self.take(request)
            self.requests_taken += 1

    def take(self, request: object, now: float | None = None) -> None:
        """Fold one accepted export request into the fleet (the ingest thread's work)."""
        try:
            rows = list(records(request))
            with self._lock:
                at = time.time() if now is None else now
                for row in rows:
                    self.fleet.take(row, at)
        except Exception:  # a bug must not stop the ingestion; counted and logged at debug
            self.internal_errors += 1
            log.debug("a request could not be taken in", exc_info=True, extra={"source": self.name})

    def poll(self, now: float | None = None) -> Snapshot:
        now = time.time() if now is None else now
        if not self._thread.is_alive() or not self.receiver.serving:
            self._last_poll = PollStats()
            raise SourceError("unhealthy", ENDPOINT, "the OTLP receiver is not serving")
        with self._lock:
            company = self.fleet.snapshot(now)
            self._counted = self._count()
        stats = self.receiver.stats
        accepted = stats.requests.get("accepted", 0)
        self._last_poll = PollStats(requests=accepted - self._polled_requests, bytes=stats.bytes_accepted - self._polled_bytes)
        self._polled_requests, self._polled_bytes = accepted, stats.bytes_accepted
        snapshot = Snapshot(self.name, now, f"semconv-{SEMCONV_VERSION}", self._capabilities, platform="otel")
        snapshot.companies[company.company.id] = company
        return snapshot

    def _count(self) -> tuple[dict[str, int], int]:
        """What the fleet dropped and holds, for ``ingest_stats`` (under the lock, at a poll)."""
        dropped = dict.fromkeys(DROP_REASONS, 0)
        dropped.update(self.fleet.dropped)
        for reason, n in self.fleet.traces.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + n
        return dropped, self.fleet.traces.held_spans

    def ingest_stats(self) -> IngestStats:
        """The receiver's counters and the spans taken in now, what the fleet dropped and holds as
        of the last poll: a scrape never waits for the ingest thread (which holds the fleet while it
        folds a request in)."""
        stats = self.receiver.stats
        dropped, held = self._counted
        spans = self.fleet.spans  # one int, read without the lock
        if self.internal_errors:
            dropped = {**dropped, "internal": self.internal_errors}
        return IngestStats(
            requests=dict(stats.requests),
            spans_received=spans,
            spans_dropped=dropped,
            queue_depth=stats.queue_depth,
            queue_bytes=stats.queue_bytes,
            spans_held=held,
        )

    def close(self) -> None:
        self._stop.set()
        self.receiver.stop()
        self._thread.join(5.0)
