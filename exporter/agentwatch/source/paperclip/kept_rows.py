"""Rows kept from one read of an endpoint to the next, by their JSON text.

A steady poll reads again, whole, the agents, runs, costs, budgets, approvals and schedules of
every agent, and most of those rows are byte for byte what the last poll read. ``KeptRows``
splits an array into the JSON text of each row (msgspec, without building the values), and a
row whose text it read last time is the object it parsed then: no decode, no parse, and the
same object, so that what compares this poll's rows with the last one's (the kept lines of the
exposition) finds it unchanged at the cost of an identity check. Only a new or changed row is
decoded into its typed row and parsed, as ``parse.TypedPage`` decodes a page: msgspec, or
(a row msgspec rejects) ``json.loads`` and the ``RowCleaner``.

The answer is revalidated too: a ``KeptRows`` holds the ``ETag`` of the last answer it parsed
(``answer``), the source sends it back as ``If-None-Match``, and a 304 (nothing changed) is the
rows of the last answer, with no body read at all.

A parser here must be a function of the row alone (they all are, in ``parse``). The next read
hands its objects out again, which is safe because the model's rows are frozen.
"""

from __future__ import annotations

import json
from types import GenericAlias
from typing import Any, Callable, Generic, NamedTuple, TypeVar

import msgspec

from agentwatch.source.paperclip import parse

T = TypeVar("T")

_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_MISSING: Any = object()  # a text not held (``held.get``'s default): no row is this object


class ParsedRows(NamedTuple, Generic[T]):
    """An endpoint's rows, parsed: what ``PaperclipSource._rows`` returns for them."""

    rows: list[T]
    dropped: int  # rows that are not objects or lack their id


def _decoded(decoder: msgspec.json.Decoder[Any], body: bytes | memoryview) -> Any:
    """``body`` decoded in one go, or None if msgspec rejects it (then row by row)."""
    try:
        return decoder.decode(body)
    except msgspec.DecodeError:
        return None


class _Revalidated:
    """The ``ETag`` of the last answer read whole, to send as ``If-None-Match``, and what it was
    read into; ``_parsed`` says whether an answer was (anything else keeps no validator)."""

    etag: str | None = None
    _last: Any = None

    def answer(self, status: int, data: Any, etag: str | None) -> Any:
        """What an answer to a request that sent ``self.etag`` holds: for a 304, what the last
        answer held; otherwise ``data`` (``decode``'s), whose validator is kept with it."""
        if status == 304 and self._last is not None:
            return self._last
        self.etag, self._last = (etag, data) if etag and self._parsed(data) else (None, None)
        return data

    @staticmethod
    def _parsed(data: Any) -> bool:
        raise NotImplementedError


def rows_of(data: Any, what: str, parser: Callable[[Any], T | None]) -> ParsedRows[T]:
    """The rows of an answer: as a ``KeptRows`` parsed them, or parsed here by ``parser`` (an
    answer decoded otherwise; ``SchemaError`` if it is not an array)."""
    if data.__class__ is ParsedRows:
        return data
    return ParsedRows(*parse.parse_rows(parse.as_list(data, what), parser))


class KeptRows(_Revalidated, Generic[T]):
    """The parsed rows of one endpoint, kept by their JSON text until the next read."""

    def __init__(self, clean: parse.RowCleaner[Any], parser: Callable[[Any], T | None]) -> None:
        self._clean = clean
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(clean.struct)
        self._page: msgspec.json.Decoder[list[Any]] = msgspec.json.Decoder(GenericAlias(list, (clean.struct,)))
        self._parser = parser
        self._held: dict[bytes, T | None] = {}

    @staticmethod
    def _parsed(data: Any) -> bool:
        return data.__class__ is ParsedRows

    def decode(self, body: bytes | memoryview) -> ParsedRows[T] | Any:
        """The endpoint's ``decode``: its rows parsed, or, for anything but an array, the JSON
        value as it is (for the caller's ``parse.as_list``). Invalid JSON raises ``ValueError``."""
        try:
            texts = _ARRAY.decode(body)
        except msgspec.DecodeError:  # not an array, or not strict JSON (NaN): parsed whole, nothing kept
            self._held = {}
            payload = json.loads(bytes(body))
            return ParsedRows(*parse.parse_rows(payload, self._parser)) if isinstance(payload, list) else payload
        # a first read: every row is new, decoded in one go if msgspec takes the page
        return self.take(texts, _decoded(self._page, body) if self.empty and texts else None)

    @property
    def parser(self) -> Callable[[Any], T | None]:
        """The parser of one row, for an answer decoded by other means (``rows_of``)."""
        return self._parser

    @property
    def empty(self) -> bool:
        """No row held: the next read decodes every row."""
        return not self._held

    def take(self, texts: list[msgspec.Raw], typed: list[Any] | None = None) -> ParsedRows[T]:
        """The rows of this read, each as last read if its text is the same; only this read's
        rows are kept for the next. ``typed``: the rows decoded already, one per text."""
        held, kept = self._held, {}
        rows: list[T] = []
        dropped = 0
        parser = self._parser
        for n, raw in enumerate(texts):
            text = bytes(raw)
            row = held.get(text, _MISSING)
            if row is _MISSING:
                row = self._parse(text) if typed is None else parser(typed[n])
            kept[text] = row
            if row is None:
                dropped += 1
            else:
                rows.append(row)
        self._held = kept
        return ParsedRows(rows, dropped)

    def _parse(self, text: bytes) -> T | None:
        try:
            row = self._decoder.decode(text)
        except msgspec.DecodeError:
            row = self._clean(json.loads(text))
        return None if row is None else self._parser(row)


class _OverviewTexts(msgspec.Struct, rename="camel"):
    policies: list[msgspec.Raw] | None = None
    active_incidents: list[msgspec.Raw] | None = None


class _OverviewRows(msgspec.Struct, rename="camel"):
    policies: list[parse.BudgetPolicyRow] | None = None
    active_incidents: list[parse.BudgetIncidentRow] | None = None


_OVERVIEW = msgspec.json.Decoder(_OverviewTexts)
_OVERVIEW_ROWS = msgspec.json.Decoder(_OverviewRows)


class KeptOverview(_Revalidated):
    """``budgets/overview``: ``{"policies": [...], "activeIncidents": [...]}``, each array's rows
    kept as ``KeptRows`` keeps them."""

    def __init__(self) -> None:
        self.policies = KeptRows(parse.budget_policy_row, parse.budget_policy)
        self.incidents = KeptRows(parse.budget_incident_row, parse.budget_incident)

    @staticmethod
    def _parsed(data: Any) -> bool:
        return isinstance(data, dict) and data.get("policies").__class__ is ParsedRows

    def decode(self, body: bytes | memoryview) -> dict[str, Any] | Any:
        """The two arrays' rows parsed, or, for a document msgspec rejects (either array not an
        array, or not an object), ``json.loads``'s answer as it is, for the caller's checks and
        parsers of plain values."""
        try:
            doc = _OVERVIEW.decode(body)
        except msgspec.DecodeError:
            return json.loads(bytes(body))
        first = self.policies.empty and self.incidents.empty  # a first read, decoded in one go if msgspec takes it
        typed = (_decoded(_OVERVIEW_ROWS, body) if first else None) or _OverviewRows()
        return {
            "policies": self.policies.take(doc.policies or [], typed.policies),
            "activeIncidents": self.incidents.take(doc.active_incidents or [], typed.active_incidents),
        }
