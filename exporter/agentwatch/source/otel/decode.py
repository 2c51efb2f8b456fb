"""OTLP/HTTP trace bodies in and answers out (https://opentelemetry.io/docs/specs/otlp/#otlphttp).

A body is ``application/x-protobuf`` or ``application/json`` (OTLP/JSON: lowerCamelCase or
original field names, enums as integers or names, and trace and span ids as hex strings rather
than proto3 JSON's base64), optionally with ``Content-Encoding: gzip``. Decompression streams with
a bound, so a gzip bomb costs no more memory than the limit. Whatever the bytes, only the three
errors below come out: ``PayloadError`` (HTTP 400), ``PayloadTooLarge`` (413) and
``UnsupportedMediaType`` (415). The answers are ``ExportTraceServiceResponse`` on success and a
``google.rpc.Status`` on failure, in the request's own encoding.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any, Iterator

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
MAX_MESSAGE = 300  # characters of a parser's message kept in an error; it may quote the input

_CHUNK = 64 * 1024
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field: ")
_ID_KEYS = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")


class OtlpRequestError(Exception):
    """A request refused for what it carries; ``http_status`` and ``rpc_code`` say how to answer."""

    http_status = 400
    rpc_code = code_pb2.INVALID_ARGUMENT

    def __init__(self, message: str) -> None:
        super().__init__(message[:MAX_MESSAGE])
        self.message = message[:MAX_MESSAGE]


class PayloadError(OtlpRequestError):
    """The body is not an OTLP trace export request (400)."""


class PayloadTooLarge(OtlpRequestError):
    """The body, sent or decompressed, is over the size limit (413)."""

    http_status = 413
    rpc_code = code_pb2.RESOURCE_EXHAUSTED


class UnsupportedMediaType(OtlpRequestError):
    """Neither OTLP content type, or a content encoding other than gzip (415)."""

    http_status = 415


def media_type(content_type: str) -> str:
    """``application/json; charset=utf-8`` → ``application/json``: the type alone, lower case."""
    return content_type.partition(";")[0].strip().lower()


def response_type(content_type: str) -> str:
    """The content type of the answer to a request of ``content_type``: JSON for JSON, else protobuf."""
    return JSON if media_type(content_type) == JSON else PROTOBUF


def check_media_type(content_type: str) -> str:
    """The request's media type, or ``UnsupportedMediaType`` when it is neither OTLP encoding."""
    media = media_type(content_type)
    if media not in MEDIA_TYPES:
        raise UnsupportedMediaType(f"Content-Type {content_type[:100]!r} is not {PROTOBUF} or {JSON}")
    return media


def decode_traces(
    body: bytes, content_type: str, content_encoding: str = "", max_bytes: int = DEFAULT_MAX_BYTES
) -> ExportTraceServiceRequest:
    """The export request in ``body``; ``max_bytes`` bounds the body both as sent and decompressed."""
    media = check_media_type(content_type)
    return parse_traces(decompress(body, content_encoding, max_bytes), media)


def decompress(body: bytes, content_encoding: str, max_bytes: int) -> bytes:
    """``body`` with its content encodings (gzip or identity, applied in the order listed) undone."""
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body of {len(body)} bytes is over the limit of {max_bytes}")
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body = gunzip(body, max_bytes)
        elif coding != "identity":
            raise UnsupportedMediaType(f"Content-Encoding {coding[:50]!r} is not gzip or identity")
    return body


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompressed ``data`` (one gzip member or several in a row), never holding more than
    ``max_bytes`` + 1 decompressed bytes: ``PayloadTooLarge`` past the limit."""
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            for piece in _inflate(inflater, rest, max_bytes + 1 - len(out)):
                out += piece
                if len(out) > max_bytes:
                    raise PayloadTooLarge(f"decompressed body is over the limit of {max_bytes} bytes")
        except zlib.error as exc:
            raise PayloadError(f"body is not valid gzip: {exc}") from None
        if not inflater.eof:
            raise PayloadError("gzip body is truncated")
        rest = inflater.unused_data
        if not rest.strip(b"\0"):  # trailing zero padding, as gzip(1) allows
            return bytes(out)


def _inflate(inflater: Any, data: bytes, room: int) -> Iterator[bytes]:
    """Decompressed pieces of ``data``, each at most ``_CHUNK`` bytes, until the stream ends, the
    input runs out or more than ``room`` bytes came out (the caller stops on that)."""
    pending = data
    while not inflater.eof and room > 0:
        piece = inflater.decompress(pending, min(_CHUNK, room))
        if not piece and inflater.unconsumed_tail == pending:
            return  # no progress: the input is used up
        pending = inflater.unconsumed_tail
        room -= len(piece)
        yield piece


def parse_traces(raw: bytes, media: str) -> ExportTraceServiceRequest:
    """The request in the decompressed body ``raw`` of media type ``media`` (see ``check_media_type``)."""
    if media == JSON:
        return _parse_json(raw)
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(raw)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    return request


def _parse_json(raw: bytes) -> ExportTraceServiceRequest:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError(f"body is JSON {type(document).__name__}, not an object")
    hex_ids_to_base64(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise PayloadError(f"body is not an OTLP/JSON ExportTraceServiceRequest: {_json_format_reason(str(exc))}") from None
    return request


def _json_format_reason(message: str) -> str:
    """json_format's "Failed to parse a field: Failed to parse b field: why" as "a.b: why"."""
    fields = _FAILED_FIELD.findall(message)
    reason = _FAILED_FIELD.sub("", message).rstrip(".")
    return f"{'.'.join(fields)}: {reason}" if fields else reason


def hex_ids_to_base64(document: dict[str, Any]) -> None:
    """Rewrite, in place, the spans' and links' hex ids as the base64 that proto3 JSON reads for
    bytes fields. Only the OTLP shape is walked; anything of another shape is left to the parser."""
    for resource_spans in _objects(document, "resourceSpans", "resource_spans"):
        for scope_spans in _objects(resource_spans, "scopeSpans", "scope_spans"):
            for span in _objects(scope_spans, "spans"):
                _convert_ids(span)
                for link in _objects(span, "links"):
                    _convert_ids(link)


def _objects(parent: dict[str, Any], *keys: str) -> Iterator[dict[str, Any]]:
    for key in keys:
        items = parent.get(key)
        if isinstance(items, list):
            yield from (item for item in items if isinstance(item, dict))


def _convert_ids(holder: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = holder.get(key)
        if isinstance(value, str):
            if not _HEX.fullmatch(value):
                raise PayloadError(f"{key} {value[:40]!r} is not a hex string")
            holder[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")


def serialize(message: Message, content_type: str) -> bytes:
    """``message`` as protobuf, or as OTLP/JSON when ``content_type`` is JSON."""
    if response_type(content_type) == JSON:
        return json.dumps(json_format.MessageToDict(message), separators=(",", ":")).encode()
    data: bytes = message.SerializeToString()
    return data


def encode_response(content_type: str, rejected_spans: int = 0, error_message: str = "") -> bytes:
    """The success body: an ``ExportTraceServiceResponse``, with ``partial_success`` when spans
    were rejected or there is a message for the client."""
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    return serialize(response, content_type)


def encode_status(content_type: str, code: int, message: str) -> bytes:
    """The failure body: a ``google.rpc.Status`` with ``code`` (a ``google.rpc.Code``) and ``message``."""
    return serialize(status_pb2.Status(code=code, message=message), content_type)
