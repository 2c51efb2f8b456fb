"""A small read-only Prometheus HTTP API client: instant and range queries.

Retries transient failures (connection errors, 502/503/504) with urllib3's Retry; every other
failure is a :class:`HistoryError` that names the query and the Prometheus, never a credential.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class HistoryError(Exception):
    """A query failed: Prometheus unreachable, an HTTP error, or a PromQL error."""


@dataclass(frozen=True)
class Series:
    """One series of a query result: its labels and its samples, oldest first."""

    labels: dict[str, str]
    samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.samples]

    @property
    def last(self) -> float:
        return self.samples[-1][1] if self.samples else math.nan


class PrometheusHistory:
    """Queries one Prometheus. ``url`` is its base URL (``http://prometheus:9090``)."""

    def __init__(self, url: str, timeout: float = 60.0, retries: int = 2, bearer_token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        retry = Retry(total=retries, backoff_factor=0.5, status_forcelist=(502, 503, 504), allowed_methods=None)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        if bearer_token:
            self.session.headers["Authorization"] = f"Bearer {bearer_token}"

    def query(self, expr: str, at: float) -> list[Series]:
        """An instant query at ``at`` (unix seconds): one sample per series."""
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        if data.get("resultType") == "scalar":
            t, v = data["result"]
            return [Series({}, [(float(t), float(v))])]
        return [Series(r.get("metric", {}), [(float(r["value"][0]), float(r["value"][1]))]) for r in data.get("result", [])]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """A range query: samples every ``step`` seconds from ``start`` to ``end``."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        return [Series(r.get("metric", {}), [(float(t), float(v)) for t, v in r.get("values", [])]) for r in data.get("result", [])]

    def _get(self, path: str, params: dict[str, str]) -> dict:
        try:
            resp = self.session.post(self.url + path, data=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise HistoryError(f"Prometheus at {self.url} unreachable: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            raise HistoryError(f"Prometheus at {self.url}: HTTP {resp.status_code}, not JSON") from None
        if resp.status_code != 200 or body.get("status") != "success":
            raise HistoryError(f"query {params['query']!r} failed at {self.url}: {body.get('error') or resp.status_code}")
        return body["data"]
