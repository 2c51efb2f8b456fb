"""Metric families written straight in the text exposition format, merged across sources at
scrape time.

Each ``add`` formats its sample line at once, exactly as client_python's ``generate_latest``
would (labels sorted by name, values escaped, numbers as ``floatToGoString`` writes them), so a
poll of 100k issues holds lines rather than a ``Sample`` and a label dict per series, and is
rendered by joining them (tests/test_hostile_input.py compares the two writers).
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate
from typing import Iterable, Sequence

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

# family name -> (the HELP and TYPE lines, the sample lines), in the text exposition format
Rendered = dict[str, tuple[bytes, bytes]]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def format_value(value: float) -> str:
    """``floatToGoString``, with a fast path for the ints most series hold (counts): below 1e6 in
    magnitude an int is written as the repr of its float; from 1e6 on Go writes an exponent."""
    if value.__class__ is int and -1_000_000 < value < 1_000_000:
        return f"{value}.0"
    return floatToGoString(value)


class Families:
    """Ordered metric families by name; each ``add`` appends one sample line."""

    def __init__(self) -> None:
        self._by_name: dict[str, tuple[str, list[str]]] = {}  # name -> (header, sample lines)
        # (label name, value) -> 'name="escaped value"': the same agent, company and status pairs
        # recur in every family, so each is escaped once per build rather than once per series
        self._pairs: dict[tuple[str, str], str] = {}

    def _line(self, name: str, labels: dict[str, str], value: float) -> str:
        """One sample line: labels sorted by name, values escaped, the value as Go writes it."""
        if not labels:
            return f"{name} {format_value(value)}\n"
        pairs = self._pairs
        parts = []
        for item in sorted(labels.items()):
            pair = pairs.get(item)
            if pair is None:
                pair = pairs[item] = f'{item[0]}="{_escape(item[1])}"'
            parts.append(pair)
        return f"{name}{{{','.join(parts)}}} {format_value(value)}\n"

    def _lines(self, name: str, doc: str, typ: str) -> list[str]:
        family = self._by_name.get(name)
        if family is None:
            shown = name + "_total" if typ == "counter" else name
            doc = doc.replace("\\", r"\\").replace("\n", r"\n")
            family = self._by_name[name] = (f"# HELP {shown} {doc}\n# TYPE {shown} {typ}\n", [])
        return family[1]

    def gauge(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        self._lines(name, doc, "gauge").append(self._line(name, labels, value))

    def counter(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        """``name`` without ``_total``; the sample gets the suffix."""
        self._lines(name, doc, "counter").append(self._line(name + "_total", labels, value))

    def info(self, name: str, doc: str, labels: dict[str, str]) -> None:
        """``name`` without ``_info``; rendered as a gauge of 1 named ``<name>_info``."""
        self._lines(name + "_info", doc, "gauge").append(self._line(name + "_info", labels, 1.0))

    def histogram(
        self,
        name: str,
        doc: str,
        labels: dict[str, str],
        buckets: Sequence[float],
        counts: Sequence[int],
        count: int,
        total: float,
    ) -> None:
        """Cumulative ``counts`` per upper bound in ``buckets`` (without +Inf)."""
        lines = self._lines(name, doc, "histogram")
        line = self._line
        for bound, n in zip(buckets, counts):
            lines.append(line(name + "_bucket", {**labels, "le": floatToGoString(bound)}, n))
        lines.append(line(name + "_bucket", {**labels, "le": "+Inf"}, count))
        lines.append(line(name + "_count", labels, count))
        lines.append(line(name + "_sum", labels, total))

    def declare(self, name: str, doc: str, typ: str) -> None:
        """Make a family exist even with no samples, so HELP/TYPE are stable."""
        self._lines(name, doc, typ)

    def render(self) -> Rendered:
        """Each family as bytes, split into its header and its samples, so that a scrape only joins
        bytes (``join_rendered``). The families are emptied as they go: a family's lines are
        dropped once joined, so the lines and their rendering are not all held at once."""
        out: Rendered = {}
        for name in list(self._by_name):
            header, lines = self._by_name.pop(name)
            out[name] = (header.encode(), "".join(lines).encode())
        return out


def observe_all(values: Iterable[float], buckets: Sequence[float]) -> tuple[list[int], int, float]:
    """Cumulative bucket counts, count and sum of ``values`` (``buckets`` ascending)."""
    per_bucket = [0] * (len(buckets) + 1)  # the last slot: above every bound
    count = 0
    total = 0.0
    top = buckets[-1] if buckets else float("-inf")
    for v in values:
        count += 1
        total += v
        # above every bound (or NaN) goes in the last slot, which no finite bucket counts
        per_bucket[bisect_left(buckets, v) if v <= top else -1] += 1
    return list(accumulate(per_bucket[:-1])), count, total


def join_rendered(groups: Iterable[Rendered]) -> bytes:
    """Families of the same name from several groups (sources, self-metrics) under one HELP/TYPE
    header, in the order they first appear."""
    merged: dict[str, list[bytes]] = {}
    for group in groups:
        for name, (header, body) in group.items():
            parts = merged.get(name)
            if parts is None:
                merged[name] = [header, body]
            else:
                parts.append(body)
    return b"".join(b"".join(parts) for parts in merged.values())


def parse_rendered(groups: Iterable[Rendered]) -> list[Metric]:
    """The families read back from their renderings, for a client_python registry (``/metrics``
    serves ``join_rendered`` itself)."""
    return list(text_string_to_metric_families(join_rendered(groups).decode()))
