"""Closing a period: netting, statements, the close posted once, late records into the open period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from clearinghouse.errors import Conflict
from clearinghouse.services.periods import close_due_periods, close_period, get_statement, periods_due
from settlement.errors import PeriodError
from settlement.periods import Period
from tests.factories import CINEMA, CVS, EYEWEAR, Alliance, at, earn, redeem, submit

NOV = Period(2026, 11)


def _close(hub, period=NOV, now=None):
    return close_period(
        engine=hub.engine, hub=hub.signer, now=now or hub.now(), period=period, zone_name=hub.config.timezone
    )


def _count(hub, table: str) -> int:
    with hub.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _two_way_trade(hub):
    """cvs members redeem at cinema (7.5 fen/pt) and eyewear (8.8); eyewear members redeem at cvs (9)."""
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 3000), earn("m2", 1000)])
    submit(hub, alliance, EYEWEAR, "E1", [earn("e1", 800, issuer=EYEWEAR)])
    submit(hub, alliance, CINEMA, "R1", [redeem("m1", 400), redeem("m2", 400)])
    submit(hub, alliance, EYEWEAR, "R1", [redeem("m1", 2000, fulfiller=EYEWEAR, category="eyewear")])
    submit(hub, alliance, CVS, "R1", [redeem("e1", 500, issuer=EYEWEAR, fulfiller=CVS, category="groceries")])
    return alliance


def test_positions_sum_to_zero_and_netting_offsets_mutual_debts(hub):
    _two_way_trade(hub)
    result = _close(hub)
    # cvs owes cinema 800 × 7.5 = 6000 and eyewear 2000 × 8.8 = 17600; eyewear owes cvs 500 × 9 = 4500
    assert result.gross_fen == 6000 + 17600 + 4500
    assert result.positions == {"cinema": 6000, "cvs": -6000 - 17600 + 4500, "eyewear": 17600 - 4500, "ride": 0}
    assert sum(result.positions.values()) == 0
    assert result.net_fen == 6000 + 13100
    assert str(result.efficiency) == "0.3203"  # 1 − 19100 / 28100 = 0.32028...


def test_close_moves_positions_onto_the_settlement_account_which_ends_at_zero(hub):
    _two_way_trade(hub)
    _close(hub)
    with hub.engine.connect() as connection:
        balances = dict(connection.execute(text("SELECT code, debits - credits FROM account WHERE unit = 'CNY'")).all())
    assert all(value == 0 for value in balances.values()), balances


def test_a_period_closes_once_and_the_second_close_posts_nothing(hub):
    _two_way_trade(hub)
    _close(hub)
    before = (_count(hub, "ledger_transfer"), _count(hub, "statement"), _count(hub, "obligation"))
    with pytest.raises(Conflict) as refused:
        _close(hub)
    assert refused.value.code == "PERIOD_ALREADY_CLOSED"
    assert (_count(hub, "ledger_transfer"), _count(hub, "statement"), _count(hub, "obligation")) == before
    assert _count(hub, "period_close") == 1


def test_the_unique_key_refuses_a_second_close_row_even_behind_the_service(hub):
    _close(hub)
    with pytest.raises(Exception), hub.engine.begin() as connection:  # noqa: B017 - any DB integrity error
        connection.execute(
            text(
                "INSERT INTO period_close (period, time_zone, closed_at, trigger, gross_fen, net_fen, efficiency,"
                " record_count, hub_key_id) VALUES ('2026-11', 'Asia/Shanghai', '2026-12-03 04:00:00', 'x', 0, 0,"
                " '0', 0, 'k')"
            )
        )


def test_a_period_that_has_not_ended_cannot_close(hub):
    with pytest.raises(PeriodError) as refused:
        _close(hub, Period(2026, 12))
    assert refused.value.code == "PERIOD_NOT_ENDED"


def test_period_boundaries_follow_shanghai_not_the_host(hub, odd_host_zone):
    alliance = Alliance.standard(hub)
    # 30 Nov 23:30 Shanghai is 15:30 UTC: November. 1 Dec 00:10 Shanghai is 30 Nov 16:10 UTC: December.
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000, when=at(1, month=11))])
    submit(
        hub,
        alliance,
        CINEMA,
        "R1",
        [
            redeem("m1", 100, when=datetime(2026, 11, 30, 15, 30, tzinfo=UTC)),
            redeem("m1", 100, when=datetime(2026, 11, 30, 16, 10, tzinfo=UTC)),
        ],
    )
    result = _close(hub)
    assert result.positions["cinema"] == 750


def test_a_late_record_for_a_closed_period_clears_in_the_open_period(hub):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000, when=at(1, month=10))])
    october = _close(hub, Period(2026, 10))
    assert october.gross_fen == 0
    submit(hub, alliance, CINEMA, "R1", [redeem("m1", 400, when=at(20, month=10))])
    november = _close(hub)
    assert november.positions["cinema"] == 3000
    with hub.engine.connect() as connection:
        row = connection.execute(
            text("SELECT business_period, settlement_period FROM clearing_record WHERE kind = 'REDEEM'")
        ).one()
    assert tuple(row) == ("2026-10", "2026-11")


def test_every_partner_gets_a_statement_signed_by_the_hub(hub):
    _two_way_trade(hub)
    _close(hub)
    for partner in ("cvs", "cinema", "eyewear", "ride"):
        for fmt in ("csv", "json"):
            document = get_statement(engine=hub.engine, period=NOV, partner_id=partner, fmt=fmt)
            assert hub.signer.public_key.verify(document.signature, document.body)
    cvs = get_statement(engine=hub.engine, period=NOV, partner_id="cvs", fmt="csv").body.decode()
    assert "instruction,PAY" in cvs and "instruction_amount_fen,19100" in cvs and "易达便利" in cvs


def test_due_periods_are_the_previous_month_and_older_ones_with_records(hub):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000, when=at(3, month=9))])
    assert periods_due(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone) == [
        Period(2026, 9),
        Period(2026, 11),
    ]
    closed = close_due_periods(engine=hub.engine, hub=hub.signer, now=hub.now(), zone_name=hub.config.timezone)
    assert [str(r.period) for r in closed] == ["2026-09", "2026-11"]
    assert close_due_periods(engine=hub.engine, hub=hub.signer, now=hub.now(), zone_name=hub.config.timezone) == []


def test_periods_close_forward_only(hub):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000, when=at(3, month=9))])
    submit(hub, alliance, CINEMA, "R1", [redeem("m1", 400, when=at(4, month=9))])
    with pytest.raises(Conflict) as skipped:
        _close(hub)  # September still holds records
    assert skipped.value.code == "PERIOD_OUT_OF_ORDER"
    _close(hub, Period(2026, 9))
    _close(hub)
    with pytest.raises(Conflict) as behind:
        _close(hub, Period(2026, 10))  # November is closed already
    assert behind.value.code == "PERIOD_OUT_OF_ORDER"
