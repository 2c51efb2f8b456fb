"""The OpenTelemetry source as the exporter runs it: receiver, ingest thread, poller and scrape."""

from __future__ import annotations

import threading

import requests

from agentwatch.config import OtelSourceConfig, Settings
from agentwatch.exposition.collector import AgentwatchCollector
from agentwatch.poller import Poller
from agentwatch.source.otel.source import OtelSource
from harness.exporter import parse_exposition
from harness.paperclip import free_port
from otlp_builder import Conversation, request

T0 = 1_800_000_000.0


def post(source: OtelSource, body: bytes) -> requests.Response:
    return requests.post(f"{source.url}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)


def test_a_stalled_ingest_turns_exporters_away_and_never_holds_a_scrape():
    config = OtelSourceConfig(name="fw", listen_address=f"127.0.0.1:{free_port()}", queue_size=2)
    source = OtelSource(config)
    poller = Poller(source, config, Settings(sources=[config]))
    collector = AgentwatchCollector([poller])
    body = request(Conversation("a", "c").invocation(T0, [{}])).SerializeToString()
    try:
        assert post(source, body).status_code == 200
        while not source.idle:
            pass
        assert poller.poll_once()
        scraped: list[bytes] = []
        with source._lock:  # the ingest thread folding a request in, for as long as that takes
            answers = [post(source, body) for _ in range(5)]  # one taken off the queue (and stuck), two queued
            assert [a.status_code for a in answers].count(429) >= 2
            refused = next(a for a in answers if a.status_code == 429)
            assert int(refused.headers["Retry-After"]) > 0
            scrape = threading.Thread(target=lambda: scraped.append(collector.exposition()))
            scrape.start()
            scrape.join(30)  # a scrape that waited for the ingest would still be waiting here
            assert scraped, "the scrape waited for the ingest thread"
        s = parse_exposition(scraped[0].decode())
        assert s.get_value("agentwatch_otlp_requests_total", source="fw", outcome="queue_full") >= 2
        assert s.get_value("agentwatch_agent_info", agent="a", source="fw") == 1.0  # the last poll's families
        while not source.idle:  # released, the queued requests are taken in
            pass
        assert poller.poll_once()
    finally:
        source.close()
