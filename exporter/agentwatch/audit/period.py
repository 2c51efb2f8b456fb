"""The month an audit covers: UTC boundaries, the month before it, parsing ``--month``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Month:
    """One calendar month in UTC: ``start`` is its first second, ``end`` the first second after it."""

    year: int
    month: int

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> float:
        return datetime(self.year, self.month, 1, tzinfo=timezone.utc).timestamp()

    @property
    def end(self) -> float:
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


def parse_month(text: str) -> Month:
    """``YYYY-MM``; raises ``ValueError`` saying what is wrong with it."""
    match = _MONTH.fullmatch(text.strip())
    if not match:
        raise ValueError("expected YYYY-MM, such as 2026-10")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError("the month must be 01 to 12")
    if year < 1970:
        raise ValueError("the year must be 1970 or later")
    return Month(year, month)


def month_of(t: float) -> Month:
    """The UTC month holding the unix time ``t``."""
    d = datetime.fromtimestamp(t, tz=timezone.utc)
    return Month(d.year, d.month)


def last_complete_month(now: float) -> Month:
    """The month before the one holding ``now``: what a report run on the 1st should cover."""
    return month_of(now).previous()
