"""Expiry of points by lot, oldest first (pure: no database, no clock, no host time zone).

Rules (docs/red-lines.md, "Expiry"):

* A **lot** is the points one movement put into a member's account: an accepted EARN (its points, minus what
  REVERSALs of that EARN took back), or points that came back (a redemption refunded, a real-time hold
  released, any other credit) — those form a new lot dated at their return, so points are never expired
  that the member did not hold, and a refund is never expired on arrival.
* A lot's expiry comes from the policy of the issuer's governing program on the lot's day: ``"none"`` never;
  ``"months:N"`` at the **start of the local day N calendar months after the lot's local day**, in the hub's
  zone; when that month is shorter, the day is its last (31 Jan + 1 month → 28 Feb, or 29 Feb in a leap year;
  29 Feb 2028 + 12 months → 28 Feb 2029). A lot never expires before the start of the local day
  ``notice_days + 1`` after it was posted, so every lot can be announced ``notice_days`` ahead (a purchase
  reported late is not expired on arrival).
* Points leaving the account (redemptions, holds, refunds of purchases, deductions, family moves, earlier
  expiries) consume lots **first to expire first** — the oldest, under one policy — except that a refund of a
  purchase takes back from that purchase's own lot first. The points due at a moment are what is left of the
  lots whose expiry is at or before it: never more than the balance, never making it negative.
"""

from __future__ import annotations

import calendar
import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_MONTHS = re.compile(r"months:([1-9][0-9]{0,2})")
_NEVER = datetime.max.replace(tzinfo=UTC)


def policy_months(policy: str) -> int | None:
    """N of ``"months:N"``; None for ``"none"`` (points never expire)."""
    found = _MONTHS.fullmatch(policy)
    if found:
        return int(found.group(1))
    if policy == "none":
        return None
    raise ValueError(f"unknown expiry policy {policy!r}")


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later; the month's last day when it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """00:00 local on ``day`` in ``zone``, as UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def lot_expiry(
    *, lot_time: datetime, posted_at: datetime, policy: str, zone: ZoneInfo, notice_days: int
) -> datetime | None:
    """When a lot dated ``lot_time`` and posted at ``posted_at`` expires under ``policy``; None: never."""
    return day_expiry(lot_time.astimezone(zone).date(), posted_at.astimezone(zone).date(), policy, zone, notice_days)


@lru_cache(maxsize=65536)
def day_expiry(lot_day: date, posted_day: date, policy: str, zone: ZoneInfo, notice_days: int) -> datetime | None:
    """:func:`lot_expiry` from local days (lots of one day share it: remembered)."""
    months = policy_months(policy)
    if months is None:
        return None
    by_policy = start_of_day(add_months(lot_day, months), zone)
    announced = start_of_day(posted_day + timedelta(days=notice_days + 1), zone)
    return max(by_policy, announced)


@dataclass(frozen=True, slots=True)
class Lot:
    key: str  # "earn:<record id>" for a purchase, "in:<transfer id>" for points that came back
    dated: datetime  # the EARN's business time, or the return's posting time
    expires_at: datetime | None  # None: never


@dataclass(frozen=True, slots=True)
class Inflow:
    lot: Lot
    points: int


@dataclass(frozen=True, slots=True)
class Outflow:
    points: int
    own_lot: str | None = None  # a refund of a purchase takes back from the purchase's own lot first


Movement = Inflow | Outflow


@dataclass(frozen=True, slots=True)
class LotLeft:
    lot: Lot
    points: int


@dataclass(frozen=True, slots=True)
class Expiring:
    """The points of one member that expire (or will) at one moment, and the lots they come from."""

    expires_on: date  # local day
    expires_at: datetime
    points: int
    lots: tuple[LotLeft, ...]


def _order(lot: Lot, index: int) -> tuple[datetime, datetime, int]:
    return (lot.expires_at or _NEVER, lot.dated, index)


def lots_left(movements: Iterable[Movement]) -> list[LotLeft]:
    """Replay a member's movements in ledger order; what is left of each lot, first to expire first.

    An outflow larger than what is left (the ledger never allows it) consumes everything and no more.
    """
    lots: list[Lot] = []
    left: list[int] = []
    by_key: dict[str, int] = {}
    queue: list[tuple[tuple[datetime, datetime, int], int]] = []
    for movement in movements:
        if isinstance(movement, Inflow):
            if movement.points <= 0:
                continue
            index = len(lots)
            lots.append(movement.lot)
            left.append(movement.points)
            by_key[movement.lot.key] = index
            heapq.heappush(queue, (_order(movement.lot, index), index))
            continue
        need = movement.points
        own = by_key.get(movement.own_lot) if movement.own_lot is not None else None
        if own is not None:
            taken = min(left[own], need)
            left[own] -= taken
            need -= taken
        while need > 0 and queue:
            index = queue[0][1]
            taken = min(left[index], need)
            left[index] -= taken
            need -= taken
            if left[index] == 0:
                heapq.heappop(queue)
    return [LotLeft(lots[index], left[index]) for _, index in sorted(queue) if left[index] > 0]


def _group(lots: Iterable[LotLeft], zone: ZoneInfo) -> list[Expiring]:
    by_day: dict[date, list[LotLeft]] = {}
    for item in lots:
        assert item.lot.expires_at is not None
        by_day.setdefault(item.lot.expires_at.astimezone(zone).date(), []).append(item)
    return [
        Expiring(
            expires_on=day,
            expires_at=start_of_day(day, zone),
            points=sum(item.points for item in items),
            lots=tuple(items),
        )
        for day, items in sorted(by_day.items())
    ]


def due(left: Sequence[LotLeft], *, as_of: datetime, zone: ZoneInfo) -> list[Expiring]:
    """What expires at ``as_of``: what is left of the lots whose expiry is at or before it, per local day."""
    return _group((item for item in left if item.lot.expires_at is not None and item.lot.expires_at <= as_of), zone)


def upcoming(left: Sequence[LotLeft], *, as_of: datetime, until: datetime, zone: ZoneInfo) -> list[Expiring]:
    """What will expire after ``as_of`` and at or before ``until`` (the notice window), per local day."""
    return _group(
        (item for item in left if item.lot.expires_at is not None and as_of < item.lot.expires_at <= until), zone
    )
