"""The rendered lines of the fleet, per entity, kept from one build to the next (after
kube-state-metrics' ``MetricsStore``).

An entity is an agent's aspect (what it is, what it does, its queue, ...), a company's or a
budget policy, under a key of strings such as ``("agent", company_id, agent_id, "activity")``.
Its entry holds an input value and the bytes that value rendered, per family. The value is a
frozen ``msgspec.Struct`` that renders itself (``render(w)``, writing to a ``Families``): its
bytes are a function of the value alone, since the value is all ``render`` can read. A build
upserts every entity it sees (the bytes are rendered again only when the value is not equal to
the one held) and then deletes the entries it did not see.

``render`` writes the families in the registry's order and, within a family, the lines written
fresh in the build (ages, small company lines) first, then the entries' bytes in key order: what
comes out is a function of the current values and fresh lines, not of the store's history.
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

from agentwatch.exposition.families import Families, Family, Rendered

Key = tuple[str, ...]


class Renders(Protocol):
    """An entity's input value: frozen, compared with ``==``, and all its lines depend on."""

    def render(self, w: Families) -> None: ...


class MetricsStore:
    """Entries by key, each its value and the families it wrote to; the bytes by family, each
    family's in key order (``_sorted``). ``families``: the registry, in the order /metrics shows them."""

    def __init__(self, families: Iterable[Family]) -> None:
        self.families = tuple(families)
        self._known = frozenset(self.families)
        self._entries: dict[Key, tuple[Renders, tuple[Family, ...]]] = {}
        self._bytes: dict[Family, dict[Key, bytes]] = {family: {} for family in self.families}
        self._greatest: dict[Family, Key] = {}  # the greatest key placed in a family since it was last sorted
        self._unsorted: set[Family] = set()  # families with a key placed before a greater one
        self._seen: set[Key] = set()
        # each family's bytes as the list ``render`` hands out, made again once they changed
        # (``_changed``): most families are the same from one build to the next
        self._chunks: dict[Family, list[bytes]] = {}
        self.pairs: dict[tuple[str, str], str] = {}  # escaped label pairs, shared by the writers of a build
        self.rendered = 0  # entries rendered since the store began (for tests and benchmarks)

    def begin(self) -> None:
        """Start a build: no entry seen yet. A build that raised before ``delete_unseen`` left
        every entry it reached consistent (``upsert`` replaces value and bytes together)."""
        self._seen = set()
        self.pairs = {}

    def upsert(self, key: Key, value: Renders) -> None:
        """Hold ``value`` under ``key``: its bytes are kept while it equals the value held, and
        rendered from it otherwise."""
        self._seen.add(key)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == value:
            return
        w = Families(self.pairs)
        value.render(w)
        written = w.encoded()
        self._place(key, written, () if entry is None else entry[1])
        self._entries[key] = (value, tuple(written))
        self.rendered += 1

    def _place(self, key: Key, written: dict[Family, bytes], before: tuple[Family, ...]) -> None:
        by_family, greatest = self._bytes, self._greatest
        for family, text in written.items():
            if family not in self._known:
                raise KeyError(f"{family.name} is not in the store's registry")
            texts = by_family[family]
            if key not in texts:
                top = greatest.get(family)
                if top is None or key > top:
                    greatest[family] = key
                else:
                    self._unsorted.add(family)
            texts[key] = text
            self._changed(family)
        for family in before:
            if family not in written:
                del by_family[family][key]
                self._changed(family)

    def _changed(self, family: Family) -> None:
        self._chunks.pop(family, None)

    def delete_unseen(self) -> None:
        """End a build: the entries it did not upsert go, with their bytes."""
        for key in self._entries.keys() - self._seen:
            _, families = self._entries.pop(key)
            for family in families:
                del self._bytes[family][key]
                self._changed(family)

    def __len__(self) -> int:
        return len(self._entries)

    def render(self, fresh: Families, shown: Callable[[Family], bool], declare: bool) -> Rendered:
        """The families ``shown`` lets through, in the registry's order: each one's fresh lines
        from ``fresh``, then its entries' bytes in key order. A family with neither shows only
        when it is ``declared`` and ``declare`` is on (a company was built). The lists of bytes
        are shared with the renders that follow while their family is unchanged: read them only."""
        written = fresh.encoded()
        unknown = [family.name for family in written if family not in self._known]
        if unknown:
            raise KeyError(f"{unknown} are not in the store's registry")
        self._sort()
        out: Rendered = {}
        for family in self.families:
            if not shown(family):
                continue
            text = written.get(family)
            held = self._chunks.get(family)
            if held is None:
                held = self._chunks[family] = list(self._bytes[family].values())
            chunks = [text, *held] if text else held
            if chunks or family in written or (declare and family.declared):
                out[family.name] = (family.header, chunks)
        return out

    def _sort(self) -> None:
        """Each family with a key placed out of order back in key order."""
        for family in self._unsorted:
            texts = self._bytes[family] = dict(sorted(self._bytes[family].items()))
            self._changed(family)
            if texts:
                self._greatest[family] = next(reversed(texts))
        self._unsorted.clear()
