"""Expiry by lot, first to expire first: the calendar, the replay, what is due and what to announce."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.expiry import (
    Inflow,
    Lot,
    Outflow,
    add_months,
    due,
    lot_expiry,
    lots_left,
    policy_months,
    start_of_day,
    upcoming,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 12, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)


def lot(key: str, expires: date | None, dated: datetime | None = None) -> Lot:
    at = start_of_day(expires, SHANGHAI) if expires else None
    return Lot(key, dated or local(2026, 1, 1), at)


# ---------------------------------------------------------------- the calendar
@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2027, 2, 28), 12, date(2028, 2, 28)),  # not moved to the 29th
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 5, 31), 120, date(2036, 5, 31)),
        (date(2026, 1, 30), 13, date(2027, 2, 28)),
    ],
)
def test_adds_calendar_months_clamping_to_the_months_last_day(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_reads_the_policy_and_refuses_an_unknown_one() -> None:
    assert (policy_months("none"), policy_months("months:12"), policy_months("months:120")) == (None, 12, 120)
    with pytest.raises(ValueError, match="unknown expiry policy"):
        policy_months("years:1")


def test_a_lot_expires_at_the_start_of_the_local_day_n_months_later() -> None:
    expires = lot_expiry(
        lot_time=local(2026, 1, 31, 23), posted_at=local(2026, 2, 1), policy="months:1", zone=SHANGHAI, notice_days=0
    )
    assert expires == datetime(2026, 2, 27, 16, 0, tzinfo=UTC)  # 28 Feb 00:00 in Shanghai


def test_the_hub_zone_decides_the_day_of_a_purchase_near_midnight() -> None:
    # 31 Jan 16:30 UTC is 1 Feb 00:30 in Shanghai: the lot is of 1 Feb there, of 31 Jan in UTC
    bought = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    posted = datetime(2026, 2, 1, tzinfo=UTC)
    shanghai = lot_expiry(lot_time=bought, posted_at=posted, policy="months:1", zone=SHANGHAI, notice_days=0)
    utc = lot_expiry(lot_time=bought, posted_at=posted, policy="months:1", zone=ZoneInfo("UTC"), notice_days=0)
    assert shanghai == start_of_day(date(2026, 3, 1), SHANGHAI)
    assert utc == start_of_day(date(2026, 2, 28), ZoneInfo("UTC"))


def test_policy_none_never_expires() -> None:
    assert lot_expiry(lot_time=local(2020, 1, 1), posted_at=local(2020, 1, 1), policy="none", zone=SHANGHAI,
                      notice_days=30) is None  # fmt: skip


def test_a_lot_reported_late_expires_no_sooner_than_the_notice_window_after_it_was_posted() -> None:
    kwargs = {"lot_time": local(2025, 1, 10), "policy": "months:12", "zone": SHANGHAI, "notice_days": 30}
    late = lot_expiry(posted_at=local(2026, 1, 5), **kwargs)  # type: ignore[arg-type]
    on_time = lot_expiry(posted_at=local(2025, 2, 1), **kwargs)  # type: ignore[arg-type]
    assert late == start_of_day(date(2026, 2, 5), SHANGHAI)  # 5 Jan + 31 days
    assert on_time == start_of_day(date(2026, 1, 10), SHANGHAI)


# ---------------------------------------------------------------- the replay
def test_outflows_consume_the_oldest_lot_first() -> None:
    old, new = lot("earn:1", date(2027, 1, 1)), lot("earn:2", date(2027, 2, 1))
    left = lots_left([Inflow(old, 100), Inflow(new, 50), Outflow(120)])
    assert [(item.lot.key, item.points) for item in left] == [("earn:2", 30)]


def test_a_refund_of_a_purchase_takes_back_from_its_own_lot_first() -> None:
    old, new = lot("earn:1", date(2027, 1, 1)), lot("earn:2", date(2027, 2, 1))
    left = lots_left([Inflow(old, 100), Inflow(new, 50), Outflow(40, own_lot="earn:2")])
    assert [(item.lot.key, item.points) for item in left] == [("earn:1", 100), ("earn:2", 10)]


def test_a_refund_larger_than_its_lot_takes_the_rest_oldest_first() -> None:
    old, new = lot("earn:1", date(2027, 1, 1)), lot("earn:2", date(2027, 2, 1))
    left = lots_left([Inflow(old, 100), Inflow(new, 50), Outflow(70, own_lot="earn:2")])
    assert [(item.lot.key, item.points) for item in left] == [("earn:1", 80)]


def test_lots_that_never_expire_are_consumed_last() -> None:
    forever, dated = lot("in:1", None), lot("earn:2", date(2027, 2, 1))
    left = lots_left([Inflow(forever, 100), Inflow(dated, 50), Outflow(60)])
    assert [(item.lot.key, item.points) for item in left] == [("in:1", 90)]


def test_the_lot_expiring_first_is_consumed_first_even_if_earned_later() -> None:
    # a program moved from 24 to 12 months: the later purchase expires first, and is spent first
    long = lot("earn:1", date(2028, 1, 1), dated=local(2026, 1, 1))
    short = lot("earn:2", date(2027, 6, 1), dated=local(2026, 6, 1))
    left = lots_left([Inflow(long, 100), Inflow(short, 100), Outflow(100)])
    assert [(item.lot.key, item.points) for item in left] == [("earn:1", 100)]


# ---------------------------------------------------------------- due and upcoming
def test_what_is_left_of_expired_lots_is_due_per_local_day_and_a_redemption_in_between_saves_points() -> None:
    a, b, c = lot("earn:1", date(2027, 1, 1)), lot("earn:2", date(2027, 1, 2)), lot("earn:3", date(2027, 3, 1))
    left = lots_left([Inflow(a, 100), Inflow(b, 50), Outflow(120), Inflow(c, 70)])
    expiring = due(left, as_of=start_of_day(date(2027, 1, 2), SHANGHAI), zone=SHANGHAI)
    assert [(e.expires_on, e.points, [x.lot.key for x in e.lots]) for e in expiring] == [
        (date(2027, 1, 2), 30, ["earn:2"])
    ]
    assert due(left, as_of=start_of_day(date(2027, 1, 2), SHANGHAI) - timedelta(seconds=1), zone=SHANGHAI) == []


def test_a_posted_expiry_is_an_outflow_so_a_rerun_finds_nothing_due() -> None:
    a, b = lot("earn:1", date(2027, 1, 1)), lot("earn:2", date(2027, 3, 1))
    as_of = start_of_day(date(2027, 1, 5), SHANGHAI)
    movements: list[Inflow | Outflow] = [Inflow(a, 100), Inflow(b, 50)]
    first = due(lots_left(movements), as_of=as_of, zone=SHANGHAI)
    assert [e.points for e in first] == [100]
    movements.append(Outflow(first[0].points))
    assert due(lots_left(movements), as_of=as_of, zone=SHANGHAI) == []


def test_upcoming_names_what_expires_within_the_window_and_nothing_already_due() -> None:
    a, b, c = lot("earn:1", date(2027, 1, 1)), lot("earn:2", date(2027, 1, 31)), lot("earn:3", date(2027, 2, 1))
    left = lots_left([Inflow(a, 1), Inflow(b, 2), Inflow(c, 3)])
    as_of = start_of_day(date(2027, 1, 1), SHANGHAI)
    window = upcoming(left, as_of=as_of, until=as_of + timedelta(days=30), zone=SHANGHAI)
    assert [(e.expires_on, e.points) for e in window] == [(date(2027, 1, 31), 2)]


# ---------------------------------------------------------------- properties
_DAYS = st.integers(min_value=0, max_value=400)


@st.composite
def ledgers(draw: st.DrawFn) -> list[Inflow | Outflow]:
    """Movements as the ledger allows them: an outflow never exceeds the balance."""
    movements: list[Inflow | Outflow] = []
    balance, keys = 0, []
    for index in range(draw(st.integers(min_value=0, max_value=25))):
        if balance and draw(st.booleans()):
            points = draw(st.integers(min_value=1, max_value=balance))
            own = draw(st.sampled_from([None, *keys])) if keys else None
            movements.append(Outflow(points, own_lot=own))
            balance -= points
        else:
            points = draw(st.integers(min_value=1, max_value=500))
            never = draw(st.booleans()) and draw(st.booleans())
            expires = None if never else date(2027, 1, 1) + timedelta(days=draw(_DAYS))
            key = f"earn:{index}"
            movements.append(Inflow(lot(key, expires, dated=local(2026, 1, 1) + timedelta(days=index)), points))
            keys.append(key)
            balance += points
    return movements


def _balance(movements: list[Inflow | Outflow]) -> int:
    return sum(m.points if isinstance(m, Inflow) else -m.points for m in movements)


@settings(max_examples=300, deadline=None)
@given(ledgers(), _DAYS)
def test_expiry_never_exceeds_the_balance_and_a_second_look_finds_nothing(movements, day) -> None:
    as_of = start_of_day(date(2027, 1, 1) + timedelta(days=day), SHANGHAI)
    left = lots_left(movements)
    assert sum(item.points for item in left) == _balance(movements)
    expiring = sum(e.points for e in due(left, as_of=as_of, zone=SHANGHAI))
    assert 0 <= expiring <= _balance(movements)
    after = [*movements, Outflow(expiring)] if expiring else movements
    assert _balance(after) >= 0
    assert due(lots_left(after), as_of=as_of, zone=SHANGHAI) == []
    # the expiry took exactly the expired lots: what is left of the others is untouched
    assert [i for i in lots_left(after)] == [i for i in left if i.lot.expires_at is None or i.lot.expires_at > as_of]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 500), _DAYS), min_size=1, max_size=20), st.integers(0, 10_000))
def test_fifo_what_is_left_is_the_youngest_lots_whole_but_for_one(lots_drawn, spend) -> None:
    inflows = [
        Inflow(lot(f"earn:{i}", date(2027, 1, 1) + timedelta(days=d)), points)
        for i, (points, d) in enumerate(lots_drawn)
    ]
    total = sum(i.points for i in inflows)
    left = lots_left([*inflows, Outflow(min(spend, total))])
    order = sorted(inflows, key=lambda i: (i.lot.expires_at, int(i.lot.key.split(":")[1])))
    kept = order[len(order) - len(left) :]
    assert [item.lot for item in left] == [i.lot for i in kept]
    assert all(item.points == i.points for item, i in zip(left[1:], kept[1:], strict=True))
    assert sum(item.points for item in left) == total - min(spend, total)
