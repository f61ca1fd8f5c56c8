"""The points mall through the services: publish, republish, list for a member, refusals."""

from __future__ import annotations

import pytest

from clearinghouse.errors import Forbidden, InvalidRequest
from clearinghouse.services.mall import offers_for, publish_offer
from contracts.errors import ContractError
from tests.factories import CINEMA, CVS, EYEWEAR, Alliance, at

LENS = {
    "offer_ref": "LENS",
    "title_zh": "200元镜片",
    "title_en": "200-yuan lens",
    "category": "eyewear",
    "points_price": 2000,
    "face_value_fen": 20000,
    "stock": 10,
    "valid_from": "2026-01-01T00:00:00+08:00",
    "valid_to": None,
    "promotions": [
        {"points_price": 1500, "starts_at": "2026-06-06T00:00:00+08:00", "ends_at": "2026-06-07T00:00:00+08:00"}
    ],
}
TICKET = {
    **LENS,
    "offer_ref": "TICKET",
    "title_zh": "电影票",
    "title_en": "Ticket",
    "category": "cinema",
    "points_price": 400,
    "face_value_fen": 4000,
    "promotions": [],
}


def _listing(hub, issuer, moment):
    return [
        (p.offer.fulfiller_id, p.offer.offer_ref, p.points_price, p.settlement_value_fen)
        for p in offers_for(engine=hub.engine, issuer_id=issuer, moment=moment, zone_name=hub.config.timezone)
    ]


def test_a_member_sees_the_offers_its_issuers_contracts_allow_at_todays_price(hub):
    Alliance.standard(hub)
    publish_offer(engine=hub.engine, now=hub.now(), fulfiller_id=EYEWEAR, body=LENS)
    publish_offer(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, body=TICKET)
    assert _listing(hub, CVS, at(6, month=6)) == [("cinema", "TICKET", 400, 3000), ("eyewear", "LENS", 1500, 13200)]
    assert _listing(hub, CVS, at(7, month=6)) == [("cinema", "TICKET", 400, 3000), ("eyewear", "LENS", 2000, 17600)]
    # eyewear's own members: only cvs redeems eyewear points, and only groceries — no offer here
    assert _listing(hub, EYEWEAR, at(7, month=6)) == []


def test_republishing_replaces_the_offer_and_sold_out_offers_disappear(hub):
    Alliance.standard(hub)
    publish_offer(engine=hub.engine, now=hub.now(), fulfiller_id=EYEWEAR, body=LENS)
    publish_offer(engine=hub.engine, now=hub.now(), fulfiller_id=EYEWEAR, body={**LENS, "stock": 0})
    assert _listing(hub, CVS, at(7, month=6)) == []


@pytest.mark.parametrize("category", ["cash", "gift-card", "prepaid_card", "lottery"])
def test_cash_equivalents_cannot_be_published(hub, category):
    Alliance.standard(hub)
    with pytest.raises(ContractError) as refused:
        publish_offer(engine=hub.engine, now=hub.now(), fulfiller_id=EYEWEAR, body={**LENS, "category": category})
    assert refused.value.code == "OFFER_INVALID" and "RL5" in refused.value.message
    assert _listing(hub, CVS, at(7, month=6)) == []


def test_only_fulfillers_publish_and_bad_documents_are_refused(hub):
    Alliance.standard(hub)
    with pytest.raises(Forbidden):
        publish_offer(engine=hub.engine, now=hub.now(), fulfiller_id="nobody", body=LENS)
    for bad in (
        {**LENS, "valid_from": "2026-01-01"},
        {**LENS, "extra": 1},
        {**LENS, "promotions": [{}]},
        {**LENS, "title_zh": 5},
    ):
        with pytest.raises((InvalidRequest, ContractError)):
            publish_offer(engine=hub.engine, now=hub.now(), fulfiller_id=EYEWEAR, body=bad)
