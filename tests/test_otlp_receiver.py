"""The OTLP/HTTP trace receiver against real HTTP clients: export requests built with
opentelemetry-proto and posted with ``requests`` as protobuf, as OTLP/JSON (hex ids) and gzipped;
every refusal (400, 401, 404, 405, 413, 415, 429) with its OTLP ``Status`` body; TLS and auth from
a web-config file; and the queue bound by count and by bytes."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import tracemalloc

import bcrypt
import pytest
import requests
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from agentwatch import webconfig
from agentwatch.source.otel import decode
from agentwatch.source.otel.receiver import OtlpReceiver
from test_web_security import certs, web_config  # noqa: F401 - certs is a fixture used by name

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def export_request(spans: int = 2, name: str = "invoke_agent planner") -> ExportTraceServiceRequest:
    """A request as an instrumented agent sends it: one resource, one scope, ``spans`` spans with
    attributes of every AnyValue kind, the second span a child of the first with a link."""
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.add(key="service.name", value=AnyValue(string_value="agent-svc"))
    scope = resource.scope_spans.add()
    scope.scope.name = "opentelemetry.instrumentation.langchain"
    for i in range(spans):
        span = scope.spans.add(name=name, kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=1_700_000_000_000_000_000 + i)
        span.trace_id = TRACE_ID
        span.span_id = bytes([0xEE, 0x1, 0, 0, 0, 0, 0, i + 1])
        span.end_time_unix_nano = span.start_time_unix_nano + 5_000_000
        span.attributes.add(key="gen_ai.operation.name", value=AnyValue(string_value="invoke_agent"))
        span.attributes.add(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=1200 + i))
        span.attributes.add(key="ratio", value=AnyValue(double_value=0.25))
        span.attributes.add(key="streamed", value=AnyValue(bool_value=True))
        span.attributes.add(key="blob", value=AnyValue(bytes_value=b"\x00\xff"))
        nested = span.attributes.add(key="nested").value
        nested.array_value.values.add(string_value="a")
        nested.array_value.values.add().kvlist_value.values.add(key="k", value=AnyValue(int_value=7))
        if i:
            span.parent_span_id = scope.spans[0].span_id
            span.links.add(trace_id=TRACE_ID[::-1], span_id=b"\x01" * 8)
    return request


def otlp_json(request: ExportTraceServiceRequest) -> dict:
    """``request`` as OTLP/JSON: proto3 JSON with the ids as hex instead of base64."""
    document = json_format.MessageToDict(request)
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for holder in (span, *span.get("links", [])):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in holder:
                            holder[key] = base64.b64decode(holder[key]).hex()
    return document


@pytest.fixture
def start():
    """``start(**options)``: a started receiver on 127.0.0.1 and a free port, stopped afterwards."""
    started = []

    def make(**options) -> OtlpReceiver:
        receiver = OtlpReceiver("127.0.0.1", 0, **options)
        receiver.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


def post(receiver: OtlpReceiver, body, headers: dict, path: str = "/v1/traces", **kw) -> requests.Response:
    return requests.post(receiver.url + path, data=body, headers=headers, timeout=30, **kw)


def status_of(response: requests.Response) -> status_pb2.Status:
    """The OTLP error body, in the encoding the response declares."""
    status = status_pb2.Status()
    if response.headers["Content-Type"] == "application/json":
        json_format.Parse(response.text, status)
    else:
        assert response.headers["Content-Type"] == "application/x-protobuf"
        status.ParseFromString(response.content)
    assert status.message and "Traceback" not in status.message
    return status


def raw_http(receiver: OtlpReceiver, data: bytes) -> bytes:
    """Send ``data`` on a plain socket and read the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_protobuf_export_is_accepted_and_queued(start):
    receiver = start()
    request = export_request(spans=3)
    body = request.SerializeToString()
    response = post(receiver, body, PROTOBUF)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert receiver.get(timeout=5) == request
    stats = receiver.stats
    assert stats.requests["accepted"] == 1 and stats.spans_accepted == 3 and stats.bytes_accepted == len(body)
    assert stats.queue_depth == 0 and stats.queue_bytes == 0
    assert sum(stats.requests.values()) == 1


def test_otlp_json_with_hex_ids_decodes_to_the_same_request(start):
    receiver = start()
    request = export_request(spans=2)
    document = otlp_json(request)
    assert document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["parentSpanId"] == "ee01000000000001"
    response = post(receiver, json.dumps(document), {"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json() == {}
    received = receiver.get(timeout=5)
    assert received == request
    span = received.resource_spans[0].scope_spans[0].spans[1]
    assert span.trace_id == TRACE_ID and span.span_id == bytes.fromhex("ee01000000000002")
    assert span.links[0].trace_id == TRACE_ID[::-1] and span.links[0].span_id == b"\x01" * 8


def test_otlp_json_takes_original_field_names_integer_enums_and_unknown_fields(start):
    receiver = start()
    document = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {"trace_id": TRACE_ID.hex(), "span_id": "0102030405060708", "name": "a", "kind": 3, "futureField": 1},
                            {"traceId": TRACE_ID.hex().upper(), "spanId": "0102030405060709", "kind": "SPAN_KIND_SERVER"},
                        ]
                    }
                ]
            }
        ],
        "somethingNew": {"x": [1]},
    }
    assert post(receiver, json.dumps(document), JSON).status_code == 200
    spans = receiver.get(timeout=5).resource_spans[0].scope_spans[0].spans
    assert [s.kind for s in spans] == [Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_SERVER]
    assert spans[0].trace_id == spans[1].trace_id == TRACE_ID and spans[1].span_id == bytes.fromhex("0102030405060709")


@pytest.mark.parametrize("headers", [PROTOBUF, JSON], ids=["protobuf", "json"])
def test_gzip_bodies_are_decompressed(start, headers):
    receiver = start()
    request = export_request(spans=4)
    raw = request.SerializeToString() if headers is PROTOBUF else json.dumps(otlp_json(request)).encode()
    response = post(receiver, gzip.compress(raw), {**headers, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert receiver.get(timeout=5) == request
    assert receiver.stats.bytes_accepted == len(raw)  # counted decompressed


def test_a_chunked_body_within_the_limit_is_accepted(start):
    receiver = start(max_body_bytes=64 * 1024)
    request = export_request(spans=5)
    body = request.SerializeToString()
    response = post(receiver, iter([body[:10], body[10:]]), PROTOBUF)  # a generator: Transfer-Encoding: chunked
    assert response.status_code == 200
    assert receiver.get(timeout=5) == request


BAD_BODIES = [
    ("garbage protobuf", PROTOBUF, b"\xff\xff\xff\xff\xff"),
    ("truncated protobuf", PROTOBUF, export_request().SerializeToString()[:-7]),
    ("not JSON", JSON, b"{resourceSpans: oops"),
    ("JSON array", JSON, b"[1, 2]"),
    ("wrong JSON shape", JSON, b'{"resourceSpans": 5}'),
    ("wrong JSON type", JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}'),
    ("id not hex", JSON, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex!"}]}]}]}'),
    ("not UTF-8", JSON, b'{"resourceSpans": "\xff\xfe"}'),
    ("deep nesting", JSON, b"[" * 100_000),
]


@pytest.mark.parametrize("headers,body", [(h, b) for _, h, b in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES])
def test_malformed_bodies_get_400_with_a_status(start, headers, body):
    receiver = start()
    response = post(receiver, body, headers)
    assert response.status_code == 400
    assert status_of(response).code == code_pb2.INVALID_ARGUMENT
    assert receiver.stats.requests["bad_request"] == 1 and receiver.get(timeout=0) is None
    assert post(receiver, export_request().SerializeToString(), PROTOBUF).status_code == 200  # still serving


def test_bad_gzip_and_bad_framing_get_400(start):
    receiver = start()
    good = gzip.compress(export_request().SerializeToString())
    for body in (b"not gzip at all", good[:-9]):
        response = post(receiver, body, {**PROTOBUF, "Content-Encoding": "gzip"})
        assert response.status_code == 400 and status_of(response).code == code_pb2.INVALID_ARGUMENT
    answer = raw_http(
        receiver, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    )
    assert answer.startswith(b"HTTP/1.0 400 ")
    answer = raw_http(receiver, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400 ")
    assert receiver.stats.requests["bad_request"] == 4


def test_an_empty_export_is_a_success_with_nothing_queued(start):
    receiver = start()
    assert post(receiver, b"", PROTOBUF).status_code == 200
    assert post(receiver, b"{}", JSON).status_code == 200
    assert receiver.get(timeout=0) is None
    assert receiver.stats.requests["accepted"] == 2 and receiver.stats.spans_accepted == 0


def test_bodies_over_the_limit_get_413(start):
    limit = 32 * 1024
    receiver = start(max_body_bytes=limit)
    response = post(receiver, b"\0" * (limit + 1), PROTOBUF)  # refused by Content-Length, before reading
    assert response.status_code == 413 and status_of(response).code == code_pb2.RESOURCE_EXHAUSTED
    chunked = post(receiver, iter([b"\0" * 20_000] * 3), PROTOBUF)  # no Content-Length: refused while reading
    assert chunked.status_code == 413 and status_of(chunked).code == code_pb2.RESOURCE_EXHAUSTED
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))  # 20 KiB that decompress to 20 MiB
    assert len(bomb) < limit
    response = post(receiver, bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert response.status_code == 413 and "decompressed" in status_of(response).message
    # a huge Content-Length is refused without waiting for the body
    answer = raw_http(
        receiver, b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: 99999999999\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.0 413 ")
    assert receiver.stats.requests["too_large"] == 4 and receiver.stats.requests["accepted"] == 0


def test_a_gzip_bomb_costs_no_more_memory_than_the_limit():
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    limit = 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(decode.PayloadTooLarge):
            decode.decode_traces(bomb, "application/x-protobuf", "gzip", max_bytes=limit)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * limit, f"decompressing the bomb peaked at {peak} bytes"


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/plain"}, {"Content-Type": "application/xml"}, {}, {**PROTOBUF, "Content-Encoding": "br"}],
    ids=["text", "xml", "none", "brotli"],
)
def test_unsupported_media_types_get_415(start, headers):
    receiver = start()
    response = post(receiver, export_request().SerializeToString(), headers)
    assert response.status_code == 415 and status_of(response).code == code_pb2.INVALID_ARGUMENT
    assert receiver.stats.requests["unsupported_media_type"] == 1


def test_other_paths_get_404_and_other_methods_405(start):
    receiver = start()
    assert post(receiver, b"", PROTOBUF, path="/v1/metrics").status_code == 404
    assert requests.get(receiver.url + "/", timeout=30).status_code == 404
    for method in ("GET", "PUT", "DELETE"):
        response = requests.request(method, receiver.url + "/v1/traces", headers=JSON, timeout=30)
        assert response.status_code == 405 and response.headers["Allow"] == "POST"
        assert status_of(response).code == code_pb2.UNIMPLEMENTED  # a JSON Status for a JSON request
    stats = receiver.stats.requests
    assert stats["not_found"] == 2 and stats["method_not_allowed"] == 3


def test_bearer_token(start):
    receiver = start(bearer_token="s3cret-token")
    body = export_request().SerializeToString()
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "}, {"Authorization": "Basic czNjcmV0LXRva2Vu"}):
        response = post(receiver, body, {**PROTOBUF, **auth})
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert status_of(response).code == code_pb2.UNAUTHENTICATED
    assert post(receiver, body, {**PROTOBUF, "Authorization": "Bearer s3cret-token"}).status_code == 200
    assert receiver.stats.requests["unauthorized"] == 4 and receiver.stats.requests["accepted"] == 1


def test_basic_auth_from_a_web_config_file_and_a_token_beside_it(start, tmp_path, certs):  # noqa: F811
    hashed = bcrypt.hashpw(b"collector-pw", bcrypt.gensalt(rounds=4)).decode()
    web = webconfig.load(web_config(tmp_path / "web.yml", certs, {"collector": hashed}, tls=False))
    receiver = start(web=web, bearer_token="tok")
    body = export_request().SerializeToString()
    assert post(receiver, body, PROTOBUF).status_code == 401
    assert post(receiver, body, PROTOBUF, auth=("collector", "wrong")).status_code == 401
    assert post(receiver, body, PROTOBUF, auth=("nobody", "collector-pw")).status_code == 401
    denied = post(receiver, body, PROTOBUF)
    assert {c.split()[0] for c in denied.raw.headers.getlist("WWW-Authenticate")} == {"Basic", "Bearer"}
    assert post(receiver, body, PROTOBUF, auth=("collector", "collector-pw")).status_code == 200
    assert post(receiver, body, {**PROTOBUF, "Authorization": "Bearer tok"}).status_code == 200
    assert receiver.stats.requests["unauthorized"] == 4 and receiver.stats.requests["accepted"] == 2


def test_tls_round_trip(start, tmp_path, certs):  # noqa: F811
    web = webconfig.load(web_config(tmp_path / "web.yml", certs))
    receiver = start(web=web)
    assert receiver.url == f"https://127.0.0.1:{receiver.port}"
    request = export_request()
    response = post(receiver, request.SerializeToString(), PROTOBUF, verify=str(certs["ca.crt"]))
    assert response.status_code == 200
    assert receiver.get(timeout=5) == request
    with pytest.raises(requests.exceptions.SSLError):
        post(receiver, request.SerializeToString(), PROTOBUF, verify=str(certs["other-ca.crt"]))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"http://127.0.0.1:{receiver.port}/v1/traces", data=b"", headers=PROTOBUF, timeout=30)


def test_a_full_queue_answers_429_until_drained(start):
    receiver = start(queue_size=2, retry_after_seconds=7)
    requests_sent = [export_request(name=f"span {i}") for i in range(3)]
    for request in requests_sent[:2]:
        assert post(receiver, request.SerializeToString(), PROTOBUF).status_code == 200
    full = post(receiver, requests_sent[2].SerializeToString(), PROTOBUF)
    assert full.status_code == 429 and full.headers["Retry-After"] == "7"
    assert status_of(full).code == code_pb2.RESOURCE_EXHAUSTED
    json_full = post(receiver, json.dumps(otlp_json(requests_sent[2])), JSON)
    assert json_full.status_code == 429 and status_of(json_full).code == code_pb2.RESOURCE_EXHAUSTED
    stats = receiver.stats
    assert stats.requests["queue_full"] == 2 and stats.queue_depth == 2 and stats.spans_accepted == 4
    assert receiver.get(timeout=5) == requests_sent[0]  # FIFO
    assert post(receiver, requests_sent[2].SerializeToString(), PROTOBUF).status_code == 200
    assert [receiver.get(timeout=5) for _ in range(2)] == requests_sent[1:]
    assert receiver.get(timeout=0) is None and receiver.stats.queue_bytes == 0


def test_the_queue_is_bound_by_bytes(start):
    body = export_request(spans=20).SerializeToString()
    receiver = start(queue_size=1000, max_body_bytes=len(body), max_queue_bytes=3 * len(body) + 10)
    answers = [post(receiver, body, PROTOBUF).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    stats = receiver.stats
    assert stats.queue_depth == 3 and stats.queue_bytes == 3 * len(body) <= 3 * len(body) + 10
    assert receiver.get(timeout=5) is not None
    assert post(receiver, body, PROTOBUF).status_code == 200
    assert receiver.stats.queue_bytes == 3 * len(body)


def test_a_queue_that_cannot_hold_one_body_is_refused():
    with pytest.raises(ValueError, match="max_queue_bytes"):
        OtlpReceiver("127.0.0.1", 0, max_body_bytes=1024, max_queue_bytes=512)


def test_nothing_is_printed_per_request(start, capfd):
    receiver = start(bearer_token="t")
    for body, headers in ((b"\xff", PROTOBUF), (b"[", JSON), (b"x", {"Content-Type": "text/plain"})):
        post(receiver, body, {**headers, "Authorization": "Bearer t"})
        post(receiver, body, headers)
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nContent-Length: 10\r\n\r\nab")  # and hangs up mid-body
    assert post(receiver, export_request().SerializeToString(), {**PROTOBUF, "Authorization": "Bearer t"}).status_code == 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_the_response_helpers_encode_partial_success_and_status():
    body = decode.encode_response("application/json", rejected_spans=3, error_message="3 spans had no trace id")
    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "3 spans had no trace id"}}
    answer = ExportTraceServiceResponse.FromString(decode.encode_response("application/x-protobuf", 2))
    assert answer.partial_success.rejected_spans == 2
    assert ExportTraceServiceResponse.FromString(decode.encode_response("application/x-protobuf")).ByteSize() == 0
    status = status_pb2.Status.FromString(decode.encode_status("text/plain", code_pb2.INVALID_ARGUMENT, "bad"))
    assert (status.code, status.message) == (code_pb2.INVALID_ARGUMENT, "bad")
    assert json.loads(decode.encode_status("application/json; charset=utf-8", 8, "full")) == {"code": 8, "message": "full"}


def test_stop_ends_serving(start):
    receiver = start()
    assert receiver.serving
    receiver.stop()
    assert not receiver.serving
    with pytest.raises(requests.exceptions.ConnectionError):
        post(receiver, b"", PROTOBUF)


def test_a_json_error_names_the_field_and_answers_in_json(start):
    receiver = start()
    body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}'
    response = post(receiver, body, JSON)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/json"
    assert "resourceSpans.scopeSpans.spans.startTimeUnixNano: " in response.json()["message"]
