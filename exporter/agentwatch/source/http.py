"""The only place that speaks HTTP to the platform.

A ``requests`` session with urllib3 ``Retry`` (backoff, ``Retry-After`` on 429, capped),
a timeout on every call, at most N requests in flight, and per-endpoint statistics that
become the exporter's self-metrics.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from agentwatch import __version__
from agentwatch.source.base import SourceError

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# a thread keeps the buffer it reads bodies into up to this size: a page of 1,000 issues is about
# 1.1 MB, and reading each into fresh memory costs page faults (memory.py fixes the mmap threshold)
KEPT_BUFFER_BYTES = 4 << 20


def read_json(body: memoryview) -> Any:
    """The default ``decode``: ``json.loads`` (which takes no memoryview)."""
    return json.loads(bytes(body))


class CappedRetry(Retry):
    """urllib3 ``Retry`` that honours ``Retry-After`` but never sleeps longer than ``max_retry_after``."""

    max_retry_after: float = 30.0

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.max_retry_after)

    def new(self, **kw: Any) -> CappedRetry:  # keep the cap on the copies urllib3 makes
        new = super().new(**kw)
        new.max_retry_after = self.max_retry_after
        return new


@dataclass
class EndpointStats:
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    not_modified: int = 0
    bytes: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_count: int = 0
    latency_sum: float = 0.0
    last_success: float | None = None  # wall-clock time of the last answer read (200 or 304)


class RequestStats:
    """Thread-safe counters per endpoint template, read by the self-metrics collector."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[str, EndpointStats] = {}

    def _get(self, endpoint: str) -> EndpointStats:
        stats = self._by_endpoint.get(endpoint)
        if stats is None:
            stats = self._by_endpoint[endpoint] = EndpointStats()
        return stats

    def observe(self, endpoint: str, seconds: float, nbytes: int, status: int | None, error: str | None) -> None:
        with self._lock:
            stats = self._get(endpoint)
            stats.requests += 1
            stats.bytes += nbytes
            stats.latency_count += 1
            stats.latency_sum += seconds
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    stats.latency_buckets[i] += 1
            if status == 429:
                stats.rate_limited += 1
            if status == 304:
                stats.not_modified += 1
            if error:
                stats.errors[error] = stats.errors.get(error, 0) + 1
            elif status is not None and status < 400:
                stats.last_success = time.time()

    def count_error(self, endpoint: str, kind: str) -> None:
        with self._lock:
            stats = self._get(endpoint)
            stats.errors[kind] = stats.errors.get(kind, 0) + 1

    def snapshot(self) -> dict[str, EndpointStats]:
        with self._lock:
            return {
                k: EndpointStats(
                    v.requests,
                    dict(v.errors),
                    v.rate_limited,
                    v.not_modified,
                    v.bytes,
                    list(v.latency_buckets),
                    v.latency_count,
                    v.latency_sum,
                    v.last_success,
                )
                for k, v in self._by_endpoint.items()
            }


@dataclass
class Response:
    status: int
    data: Any
    etag: str | None
    nbytes: int


class HttpClient:
    """GET JSON from one platform base URL."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 10.0,
        retries: int = 2,
        max_concurrency: int = 8,
        max_retry_after: float = 30.0,
        max_response_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.stats = RequestStats()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._buffers = threading.local()  # each thread's body buffer (``_read``)
        retry = CappedRetry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.5,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.max_retry_after = max_retry_after
        adapter = HTTPAdapter(max_retries=retry, pool_connections=max_concurrency, pool_maxsize=max_concurrency)
        self.session = requests.Session()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # the environment's proxies (``no_proxy`` included) and CA bundle, read once for this one
        # host: left to ``trust_env``, requests reads them again at every request (some 0.2 ms
        # each), and a ``~/.netrc`` entry for the host would replace the bearer token
        from_env = self.session.merge_environment_settings(self.base_url + "/", {}, None, None, None)
        self.session.proxies.update(from_env["proxies"])
        self.session.verify = from_env["verify"]
        self.session.trust_env = False
        self.session.headers["User-Agent"] = f"agentwatch/{__version__}"
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def get(
        self,
        path: str,
        endpoint: str,
        params: dict[str, Any] | None = None,
        etag: str | None = None,
        decode: Callable[[memoryview], Any] = read_json,
    ) -> Response:
        """GET ``path``; ``endpoint`` is the bounded template used in metrics and logs. ``decode``
        turns the body into ``data`` (a ``ValueError`` from it is a ``decode`` error)."""
        return self.request("GET", path, endpoint, params=params, etag=etag, decode=decode)

    def request(
        self,
        method: str,
        path: str,
        endpoint: str,
        params: dict[str, Any] | None = None,
        etag: str | None = None,
        body: Any = None,
        decode: Callable[[memoryview], Any] = read_json,
    ) -> Response:
        """Send one request and decode the JSON answer. Only GETs are retried.

        Raises ``SourceError`` with a kind of ``timeout``, ``connection``, ``http_<code>``,
        ``rate_limited``, ``too_large`` or ``decode``; each request, failed or not, is counted
        in ``stats``.
        """
        started = time.perf_counter()
        status: int | None = None
        raw: memoryview | None = None
        error: str | None = None
        try:
            with self._slots:
                resp = self._send(method, path, endpoint, params, etag, body)
                status = resp.status_code
                raw = self._body(resp, endpoint)
            return _answer(status, raw, etag, resp.headers.get("ETag"), endpoint, decode)
        except SourceError as exc:
            error = exc.kind
            raise
        finally:
            nbytes = 0 if raw is None else len(raw)
            if raw is not None:
                raw.release()  # the buffer is this thread's again
            self.stats.observe(endpoint, time.perf_counter() - started, nbytes, status, error)

    def _send(self, method: str, path: str, endpoint: str, params: dict[str, Any] | None, etag: str | None, body: Any) -> requests.Response:
        """The response, its body not yet read; a failure to get one is a ``SourceError``."""
        headers = {"If-None-Match": etag} if etag else None
        try:
            return self.session.request(
                method,
                self.base_url + path,
                params=params,
                headers=headers,
                json=body,
                timeout=self.timeout,
                stream=True,
            )
        except requests.exceptions.Timeout:
            raise SourceError("timeout", endpoint, f"no answer within {self.timeout:g}s") from None
        except requests.exceptions.RetryError as exc:
            kind = "rate_limited" if "429" in str(exc) else "http_5xx"
            raise SourceError(kind, endpoint, "gave up after retries") from None
        except requests.exceptions.ConnectionError as exc:
            kind = "timeout" if "timed out" in str(exc).lower() else "connection"
            raise SourceError(kind, endpoint, "connection failed") from None
        except requests.exceptions.RequestException as exc:
            raise SourceError("connection", endpoint, type(exc).__name__) from None

    def _body(self, resp: requests.Response, endpoint: str) -> memoryview:
        """The body (``_read``), the response closed after it; a read that fails is a timeout."""
        try:
            return self._read(resp, endpoint)
        except requests.exceptions.RequestException:
            raise SourceError("timeout", endpoint, "reading the body failed") from None
        finally:
            resp.close()

    def _read(self, resp: requests.Response, endpoint: str) -> memoryview:
        """The body, in this thread's reusable buffer (valid until the thread's next read)."""
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise SourceError("too_large", endpoint, f"response of {declared} bytes exceeds the limit")
        buffer = getattr(self._buffers, "body", None)
        if buffer is None:
            buffer = self._buffers.body = bytearray()
        size = 0
        try:
            for chunk in resp.iter_content(chunk_size=1 << 16):
                end = size + len(chunk)
                if end > self.max_response_bytes:
                    raise SourceError("too_large", endpoint, f"response exceeds {self.max_response_bytes} bytes")
                buffer[size:end] = chunk
                size = end
        finally:
            if len(buffer) > KEPT_BUFFER_BYTES:  # an outsized body, read or not: its memory goes with this read
                self._buffers.body = None
        return memoryview(buffer)[:size]


def _answer(
    status: int, raw: memoryview, etag_sent: str | None, etag: str | None, endpoint: str, decode: Callable[[memoryview], Any]
) -> Response:
    """The ``Response`` for a body read whole: a 304 is the validator sent back, an error
    status a ``SourceError``, anything else the body as ``decode`` reads it."""
    if status == 304:
        return Response(304, None, etag_sent, len(raw))
    if status == 429:
        raise SourceError("rate_limited", endpoint, "HTTP 429", status)
    if status >= 400:
        kind = "http_5xx" if status >= 500 else f"http_{status}" if status in (401, 403, 404) else "http_4xx"
        raise SourceError(kind, endpoint, f"HTTP {status}{_error_text(raw)}", status)
    try:
        data = decode(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise SourceError("decode", endpoint, "response is not valid JSON", status) from None
    return Response(status, data, etag, len(raw))


def _error_text(body: memoryview) -> str:
    """A short, safe excerpt of the platform's ``{"error": "..."}``."""
    try:
        data = read_json(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return f" ({data['error'][:120]})"
    return ""
