"""Real-time redemption at the till: authorize (hold), capture in full or in part, void, expiry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from clearinghouse.errors import ClearinghouseError, Conflict
from clearinghouse.services.authorizations import (
    AuthorizationRefused,
    AuthorizationRequest,
    authorize,
    capture,
    expire_holds,
    void,
)
from clearinghouse.services.periods import close_period
from settlement.periods import Period
from tests.factories import CINEMA, CVS, Alliance, earn, redeem, submit

HOLD = timedelta(minutes=15)


def _authorize(hub, reference, points, member="m1", category="cinema", fulfiller=CINEMA, now=None):
    request = AuthorizationRequest(
        reference=reference,
        issuer_id=CVS,
        member_token=member,
        points=points,
        category=category,
        offer_ref="TICKET",
        face_value_fen=points * 10,
    )
    return authorize(
        engine=hub.engine,
        now=now or hub.now(),
        zone_name=hub.config.timezone,
        fulfiller_id=fulfiller,
        request=request,
        hold_for=HOLD,
    )


def _balance(hub, code="pts:cvs:m:m1"):
    with hub.engine.connect() as connection:
        return connection.execute(text("SELECT credits - debits FROM account WHERE code = :c"), {"c": code}).scalar()


@pytest.fixture
def funded(hub):
    alliance = Alliance.standard(hub, cinema_cap=1500)
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000)])
    return alliance


def test_a_hold_takes_the_points_at_once_and_a_capture_owes_the_fulfiller(hub, funded):
    held = _authorize(hub, "A1", 400)
    assert (held.status, _balance(hub), _balance(hub, "pts:cvs:held:cinema")) == ("HELD", 600, 400)
    captured = capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1")
    assert (captured.status, captured.captured_points, captured.value_fen) == ("CAPTURED", 400, 3000)
    assert (_balance(hub), _balance(hub, "pts:cvs:held:cinema")) == (600, 0)


def test_a_partial_capture_gives_the_rest_back(hub, funded):
    _authorize(hub, "A1", 400)
    captured = capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1", points=150)
    assert (captured.captured_points, captured.value_fen, _balance(hub)) == (150, 1125, 850)


def test_captures_are_netted_with_file_redemptions(hub, funded):
    _authorize(hub, "A1", 400)
    capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1")
    # the hub's clock is 3 Dec 2026: the capture belongs to December
    result = close_period(
        engine=hub.engine,
        hub=hub.signer,
        now=hub.now() + timedelta(days=30),
        period=Period(2026, 11),
        zone_name=hub.config.timezone,
    )
    assert result.positions["cinema"] == 0
    december = close_period(
        engine=hub.engine,
        hub=hub.signer,
        now=hub.now() + timedelta(days=30),
        period=Period(2026, 12),
        zone_name=hub.config.timezone,
    )
    assert december.positions == {"cinema": 3000, "cvs": -3000, "eyewear": 0, "ride": 0}


def test_void_and_expiry_give_everything_back_and_end_the_hold(hub, funded):
    _authorize(hub, "A1", 400)
    _authorize(hub, "A2", 300)
    assert void(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1").status == "VOIDED"
    assert void(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1").status == "VOIDED"
    assert expire_holds(engine=hub.engine, now=hub.now() + HOLD) == 1
    assert (_balance(hub), _balance(hub, "pts:cvs:held:cinema")) == (1000, 0)
    for reference, code in (("A1", "AUTH_VOIDED"), ("A2", "AUTH_EXPIRED")):
        with pytest.raises(Conflict) as refused:
            capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference=reference)
        assert refused.value.code == code


def test_a_hold_past_its_time_cannot_be_captured_even_before_the_sweep(hub, funded):
    _authorize(hub, "A1", 400)
    with pytest.raises(Conflict) as refused:
        capture(engine=hub.engine, now=hub.now() + HOLD, fulfiller_id=CINEMA, reference="A1")
    assert refused.value.code == "AUTH_EXPIRED"


def test_every_step_is_idempotent_by_reference(hub, funded):
    first = _authorize(hub, "A1", 400)
    assert _authorize(hub, "A1", 400) == first and _balance(hub) == 600
    with pytest.raises(Conflict) as reused:
        _authorize(hub, "A1", 401)
    assert reused.value.code == "AUTH_REFERENCE_REUSED"
    once = capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1", points=100)
    assert capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1", points=100) == once
    with pytest.raises(Conflict) as other:
        capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1", points=200)
    assert other.value.code == "AUTH_ALREADY_CAPTURED"
    with hub.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM clearing_record WHERE kind = 'REDEEM'")).scalar() == 1


@pytest.mark.parametrize(
    ("points", "category", "code"),
    [
        (1001, "cinema", "POINTS_INSUFFICIENT"),
        (10, "books", "RL2_CATEGORY_NOT_ALLOWED"),
        (10, "gift-card", "RL5_CASH_EQUIVALENT"),
        (0, "cinema", "RECORD_POINTS_INVALID"),
    ],
)
def test_a_hold_meets_every_rule_a_redemption_meets(hub, funded, points, category, code):
    with pytest.raises(AuthorizationRefused) as refused:
        _authorize(hub, "A1", points, category=category)
    assert refused.value.code == code and _balance(hub) == 1000


def test_holds_count_against_the_periods_cap(hub, funded):
    _authorize(hub, "A1", 900)
    submit(hub, funded, CVS, "E2", [earn("m2", 1000)])
    with pytest.raises(AuthorizationRefused) as refused:
        _authorize(hub, "A2", 700, member="m2")
    assert refused.value.code == "CONTRACT_CAP_EXCEEDED"


def test_two_holds_that_together_exceed_the_balance_one_wins(hub, funded):
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def hold(reference: str) -> None:
        barrier.wait()
        try:
            outcomes.append(_authorize(hub, reference, 700).status)
        except ClearinghouseError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=hold, args=(ref,)) for ref in ("A1", "A2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, outcomes)) == ["HELD", "POINTS_INSUFFICIENT"]
    assert _balance(hub) == 300


def test_a_file_may_report_a_capture_by_its_reference_and_it_counts_once(hub, funded):
    _authorize(hub, "A1", 400)
    capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1")
    reported = {**redeem("m1", 400), "receipt_ref": "AUTH:A1"}
    outcome = submit(hub, funded, CINEMA, "R1", [reported])
    assert (outcome.accepted, outcome.matched, outcome.accepted_points, outcome.accepted_value_fen) == (1, 1, 0, 0)
    assert _balance(hub) == 600  # not taken twice
    later = hub.now() + timedelta(days=30)
    close_period(engine=hub.engine, hub=hub.signer, now=later, period=Period(2026, 11), zone_name=hub.config.timezone)
    december = close_period(
        engine=hub.engine,
        hub=hub.signer,
        now=hub.now() + timedelta(days=30),
        period=Period(2026, 12),
        zone_name=hub.config.timezone,
    )
    assert december.positions["cinema"] == 3000  # owed once
    again = submit(hub, funded, CINEMA, "R2", [reported])
    assert again.refused_by_code == {"AUTH_ALREADY_REPORTED": 1}


def test_a_refund_gives_points_back_and_reverses_the_claim_even_after_the_period_closed(hub, funded):
    from clearinghouse.services.authorizations import refund

    _authorize(hub, "A1", 400)
    capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1")
    later = hub.now() + timedelta(days=30)
    close_period(engine=hub.engine, hub=hub.signer, now=later, period=Period(2026, 11), zone_name=hub.config.timezone)
    december = close_period(
        engine=hub.engine, hub=hub.signer, now=later, period=Period(2026, 12), zone_name=hub.config.timezone
    )
    assert december.positions["cinema"] == 3000
    partial = refund(
        engine=hub.engine,
        now=later,
        zone_name=hub.config.timezone,
        fulfiller_id=CINEMA,
        authorization_reference="A1",
        reference="RF1",
        points=100,
    )
    assert (partial.value_fen, partial.settlement_period, _balance(hub)) == (-750, "2027-01", 700)
    again = refund(
        engine=hub.engine,
        now=later,
        zone_name=hub.config.timezone,
        fulfiller_id=CINEMA,
        authorization_reference="A1",
        reference="RF1",
        points=100,
    )
    assert again == partial and _balance(hub) == 700
    with pytest.raises(AuthorizationRefused) as too_much:
        refund(
            engine=hub.engine,
            now=later,
            zone_name=hub.config.timezone,
            fulfiller_id=CINEMA,
            authorization_reference="A1",
            reference="RF2",
            points=301,
        )
    assert too_much.value.code == "REV_EXCEEDS_ORIGINAL"
    rest = refund(
        engine=hub.engine,
        now=later,
        zone_name=hub.config.timezone,
        fulfiller_id=CINEMA,
        authorization_reference="A1",
        reference="RF3",
        points=300,
    )
    assert rest.value_fen == -2250  # the full refund gives back exactly what is left: 3000 in all
    january = close_period(
        engine=hub.engine,
        hub=hub.signer,
        now=later + timedelta(days=31),
        period=Period(2027, 1),
        zone_name=hub.config.timezone,
    )
    assert january.positions == {"cinema": -3000, "cvs": 3000, "eyewear": 0, "ride": 0}
