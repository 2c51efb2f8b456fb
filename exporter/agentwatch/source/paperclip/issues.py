"""Incremental issue sync for one company.

A full resync pages the whole list (keyset ``afterId`` paging, or ``offset`` on builds
without it). Between resyncs only rows with ``updatedAt > since`` are fetched, with an
overlap because ``updatedSince`` is exclusive, and the first page is revalidated with
``If-None-Match``. Deletions and hidden issues show up at the next full resync.

Paperclip answers a compact list from a cache for 2 s when the same query comes again from the
same key (``ISSUE_LIST_SERVER_CACHE_TTL_MS``, 2026.916.1): a refresh that a live event asks for
half a second after the change would get the list as it was before. The cache is keyed on the
query's text and the server reads ``updatedSince`` to the millisecond, so each request writes
its millisecond with three more digits of its own (``query_tag``): a new text, the same time.
(A full read has no such parameter: two within 2 s, as when a company has no issue yet, may
still get the first one's answer.)
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from agentwatch.model import Issue, SourceCapabilities
from agentwatch.source.base import SourceError
from agentwatch.source.http import HttpClient, Response
from agentwatch.source.paperclip import parse

log = logging.getLogger("agentwatch.source")

OVERLAP_SECONDS = 5.0


@dataclass
class Capabilities:
    """What the platform build supports; a missing feature is detected once and remembered.

    The first three shape the issue reads alone; the others are endpoints the poll skips once
    they are known to be missing, and those the analysis can tell apart go into ``declared``."""

    updated_since: bool = True
    after_id: bool = True
    compact_view: bool = True
    scheduler_heartbeats: bool = True
    window_spend: bool = True
    activity: bool = True
    budgets: bool = True
    live_runs: bool = True
    missing_logged: set[str] = field(default_factory=set)

    def declared(self) -> SourceCapabilities:
        """What the source declares in its snapshots: the features found missing are off. The
        scheduler's table is not one: without it, an agent's schedule still comes from its own
        ``runtimeConfig`` and only the scheduler's state is unknown (None)."""
        return SourceCapabilities(budgets=self.budgets, live_runs=self.live_runs, window_spend=self.window_spend)

    def disable(self, feature: str, source: str, reason: str) -> None:
        setattr(self, feature, False)
        if feature not in self.missing_logged:
            self.missing_logged.add(feature)
            log.warning("platform feature unavailable, degrading", extra={"source": source, "feature": feature, "reason": reason})


def _unsupported(exc: SourceError) -> bool:
    return exc.status in (400, 404, 422)


@dataclass
class IssueSync:
    """Keeps the full set of one company's issues (optionally filtered) up to date."""

    client: HttpClient
    source: str
    company_id: str
    caps: Capabilities
    parse_row: Callable[[parse.IssueRow], Issue | None]
    page_size: int = 1000
    status_filter: str | None = None
    compact: bool = True
    issues: dict[str, Issue] = field(default_factory=dict)
    since: float | None = None
    etag: str | None = None
    dropped_rows: int = 0
    last_full_sync: float | None = None
    last_poll_requests: int = 0
    last_poll_bytes: int = 0
    # the ids whose held Issue was replaced or dropped since the last ``take_touched``: what can
    # differ from the issues of the previous snapshot (a superset: a sync that raised half-way
    # leaves ids it did not apply; the source keeps those whose object differs). None: any id,
    # from a sync that started with none held (the first), which would only list every id
    touched: dict[str, None] | None = None
    parsed_new: int = 0  # issues parsed in this sync with none of their id held
    # the microseconds written into the next ``updatedSince`` (modulo 1000): from a random start,
    # so that two exporters with one key rarely send the same text, and one never within 1000 requests
    query_tag: int = field(default_factory=lambda: random.randrange(1000))

    @property
    def endpoint(self) -> str:
        return "/api/companies/{id}/issues"

    def _base_params(self) -> dict[str, str]:
        params = {"includeBlockedBy": "true"}
        if self.compact and self.caps.compact_view:
            params["view"] = "compact"
        if self.status_filter:
            params["status"] = self.status_filter
        return params

    def sync(self, now: float, full_resync_interval: float) -> None:
        self.last_poll_requests = 0
        self.last_poll_bytes = 0
        self.parsed_new = 0
        full = self.last_full_sync is None or not self.caps.updated_since or now - self.last_full_sync >= full_resync_interval
        if full:
            fetched = self._fetch_all(None) or []
            held, self.issues = self.issues, {issue.id: issue for issue in fetched}
            self.last_full_sync = now
            if self.touched is not None and len(self.issues) - self.parsed_new != len(held):  # some are gone
                self.touched.update(dict.fromkeys([iid for iid in held if iid not in self.issues]))
        else:
            fetched = self._fetch_all(self.since) or []
            for issue in fetched:
                self.issues[issue.id] = issue
        # the cursor: the newest updatedAt held; between full resyncs nothing is dropped, so only
        # the fetched rows can have moved it
        newest = max((i.updated_at for i in fetched if i.updated_at is not None), default=None)
        if newest is not None and (full or self.since is None or newest > self.since):
            self.since = newest

    def _updated_since(self, since: float) -> str:
        """``updatedSince`` for the rows updated after ``since`` (less the overlap), to the
        millisecond, and then this request's tag as microseconds (read by the server as the same
        millisecond)."""
        ms = math.floor((since - OVERLAP_SECONDS) * 1000)
        tag, self.query_tag = self.query_tag % 1000, self.query_tag + 1
        stamp = datetime.fromtimestamp(ms // 1000, tz=timezone.utc) + timedelta(microseconds=(ms % 1000) * 1000 + tag)  # no float rounding
        return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")

    def _parse(self, rows: list[parse.IssueRow | None]) -> list[Issue]:
        """Parse one page. An issue equal to the one already held keeps that object, so a full
        resync holds one copy of the issues that did not change rather than two until it ends
        (35 MB at 100k issues), and the previous snapshot, still served, shares it."""
        parsed, dropped = parse.parse_rows(rows, self.parse_row)
        self.dropped_rows += dropped
        held = self.issues
        if not held:
            self.touched = None
        touched = self.touched
        for n, issue in enumerate(parsed):
            old = held.get(issue.id)
            if old is not None and old == issue:
                parsed[n] = old
            else:
                if old is None:
                    self.parsed_new += 1
                if touched is not None:
                    touched[issue.id] = None
        return parsed

    def take_touched(self) -> dict[str, None] | None:
        """The ids touched since the last call (``touched``), handed over and forgotten."""
        touched, self.touched = self.touched, {}
        return touched

    def _get(self, params: dict[str, str], etag: str | None = None) -> Response:
        path = f"/api/companies/{self.company_id}/issues"
        resp = self.client.get(path, self.endpoint, params=params, etag=etag, decode=parse.issue_page)
        self.last_poll_requests += 1
        self.last_poll_bytes += resp.nbytes
        return resp

    def _fetch_all(self, since: float | None) -> list[Issue] | None:
        """All issues (``since`` None) or those updated after ``since``; None on 304. Each page
        is parsed as it arrives, so the raw JSON of only one page is held at a time."""
        params = self._base_params()
        if since is not None:
            params["updatedSince"] = self._updated_since(since)
        issues: list[Issue] = []
        seen: set[str] = set()
        last_id: str | None = None
        consumed = 0
        while True:
            page_params = dict(params)
            page_params["limit"] = str(self.page_size)
            if self.caps.after_id:
                page_params["sortField"] = "id"
                page_params["sortDir"] = "asc"
                if last_id is not None:
                    page_params["afterId"] = last_id
            else:
                page_params["sortField"] = "id"
                page_params["sortDir"] = "asc"
                page_params["offset"] = str(consumed)
            first = consumed == 0
            try:
                resp = self._get(page_params, self.etag if first and since is not None else None)
            except SourceError as exc:
                if not _unsupported(exc):
                    raise
                if "afterId" in page_params and self.caps.after_id:
                    self.caps.disable("after_id", self.source, str(exc))
                    continue
                if "updatedSince" in page_params and self.caps.updated_since:
                    self.caps.disable("updated_since", self.source, str(exc))
                    params.pop("updatedSince")
                    since = None
                    continue
                if "view" in page_params and self.caps.compact_view:
                    self.caps.disable("compact_view", self.source, str(exc))
                    params.pop("view")
                    continue
                raise
            if resp.status == 304:
                return None
            page = parse.as_list(resp.data, self.endpoint)
            if first and since is not None:
                self.etag = resp.etag
            ids = [parse.text(row.id) if row is not None else "" for row in page]
            fresh = [row for row, rid in zip(page, ids, strict=False) if not rid or rid not in seen]
            seen.update(ids)
            if ids and ids[-1]:
                last_id = ids[-1]
            consumed += len(fresh)
            issues.extend(self._parse(fresh))
            if len(page) < self.page_size or not fresh:  # a page that adds nothing new ends paging
                return issues
