"""Evidence-gated freezes and deductions (RL9) through the real service on SQLite and PostgreSQL: request by
one admin, approval by another, the ledger, the member's history, lifting, and the races."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from clearinghouse.errors import ClearinghouseError, Conflict, Forbidden
from clearinghouse.hub import Hub
from clearinghouse.services import member_actions as actions
from clearinghouse.services.authorizations import AuthorizationRefused, AuthorizationRequest, authorize
from clearinghouse.services.members import member_points
from tests.factories import CINEMA, CVS, Alliance, case_with_evidence, earn, submit

ALICE, BOB, CAROL = "admin:alice", "admin:bob", "admin:carol"


def funded(hub: Hub, points: int = 100) -> Alliance:
    alliance = Alliance.standard(hub)
    assert submit(hub, alliance, CVS, "E1", [earn("m1", points)]).refused == 0
    return alliance


def ask(hub: Hub, case_id: int, *, kind: str = "FREEZE", points: int = 60, who: str = ALICE, **more: Any):
    fields: dict[str, Any] = {"issuer_id": CVS, "member_token": "m1", "reason": "velocity", **more}
    return actions.request_action(
        engine=hub.engine, now=hub.now(), actor=who, kind=kind, points=points, case_id=case_id, **fields
    )


def approve(hub: Hub, action_id: int, who: str = BOB) -> actions.ActionView:
    return actions.approve_action(engine=hub.engine, now=hub.now(), actor=who, action_id=action_id)


def lift(hub: Hub, action_id: int, who: str = ALICE, reason: str = "appeal upheld") -> actions.ActionView:
    return actions.lift_action(engine=hub.engine, now=hub.now(), actor=who, action_id=action_id, reason=reason)


def till(hub: Hub, reference: str, points: int) -> None:
    request = AuthorizationRequest(
        reference=reference, issuer_id=CVS, member_token="m1", points=points, category="cinema"
    )
    authorize(
        engine=hub.engine,
        now=hub.now(),
        zone_name=hub.config.timezone,
        fulfiller_id=CINEMA,
        request=request,
        hold_for=timedelta(minutes=15),
    )


def scalar(hub: Hub, sql: str, **params: Any) -> Any:
    with hub.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def audit_actions(hub: Hub) -> list[tuple[str, str, str]]:
    with hub.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT actor, action, subject FROM audit_log WHERE action LIKE 'member_actions.%' ORDER BY seq")
        )
        return [tuple(row) for row in rows]


def test_a_freeze_requested_approved_by_a_second_admin_and_lifted(hub):
    funded(hub)
    case_id = case_with_evidence(hub)
    requested = ask(hub, case_id)
    assert (requested.status, requested.requested_by, requested.decided_by) == ("REQUESTED", ALICE, None)
    assert member_points(engine=hub.engine, issuer_id=CVS, member_token="m1").balance == 100  # nothing moved yet

    applied = approve(hub, requested.action_id)
    assert (applied.status, applied.decided_by) == ("APPLIED", BOB)
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert (points.balance, points.frozen) == (40, 60)
    freeze = points.history[-1]
    assert (freeze.kind, freeze.points, freeze.case_id, freeze.action_id) == ("FREEZE", -60, case_id, applied.action_id)
    assert freeze.record == f"action:{applied.action_id}" and f"case {case_id}" in freeze.reason

    lifted = lift(hub, applied.action_id, who=CAROL)
    assert (lifted.status, lifted.lifted_by, lifted.lifted_reason) == ("LIFTED", CAROL, "appeal upheld")
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert (points.balance, points.frozen) == (100, 0)
    assert [(c.kind, c.points, c.action_id) for c in points.history[-2:]] == [
        ("FREEZE", -60, applied.action_id),
        ("UNFREEZE", 60, applied.action_id),
    ]
    assert sum(change.points for change in points.history) == points.balance
    subject = f"member_action:{applied.action_id}"
    assert audit_actions(hub) == [
        (ALICE, "member_actions.request", subject),
        (BOB, "member_actions.approve", subject),
        (CAROL, "member_actions.lift", subject),
    ]
    assert lift(hub, applied.action_id, who=CAROL) == lifted  # a retry answers the same, posts nothing
    assert scalar(hub, "SELECT count(*) FROM ledger_event WHERE kind = 'UNFREEZE'") == 1


def test_a_deduction_takes_the_points_back_to_the_issuer_and_lifting_restores_them(hub):
    funded(hub)
    applied = approve(hub, ask(hub, case_with_evidence(hub), kind="DEDUCT", points=30).action_id)
    issued = "SELECT debits - credits FROM account WHERE code = 'pts:cvs:issued'"
    assert scalar(hub, issued) == 70
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert (points.balance, points.frozen, points.history[-1].kind) == (70, 0, "DEDUCT")
    lift(hub, applied.action_id)
    assert scalar(hub, issued) == 100
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert (points.balance, points.history[-1].kind, points.history[-1].points) == (100, "RESTORE", 30)


def test_a_frozen_members_redemption_beyond_the_unfrozen_balance_is_refused(hub):
    funded(hub)
    approve(hub, ask(hub, case_with_evidence(hub), points=60).action_id)
    with pytest.raises(AuthorizationRefused) as refused:
        till(hub, "A1", 41)
    assert refused.value.code == "POINTS_INSUFFICIENT"
    till(hub, "A2", 40)  # the unfrozen balance is spendable
    assert member_points(engine=hub.engine, issuer_id=CVS, member_token="m1").balance == 0


def test_the_admin_who_asked_cannot_approve_and_nothing_moves(hub):
    funded(hub)
    requested = ask(hub, case_with_evidence(hub))
    with pytest.raises(Forbidden) as refused:
        approve(hub, requested.action_id, who=ALICE)
    assert refused.value.code == "RL9_SAME_ADMIN"
    assert actions.get_action(engine=hub.engine, action_id=requested.action_id).status == "REQUESTED"
    assert scalar(hub, "SELECT count(*) FROM ledger_event") == 0
    assert approve(hub, requested.action_id, who=BOB).status == "APPLIED"


def test_the_database_refuses_an_action_applied_by_its_requester(hub):
    funded(hub)
    requested = ask(hub, case_with_evidence(hub))
    with pytest.raises(IntegrityError), hub.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE member_action SET status = 'APPLIED', decided_by = requested_by, decided_at = requested_at"
                " WHERE id = :id"
            ),
            {"id": requested.action_id},
        )


def test_a_partner_can_never_request_or_approve(hub):
    funded(hub)
    case_id = case_with_evidence(hub)
    with pytest.raises(Forbidden) as refused:
        ask(hub, case_id, who=CVS)
    assert refused.value.code == "ADMIN_ONLY"
    requested = ask(hub, case_id)
    with pytest.raises(Forbidden) as refused:
        approve(hub, requested.action_id, who=CVS)
    assert refused.value.code == "ADMIN_ONLY"


def test_approval_checks_the_case_and_the_balance_again(hub):
    funded(hub)
    case_id = case_with_evidence(hub)
    first = ask(hub, case_id, points=60)
    till(hub, "A1", 50)  # the member spends before the approval
    with pytest.raises(ClearinghouseError) as refused:
        approve(hub, first.action_id)
    assert refused.value.code == "POINTS_INSUFFICIENT"
    second = ask(hub, case_id, kind="DEDUCT", points=50)
    with hub.engine.begin() as connection:
        connection.execute(text("UPDATE monitoring_case SET status = 'CLOSED' WHERE id = :id"), {"id": case_id})
    with pytest.raises(ClearinghouseError) as refused:
        approve(hub, second.action_id)
    assert refused.value.code == "RL9_CASE_CLOSED"
    assert scalar(hub, "SELECT count(*) FROM ledger_event") == 0


def test_evidence_naming_the_members_record_is_ground_for_a_case_naming_nobody(hub):
    funded(hub)
    record_id = scalar(hub, "SELECT id FROM clearing_record WHERE member_token = 'm1'")
    about_other = case_with_evidence(hub, issuer=None, member=None, described=1, key="other")
    with pytest.raises(ClearinghouseError) as refused:
        ask(hub, about_other)
    assert refused.value.code == "RL9_NO_EVIDENCE"
    about_m1 = case_with_evidence(hub, issuer=None, member=None, described=0, record_ids=(record_id,))
    assert ask(hub, about_m1).status == "REQUESTED"


def test_a_rejected_request_moves_nothing_and_can_be_neither_approved_nor_lifted(hub):
    funded(hub)
    requested = ask(hub, case_with_evidence(hub))
    rejected = actions.reject_action(
        engine=hub.engine, now=hub.now(), actor=ALICE, action_id=requested.action_id, reason="withdrawn"
    )
    assert (rejected.status, rejected.decided_by, rejected.decision_reason) == ("REJECTED", ALICE, "withdrawn")
    with pytest.raises(Conflict) as refused:
        approve(hub, requested.action_id)
    assert refused.value.code == "ACTION_REJECTED"
    with pytest.raises(Conflict) as refused:
        lift(hub, requested.action_id)
    assert refused.value.code == "ACTION_REJECTED"
    assert member_points(engine=hub.engine, issuer_id=CVS, member_token="m1").balance == 100


def test_a_request_not_yet_applied_cannot_be_lifted(hub):
    funded(hub)
    requested = ask(hub, case_with_evidence(hub))
    with pytest.raises(Conflict) as refused:
        lift(hub, requested.action_id)
    assert refused.value.code == "ACTION_REQUESTED"


def test_the_same_pending_request_again_answers_the_first_another_is_a_conflict(hub):
    funded(hub)
    case_id = case_with_evidence(hub)
    first = ask(hub, case_id)
    assert ask(hub, case_id) == first
    with pytest.raises(Conflict) as refused:
        ask(hub, case_id, points=61, who=CAROL)
    assert refused.value.code == "ACTION_PENDING"
    assert len(actions.list_actions(engine=hub.engine, issuer_id=CVS, member_token="m1")) == 1
    assert actions.list_actions(engine=hub.engine, member_token="m2") == []


@pytest.mark.parametrize("second", [BOB, CAROL])
def test_two_concurrent_approvals_apply_once(hub, second):
    funded(hub)
    requested = ask(hub, case_with_evidence(hub))
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def run(who: str) -> None:
        barrier.wait()
        try:
            outcomes.append(approve(hub, requested.action_id, who=who).status)
        except ClearinghouseError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=run, args=(who,)) for who in (BOB, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if second == BOB:
        assert outcomes == ["APPLIED", "APPLIED"]  # the same admin's retry answers the same
    else:
        assert sorted(outcomes) == ["ACTION_APPLIED", "APPLIED"]
    assert scalar(hub, "SELECT count(*) FROM ledger_event WHERE kind = 'FREEZE'") == 1
    points = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1")
    assert (points.balance, points.frozen) == (40, 60)
