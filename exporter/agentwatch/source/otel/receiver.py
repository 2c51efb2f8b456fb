"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` (https://opentelemetry.io/docs/specs/otlp/#otlphttp).

Accepted export requests wait in a FIFO queue, bounded both by their number and by the sum of
their decompressed body sizes, until ``get()`` takes them. A request that finds the queue full is
answered 429 with ``Retry-After`` at once (OTLP clients retry it); no request thread ever waits for
room. Bodies are limited as sent (by ``Content-Length`` before reading, or while reading a chunked
body) and as decompressed; what a refused client still sends is read and dropped after the answer
(``webserver.LingeringServer``), so that it reads the answer rather than a reset. Auth is the
web-config file's bcrypt Basic users and/or a bearer token; TLS is the web-config file's. Every
answer carries an OTLP body in the request's encoding: an ``ExportTraceServiceResponse`` on
success, a ``google.rpc.Status`` otherwise. Nothing is logged per request; ``stats`` counts the
outcomes.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import BinaryIO, Iterator, NamedTuple
from wsgiref.simple_server import make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from google.rpc import code_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from agentwatch.source.otel.decode import (
    OtlpRequestError,
    PayloadError,
    PayloadTooLarge,
    UnsupportedMediaType,
    check_media_type,
    decompress,
    encode_response,
    encode_status,
    parse_traces,
    response_type,
)
from agentwatch.webconfig import WebConfig
from agentwatch.webserver import Credentials, LingeringServer, SilentHandler

TRACES_PATH = "/v1/traces"
OUTCOMES = (
    "accepted",
    "bad_request",
    "too_large",
    "unauthorized",
    "unsupported_media_type",
    "method_not_allowed",
    "not_found",
    "queue_full",
    "internal_error",
)
_PIECE = 64 * 1024
_LINE = 1024  # longest chunk-size or trailer line read
_MAX_TRAILERS = 64
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,15}")
_DIGITS = re.compile(r"[0-9]{1,18}")


class Unauthorized(OtlpRequestError):
    http_status = 401
    rpc_code = code_pb2.UNAUTHENTICATED


class NotFound(OtlpRequestError):
    http_status = 404
    rpc_code = code_pb2.NOT_FOUND


class MethodNotAllowed(OtlpRequestError):
    http_status = 405
    rpc_code = code_pb2.UNIMPLEMENTED


class QueueFull(OtlpRequestError):
    http_status = 429
    rpc_code = code_pb2.RESOURCE_EXHAUSTED


_OUTCOME_OF: dict[type[OtlpRequestError], str] = {
    PayloadError: "bad_request",
    PayloadTooLarge: "too_large",
    UnsupportedMediaType: "unsupported_media_type",
    Unauthorized: "unauthorized",
    NotFound: "not_found",
    MethodNotAllowed: "method_not_allowed",
    QueueFull: "queue_full",
}


@dataclass(frozen=True)
class ReceiverStats:
    """A snapshot. ``requests`` counts every answer by outcome (each of ``OUTCOMES`` present);
    ``bytes_accepted`` and ``queue_bytes`` are decompressed body bytes."""

    requests: dict[str, int]
    spans_accepted: int
    bytes_accepted: int
    queue_depth: int
    queue_bytes: int


class Answer(NamedTuple):
    status: int
    outcome: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class RequestQueue:
    """FIFO of accepted requests, bounded by count and by bytes; ``offer`` never waits."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self._items: deque[tuple[ExportTraceServiceRequest, int]] = deque()
        self._bytes = 0
        self._ready = threading.Condition()

    def has_room(self, size: int = 0) -> bool:
        with self._ready:
            return len(self._items) < self.max_items and self._bytes + size <= self.max_bytes

    def offer(self, request: ExportTraceServiceRequest, size: int) -> bool:
        with self._ready:
            if len(self._items) >= self.max_items or self._bytes + size > self.max_bytes:
                return False
            self._items.append((request, size))
            self._bytes += size
            self._ready.notify()
            return True

    def get(self, timeout: float) -> ExportTraceServiceRequest | None:
        with self._ready:
            if not self._ready.wait_for(lambda: self._items, timeout=timeout):
                return None
            request, size = self._items.popleft()
            self._bytes -= size
            return request

    def size(self) -> tuple[int, int]:
        with self._ready:
            return len(self._items), self._bytes


class OtlpReceiver:
    """``POST /v1/traces`` on ``host:port`` (port 0: any free one; the socket is bound here, served
    from ``start()``). TLS and Basic users come from ``web``; ``bearer_token`` adds (or alone sets)
    ``Authorization: Bearer``. ``max_body_bytes`` bounds a body both as sent and decompressed."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        web: WebConfig | None = None,
        bearer_token: str | None = None,
        max_body_bytes: int = 4 * 1024 * 1024,
        queue_size: int = 64,
        max_queue_bytes: int = 64 * 1024 * 1024,
        retry_after_seconds: int = 2,
    ) -> None:
        if max_queue_bytes < max_body_bytes or queue_size < 1 or max_body_bytes < 1:
            raise ValueError("need queue_size >= 1 and max_queue_bytes >= max_body_bytes >= 1, so that a request can fit")
        self.max_body_bytes = max_body_bytes
        self.retry_after_seconds = retry_after_seconds
        self._credentials = Credentials.from_web(web, bearer_token)
        self._queue = RequestQueue(queue_size, max_queue_bytes)
        self._lock = threading.Lock()
        self._requests = dict.fromkeys(OUTCOMES, 0)
        self._spans = self._bytes = 0
        self.httpd = make_server(host, port, self._app, LingeringServer, handler_class=SilentHandler)
        self.httpd.linger_bytes = max_body_bytes
        self.httpd.ssl_context = web.ssl_context if web is not None else None
        self.port: int = self.httpd.server_port
        scheme = "https" if self.httpd.ssl_context is not None else "http"
        self.url = f"{scheme}://{host if host not in ('', '0.0.0.0') else '127.0.0.1'}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,), name="otlp-receiver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def serving(self) -> bool:
        """Started, and not stopped (nor its serving thread dead)."""
        return self._thread.is_alive()

    def get(self, timeout: float) -> ExportTraceServiceRequest | None:
        """The oldest accepted request that has spans, or None when none comes within ``timeout`` seconds."""
        return self._queue.get(timeout)

    @property
    def stats(self) -> ReceiverStats:
        depth, queued = self._queue.size()
        with self._lock:
            return ReceiverStats(dict(self._requests), self._spans, self._bytes, depth, queued)

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        reply = response_type(str(environ.get("CONTENT_TYPE", "")))
        try:
            answer = self._answer(environ, reply)
        except Exception:  # a bug of ours: the client gets a bare 500, never a traceback
            answer = Answer(500, "internal_error", encode_status(reply, code_pb2.INTERNAL, "internal error"))
        with self._lock:
            self._requests[answer.outcome] += 1
        status = f"{answer.status} {HTTPStatus(answer.status).phrase}"
        start_response(status, [("Content-Type", reply), ("Content-Length", str(len(answer.body))), *answer.headers])
        return [answer.body]

    def _answer(self, environ: WSGIEnvironment, reply: str) -> Answer:
        try:
            self._admit(environ)
            return self._receive(environ, reply)
        except OtlpRequestError as exc:
            return self._refusal(exc, reply)
        except OSError:  # the client stalled or went away while sending
            return Answer(400, "bad_request", encode_status(reply, code_pb2.INVALID_ARGUMENT, "the body could not be read"))

    def _admit(self, environ: WSGIEnvironment) -> None:
        if self._credentials is not None and not self._credentials.check(environ.get("HTTP_AUTHORIZATION")):
            raise Unauthorized("missing or wrong credentials")
        if environ.get("PATH_INFO") != TRACES_PATH:
            raise NotFound(f"not found: only {TRACES_PATH} is served")
        if environ.get("REQUEST_METHOD") != "POST":
            raise MethodNotAllowed(f"{TRACES_PATH} takes POST only")

    def _receive(self, environ: WSGIEnvironment, reply: str) -> Answer:
        media = check_media_type(str(environ.get("CONTENT_TYPE", "")))
        length = body_length(environ)
        if length is not None and length > self.max_body_bytes:
            raise PayloadTooLarge(f"Content-Length {length} is over the limit of {self.max_body_bytes} bytes")
        if not self._queue.has_room():
            raise QueueFull("the receiver's queue is full; retry later")
        body = collect(body_pieces(environ), self.max_body_bytes)
        raw = decompress(body, str(environ.get("HTTP_CONTENT_ENCODING", "")), self.max_body_bytes)
        request = parse_traces(raw, media)
        spans = span_count(request)
        if spans and not self._queue.offer(request, len(raw)):
            raise QueueFull("the receiver's queue is full; retry later")
        with self._lock:
            self._spans += spans
            self._bytes += len(raw)
        return Answer(200, "accepted", encode_response(reply))

    def _refusal(self, exc: OtlpRequestError, reply: str) -> Answer:
        headers: tuple[tuple[str, str], ...] = ()
        if isinstance(exc, Unauthorized) and self._credentials is not None:
            headers = tuple(self._credentials.challenges)
        elif isinstance(exc, MethodNotAllowed):
            headers = (("Allow", "POST"),)
        elif isinstance(exc, QueueFull):
            headers = (("Retry-After", str(self.retry_after_seconds)),)
        body = encode_status(reply, exc.rpc_code, exc.message)
        return Answer(exc.http_status, _OUTCOME_OF.get(type(exc), "bad_request"), body, headers)


def span_count(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def body_length(environ: WSGIEnvironment) -> int | None:
    """The body's ``Content-Length`` (0 when there is none), or None for a chunked body."""
    coding = str(environ.get("HTTP_TRANSFER_ENCODING", "")).strip().lower()
    if coding:
        if coding != "chunked":
            raise PayloadError(f"Transfer-Encoding {coding[:50]!r} is not chunked")
        return None
    length = str(environ.get("CONTENT_LENGTH", "")).strip()
    if not length:
        return 0
    if not _DIGITS.fullmatch(length):
        raise PayloadError(f"Content-Length {length[:50]!r} is not a number")
    return int(length)


def body_pieces(environ: WSGIEnvironment) -> Iterator[bytes]:
    """The request body in pieces of at most 64 KiB, read as they are asked for: by
    ``Content-Length`` or chunk by chunk. ``PayloadError`` when its framing is wrong."""
    stream: BinaryIO = environ["wsgi.input"]
    length = body_length(environ)
    if length is None:
        yield from _chunked_pieces(stream)
        return
    while length > 0:
        piece = stream.read(min(length, _PIECE))
        if not piece:
            raise PayloadError("the body ended before its Content-Length")
        length -= len(piece)
        yield piece


def _chunked_pieces(stream: BinaryIO) -> Iterator[bytes]:
    while True:
        line = stream.readline(_LINE + 1)
        size_text = line.partition(b";")[0].strip()
        if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
            raise PayloadError("malformed chunk size line")
        size = int(size_text, 16)
        if size == 0:
            break
        while size > 0:
            piece = stream.read(min(size, _PIECE))
            if not piece:
                raise PayloadError("the chunked body ended early")
            size -= len(piece)
            yield piece
        if stream.readline(_LINE + 1) not in (b"\r\n", b"\n"):
            raise PayloadError("a chunk is not followed by CRLF")
    for _ in range(_MAX_TRAILERS):
        if stream.readline(_LINE + 1) in (b"\r\n", b"\n", b""):
            return
    raise PayloadError("too many trailer lines")


def collect(pieces: Iterator[bytes], limit: int) -> bytes:
    """The whole body, or ``PayloadTooLarge`` as soon as it passes ``limit`` bytes (the rest is
    left unread, for the server's lingering close to drop)."""
    body = bytearray()
    for piece in pieces:
        body += piece
        if len(body) > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
    return bytes(body)
