"""The collector registered with prometheus_client: self-metrics plus every source's fleet families."""

from __future__ import annotations

import platform
import time
from typing import Iterable

from prometheus_client.core import Metric

from agentwatch import __version__
from agentwatch.exposition.canary import canary_families
from agentwatch.exposition.families import Families, Rendered, join_rendered, parse_rendered
from agentwatch.source.http import LATENCY_BUCKETS


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
        own.info("agentwatch_build", "agentwatch build information.", {"version": __version__, "python_version": platform.python_version()})
        canaries: list[Rendered] = []
        states = []
        for poller in self.pollers:
            state = poller.read()
            states.append(state)
            self._source(own, state, now, poller.request_stats)
            runner = self.runners.get(state.name)
            if runner is not None:
                canary = Families()
                canary_families(canary, state.name, runner, poller.models)
                canaries.append(canary.render())
        return [own.render(), *canaries, *(state.rendered for state in states)]

    @staticmethod
    def _source(f: Families, st, now: float, request_stats) -> None:
        src = {"source": st.name}
        f.gauge("agentwatch_up", "1 when the last poll of the source succeeded.", src, 1.0 if st.up else 0.0)
        for name, value in st.thresholds.items():
            f.gauge(
                "agentwatch_threshold",
                "Default alert thresholds from the config (per agent: agentwatch_agent_threshold).",
                {**src, "threshold": name},
                value,
            )
        f.declare("agentwatch_last_successful_poll_timestamp_seconds", "Time of the last successful poll of the source.", "gauge")
        if st.last_success is not None:
            f.gauge("agentwatch_last_successful_poll_timestamp_seconds", "", src, st.last_success)
        f.gauge(
            "agentwatch_snapshot_age_seconds",
            "Age of the data served for the source (grows while polls fail; -1 before the first success).",
            src,
            now - st.snapshot_taken_at if st.snapshot_taken_at is not None else -1.0,
        )
        f.gauge("agentwatch_poll_duration_seconds", "Duration of the last poll.", src, st.last_poll_duration)
        f.gauge("agentwatch_poll_requests", "HTTP requests made by the last poll.", src, st.last_poll_requests)
        f.gauge("agentwatch_poll_response_bytes", "Response bytes read by the last poll.", src, st.last_poll_bytes)
        f.counter("agentwatch_polls", "Polls of the source.", src, st.polls)
        f.declare("agentwatch_poll_failures", "Failed polls by kind of error.", "counter")
        for kind, n in sorted(st.failures.items()):
            f.counter("agentwatch_poll_failures", "", {**src, "kind": kind}, n)
        if st.platform_version:
            f.info("agentwatch_source", "The platform behind the source.", {**src, "platform": "paperclip", "version": st.platform_version})
        f.declare("agentwatch_dropped_series", "Series left out by the cardinality guard in the last poll.", "gauge")
        for kind, n in sorted(st.dropped_series.items()):
            f.gauge("agentwatch_dropped_series", "", {**src, "kind": kind}, n)
        f.declare("agentwatch_series_dropped", "Series left out by the cardinality guard, summed over polls.", "counter")
        for kind, n in sorted(st.dropped_series_total.items()):
            f.counter("agentwatch_series_dropped", "", {**src, "kind": kind}, n)
        f.declare("agentwatch_source_dropped_rows", "API rows dropped because they lacked an id.", "counter")
        for endpoint, n in sorted(st.dropped_rows.items()):
            f.counter("agentwatch_source_dropped_rows", "", {**src, "endpoint": endpoint}, n)
        if request_stats is None:
            return
        for endpoint, es in sorted(request_stats.snapshot().items()):
            labels = {**src, "endpoint": endpoint}
            f.counter("agentwatch_source_requests", "HTTP requests to the platform per endpoint.", labels, es.requests)
            f.counter("agentwatch_source_rate_limited", "HTTP 429 answers per endpoint.", labels, es.rate_limited)
            f.counter("agentwatch_source_not_modified", "HTTP 304 answers (ETag hits) per endpoint.", labels, es.not_modified)
            f.counter("agentwatch_source_response_bytes", "Response bytes per endpoint.", labels, es.bytes)
            f.histogram(
                "agentwatch_source_request_duration_seconds",
                "Platform request latency per endpoint.",
                labels,
                LATENCY_BUCKETS,
                es.latency_buckets,
                es.latency_count,
                es.latency_sum,
            )
            f.declare("agentwatch_source_request_errors", "Failed platform requests by endpoint and kind.", "counter")
            for kind, n in sorted(es.errors.items()):
                f.counter("agentwatch_source_request_errors", "", {**labels, "kind": kind}, n)
