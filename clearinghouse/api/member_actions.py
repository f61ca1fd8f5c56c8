"""Evidence-gated actions on a member's points (RL9): request, approve, reject, lift, read. Admins only."""

from __future__ import annotations

from typing import Any

from flask import request

from clearinghouse.api import api
from clearinghouse.api.common import actor, admin_only, field, hub, idempotent, json_body
from clearinghouse.services import member_actions as service


def action_json(view: service.ActionView) -> dict[str, Any]:
    def moment(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "action_id": view.action_id,
        "kind": view.kind,
        "issuer_id": view.issuer_id,
        "member_token": view.member_token,
        "points": view.points,
        "case_id": view.case_id,
        "reason": view.reason,
        "status": view.status,
        "requested_by": view.requested_by,
        "requested_at": moment(view.requested_at),
        "decided_by": view.decided_by,
        "decided_at": moment(view.decided_at),
        "decision_reason": view.decision_reason,
        "lifted_by": view.lifted_by,
        "lifted_at": moment(view.lifted_at),
        "lifted_reason": view.lifted_reason,
    }


@api.post("/member-actions")
@admin_only
@idempotent
def request_member_action() -> tuple[dict[str, Any], int]:
    """An admin asks to FREEZE or DEDUCT a member's points under an open case with evidence."""
    body = json_body()
    view = service.request_action(
        engine=hub().engine,
        now=hub().now(),
        actor=actor(),
        kind=field(body, "kind", str),
        issuer_id=field(body, "issuer_id", str),
        member_token=field(body, "member_token", str),
        points=field(body, "points", int),
        case_id=field(body, "case_id", int),
        reason=field(body, "reason", str),
    )
    return action_json(view), 201


@api.post("/member-actions/<int:action_id>/approve")
@admin_only
@idempotent
def approve_member_action(action_id: int) -> dict[str, Any]:
    """A second admin applies the requested action."""
    return action_json(service.approve_action(engine=hub().engine, now=hub().now(), actor=actor(), action_id=action_id))


@api.post("/member-actions/<int:action_id>/reject")
@admin_only
@idempotent
def reject_member_action(action_id: int) -> dict[str, Any]:
    """Any admin turns the request down, saying why."""
    reason = field(json_body(), "reason", str)
    view = service.reject_action(
        engine=hub().engine, now=hub().now(), actor=actor(), action_id=action_id, reason=reason
    )
    return action_json(view)


@api.post("/member-actions/<int:action_id>/lift")
@admin_only
@idempotent
def lift_member_action(action_id: int) -> dict[str, Any]:
    """Any admin lifts an applied action, saying why: the points go back to the member."""
    reason = field(json_body(), "reason", str)
    view = service.lift_action(engine=hub().engine, now=hub().now(), actor=actor(), action_id=action_id, reason=reason)
    return action_json(view)


@api.get("/member-actions")
@admin_only
def list_member_actions() -> dict[str, Any]:
    """Actions, newest first, filtered by ``?issuer=`` and/or ``&member=``."""
    views = service.list_actions(
        engine=hub().engine,
        issuer_id=request.args.get("issuer") or None,
        member_token=request.args.get("member") or None,
    )
    return {"actions": [action_json(view) for view in views]}


@api.get("/member-actions/<int:action_id>")
@admin_only
def get_member_action(action_id: int) -> dict[str, Any]:
    return action_json(service.get_action(engine=hub().engine, action_id=action_id))
