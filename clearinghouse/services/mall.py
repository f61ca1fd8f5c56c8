"""Publishing offers and listing what a member of an issuer can buy now."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlmodel import col

from clearinghouse import audit
from clearinghouse.db import unit_of_work
from clearinghouse.errors import Forbidden, InvalidRequest, NotFound
from clearinghouse.queries import active_contracts
from clearinghouse.tables import OfferRow, PartnerRow
from contracts.offers import Offer, PricedOffer, Promotion, offers_for_member
from partners.model import Role

_OFFER_KEYS = {
    "offer_ref",
    "title_zh",
    "title_en",
    "category",
    "points_price",
    "face_value_fen",
    "stock",
    "valid_from",
    "valid_to",
    "promotions",
}


def _time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be an RFC 3339 time", code="OFFER_INVALID")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be an RFC 3339 time", code="OFFER_INVALID") from exc
    if moment.tzinfo is None or not 1970 <= moment.year <= 9998:
        raise InvalidRequest(f"{name} needs an offset and a year 1970-9998", code="OFFER_INVALID")
    return moment


def offer_from_json(fulfiller_id: str, body: Mapping[str, Any]) -> Offer:
    """The offer a fulfiller sends; every field is checked (the domain refuses RL5 categories)."""
    unknown = set(body) - _OFFER_KEYS
    missing = {"offer_ref", "title_zh", "title_en", "category", "points_price", "face_value_fen", "valid_from"} - set(
        body
    )
    if unknown or missing:
        raise InvalidRequest(f"unknown fields {sorted(unknown)}, missing {sorted(missing)}", code="OFFER_INVALID")
    promotions = body.get("promotions") or []
    if not isinstance(promotions, list) or not all(isinstance(p, dict) for p in promotions):
        raise InvalidRequest("promotions is a list of {points_price, starts_at, ends_at}", code="OFFER_INVALID")
    texts = [body[k] for k in ("offer_ref", "title_zh", "title_en", "category")]
    if not all(isinstance(v, str) for v in texts):
        raise InvalidRequest("offer_ref, titles and category are strings", code="OFFER_INVALID")
    valid_to = body.get("valid_to")
    return Offer(
        fulfiller_id=fulfiller_id,
        offer_ref=body["offer_ref"],
        title_zh=body["title_zh"],
        title_en=body["title_en"],
        category=body["category"],
        points_price=body["points_price"],
        face_value_fen=body["face_value_fen"],
        stock=body.get("stock"),
        valid_from=_time(body["valid_from"], "valid_from"),
        valid_to=_time(valid_to, "valid_to") if valid_to is not None else None,
        promotions=tuple(
            Promotion(
                p.get("points_price"),
                _time(p.get("starts_at"), "starts_at"),
                _time(p.get("ends_at"), "ends_at"),
            )
            for p in promotions
        ),
    )


def offer_to_json(offer: Offer) -> dict[str, Any]:
    return {
        "fulfiller_id": offer.fulfiller_id,
        "offer_ref": offer.offer_ref,
        "title_zh": offer.title_zh,
        "title_en": offer.title_en,
        "category": offer.category,
        "points_price": offer.points_price,
        "face_value_fen": offer.face_value_fen,
        "stock": offer.stock,
        "valid_from": offer.valid_from.isoformat(),
        "valid_to": offer.valid_to.isoformat() if offer.valid_to else None,
        "promotions": [
            {"points_price": p.points_price, "starts_at": p.starts_at.isoformat(), "ends_at": p.ends_at.isoformat()}
            for p in offer.promotions
        ],
    }


def publish_offer(
    *, engine: Engine, now: datetime, fulfiller_id: str, body: Mapping[str, Any], actor: str | None = None
) -> Offer:
    """Publish (or republish, replacing) an offer of ``fulfiller_id``; cash equivalents are refused (RL5)."""
    offer = offer_from_json(fulfiller_id, body)
    document = json.dumps(offer_to_json(offer), ensure_ascii=False, sort_keys=True)
    with unit_of_work(engine) as uow:
        partner = uow.session.get(PartnerRow, fulfiller_id)
        if partner is None or Role.FULFILLER.value not in partner.roles.split(","):
            raise Forbidden("only a registered fulfiller publishes offers", code="NOT_A_FULFILLER")
        row = uow.session.scalars(
            select(OfferRow).where(
                col(OfferRow.fulfiller_id) == fulfiller_id, col(OfferRow.offer_ref) == offer.offer_ref
            )
        ).first()
        before = json.loads(row.document) if row is not None else None
        if row is None:
            uow.session.add(
                OfferRow(fulfiller_id=fulfiller_id, offer_ref=offer.offer_ref, document=document, updated_at=now)
            )
        elif row.document != document:
            row.document, row.updated_at = document, now
        if row is None or before != json.loads(document):
            audit.append(
                uow.connection,
                actor=actor or fulfiller_id,
                action="offer.publish",
                subject=f"offer:{fulfiller_id}:{offer.offer_ref}",
                now=now,
                before=before,
                after=json.loads(document),
            )
        uow.commit()
    return offer


def _stored(row: OfferRow) -> Offer:
    return offer_from_json(row.fulfiller_id, {k: v for k, v in json.loads(row.document).items() if k != "fulfiller_id"})


def offers_for(*, engine: Engine, issuer_id: str, moment: datetime, zone_name: str) -> list[PricedOffer]:
    """What a member of ``issuer_id`` can buy at ``moment``, at the price in force then."""
    with unit_of_work(engine, read_only=True) as uow:
        if uow.session.get(PartnerRow, issuer_id) is None:
            raise NotFound(f"no partner {issuer_id!r}", code="PARTNER_NOT_FOUND")
        offers = [_stored(row) for row in uow.session.scalars(select(OfferRow))]
        contracts = [c.terms for c in active_contracts(uow.session)]
    return offers_for_member(offers, contracts, issuer_id=issuer_id, moment=moment, zone=ZoneInfo(zone_name))
