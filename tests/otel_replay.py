"""The OpenTelemetry source's recorded platform, for the conformance suite (tests/source_kits.py).

What the frameworks exported, recorded by tests/frameworks (``tests/fixtures/otel/*.json``: lists
of OTLP/JSON export requests), is posted to the source's own receiver, as the frameworks posted
it. The source is sent its data rather than reading it, so ``OtelReplay`` is found by the URL in
the config the suite hands the kit, and replays into every source made for it.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import requests

from agentwatch.config import OtelSourceConfig, SourceConfig
from agentwatch.source.otel.decode import OtlpRequestError, decode_traces
from agentwatch.source.otel.source import OtelSource
from agentwatch.source.otel.spans import records
from harness.paperclip import free_port

OTEL_FIXTURES = Path(__file__).parent / "fixtures" / "otel"
OTEL_RECORDINGS = tuple(sorted(p.name for p in OTEL_FIXTURES.glob("*.json")))
# the models of the recordings, priced here so that the golden file does not move with the table
PRICES = {"input_per_mtok": 1.0, "output_per_mtok": 4.0}


RECORDED_AGENT = "orders-bot"  # the agent every recording ran as


def recorded_requests() -> list[dict[str, Any]]:
    """Every recorded export request. The recordings all ran one agent; here each framework's is
    named after the framework (``crewai_healthy.json``: ``crewai-bot``), so that the golden file
    shows each framework's mapping apart."""
    requests_ = []
    for name in OTEL_RECORDINGS:
        framework = name.rsplit("_", 1)[0]
        text = (OTEL_FIXTURES / name).read_text().replace(RECORDED_AGENT, f"{framework}-bot")
        requests_.extend(json.loads(text))
    return requests_


def _recorded_at() -> float:
    ends = [
        int(s.get("endTimeUnixNano", 0))
        for r in recorded_requests()
        for rs in r.get("resourceSpans", ())
        for ss in rs.get("scopeSpans", ())
        for s in ss.get("spans", ())
    ]
    return float(max(ends, default=0) // 1_000_000_000 + 60)  # a minute after the last span ended


OTEL_RECORDED_AT = _recorded_at()


def parse_export(row: Any) -> tuple | None:
    """One recorded export request (a JSON object) as its span rows; None if it is not one."""
    try:
        request = decode_traces(json.dumps(row).encode(), "application/json")
    except OtlpRequestError:
        return None
    return tuple(records(request))


def post(source: OtelSource, body: bytes) -> int:
    return requests.post(f"{source.url}/v1/traces", data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code


def settle(source: OtelSource, timeout: float = 20.0) -> None:
    """Wait until the source has taken in every request its receiver accepted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if source.idle:
            time.sleep(0.01)  # the ingest thread may be between taking a request off and counting it
            if source.idle:
                return
        time.sleep(0.01)
    raise AssertionError("the OTel source did not take in what its receiver accepted")


class OtelReplay:
    """The recorded exports, posted into each source made for ``url`` (a context manager)."""

    _open: dict[str, OtelReplay] = {}

    def __init__(self) -> None:
        self.url = f"http://otel-replay.invalid/{uuid.uuid4().hex}"
        self.sources: list[OtelSource] = []
        OtelReplay._open[self.url] = self

    def __enter__(self) -> OtelReplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        OtelReplay._open.pop(self.url, None)

    def attach(self, source: OtelSource) -> None:
        self.sources.append(source)
        for request in recorded_requests():
            assert post(source, json.dumps(request).encode()) == 200
        settle(source)

    def post_to_all(self, *bodies: bytes) -> None:
        """Post each body to every source, then wait until each has taken them in."""
        for source in self.sources:
            for body in bodies:
                post(source, body)
            settle(source)


def otel_source(config: SourceConfig) -> OtelSource:
    """The source for the suite's config: its own receiver on a free loopback port, fed the
    recordings of the replay the config's URL names."""
    models = {
        s.get("value", {}).get("stringValue")
        for r in recorded_requests()
        for rs in r.get("resourceSpans", ())
        for ss in rs.get("scopeSpans", ())
        for sp in ss.get("spans", ())
        for s in sp.get("attributes", ())
        if s.get("key") in ("gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
    }
    otel = OtelSourceConfig(
        name=config.name,
        listen_address=f"127.0.0.1:{free_port()}",
        prices={m: PRICES for m in models if m},
    )
    source = OtelSource(otel)
    replay = OtelReplay._open.get(config.url)
    if replay is not None:
        replay.attach(source)
    return source


def _spans(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for rs in request.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            yield from ss.get("spans", ())


def _without_fields(span: dict[str, Any]) -> None:
    for key in ("name", "attributes", "startTimeUnixNano", "status", "parentSpanId"):
        span.pop(key, None)


def _wrong_types(span: dict[str, Any]) -> None:
    for attribute in span.get("attributes", ()):
        attribute["value"] = {"boolValue": True} if "stringValue" in attribute.get("value", {}) else {"stringValue": "many"}


ROW_FAULTS = {"missing_fields": _without_fields, "wrong_types": _wrong_types}


def otel_inject(replay: OtelReplay, source: Any, fault: str | None) -> None:
    """``receiver_down``: the receiver stops serving (None: it serves again); a fault in the rows:
    the recordings posted again, every span changed by it."""
    assert isinstance(source, OtelSource)
    if fault == "receiver_down":
        source.receiver.stop()
    elif fault is None:
        if not source.receiver.serving:
            source.restart_receiver()
    else:
        change = ROW_FAULTS[fault]
        bodies = []
        for request in recorded_requests():
            for span in _spans(request):
                change(span)
            bodies.append(json.dumps(request).encode())
        replay.post_to_all(*bodies)


def otel_serve(replay: OtelReplay, path: str, value: Any) -> None:
    """Post any JSON value as an export request (``RECORDED``: nothing more to post)."""
    from source_kits import RECORDED

    if value is not RECORDED:
        replay.post_to_all(json.dumps(value).encode())
