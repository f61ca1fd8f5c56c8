"""Real-time redemption at the till: authorize, capture, void, read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request

from clearinghouse.api import api
from clearinghouse.api.common import authenticated, caller, field, hub, idempotent, json_body
from clearinghouse.errors import Forbidden
from clearinghouse.services import authorizations as service
from clearinghouse.services.partners import ADMIN


def view_json(view: service.AuthorizationView) -> dict[str, Any]:
    return {
        "reference": view.reference,
        "fulfiller_id": view.fulfiller_id,
        "issuer_id": view.issuer_id,
        "member_token": view.member_token,
        "points": view.points,
        "captured_points": view.captured_points,
        "status": view.status,
        "category": view.category,
        "offer_ref": view.offer_ref,
        "face_value_fen": view.face_value_fen,
        "business_time": view.business_time.isoformat(),
        "expires_at": view.expires_at.isoformat(),
        "value_fen": view.value_fen,
    }


def _fulfiller() -> str:
    if caller() == ADMIN:
        raise Forbidden("authorizations are made by the fulfiller's till", code="PARTNER_ONLY")
    return caller()


@api.post("/authorizations")
@authenticated
@idempotent
def authorize() -> tuple[dict[str, Any], int]:
    """Hold a member's points of an issuer for an offer at the calling fulfiller."""
    body = json_body()
    request = service.AuthorizationRequest(
        reference=field(body, "reference", str),
        issuer_id=field(body, "issuer_id", str),
        member_token=field(body, "member_token", str),
        points=field(body, "points", int),
        category=field(body, "category", str),
        offer_ref=field(body, "offer_ref", str, required=False) or "",
        face_value_fen=field(body, "face_value_fen", int, required=False) or 0,
    )
    config = hub().config
    view = service.authorize(
        engine=hub().engine,
        now=hub().now(),
        zone_name=config.timezone,
        fulfiller_id=_fulfiller(),
        request=request,
        hold_for=timedelta(seconds=config.hold_seconds),
    )
    return view_json(view), 201


@api.post("/authorizations/<reference>/capture")
@authenticated
@idempotent
def capture(reference: str) -> tuple[dict[str, Any], int]:
    """Capture all of a hold, or ``{"points": n}`` of it; the rest goes back to the member."""
    body = json_body() if _has_body() else {}
    points = field(body, "points", int, required=False)
    view = service.capture(
        engine=hub().engine, now=hub().now(), fulfiller_id=_fulfiller(), reference=reference, points=points
    )
    return view_json(view), 200


@api.post("/authorizations/<reference>/void")
@authenticated
@idempotent
def void(reference: str) -> tuple[dict[str, Any], int]:
    """Give every held point back to the member."""
    view = service.void(engine=hub().engine, now=hub().now(), fulfiller_id=_fulfiller(), reference=reference)
    return view_json(view), 200


@api.get("/authorizations/<reference>")
@authenticated
def get_authorization(reference: str) -> dict[str, Any]:
    """The calling fulfiller's authorization (an admin names the fulfiller with ``?fulfiller=``)."""
    fulfiller = request.args.get("fulfiller", "") if caller() == ADMIN else caller()
    view = service.get_authorization(engine=hub().engine, fulfiller_id=fulfiller, reference=reference, caller=caller())
    return view_json(view)


def _has_body() -> bool:
    return bool(request.get_data(cache=True))


@api.post("/authorizations/<reference>/refunds")
@authenticated
@idempotent
def refund(reference: str) -> tuple[dict[str, Any], int]:
    """Refund ``points`` of a captured redemption under the till's own refund ``reference``."""
    body = json_body()
    view = service.refund(
        engine=hub().engine,
        now=hub().now(),
        zone_name=hub().config.timezone,
        fulfiller_id=_fulfiller(),
        authorization_reference=reference,
        reference=field(body, "reference", str),
        points=field(body, "points", int),
    )
    return {
        "reference": view.reference,
        "authorization_reference": view.authorization_reference,
        "points": view.points,
        "value_fen": view.value_fen,
        "settlement_period": view.settlement_period,
    }, 201
