"""Business periods: calendar months in a configured time zone, start inclusive, end exclusive.

Nothing here reads the host's time zone: every conversion names its zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from settlement.errors import PeriodError

MIN_YEAR, MAX_YEAR = 1970, 9998  # every period's bounds stay inside what datetime can hold
_PERIOD_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """A calendar month, e.g. ``Period(2026, 11)`` printed ``2026-11``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise PeriodError(f"period must look like YYYY-MM, got {text!r}", code="PERIOD_MALFORMED")
        year = int(match.group(1))
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise PeriodError(f"period year must be {MIN_YEAR}..{MAX_YEAR}, got {year}", code="PERIOD_MALFORMED")
        return cls(year, int(match.group(2)))

    @classmethod
    def of(cls, moment: datetime, zone: ZoneInfo) -> Period:
        """The period a timezone-aware moment belongs to, read on the local calendar of ``zone``."""
        if moment.tzinfo is None:
            raise ValueError("a naive datetime has no period")
        local = moment.astimezone(zone)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def start(self, zone: ZoneInfo) -> datetime:
        """First instant of the period, in UTC (inclusive)."""
        return datetime(self.year, self.month, 1, tzinfo=zone).astimezone(UTC)

    def end(self, zone: ZoneInfo) -> datetime:
        """First instant after the period, in UTC (exclusive)."""
        return self.next().start(zone)

    def contains(self, moment: datetime, zone: ZoneInfo) -> bool:
        return self.start(zone) <= moment < self.end(zone)


def settlement_period(business: Period, closed: frozenset[Period]) -> Period:
    """The period a record clears in: its own, or, when that is not after the latest close, the first period
    after the latest close.

    A late record never reopens a closed period nor lands behind a close (which could then never close,
    since periods close forward): it becomes an adjustment of the open period.
    """
    if closed and business <= max(closed):
        return max(closed).next()
    return business
