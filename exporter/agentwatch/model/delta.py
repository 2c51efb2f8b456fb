"""What changed in one company's issues from one poll to the next.

The source keeps the ``Issue`` object it already holds for every issue that did not change (a
steady poll fetches only the changed rows; a full resync keeps the held object for each row
equal to it), so the issues that changed are those whose object is not the one held before.
The analyses that keep state across polls (``TaskIndex``, ``DependencyIndex``, ``TaskTracker``)
take an ``IssueDelta`` and update only what those issues touch; a poll of 100k issues with 1 %
changed then costs them some thousand updates rather than a walk of every issue.

A consumer remembers the ``after`` mapping it last took in, and takes in a delta's changes
alone when the delta ``follows`` that mapping. Any other delta (the first poll, the poll after
one that failed half-way, a company seen again) is taken in afresh: every issue of ``after``,
from an empty state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Iterator, Mapping

from agentwatch.model import Issue

_NOTHING: Mapping[str, Issue] = {}


@dataclass(frozen=True, slots=True)
class IssueDelta:
    before: Mapping[str, Issue]  # the issues as the previous poll left them (empty: none)
    after: Mapping[str, Issue]  # the issues now; neither mapping is changed after the poll
    changed: tuple[str, ...]  # ids that are new, or whose Issue is not the object held before
    removed: tuple[str, ...]  # ids held before and absent now

    @classmethod
    def everything(cls, after: Mapping[str, Issue]) -> "IssueDelta":
        """Every issue of ``after`` as new: a consumer's first delta, or one to start over from."""
        return cls(_NOTHING, after, tuple(after), ())

    def follows(self, base: Mapping[str, Issue] | None) -> bool:
        """Whether this delta starts from ``base``, the mapping a consumer last took in (None:
        none, or an update that did not complete), so that its changes alone bring the consumer
        to ``after``. A delta of ``everything`` follows no consumer's mapping."""
        return base is not None and self.before is base

    def pairs(self) -> Iterator[tuple[str, Issue | None, Issue | None]]:
        """(id, the issue before or None, the issue now or None) of each changed or removed issue."""
        before, after = self.before, self.after
        for iid in self.changed:
            yield iid, before.get(iid), after[iid]
        for iid in self.removed:
            yield iid, before[iid], None

    @property
    def is_everything(self) -> bool:
        return self.before is _NOTHING


def issue_delta(before: Mapping[str, Issue] | None, after: Mapping[str, Issue]) -> IssueDelta:
    """The delta from ``before`` (None: no previous poll) to ``after``, by object identity."""
    if before is None:
        return IssueDelta.everything(after)
    get = before.get
    changed = tuple([iid for iid, issue in after.items() if get(iid) is not issue])
    # the ids held before and absent now: none when every id of ``before`` is still there, which
    # the sizes tell without a set difference (``changed`` holds the new ids)
    new = sum(1 for iid in changed if iid not in before)
    removed = () if len(after) - new == len(before) else tuple(before.keys() - after.keys())
    return IssueDelta(before, after, changed, removed)


def unchanged_delta(issues: Mapping[str, Issue]) -> IssueDelta:
    """The delta of a snapshot whose issues are the very mapping of the one before: nothing changed."""
    return IssueDelta(issues, issues, (), ())


def touched_delta(before: Mapping[str, Issue], after: Mapping[str, Issue], touched: Iterable[str]) -> IssueDelta:
    """The delta from ``before`` to ``after`` when the source knows which ids it ``touched`` in
    between (every id whose object differs, and perhaps some more): what ``issue_delta`` gives,
    looking at those ids alone rather than at every issue."""
    changed: list[str] = []
    removed: list[str] = []
    get = before.get
    for iid in touched:
        issue = after.get(iid)
        if issue is None:
            if iid in before:
                removed.append(iid)
        elif get(iid) is not issue:
            changed.append(iid)
    return IssueDelta(before, after, tuple(changed), tuple(removed))


def add_count(counter: Counter[Any], key: Hashable, n: int) -> None:
    """Add ``n`` (negative: take it out) to a count kept across polls, and drop the count at zero,
    so that a kept count equals the same count worked out from scratch (``Counter`` equality
    tells a zero from an absent key)."""
    left = counter[key] + n
    if left:
        counter[key] = left
    else:
        del counter[key]
