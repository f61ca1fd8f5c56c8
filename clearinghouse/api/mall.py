"""The points mall and members' points: publish offers, list what a member can buy, a member's history."""

from __future__ import annotations

from typing import Any

from flask import request

from clearinghouse.api import api
from clearinghouse.api.common import authenticated, caller, hub, idempotent, json_body, require_self_or_admin
from clearinghouse.errors import Forbidden, InvalidRequest
from clearinghouse.services import mall, members
from clearinghouse.services.partners import ADMIN
from contracts.offers import PricedOffer
from settlement.fileformat import parse_time


def priced_json(priced: PricedOffer) -> dict[str, Any]:
    return {
        **mall.offer_to_json(priced.offer),
        "price_now": priced.points_price,
        "on_promotion": priced.on_promotion,
        "settlement_value_fen": priced.settlement_value_fen,
    }


@api.post("/offers")
@authenticated
@idempotent
def publish_offer() -> tuple[dict[str, Any], int]:
    """A fulfiller publishes (or republishes) one of its offers."""
    if caller() == ADMIN:
        raise Forbidden("offers are published by their fulfiller", code="PARTNER_ONLY")
    offer = mall.publish_offer(engine=hub().engine, now=hub().now(), fulfiller_id=caller(), body=json_body())
    return mall.offer_to_json(offer), 201


@api.get("/offers")
@authenticated
def list_offers() -> dict[str, Any]:
    """What a member of ``issuer`` can buy, at the price in force ``at`` (default: now)."""
    issuer = request.args.get("issuer", "")
    when = request.args.get("at")
    moment = parse_time(when) if when else hub().now()
    if not issuer or len(issuer) > 40 or not issuer.isprintable() or moment is None:
        raise InvalidRequest(
            "give ?issuer=<partner id> and optionally &at=<RFC 3339 time>", code="REQUEST_FIELD_INVALID"
        )
    offers = mall.offers_for(engine=hub().engine, issuer_id=issuer, moment=moment, zone_name=hub().config.timezone)
    return {"issuer_id": issuer, "at": moment.isoformat(), "offers": [priced_json(p) for p in offers]}


@api.get("/partners/<partner_id>/members/<member_token>/points")
@authenticated
def member_points(partner_id: str, member_token: str) -> dict[str, Any]:
    """A member's points of issuer ``partner_id``: the balance and every change with its reason."""
    require_self_or_admin(partner_id)
    points = members.member_points(engine=hub().engine, issuer_id=partner_id, member_token=member_token)
    return {
        "issuer_id": points.issuer_id,
        "member_token": points.member_token,
        "balance": points.balance,
        "frozen": points.frozen,
        "history": [
            {
                "posted_at": c.posted_at.isoformat(),
                "business_time": c.business_time.isoformat() if c.business_time else None,
                "points": c.points,
                "kind": c.kind,
                "reason": c.reason,
                "record": c.record,
                "reported_by": c.reported_by,
                "case_id": c.case_id,
                "action_id": c.action_id,
                "record_id": c.record_id,
            }
            for c in points.history
        ],
    }
