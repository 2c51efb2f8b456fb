"""Metric families written straight in the text exposition format, merged across sources at
scrape time.

Each ``add`` formats its sample line at once, exactly as client_python's ``generate_latest``
would (labels sorted by name, values escaped, numbers as ``floatToGoString`` writes them), so a
poll of 100k issues holds lines rather than a ``Sample`` and a label dict per series, and is
rendered by joining them (tests/test_hostile_input.py compares the two writers).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

# family name -> (the HELP and TYPE lines, the sample lines in chunks), in the text exposition format
Rendered = dict[str, tuple[bytes, list[bytes]]]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def format_value(value: float) -> str:
    """``floatToGoString``, with fast paths for the values most series hold: below 1e6 in
    magnitude an int is written as the repr of its float, and a float as its repr. From 1e6 on Go
    writes an exponent: a positive float below 1e16 (whose repr has no exponent of its own: the
    timestamps, and ages past eleven days) gets it here, as ``floatToGoString`` writes it. NaN and
    the infinities fail the comparisons and take the slow path."""
    cls = value.__class__
    if cls is float:
        if -1_000_000.0 < value < 1_000_000.0:
            return repr(value)
        if 1_000_000.0 <= value < 1e16 and _EXPONENT_AS_CLIENT:
            return _with_exponent(value)
    elif cls is int and -1_000_000 < value < 1_000_000:
        return f"{value}.0"
    return floatToGoString(value)


def _with_exponent(value: float) -> str:
    """A float from 1e6 to 1e16 as ``floatToGoString`` writes it: its repr's digits with an exponent."""
    text = repr(value)
    dot = text.find(".")
    digits = (text[:dot] + text[dot + 1 :]).rstrip("0")
    return (f"{digits[0]}.{digits[1:]}" if len(digits) > 1 else digits) + _EXPONENTS[dot - 1]


_EXPONENTS = tuple(f"e+{n:02d}" for n in range(17))  # a float below 1e16 has at most 16 digits before its point


# client_python writes the exponent with two digits at least (0.20 wrote 'e+010' for 1e10): the fast path only
# where the installed one agrees
_EXPONENT_AS_CLIENT = all(_with_exponent(v) == floatToGoString(v) for v in (1e6, 1234567.5, 1.5e10, 9.999e15))


class LabelSet(dict):
    """Labels written once: their pairs sorted by name and escaped, joined as they appear between
    the braces. An agent's labels recur in some 80 series per poll; with a ``LabelSet`` each of
    those lines joins the written pairs rather than sorting and escaping the labels again. It is
    still the plain dict of its labels (``{**labels, ...}`` works)."""

    __slots__ = ("names", "pairs", "body", "_around")

    def __init__(self, labels: dict[str, str], pair) -> None:
        super().__init__(labels)
        self.names = tuple(sorted(labels))
        self.pairs = [pair((name, labels[name])) for name in self.names]
        self.body = ",".join(self.pairs)
        self._around: dict[str, tuple[str, str]] = {}

    def around(self, name: str) -> tuple[str, str]:
        """What goes before and after a further label ``name`` between the braces: the written
        pairs on each side of its place, with the commas that part them from it."""
        found = self._around.get(name)
        if found is None:
            i = bisect_left(self.names, name)
            before, after = ",".join(self.pairs[:i]), ",".join(self.pairs[i:])
            found = self._around[name] = (f"{before}," if before else "", f",{after}" if after else "")
        return found

    def _written(self, *args, **kwargs):
        raise TypeError("a LabelSet is written once; extend a copy: {**labels, name: value}")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _written


@dataclass(frozen=True, slots=True, eq=False)  # one object per family: a dict key by identity
class Family:
    """One metric family as /metrics shows it: its name (a counter's without ``_total``), its type
    and HELP. ``needs``: the source capabilities (``SourceCapabilities`` field names) that feed it;
    a source without one of them shows no such family at all. ``declared``: shown with its HELP and
    TYPE whenever a company is built, even without a series (so that dashboards see it exist)."""

    name: str
    type: str
    help: str
    needs: tuple[str, ...] = ()
    declared: bool = False
    header: bytes = field(init=False, repr=False, compare=False)
    sample: str = field(init=False, repr=False, compare=False)  # the name its sample lines carry

    def __post_init__(self) -> None:
        shown = self.name + "_total" if self.type == "counter" else self.name
        doc = self.help.replace("\\", r"\\").replace("\n", r"\n")
        object.__setattr__(self, "header", f"# HELP {shown} {doc}\n# TYPE {shown} {self.type}\n".encode())
        object.__setattr__(self, "sample", shown)


class Families:
    """Sample lines by family, in the order the families first get one; each ``add`` formats one
    line at once. ``pairs``: the escaped label pairs to share with other writers of a build."""

    def __init__(self, pairs: dict[tuple[str, str], str] | None = None) -> None:
        self._by_family: dict[Family, list[str]] = {}
        # (label name, value) -> 'name="escaped value"': the same agent, company and status pairs
        # recur in every family, so each is escaped once per build rather than once per series
        self._pairs: dict[tuple[str, str], str] = {} if pairs is None else pairs

    def _pair(self, item: tuple[str, str]) -> str:
        pair = self._pairs.get(item)
        if pair is None:
            pair = self._pairs[item] = f'{item[0]}="{_escape(item[1])}"'
        return pair

    def labels(self, labels: dict[str, str]) -> LabelSet:
        """``labels`` written once, for the many series that share them (``LabelSet``)."""
        return LabelSet(labels, self._pair)

    def _line(self, name: str, labels: dict[str, str], value: float, extra: tuple[str, str] | None = None) -> str:
        """One sample line: labels (and the ``extra`` label) sorted by name, values escaped, the
        value as Go writes it."""
        if labels.__class__ is LabelSet and (extra is None or extra[0] not in labels):
            if extra is None:
                return _labelled(name, labels, value)
            before, after = labels.around(extra[0])
            return f"{name}{{{before}{self._pair(extra)}{after}}} {format_value(value)}\n"
        if extra is not None:
            labels = {**labels, extra[0]: extra[1]}
        if not labels:
            return f"{name} {format_value(value)}\n"
        pair = self._pair
        return f"{name}{{{','.join([pair(item) for item in sorted(labels.items())])}}} {format_value(value)}\n"

    def _lines(self, family: Family) -> list[str]:
        lines = self._by_family.get(family)
        if lines is None:
            lines = self._by_family[family] = []
        return lines

    def add(self, family: Family, labels: dict[str, str], value: float, extra: tuple[str, str] | None = None) -> None:
        """One sample of a gauge or counter (its line named ``Family.sample``). ``extra``: one more
        label (name, value), as ``{**labels, name: value}`` would add it."""
        self._lines(family).append(self._line(family.sample, labels, value, extra))

    def gauges(self, family: Family, samples: Iterable[tuple[LabelSet, float]]) -> None:
        """``add`` for many series at once, each with its ``LabelSet``."""
        name = family.sample
        self._lines(family).extend([_labelled(name, labels, value) for labels, value in samples])

    def histogram(
        self,
        family: Family,
        labels: dict[str, str],
        buckets: Sequence[float],
        counts: Sequence[int],
        count: int,
        total: float,
    ) -> None:
        """Cumulative ``counts`` per upper bound in ``buckets`` (without +Inf)."""
        lines, name = self._lines(family), family.name
        written = labels if labels.__class__ is LabelSet else self.labels(labels)
        # every bucket line is the same but for its bound and count: written around ``le`` once
        before, after = written.around("le")
        head, tail = f'{name}_bucket{{{before}le="', f'"{after}}} '
        for bound, n in zip(buckets, counts, strict=False):
            lines.append(f"{head}{_bound(bound)}{tail}{format_value(n)}\n")
        lines.append(f"{head}+Inf{tail}{format_value(count)}\n")
        lines.append(self._line(name + "_count", written, count))
        lines.append(self._line(name + "_sum", written, total))

    def declare(self, family: Family) -> None:
        """Make a family exist even with no samples, so HELP/TYPE are stable."""
        self._lines(family)

    def encoded(self) -> dict[Family, bytes]:
        """Each family's lines, joined and encoded."""
        return {family: "".join(lines).encode() for family, lines in self._by_family.items()}

    def render(self) -> Rendered:
        """Each family as bytes, split into its header and its samples, so that a scrape only joins
        bytes (``join_rendered``)."""
        return {family.name: (family.header, [text] if text else []) for family, text in self.encoded().items()}


def _labelled(name: str, labels: LabelSet, value: float) -> str:
    body = labels.body
    return f"{name}{{{body}}} {format_value(value)}\n" if body else f"{name} {format_value(value)}\n"


# a bucket's ``le`` as client_python writes it: the bounds are a few constants, written once
_bound = lru_cache(maxsize=256)(floatToGoString)


def join_rendered(groups: Iterable[Rendered]) -> bytes:
    """Families of the same name from several groups (sources, self-metrics) under one HELP/TYPE
    header, in the order they first appear."""
    merged: dict[str, list[bytes]] = {}
    for group in groups:
        for name, (header, chunks) in group.items():
            parts = merged.get(name)
            if parts is None:
                merged[name] = [header, *chunks]
            else:
                parts.extend(chunks)
    return b"".join(b"".join(parts) for parts in merged.values())


def parse_rendered(groups: Iterable[Rendered]) -> list[Metric]:
    """The families read back from their renderings, for a client_python registry (``/metrics``
    serves ``join_rendered`` itself)."""
    return list(text_string_to_metric_families(join_rendered(groups).decode()))
