"""A late record dated in a never-closed month that lies *behind* a closed month is parked in that month,
which can then never close (a later month is closed) and blocks every later close: the debt never settles
and the scheduler fails every month from then on."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from clearinghouse.services.periods import close_due_periods
from tests.factories import CINEMA, CVS, Alliance, at, earn, redeem, submit

JAN_2 = datetime(2027, 1, 2, 4, 0, tzinfo=UTC)


def test_late_record_in_a_skipped_month_settles_and_does_not_block_later_closes(hub):
    alliance = Alliance.standard(hub)
    # The scheduler's normal run on 3 Dec closes September (it has records) and November, skipping October.
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000, when=at(3, month=9))])
    closed = close_due_periods(engine=hub.engine, hub=hub.signer, now=hub.now(), zone_name=hub.config.timezone)
    assert [str(r.period) for r in closed] == ["2026-09", "2026-11"]

    # A late redemption dated October (a closed-behind month) arrives in December.
    outcome = submit(hub, alliance, CINEMA, "R1", [redeem("m1", 400, when=at(20, month=10))])
    assert outcome.accepted == 1
    with hub.engine.connect() as connection:
        settles = connection.execute(
            text("SELECT settlement_period FROM clearing_record WHERE kind='REDEEM'")
        ).scalar_one()
    # On 2 January the scheduler must be able to close December and settle the 3000 fen owed to the cinema.
    # Today the record sits in settlement period 2026-10 (behind the closed 2026-11): closing 2026-10 is
    # PERIOD_OUT_OF_ORDER (a later month is closed) and every later close is PERIOD_OUT_OF_ORDER (2026-10 pending).
    try:
        results = close_due_periods(engine=hub.engine, hub=hub.signer, now=JAN_2, zone_name=hub.config.timezone)
    except Exception as exc:
        raise AssertionError(f"scheduler stuck; record parked in {settles}: {exc!r}") from exc
    assert [str(r.period) for r in results][-1] == "2026-12"
    assert sum(r.positions.get("cinema", 0) for r in results) == 3000
