"""A member's balance per issuer, with every change and its reason, read from the ledger."""

from __future__ import annotations

import pytest

from clearinghouse.errors import NotFound
from clearinghouse.services.members import member_points
from tests.factories import CINEMA, CVS, Alliance, at, earn, redeem, reversal, submit


def test_history_explains_the_balance_change_by_change(hub):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 500, receipt="R-9", when=at(2)), earn("m2", 100)])
    submit(hub, alliance, CINEMA, "R1", [redeem("m1", 400, when=at(3))])
    submit(hub, alliance, CINEMA, "R2", [reversal("R1#1", "m1", 150, fulfiller=CINEMA, when=at(4))])
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert points.balance == 500 - 400 + 150
    assert [(c.kind, c.points, c.record, c.reported_by) for c in points.history] == [
        ("EARN", 500, "E1#1", CVS),
        ("REDEEM", -400, "R1#1", CINEMA),
        ("REVERSAL", 150, "R2#1", CINEMA),
    ]
    assert sum(change.points for change in points.history) == points.balance
    assert points.history[0].reason == "earned on receipt R-9"
    assert "cinema" in points.history[1].reason
    assert points.history[1].business_time == at(3)


def test_refused_records_leave_no_trace_in_the_history(hub):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 100)])
    submit(hub, alliance, CINEMA, "R1", [redeem("m1", 400)])  # POINTS_INSUFFICIENT
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert (points.balance, len(points.history)) == (100, 1)


def test_a_member_is_known_only_under_its_issuer(hub):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 100)])
    with pytest.raises(NotFound) as unknown:
        member_points(engine=hub.engine, issuer_id="eyewear", member_token="m1")
    assert unknown.value.code == "MEMBER_NOT_FOUND"


def test_real_time_holds_captures_and_refunds_are_in_the_history(hub):
    from datetime import timedelta

    from clearinghouse.services.authorizations import AuthorizationRequest, authorize, capture, refund

    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 500)])
    request = AuthorizationRequest(
        reference="A1", issuer_id=CVS, member_token="m1", points=400, category="cinema", offer_ref="TICKET"
    )
    authorize(
        engine=hub.engine,
        now=hub.now(),
        zone_name=hub.config.timezone,
        fulfiller_id=CINEMA,
        request=request,
        hold_for=timedelta(minutes=15),
    )
    capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference="A1", points=300)
    refund(
        engine=hub.engine,
        now=hub.now(),
        zone_name=hub.config.timezone,
        fulfiller_id=CINEMA,
        authorization_reference="A1",
        reference="RF1",
        points=50,
    )
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert [(c.kind, c.points, c.record) for c in points.history] == [
        ("EARN", 500, "E1#1"),
        ("HOLD", -400, "AUTH:A1"),
        ("RELEASE", 100, "AUTH:A1"),
        ("REVERSAL", 50, "REFUND:RF1"),
    ]
    assert points.balance == 500 - 300 + 50 == sum(c.points for c in points.history)
