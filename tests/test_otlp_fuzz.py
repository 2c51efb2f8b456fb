"""Hostile OTLP bodies (hypothesis): whatever the bytes, ``decode_traces`` returns a request or raises
one of its three errors (``PayloadError``, ``PayloadTooLarge``, ``UnsupportedMediaType``), and
nothing else; a well-formed request, with attribute values of every AnyValue kind nested as deep as
protobuf allows, decodes to itself from protobuf and from OTLP/JSON. The live receiver, fuzzed over
HTTP, answers only 200, 400, 413 or 415 and keeps serving."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from agentwatch.source.otel import decode
from agentwatch.source.otel.receiver import OtlpReceiver
from test_otlp_receiver import export_request, otlp_json

REFUSALS = (decode.PayloadError, decode.PayloadTooLarge, decode.UnsupportedMediaType)
MAX_BYTES = 64 * 1024
PROTOBUF, JSON = "application/x-protobuf", "application/json"
ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip)  # as a header value
CONTENT_TYPES = (
    st.sampled_from([PROTOBUF, JSON, "application/json; charset=utf-8", "APPLICATION/X-PROTOBUF", "text/plain", ""]) | ascii_text
)
ENCODINGS = st.sampled_from(["", "gzip", "identity", "gzip, identity", "x-gzip", "br", "deflate"]) | ascii_text
OTLP_KEYS = [
    "resourceSpans", "resource_spans", "scopeSpans", "scope_spans", "spans", "links", "events", "traceId", "spanId",
    "parentSpanId", "trace_id", "span_id", "kind", "name", "attributes", "key", "value", "stringValue", "intValue",
    "doubleValue", "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values", "startTimeUnixNano", "status",
    "code", "message", "resource", "scope", "flags", "traceState", "droppedAttributesCount",
]  # fmt: skip


def decoded(body: bytes, content_type: str, content_encoding: str = "", max_bytes: int = MAX_BYTES) -> ExportTraceServiceRequest | None:
    """The request, or None for a refusal; any other exception fails the test."""
    try:
        request = decode.decode_traces(body, content_type, content_encoding, max_bytes)
    except REFUSALS as exc:
        assert isinstance(exc.message, str) and len(exc.message) <= decode.MAX_MESSAGE
        return None
    assert isinstance(request, ExportTraceServiceRequest)
    return request


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(["", "00", "0102030405060708", "zz"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(OTLP_KEYS) | st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=2048), content_type=CONTENT_TYPES, encoding=ENCODINGS)
def test_random_bytes(body, content_type, encoding):
    decoded(body, content_type, encoding)
    decoded(gzip.compress(body), content_type, "gzip")


@settings(max_examples=400, deadline=None)
@given(value=json_values)
def test_random_json_values(value):
    decoded(json.dumps(value).encode(), JSON)
    decoded(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [value]}]}]}).encode(), JSON)


def mutate(data: bytes, draw) -> bytes:
    """``data`` with a few bytes flipped, inserted or deleted, or cut short."""
    body = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(body) - 1, 0)))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if operation == "flip" and body:
            body[position] ^= draw(st.integers(1, 255))
        elif operation == "insert":
            body[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del body[position : position + draw(st.integers(1, 8))]
        elif operation == "truncate":
            del body[position:]
    return bytes(body)


VALID_PROTOBUF = export_request(spans=3).SerializeToString()
VALID_JSON = json.dumps(otlp_json(export_request(spans=3))).encode()


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_mutated_valid_bodies(data):
    decoded(mutate(VALID_PROTOBUF, data.draw), PROTOBUF)
    decoded(mutate(VALID_JSON, data.draw), JSON)
    decoded(mutate(gzip.compress(VALID_PROTOBUF), data.draw), PROTOBUF, "gzip")


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON document, as tuples of keys and indexes."""
    found = [prefix]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.extend(paths(child, (*prefix, key)))
    return found


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_json_with_a_value_swapped_for_a_random_one(data):
    document = otlp_json(export_request(spans=2))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(document)[1:]))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = data.draw(json_values)
    decoded(json.dumps(document).encode(), JSON)


def kv_list(values: list[tuple[str, AnyValue]]) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in values]))


any_values = st.recursive(
    st.text(max_size=30).map(lambda s: AnyValue(string_value=s))
    | st.booleans().map(lambda b: AnyValue(bool_value=b))
    | st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i))
    | st.floats(allow_nan=False).map(lambda f: AnyValue(double_value=f))
    | st.binary(max_size=30).map(lambda b: AnyValue(bytes_value=b))
    | st.just(AnyValue()),
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs)))
        | st.lists(st.tuples(st.text(max_size=10), inner), max_size=4).map(kv_list)
    ),
    max_leaves=30,
)


def with_attributes(values: list[AnyValue]) -> ExportTraceServiceRequest:
    request = export_request(spans=1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for i, value in enumerate(values):
        span.attributes.add(key=f"fuzz.{i}", value=value)
    return request


@settings(max_examples=300, deadline=None)
@given(values=st.lists(any_values, min_size=1, max_size=4))
def test_attribute_values_of_every_kind_round_trip(values):
    request = with_attributes(values)
    assert decoded(request.SerializeToString(), PROTOBUF) == request
    assert decoded(json.dumps(otlp_json(request)).encode(), JSON) == request
    assert decoded(gzip.compress(request.SerializeToString()), PROTOBUF, "gzip", max_bytes=len(request.SerializeToString())) == request


def nested(depth: int, leaf: AnyValue) -> AnyValue:
    for level in range(depth):
        leaf = AnyValue(array_value=ArrayValue(values=[leaf])) if level % 2 else kv_list([("k", leaf)])
    return leaf


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 28), leaf=any_values)
def test_deep_attribute_nesting_round_trips_or_is_refused(depth, leaf):
    """protobuf's own depth limit (100 messages) refuses the deepest, alike in both encodings."""
    request = with_attributes([nested(depth, leaf)])
    from_protobuf = decoded(request.SerializeToString(), PROTOBUF)
    from_json = decoded(json.dumps(otlp_json(request)).encode(), JSON)
    assert from_protobuf in (None, request) and from_json in (None, request)
    if depth <= 10:
        assert from_protobuf == request and from_json == request


@pytest.mark.parametrize("depth", [200, 5_000, 100_000])
def test_nesting_far_past_any_limit_is_a_payload_error(depth):
    """Hand-made bodies deeper than any message could be built: nested arrays in protobuf (field 5
    of AnyValue, field 1 of ArrayValue) and in JSON, and bare JSON brackets."""
    inner = b""
    for _ in range(min(depth, 5_000)):
        array = b"\x0a" + varint(len(inner)) + inner
        inner = b"\x2a" + varint(len(array)) + array
    attribute = b"\x0a\x01k\x12" + varint(len(inner)) + inner
    span = b"\x4a" + varint(len(attribute)) + attribute
    body = wrap(wrap(wrap(span, 0x12), 0x12), 0x0A)  # ScopeSpans.spans=2, ResourceSpans.scope_spans=2, request.resource_spans=1
    with pytest.raises(decode.PayloadError):
        decode.decode_traces(body, PROTOBUF, max_bytes=len(body))
    value = '{"arrayValue":{"values":[' * depth + "1" + "]}}" * depth
    document = '{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":' + value + "}]}]}]}]}"
    with pytest.raises(decode.PayloadError):
        decode.decode_traces(document.encode(), JSON, max_bytes=len(document))
    with pytest.raises(decode.PayloadError):
        decode.decode_traces(b"[" * depth, JSON, max_bytes=depth)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def wrap(payload: bytes, tag: int) -> bytes:
    return bytes([tag]) + varint(len(payload)) + payload


@pytest.fixture(scope="module")
def live() -> OtlpReceiver:
    receiver = OtlpReceiver("127.0.0.1", 0, max_body_bytes=MAX_BYTES, queue_size=10_000, max_queue_bytes=1024 * MAX_BYTES)
    receiver.start()
    yield receiver
    receiver.stop()


def http_bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["random", "protobuf", "json", "json value", "large"]))
    if kind == "random":
        return draw(st.binary(max_size=4096))
    if kind == "protobuf":
        return mutate(VALID_PROTOBUF, draw)
    if kind == "json":
        return mutate(VALID_JSON, draw)
    if kind == "json value":
        return json.dumps(draw(json_values)).encode()
    return draw(st.binary(max_size=16)) * draw(st.integers(MAX_BYTES // 16, MAX_BYTES // 8))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_live_receiver_answers_every_body(live, data):
    body = http_bodies(data.draw)
    encoding = data.draw(st.sampled_from(["", "gzip", "identity"]) | ascii_text)
    if encoding == "gzip" and data.draw(st.booleans()):
        body = gzip.compress(body)
    headers = {"Content-Type": data.draw(CONTENT_TYPES), "Content-Encoding": encoding}
    chunked = data.draw(st.booleans())
    response = requests.post(live.url + "/v1/traces", data=iter([body]) if chunked else body, headers=headers, timeout=30)
    assert response.status_code in (200, 400, 413, 415), response.content
    assert "Traceback" not in response.text
    while live.get(timeout=0) is not None:
        pass


def test_the_live_receiver_still_serves_after_the_fuzz(live):
    response = requests.post(live.url + "/v1/traces", data=VALID_PROTOBUF, headers={"Content-Type": PROTOBUF}, timeout=30)
    assert response.status_code == 200
    assert live.stats.requests["internal_error"] == 0
