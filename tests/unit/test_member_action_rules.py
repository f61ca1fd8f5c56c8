"""RL9's rules, pure: the ground (an open case with evidence about the member), the points, the second admin,
and the ledger movements of applying and lifting an action."""

from __future__ import annotations

import pytest

from settlement import ledger
from settlement.member_actions import (
    ActionKind,
    ActionRequest,
    CaseFacts,
    Evidence,
    action_id_of,
    apply_transfers,
    check_approval,
    check_request,
    event_reference,
    is_admin,
    lift_transfers,
)

ALICE, BOB = "admin:alice", "admin:bob"
REQUEST = ActionRequest(ActionKind.FREEZE, "cvs", "m1", 60, 7, ALICE)
DESCRIBED = Evidence()


def case(*evidence: Evidence, status: str = "OPEN", issuer: str | None = "cvs", member: str | None = "m1") -> CaseFacts:
    return CaseFacts(7, status, issuer, member, tuple(evidence))


def code(refusal: object) -> str | None:
    return getattr(refusal, "code", None)


def test_an_open_case_naming_the_member_with_one_fact_is_ground_enough():
    assert check_request(REQUEST, case(DESCRIBED), balance=60) is None


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (None, "RL9_NO_CASE"),
        (case(DESCRIBED, status="CLOSED"), "RL9_CASE_CLOSED"),
        (case(), "RL9_NO_EVIDENCE"),
        (case(DESCRIBED, member="m2"), "RL9_NO_EVIDENCE"),  # a fact about someone else
        (case(Evidence("cvs", "m2"), issuer=None, member=None), "RL9_NO_EVIDENCE"),
        (case(Evidence("eyewear", "m1"), issuer=None, member=None), "RL9_NO_EVIDENCE"),  # same token, other issuer
    ],
)
def test_the_ground_of_an_action_is_an_open_case_with_evidence_about_the_member(facts, expected):
    assert code(check_request(REQUEST, facts, balance=1000)) == expected


def test_a_case_naming_nobody_is_ground_when_a_record_of_its_evidence_is_the_members():
    facts = case(Evidence("cvs", "m2"), Evidence("cvs", "m1"), issuer=None, member=None)
    assert check_request(REQUEST, facts, balance=1000) is None


@pytest.mark.parametrize(
    ("points", "balance", "expected"),
    [
        (0, 10, "RL9_POINTS_INVALID"),
        (-1, 10, "RL9_POINTS_INVALID"),
        (61, 60, "POINTS_INSUFFICIENT"),
        (60, 60, None),
        (1, 60, None),
    ],
)
def test_points_are_above_zero_and_within_the_spendable_balance(points, balance, expected):
    request = ActionRequest(ActionKind.DEDUCT, "cvs", "m1", points, 7, ALICE)
    assert code(check_request(request, case(DESCRIBED), balance)) == expected


def test_the_requester_cannot_approve_a_second_admin_can():
    assert code(check_approval(REQUEST, ALICE, case(DESCRIBED), 60)) == "RL9_SAME_ADMIN"
    assert check_approval(REQUEST, BOB, case(DESCRIBED), 60) is None


def test_approval_checks_the_ground_and_the_balance_again():
    assert code(check_approval(REQUEST, BOB, case(DESCRIBED, status="CLOSED"), 60)) == "RL9_CASE_CLOSED"
    assert code(check_approval(REQUEST, BOB, case(DESCRIBED), 59)) == "POINTS_INSUFFICIENT"


def test_only_a_named_admin_actor_is_an_admin():
    assert is_admin(ALICE) and not is_admin("cvs") and not is_admin("admin:")


def test_a_freeze_moves_points_to_the_members_frozen_account_and_lifting_moves_them_back():
    member, frozen = ledger.member_account("cvs", "m1"), ledger.frozen_account("cvs", "m1")
    assert apply_transfers(ActionKind.FREEZE, "cvs", "m1", 60) == (ledger.Transfer(member, frozen, 60),)
    assert lift_transfers(ActionKind.FREEZE, "cvs", "m1", 60) == (ledger.Transfer(frozen, member, 60),)
    assert frozen.code == "pts:cvs:frozen:m1" and frozen.unit == member.unit


def test_a_deduction_takes_points_back_to_the_issuer_and_lifting_restores_them():
    member, issued = ledger.member_account("cvs", "m1"), ledger.issued_account("cvs")
    assert apply_transfers(ActionKind.DEDUCT, "cvs", "m1", 60) == (ledger.Transfer(member, issued, 60),)
    assert lift_transfers(ActionKind.DEDUCT, "cvs", "m1", 60) == (ledger.Transfer(issued, member, 60),)


def test_an_events_reference_names_its_action():
    assert event_reference(42, "apply") == "action:42:apply"
    assert action_id_of("action:42:lift") == 42
    assert action_id_of("expiry:2026-11:m1") is None and action_id_of("action:x:apply") is None
