"""Family groups and family pool moves (red line RL6) through the real services, on SQLite and PostgreSQL.

cvs's program allows pooling (unless a test says otherwise); m1 holds 100 cvs points; family group F holds
m1 and m2, group G holds m3. Each refusal of the real-time move is the smallest input that trips it, next to
the nearest input that passes; a refusal posts nothing and writes no audit entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from clearinghouse import audit
from clearinghouse.errors import Conflict, Forbidden, InvalidRequest, NotFound
from clearinghouse.hub import Hub
from clearinghouse.services import families
from clearinghouse.services.members import member_points
from tests.factories import CINEMA, CVS, EYEWEAR, Alliance, earn, family_pool, submit


def setup_alliance(hub: Hub, *, pooling: bool = True) -> Alliance:
    alliance = Alliance.standard(hub, family_pooling=pooling)
    assert submit(hub, alliance, CVS, "E1", [earn("m1", 100)]).refused == 0
    for group, members in (("F", ("m1", "m2")), ("G", ("m3",))):
        create(hub, group)
        for member in members:
            join(hub, group, member)
    return alliance


def create(hub: Hub, group: str, *, caller: str = CVS, issuer: str = CVS) -> families.GroupView:
    view, _ = families.create_group(
        engine=hub.engine, now=hub.now(), caller=caller, actor=caller, issuer_id=issuer, group_id=group
    )
    return view


def join(hub: Hub, group: str, member: str, **changes: Any) -> families.MembershipView:
    arguments: dict[str, Any] = {
        "engine": hub.engine,
        "now": hub.now(),
        "caller": CVS,
        "actor": CVS,
        "issuer_id": CVS,
        "group_id": group,
        "member_token": member,
        "consent_ref": f"CONSENT-{member}",
        "consented_at": hub.now() - timedelta(days=1),
    }
    view, _ = families.add_member(**(arguments | changes))
    return view


def leave(hub: Hub, group: str, member: str) -> families.MembershipView:
    return families.remove_member(
        engine=hub.engine,
        now=hub.now(),
        caller=CVS,
        actor=CVS,
        issuer_id=CVS,
        group_id=group,
        member_token=member,
        reason="moved out",
    )


def move(hub: Hub, reference: str = "M1", giver: str = "m1", receiver: str = "m2", points: int = 30, **more: Any):
    request = families.PoolMoveRequest(reference, giver, receiver, points, **more)
    return families.pool_move(
        engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone, issuer_id=CVS, actor=CVS, request=request
    )


def balance(hub: Hub, member: str) -> int:
    return member_points(engine=hub.engine, issuer_id=CVS, member_token=member).balance


def count(hub: Hub, table: str) -> int:
    with hub.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def written(hub: Hub) -> tuple[int, int, int, int]:
    return tuple(count(hub, t) for t in ("ledger_transfer", "ledger_event", "family_pool_move", "audit_log"))  # type: ignore[return-value]


# ------------------------------------------------------------------ real-time moves
def test_a_real_time_move_gives_points_to_a_family_member_and_shows_in_both_histories(hub):
    setup_alliance(hub)
    view, made = move(hub, points=30)
    assert made and (view.group_id, view.points) == ("F", 30)
    assert (balance(hub, "m1"), balance(hub, "m2")) == (70, 30)
    giver = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1").history[-1]
    receiver = member_points(engine=hub.engine, issuer_id=CVS, member_token="m2").history[-1]
    assert (giver.kind, giver.points, receiver.kind, receiver.points) == ("FAMILY_POOL", -30, "FAMILY_POOL", 30)
    assert "m1 → m2" in giver.reason and "given" in giver.reason and "received" in receiver.reason


REAL_TIME_REFUSALS = [
    # (case, move arguments, pooling allowed, code); the nearest passing move is move(hub) itself
    ("program without pooling", {}, False, "RL6_POOLING_NOT_ALLOWED"),
    ("receiver in no group", {"receiver": "m9"}, True, "RL6_NO_CONSENT"),
    ("giver in no group", {"giver": "m9"}, True, "RL6_NO_CONSENT"),
    ("another family", {"receiver": "m3"}, True, "RL6_NOT_SAME_FAMILY"),
    ("more than the giver holds", {"points": 101}, True, "POINTS_INSUFFICIENT"),
    ("no points", {"points": 0}, True, "RECORD_POINTS_INVALID"),
    ("to the giver itself", {"receiver": "m1"}, True, "RECORD_FIELD_INVALID"),
    ("money attached", {"amount_fen": 100}, True, "RL7_POINTS_PURCHASE"),
]


@pytest.mark.parametrize(
    ("case", "arguments", "pooling", "code"), REAL_TIME_REFUSALS, ids=[case for case, *_ in REAL_TIME_REFUSALS]
)
def test_a_real_time_move_is_refused_with_the_code_a_file_line_would_carry(hub, case, arguments, pooling, code):
    setup_alliance(hub, pooling=pooling)
    before = written(hub)
    with pytest.raises(families.FamilyPoolRefused) as caught:
        move(hub, **arguments)
    assert caught.value.code == code
    assert written(hub) == before and balance(hub, "m1") == 100


def test_the_nearest_real_time_moves_pass(hub):
    setup_alliance(hub)
    assert move(hub, "A", points=100)[1]  # everything the giver holds
    assert move(hub, "B", giver="m2", receiver="m1", points=1)[1]  # and back
    assert (balance(hub, "m1"), balance(hub, "m2")) == (1, 99)


def test_a_real_time_move_is_idempotent_by_its_reference(hub):
    setup_alliance(hub)
    first, made = move(hub, "M1", points=30)
    again, made_again = move(hub, "M1", points=30)
    assert (made, made_again) == (True, False) and again == first
    assert balance(hub, "m1") == 70 and count(hub, "family_pool_move") == 1
    with pytest.raises(Conflict) as caught:
        move(hub, "M1", points=31)
    assert caught.value.code == "FAMILY_MOVE_REFERENCE_REUSED"


def test_the_database_refuses_a_second_move_under_one_reference(hub):
    setup_alliance(hub)
    move(hub, "M1")
    with pytest.raises(IntegrityError), hub.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO family_pool_move (issuer_id, reference, group_id, from_member, to_member, points,"
                " event_id, actor, created_at) SELECT issuer_id, reference, group_id, from_member, to_member, points,"
                " event_id, actor, created_at FROM family_pool_move"
            )
        )


@pytest.mark.parametrize("reference", ["", "R" * 40, "a b", "ré"])
def test_a_malformed_reference_is_refused_before_anything_runs(hub, reference):
    setup_alliance(hub)
    with pytest.raises(InvalidRequest) as caught:
        move(hub, reference)
    assert caught.value.code == "FAMILY_FIELD_INVALID"
    assert move(hub, "R" * 39)[1]


# ------------------------------------------------------------------ groups and consent
def test_a_member_is_in_at_most_one_current_group_of_an_issuer(hub):
    setup_alliance(hub)
    with pytest.raises(Conflict) as caught:
        join(hub, "G", "m1")
    assert caught.value.code == "FAMILY_MEMBER_IN_GROUP"
    assert join(hub, "F", "m1").consent_ref == "CONSENT-m1"  # the same group and consent again: a retry
    assert count(hub, "family_membership") == 3


def test_the_database_refuses_a_second_current_membership(hub):
    setup_alliance(hub)
    with pytest.raises(IntegrityError), hub.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO family_membership (group_pk, issuer_id, member_token, consent_ref, consented_at,"
                " recorded_by, joined_at) SELECT group_pk + 1, issuer_id, member_token, 'C2', consented_at,"
                " recorded_by, joined_at FROM family_membership WHERE member_token = 'm1'"
            )
        )


def test_a_member_who_left_is_kept_pools_nothing_and_may_join_another_group(hub):
    setup_alliance(hub)
    ended = leave(hub, "F", "m2")
    assert ended.left_at == hub.now() and ended.left_by == CVS and ended.leave_reason == "moved out"
    assert leave(hub, "F", "m2") == ended  # leaving again changes nothing
    with pytest.raises(families.FamilyPoolRefused) as caught:
        move(hub)
    assert caught.value.code == "RL6_NO_CONSENT"
    join(hub, "G", "m2")
    group = families.get_group(engine=hub.engine, caller=CVS, issuer_id=CVS, group_id="F")
    assert [(m.member_token, m.left_at is None) for m in group.members] == [("m1", True), ("m2", False)]
    with pytest.raises(families.FamilyPoolRefused) as caught:
        move(hub)
    assert caught.value.code == "RL6_NOT_SAME_FAMILY"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"consent_ref": ""}, "FAMILY_FIELD_INVALID"),
        ({"consented_at": None}, "FAMILY_CONSENT_INVALID"),
        ({"consented_at": "future"}, "FAMILY_CONSENT_INVALID"),
        ({"member_token": "m\x00"}, "FAMILY_FIELD_INVALID"),
    ],
)
def test_a_membership_needs_a_recorded_consent(hub, changes, code):
    Alliance.standard(hub, family_pooling=True)
    create(hub, "F")
    if changes.get("consented_at") == "future":
        changes = {"consented_at": hub.now() + timedelta(seconds=1)}
    with pytest.raises(InvalidRequest) as caught:
        join(hub, "F", "m1", **changes)
    assert caught.value.code == code
    assert join(hub, "F", "m1", consented_at=hub.now()).consent_ref == "CONSENT-m1"  # consented just now: passes


def test_only_the_issuer_or_an_admin_manages_its_groups(hub):
    Alliance.standard(hub, family_pooling=True)
    with pytest.raises(Forbidden):
        create(hub, "F", caller=CINEMA)
    with pytest.raises(InvalidRequest) as caught:
        create(hub, "F", caller="admin", issuer=CINEMA)
    assert caught.value.code == "FAMILY_NOT_AN_ISSUER"
    assert create(hub, "F", caller="admin").created_by == "admin"
    with pytest.raises(NotFound):
        join(hub, "NOPE", "m1")


def test_group_ids_are_per_issuer(hub):
    Alliance.standard(hub, family_pooling=True)
    create(hub, "F")
    create(hub, "F", caller=EYEWEAR, issuer=EYEWEAR)
    assert count(hub, "family_group") == 2
    create(hub, "F")  # the same group again is a retry
    assert count(hub, "family_group") == 2


def test_every_family_write_is_audited_with_its_actor(hub):
    setup_alliance(hub)
    move(hub)
    leave(hub, "F", "m2")
    entries = audit.entries(hub.engine, subject_prefix="family")
    actions = [(entry.actor, entry.action) for entry in entries]
    assert actions == [
        (CVS, "families.create_group"),
        (CVS, "families.add_member"),
        (CVS, "families.add_member"),
        (CVS, "families.create_group"),
        (CVS, "families.add_member"),
        (CVS, "families.pool_move"),
        (CVS, "families.remove_member"),
    ]
    assert entries[1].after["consent_ref"] == "CONSENT-m1"
    assert entries[-1].before["left_at"] is None and entries[-1].after["left_by"] == CVS
    assert audit.verify(hub.engine).ok


# ------------------------------------------------------------------ the file path meets the same registry
def test_a_file_pool_line_and_its_history_on_both_members(hub):
    alliance = setup_alliance(hub)
    outcome = submit(hub, alliance, CVS, "P1", [family_pool("m1", "m2", 40), family_pool("m1", "m3", 1)])
    assert (outcome.accepted, dict(outcome.refused_by_code)) == (1, {"RL6_NOT_SAME_FAMILY": 1})
    assert (balance(hub, "m1"), balance(hub, "m2")) == (60, 40)
    giver = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1").history[-1]
    receiver = member_points(engine=hub.engine, issuer_id=CVS, member_token="m2").history[-1]
    assert (giver.reason, giver.record) == ("gave to family member m2", "P1#1")
    assert (receiver.reason, receiver.points) == ("received from family member m1", 40)
    with hub.engine.connect() as connection:
        stored = connection.execute(text("SELECT to_member_token FROM clearing_record ORDER BY id")).scalars().all()
    assert stored[-2:] == ["m2", "m3"]  # refused lines keep their receiver too


def test_a_file_pool_line_after_the_member_left_is_refused(hub):
    alliance = setup_alliance(hub)
    leave(hub, "F", "m2")
    outcome = submit(hub, alliance, CVS, "P1", [family_pool("m1", "m2", 40)])
    assert dict(outcome.refused_by_code) == {"RL6_NO_CONSENT": 1}
