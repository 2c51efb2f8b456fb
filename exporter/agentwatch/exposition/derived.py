"""What a build works out from a company's rows, worked out again only when the rows change.

A ``Derived`` holds, per (what, company id), the rows it was last given and what ``compute(rows)``
made of them. ``compute`` takes the rows alone, so what it gives is a function of them; the rows
are compared with ``==``, which is an identity check per row while the source hands out the rows
that did not change as the same objects. Grouping a company's 10k runs by agent and sorting them
is some 10 ms; a steady poll mostly hands back the same rows.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

Key = tuple[str, str]


class Derived:
    def __init__(self) -> None:
        self._held: dict[Key, tuple[tuple[object, ...], Any]] = {}
        self._next: dict[Key, tuple[tuple[object, ...], Any]] = {}

    def begin(self) -> None:
        """Start a build: what it does not ask for is dropped at its end."""
        self._next = {}

    def of(self, what: str, company_id: Hashable, rows: Sequence[object], compute: Callable[[tuple[Any, ...]], Any]) -> Any:
        """``compute(rows)``, or what it gave for rows equal to these."""
        key, rows = (what, str(company_id)), tuple(rows)  # a copy: the rows as they are now
        held = self._held.get(key)
        value = held[1] if held is not None and held[0] == rows else compute(rows)
        self._next[key] = (rows, value)
        return value

    def end(self) -> None:
        """End a build that did not raise."""
        self._held, self._next = self._next, {}
