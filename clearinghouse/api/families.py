"""Family groups (an issuer's or an admin's) and real-time family pool moves (the issuer's) — red line RL6."""

from __future__ import annotations

from typing import Any

from clearinghouse.api import api
from clearinghouse.api.common import actor, authenticated, caller, field, hub, idempotent, json_body, time_field
from clearinghouse.errors import Forbidden
from clearinghouse.services import families as service
from clearinghouse.services.partners import ADMIN


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def membership_json(view: service.MembershipView) -> dict[str, Any]:
    return {
        "member_token": view.member_token,
        "consent_ref": view.consent_ref,
        "consented_at": view.consented_at.isoformat(),
        "recorded_by": view.recorded_by,
        "joined_at": view.joined_at.isoformat(),
        "left_at": _time(view.left_at),
        "left_by": view.left_by,
        "leave_reason": view.leave_reason,
    }


def group_json(view: service.GroupView) -> dict[str, Any]:
    return {
        "issuer_id": view.issuer_id,
        "group_id": view.group_id,
        "created_by": view.created_by,
        "created_at": view.created_at.isoformat(),
        "members": [membership_json(member) for member in view.members],
    }


@api.post("/families")
@authenticated
@idempotent
def create_family_group() -> tuple[dict[str, Any], int]:
    """Register a family group: an issuer for itself, an admin for the issuer it names."""
    body = json_body()
    issuer_id = field(body, "issuer_id", str, required=caller() == ADMIN) or caller()
    view, created = service.create_group(
        engine=hub().engine,
        now=hub().now(),
        caller=caller(),
        actor=actor(),
        issuer_id=issuer_id,
        group_id=field(body, "group_id", str),
    )
    return group_json(view), 201 if created else 200


@api.get("/families/<issuer_id>/<group_id>")
@authenticated
def get_family_group(issuer_id: str, group_id: str) -> dict[str, Any]:
    """The group and every membership it ever had (current ones have no ``left_at``)."""
    view = service.get_group(engine=hub().engine, caller=caller(), issuer_id=issuer_id, group_id=group_id)
    return group_json(view)


@api.post("/families/<issuer_id>/<group_id>/members")
@authenticated
@idempotent
def add_family_member(issuer_id: str, group_id: str) -> tuple[dict[str, Any], int]:
    """Record a member joining the group with its consent (reference and time)."""
    body = json_body()
    view, created = service.add_member(
        engine=hub().engine,
        now=hub().now(),
        caller=caller(),
        actor=actor(),
        issuer_id=issuer_id,
        group_id=group_id,
        member_token=field(body, "member_token", str),
        consent_ref=field(body, "consent_ref", str),
        consented_at=time_field(body, "consented_at"),
    )
    return membership_json(view), 201 if created else 200


@api.post("/families/<issuer_id>/<group_id>/members/<member_token>/leave")
@authenticated
@idempotent
def remove_family_member(issuer_id: str, group_id: str, member_token: str) -> dict[str, Any]:
    """Record the member leaving the group; the membership is kept, ended now."""
    body = json_body()
    view = service.remove_member(
        engine=hub().engine,
        now=hub().now(),
        caller=caller(),
        actor=actor(),
        issuer_id=issuer_id,
        group_id=group_id,
        member_token=member_token,
        reason=field(body, "reason", str, required=False) or "",
    )
    return membership_json(view)


@api.post("/family-pool-moves")
@authenticated
@idempotent
def family_pool_move() -> tuple[dict[str, Any], int]:
    """Move points of the calling issuer from one member to another of the same family group, now."""
    if caller() == ADMIN:
        raise Forbidden("a family pool move is asked by the issuer", code="PARTNER_ONLY")
    body = json_body()
    request = service.PoolMoveRequest(
        reference=field(body, "reference", str),
        from_member=field(body, "from_member", str),
        to_member=field(body, "to_member", str),
        points=field(body, "points", int),
        amount_fen=field(body, "amount_fen", int, required=False) or 0,
    )
    view, made = service.pool_move(
        engine=hub().engine,
        now=hub().now(),
        zone_name=hub().config.timezone,
        issuer_id=caller(),
        actor=actor(),
        request=request,
    )
    return {
        "issuer_id": view.issuer_id,
        "reference": view.reference,
        "group_id": view.group_id,
        "from_member": view.from_member,
        "to_member": view.to_member,
        "points": view.points,
        "created_at": view.created_at.isoformat(),
    }, 201 if made else 200
