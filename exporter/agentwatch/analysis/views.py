"""How the indexes hand out their state: read-only copies and generation counters.

An index keeps its state in plain dicts and counters that it updates in place, poll after poll.
What it hands out must not be changed by its consumers, nor change under them when the index
takes in the next poll. ``FrozenCopies`` keeps a frozen copy of each entry of such a dict and
makes it again only for the entries the index marked stale, so a poll that touches a few agents
copies a few small values, not the whole state.

Each index also owns a ``Generations`` counter. Its ``current`` value moves on whenever an update
changes what the index hands out, and an ``EntityGenerations`` remembers, per entity (an agent,
say), the value its part last moved to. Equal (index, generation) pairs mean equal output, so a
consumer that keeps rendered output can compare two integers instead of the output itself. The
counter belongs to the index instance and never goes back, even when the index starts over: one
index never gives a value twice, so no consumer can take a new state for an old one.
"""

from __future__ import annotations

from collections import Counter
from types import MappingProxyType
from typing import Callable, Generic, Iterable, Mapping, TypeVar

K = TypeVar("K")
V = TypeVar("V")
F = TypeVar("F")


class Generations:
    """One index's generation counter (0: nothing changed since the index was made)."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current = 0

    def advance(self) -> int:
        """What the index hands out changed: the next generation."""
        self.current += 1
        return self.current


class EntityGenerations(Generic[K]):
    """The generation each entity's part of an index last moved to, from the index's counter."""

    __slots__ = ("_counter", "_of")

    def __init__(self, counter: Generations) -> None:
        self._counter = counter
        self._of: dict[K, int] = {}

    def mark(self, entity: K) -> None:
        """``entity``'s part changed: it moves to the index's next generation."""
        self._of[entity] = self._counter.advance()

    def mark_all(self, entities: Iterable[K]) -> None:
        """The index started over with these entities: one new generation for all of them; the
        others are forgotten (their part is empty, as it was before they were first marked)."""
        self._of = dict.fromkeys(entities, self._counter.advance())

    def of(self, entity: K) -> int:
        """The generation ``entity``'s part last moved to (0: never, so its part is empty)."""
        return self._of.get(entity, 0)

    def snapshot(self) -> Mapping[K, int]:
        """Every entity's generation as it is now, read-only and unaffected by later updates."""
        return MappingProxyType(dict(self._of))


class HasGeneration:
    """An index that owns a ``Generations`` counter (``_generations``, set in its ``__init__``)."""

    _generations: Generations

    @property
    def generation(self) -> int:
        """Moves on whenever what the index hands out changes."""
        return self._generations.current


class HasEntityGenerations(HasGeneration, Generic[K]):
    """An index whose part per entity (an agent, say) carries the generation it last moved to."""

    _entity_generations: EntityGenerations[K]

    def _start_generations(self) -> None:
        self._generations = Generations()
        self._entity_generations = EntityGenerations(self._generations)

    def generations(self) -> Mapping[K, int]:
        """Per entity, the generation its part last moved to (absent: never); a snapshot."""
        return self._entity_generations.snapshot()


class FrozenCopies(Generic[K, V, F]):
    """Frozen copies (``freeze``) of the values of a dict that an index updates in place, made
    again only for the keys marked ``stale`` since the last ``of``."""

    __slots__ = ("_freeze", "_copies", "_stale", "_all_stale")

    def __init__(self, freeze: Callable[[V], F]) -> None:
        self._freeze = freeze
        self._copies: dict[K, F] = {}
        self._stale: set[K] = set()
        self._all_stale = True

    def stale(self, key: K) -> None:
        """``key``'s value changed, or went."""
        self._stale.add(key)

    def all_stale(self) -> None:
        """Every value changed (the index started over)."""
        self._all_stale = True
        self._stale.clear()

    def of(self, live: Mapping[K, V]) -> Mapping[K, F]:
        """The frozen copy of ``live``, which must hold the values the stale keys now have: a
        read-only mapping that later updates of ``live`` do not change."""
        copies, freeze = self._copies, self._freeze
        if self._all_stale:
            copies.clear()
            copies.update((key, freeze(value)) for key, value in live.items())
            self._all_stale = False
        else:
            for key in self._stale:
                value = live.get(key)
                if value is None:
                    copies.pop(key, None)
                else:
                    copies[key] = freeze(value)
        self._stale.clear()
        return MappingProxyType(dict(copies))


def frozen_counts(counts: Counter[K]) -> Mapping[K, int]:
    """A read-only copy of a small ``Counter`` (a missing key still reads 0)."""
    return MappingProxyType(counts.copy())
