"""A small builder of metric families, merged across sources at scrape time."""

from __future__ import annotations

from typing import Iterable, Sequence

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

# family name -> (the HELP and TYPE lines, the sample lines), in the text exposition format
Rendered = dict[str, tuple[bytes, bytes]]


class Families:
    """Ordered metric families by name; each ``add`` appends one sample."""

    def __init__(self) -> None:
        self._by_name: dict[str, Metric] = {}

    def _family(self, name: str, doc: str, typ: str) -> Metric:
        family = self._by_name.get(name)
        if family is None:
            family = self._by_name[name] = Metric(name, doc, typ)
        return family

    def gauge(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        self._family(name, doc, "gauge").add_sample(name, labels, value)

    def counter(self, name: str, doc: str, labels: dict[str, str], value: float) -> None:
        """``name`` without ``_total``; the sample gets the suffix."""
        self._family(name, doc, "counter").add_sample(name + "_total", labels, value)

    def info(self, name: str, doc: str, labels: dict[str, str]) -> None:
        """``name`` without ``_info``; rendered as a gauge of 1 named ``<name>_info``."""
        self._family(name + "_info", doc, "gauge").add_sample(name + "_info", labels, 1.0)

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
        family = self._family(name, doc, "histogram")
        for bound, n in zip(buckets, counts):
            family.add_sample(name + "_bucket", {**labels, "le": floatToGoString(bound)}, n)
        family.add_sample(name + "_bucket", {**labels, "le": "+Inf"}, count)
        family.add_sample(name + "_count", labels, count)
        family.add_sample(name + "_sum", labels, total)

    def declare(self, name: str, doc: str, typ: str) -> None:
        """Make a family exist even with no samples, so HELP/TYPE are stable."""
        self._family(name, doc, typ)

    def values(self) -> Iterable[Metric]:
        return self._by_name.values()

    def by_name(self) -> dict[str, Metric]:
        return self._by_name


def merge(groups: Iterable[dict[str, Metric]]) -> list[Metric]:
    """Merge families of the same name from several sources into one family each."""
    merged: dict[str, Metric] = {}
    for group in groups:
        for name, family in group.items():
            target = merged.get(name)
            if target is None:
                target = merged[name] = Metric(family.name, family.documentation, family.type)
            target.samples.extend(family.samples)
    return list(merged.values())


def observe_all(values: Iterable[float], buckets: Sequence[float]) -> tuple[list[int], int, float]:
    """Cumulative bucket counts, count and sum of ``values``."""
    counts = [0] * len(buckets)
    count = 0
    total = 0.0
    for v in values:
        count += 1
        total += v
        for i, bound in enumerate(buckets):
            if v <= bound:
                counts[i] += 1
    return counts, count, total


class _One:
    """A registry stand-in that yields the given families, for ``generate_latest``."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def render(families: Iterable[Metric]) -> bytes:
    """The text exposition of ``families``, exactly as client_python writes it."""
    return generate_latest(_One(families))  # type: ignore[arg-type]


def render_each(families: dict[str, Metric], previous: dict[str, tuple[Metric, tuple[bytes, bytes]]] | None = None) -> Rendered:
    """Each family rendered once (at poll time), split into its header and its samples, so that a
    scrape only joins bytes: see ``join_rendered``. A family equal to its ``previous`` version
    (the last poll's family and rendering) keeps its rendering."""
    out: Rendered = {}
    for name, family in families.items():
        before = previous.get(name) if previous else None
        if before is not None and before[0] == family:
            out[name] = before[1]
            continue
        text = render([family])
        header_end = 0
        for _ in range(2):  # "# HELP ..." and "# TYPE ..."
            header_end = text.index(b"\n", header_end) + 1
        out[name] = (text[:header_end], text[header_end:])
    return out


def join_rendered(groups: Iterable[Rendered]) -> bytes:
    """Families of the same name from several sources under one HELP/TYPE header."""
    merged: dict[str, list[bytes]] = {}
    for group in groups:
        for name, (header, body) in group.items():
            parts = merged.get(name)
            if parts is None:
                merged[name] = [header, body]
            else:
                parts.append(body)
    return b"".join(b"".join(parts) for parts in merged.values())
