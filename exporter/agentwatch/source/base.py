"""The source interface: what a platform implements to feed the analysis, and the errors it raises.

A source reads one platform and hands the analysis a ``model.Snapshot`` per poll. The poller
knows sources only through the ``Source`` Protocol and ``SourceError``: it calls ``poll``,
takes the snapshot into the analyses, and on a ``SourceError`` marks the source down and keeps
serving the last good snapshot's families. docs/sources.md walks through adding a platform.

The contract of ``poll(now)``:

- It returns a ``Snapshot`` whose ``source`` is the source's ``name``, ``taken_at`` is ``now``,
  and ``capabilities`` says what the platform could report in this poll (a feature it lacks is
  off, and the families fed only by it are absent from /metrics, not zero).
- Each ``CompanySnapshot`` is keyed by its company's id; its agents and issues by their own ids.
  Rows are frozen (``model``), ids are unique in their list, and ``runs`` are newest first.
- ``CompanySnapshot.issue_delta`` is what changed in ``issues`` since the source's previous
  snapshot of the company (``model.delta``), or None if the source does not know it.
- A row that did not change since the last poll is handed out as the very same object: the
  analyses and the exposition find what changed by identity.
- A source may also offer ``live`` and ``refresh(changes, now)``: a snapshot with only the parts
  its live events said changed read again (docs/sources.md; Paperclip's ``live_events``).
- When the platform is down or misbehaves (unreachable, an error status, a body that is not
  JSON or not the shape the endpoint documents), it raises ``SourceError``; hostile input
  never raises anything else. A row it cannot read is dropped and counted, not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agentwatch.model import Snapshot, SourceCapabilities
    from agentwatch.source.http import RequestStats


class SourceError(Exception):
    """The platform could not be read: down, slow, refusing, or answering what it should not.

    ``kind`` is a bounded label value for ``agentwatch_poll_failures_total`` (``connection``,
    ``timeout``, ``http_5xx``, ``http_401``, ``http_403``, ``http_4xx``, ``rate_limited``,
    ``too_large``, ``decode``, ``schema``, ``unhealthy``); ``endpoint`` is the bounded
    template of the request that failed ("" if none); ``status`` its HTTP status, if any."""

    def __init__(self, kind: str, endpoint: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{endpoint}: {message}" if endpoint else message)
        self.kind = kind
        self.endpoint = endpoint
        self.status = status


class SchemaError(SourceError, ValueError):
    """An answer does not have the shape the endpoint documents (an object for an array, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__("schema", "", message)


@dataclass
class PollStats:
    """What one poll cost: requests, bytes received, and rows dropped per endpoint (a row the
    source could not read: not an object, or without its id)."""

    requests: int = 0
    bytes: int = 0
    dropped_rows: dict[str, int] = field(default_factory=dict)

    def drop(self, endpoint: str, rows: int) -> None:
        self.dropped_rows[endpoint] = self.dropped_rows.get(endpoint, 0) + rows


class Source(Protocol):
    """A platform, read one poll at a time (the contract is in this module's docstring)."""

    @property
    def name(self) -> str:
        """The source's name from the config: the ``source`` label of its self-metrics."""
        ...

    @property
    def capabilities(self) -> SourceCapabilities:
        """What the platform can report, as far as the source knows now (it may learn of a
        missing feature during a poll; each snapshot carries what held for that poll)."""
        ...

    @property
    def last_poll(self) -> PollStats:
        """The cost of the last poll, read by the poller once ``poll`` returns or raises."""
        ...

    @property
    def request_stats(self) -> RequestStats | None:
        """Per-endpoint request counters for the self-metrics, or None if the source keeps none."""
        ...

    def poll(self, now: float | None = None) -> Snapshot:
        """Read the platform once (``now``: the snapshot's time, default the clock). Raises
        ``SourceError`` and nothing else when the platform is down or misbehaving."""
        ...

    def close(self) -> None:
        """Stop the source's threads and close its connections."""
        ...
