"""Metric families written straight in the text exposition format, merged across sources at
scrape time.

Each ``add`` formats its sample line at once, exactly as client_python's ``generate_latest``
would (labels sorted by name, values escaped, numbers as ``floatToGoString`` writes them), so a
poll of 100k issues holds lines rather than a ``Sample`` and a label dict per series, and is
rendered by joining them (tests/test_hostile_input.py compares the two writers).
"""

from __future__ import annotations

from bisect import bisect_left
from functools import lru_cache
from typing import Callable, Hashable, Iterable, Sequence

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
    return f"{f'{text[0]}.{text[1:dot]}{text[dot + 1 :]}'.rstrip('0.')}e+{dot - 1:02d}"


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

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _written  # type: ignore[assignment]


# a kept block: the inputs it was written from; its lines, in chunks (name, header, the lines
# joined and encoded: the rendering of a build holds the very same bytes, so they are held
# once); and the blocks kept inside it, by key (``Families.kept`` nests)
Block = tuple[object, list[tuple[str, str, bytes]], dict]


class KeptBlocks:
    """Blocks of sample lines kept from one build to the next (``Families.kept``), each with the
    inputs it was written from. A block that a build does not ask for is forgotten by the end of
    the next, so what is held is what the last build wrote through blocks, joined.
    ``previous``: the blocks to take from (those kept inside a block being written again).

    The bytes of the blocks a build asks for at the top level (not inside another block) stay in
    place from one build to the next, in ``placed``: each family's bytes by block key. A block
    kept as it was costs its check and nothing else; only the bytes of a block written again, or
    no longer asked for, are replaced or taken out."""

    def __init__(self, previous: dict[Hashable, Block] | None = None) -> None:
        self._current: dict[Hashable, Block] = {}
        self._previous: dict[Hashable, Block] = {} if previous is None else previous
        self.placed: dict[str, tuple[str, dict[Hashable, bytes]]] = {}  # family name -> (header, bytes by block key)

    def next_build(self) -> None:
        """Start a build: blocks not asked for since the one before are dropped."""
        self.evict()
        self._previous, self._current = self._current, {}

    def take(self, key: Hashable) -> Block | None:
        block = self._previous.pop(key, None)
        return self._current.pop(key, None) if block is None else block

    def put(self, key: Hashable, block: Block) -> None:
        self._current[key] = block

    def place(self, key: Hashable, old: Block | None, new: Block) -> None:
        """The bytes of ``new``, a top-level block written again, in place of those of ``old``:
        at the same place in each family they both write to."""
        placed, names = self.placed, set()
        for name, header, text in new[1]:
            family = placed.get(name)
            if family is None:
                family = placed[name] = (header, {})
            if name in names:  # a family the block writes to around a block inside it
                family[1][key] += text
            else:
                family[1][key] = text
                names.add(name)
        if old is not None:
            for name, _, _ in old[1]:
                if name not in names:
                    placed[name][1].pop(key, None)

    def evict(self) -> None:
        """Take out the bytes of the blocks not asked for since the last build began, and forget them."""
        placed = self.placed
        for key, block in self._previous.items():
            for name, _, _ in block[1]:
                placed[name][1].pop(key, None)
        self._previous = {}

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)


class Families:
    """Ordered metric families by name; each ``add`` appends one sample line.

    ``kept``: blocks of lines kept across builds (``kept()``); without it every block is written."""

    def __init__(self, kept: KeptBlocks | None = None) -> None:
        self._by_name: dict[str, tuple[str, list]] = {}  # name -> (header, sample lines and kept blocks' bytes)
        self._headers: dict[str, str] = {}  # name -> the HELP and TYPE lines of its first appearance
        self._kept = kept
        self._top = kept  # the store whose blocks' bytes stay in place (``KeptBlocks.placed``)
        # (label name, value) -> 'name="escaped value"': the same agent, company and status pairs
        # recur in every family, so each is escaped once per build rather than once per series
        self._pairs: dict[tuple[str, str], str] = {}

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

    def _lines(self, name: str, doc: str, typ: str) -> list[str]:
        family = self._by_name.get(name)
        if family is None:
            # a family's header is written once per build, though ``kept`` opens it in every block
            header = self._headers.get(name)
            if header is None:
                shown = name + "_total" if typ == "counter" else name
                doc = doc.replace("\\", r"\\").replace("\n", r"\n")
                header = self._headers[name] = f"# HELP {shown} {doc}\n# TYPE {shown} {typ}\n"
            family = self._open(name, header)
        return family[1]

    def _open(self, name: str, header: str) -> tuple[str, list]:
        """A family not yet in this build (or in the block being captured), with its header."""
        family = self._by_name[name] = (header, [])
        return family

    def gauge(self, name: str, doc: str, labels: dict[str, str], value: float, extra: tuple[str, str] | None = None) -> None:
        """``extra``: one more label (name, value), as ``{**labels, name: value}`` would add it."""
        self._lines(name, doc, "gauge").append(self._line(name, labels, value, extra))

    def gauges(self, name: str, doc: str, samples: Iterable[tuple[LabelSet, float]]) -> None:
        """``gauge`` for many series at once, each with its ``LabelSet``."""
        lines = self._lines(name, doc, "gauge")
        lines.extend([_labelled(name, labels, value) for labels, value in samples])

    def counter(self, name: str, doc: str, labels: dict[str, str], value: float, extra: tuple[str, str] | None = None) -> None:
        """``name`` without ``_total``; the sample gets the suffix."""
        self._lines(name, doc, "counter").append(self._line(name + "_total", labels, value, extra))

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
        if labels.__class__ is not LabelSet:
            labels = self.labels(labels)
        # every bucket line is the same but for its bound and count: written around ``le`` once
        before, after = labels.around("le")
        head, tail = f'{name}_bucket{{{before}le="', f'"{after}}} '
        for bound, n in zip(buckets, counts, strict=False):
            lines.append(f"{head}{_bound(bound)}{tail}{format_value(n)}\n")
        lines.append(f"{head}+Inf{tail}{format_value(count)}\n")
        lines.append(self._line(name + "_count", labels, count))
        lines.append(self._line(name + "_sum", labels, total))

    def kept(self, key: Hashable, inputs: object, write: Callable[..., None], *args) -> None:
        """The lines ``write(*args)`` adds, kept under ``key`` with the ``inputs`` they are written from.
        While a later build passes equal ``inputs``, the kept lines are added again and ``write``
        is not called: ``inputs`` must hold everything the lines depend on, labels included.
        A key is asked for once per build.

        The lines come out in the families ``write()`` adds them to. Inside a block, in call order;
        at the top level, each family holds the bytes of its blocks in place from build to build
        (``KeptBlocks.place``), after the lines written in the build: a block written again keeps
        its place, a new one comes last. The exposition format does not order a family's samples.

        Blocks nest: ``write`` may keep blocks of its own, under keys of their own. While the
        outer block's inputs stay, its lines (theirs included) are added again on one check of
        its inputs; when they change, each inner block is checked against its own inputs, and
        only those whose inputs changed are written again. The outer inputs must then cover
        everything its inner blocks depend on."""
        store = self._kept
        if store is None:
            write(*args)
            return
        block = store.take(key)
        if block is None or block[0] != inputs:
            old, block = block, self._written(inputs, write, args, None if block is None else block[2])
            if store is self._top:
                store.place(key, old, block)
        store.put(key, block)
        if store is not self._top:  # inside a block being written: its lines are the outer block's
            by_name = self._by_name
            for name, header, text in block[1]:
                (by_name.get(name) or self._open(name, header))[1].append(text)

    def _written(self, inputs: object, write: Callable[..., None], args: tuple, inner: dict | None) -> Block:
        """The block ``write(*args)`` writes, taking the blocks inside it from ``inner``."""
        outer, self._by_name = self._by_name, {}
        store, self._kept = self._kept, KeptBlocks(inner)
        try:
            write(*args)
        finally:
            written, self._by_name = self._by_name, outer
            inner_store, self._kept = self._kept, store
        if inner_store._current:  # lines and the bytes of inner blocks
            # a family the block opens without a line (``declare``) stays open when it is added again
            chunks = [(name, header, chunk) for name, (header, items) in written.items() for chunk in _chunks(items) or (b"",)]
        else:  # lines only (most blocks hold no other)
            chunks = [(name, header, "".join(lines).encode()) for name, (header, lines) in written.items()]
        return (inputs, chunks, inner_store._current or None)

    def declare(self, name: str, doc: str, typ: str) -> None:
        """Make a family exist even with no samples, so HELP/TYPE are stable."""
        self._lines(name, doc, typ)

    def render(self) -> Rendered:
        """Each family as bytes, split into its header and its samples, so that a scrape only joins
        bytes (``join_rendered``). The samples are chunks: the lines written in this build, joined,
        then the bytes of the top-level kept blocks, which are shared with the store rather than
        copied. The families are emptied as they go: a family's lines are dropped once joined, so
        the lines and their rendering are not all held at once."""
        out: Rendered = {}
        placed: dict[str, tuple[str, dict]] = {}
        if self._top is not None:
            self._top.evict()  # the blocks this build did not ask for
            placed = self._top.placed
        for name in list(self._by_name):
            header, items = self._by_name.pop(name)
            chunks = _chunks(items)
            family = placed.get(name)
            if family is not None:
                chunks.extend(family[1].values())
            out[name] = (header.encode(), chunks)
        for name, (header, texts) in placed.items():
            if texts and name not in out:
                out[name] = (header.encode(), list(texts.values()))
        return out


def _chunks(items: list) -> list[bytes]:
    """A family's items in order: each run of lines written (``str``) joined and encoded, and the
    bytes of kept blocks as they are."""
    chunks: list[bytes] = []
    lines: list[str] = []
    for item in items:
        if item.__class__ is bytes:
            if lines:
                chunks.append("".join(lines).encode())
                lines = []
            chunks.append(item)
        else:
            lines.append(item)
    if lines:
        chunks.append("".join(lines).encode())
    return chunks


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
