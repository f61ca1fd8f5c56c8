"""The points mall, pure: who sees which offer, at what price, for what settlement value."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from contracts.offers import InvalidOffer, Offer, Promotion, offers_for_member
from contracts.terms import ContractTerms, FulfillerTerms, Rounding

SH = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SH)


EYE_CARE_DAY = Promotion(1500, at(6, 6, 0), at(6, 7, 0))


def offer(
    ref: str = "LENS", fulfiller: str = "eyewear", category: str = "eyewear", price: int = 2000, **changes: object
) -> Offer:
    fields: dict[str, object] = dict(
        fulfiller_id=fulfiller,
        offer_ref=ref,
        title_zh="200元镜片",
        title_en="200-yuan lens",
        category=category,
        points_price=price,
        face_value_fen=20000,
        stock=None,
        valid_from=at(1, 1, 0),
        valid_to=None,
        promotions=(EYE_CARE_DAY,),
    )
    fields.update(changes)
    return Offer(**fields)  # type: ignore[arg-type]


def contract(
    issuer: str = "cvs", fulfillers: tuple[FulfillerTerms, ...] | None = None, rounding: Rounding = Rounding.HALF_UP
) -> ContractTerms:
    return ContractTerms(
        contract_id=f"{issuer}-alliance",
        version=1,
        previous_hash=None,
        title="联盟协议",
        issuer_id=issuer,
        earn_cap_points_per_yuan=Decimal("1"),
        effective_from=date(2026, 1, 1),
        rounding=rounding,
        fulfillers=fulfillers
        or (
            FulfillerTerms(
                fulfiller_id="eyewear", rate_fen_per_point=Decimal("8.8"), categories=frozenset({"eyewear"})
            ),
            FulfillerTerms(fulfiller_id="cinema", rate_fen_per_point=Decimal("7.5"), categories=frozenset({"cinema"})),
        ),
    )


def visible(offers, contracts, issuer="cvs", moment=None):
    return [
        (p.offer.offer_ref, p.points_price, p.on_promotion, p.settlement_value_fen)
        for p in offers_for_member(offers, contracts, issuer_id=issuer, moment=moment or at(3, 1), zone=SH)
    ]


def test_the_lens_costs_1500_points_on_eye_care_day_and_2000_the_day_after():
    assert visible([offer()], [contract()], moment=at(6, 6)) == [("LENS", 1500, True, 13200)]
    assert visible([offer()], [contract()], moment=at(6, 7)) == [("LENS", 2000, False, 17600)]


def test_a_member_sees_only_fulfillers_and_categories_its_issuers_contract_allows():
    offers = [
        offer(),
        offer("TICKET", "cinema", "cinema", 400, promotions=()),
        offer("BOOK", "books", "books", 300, promotions=()),
        offer("FRAME", "eyewear", "frames", 3000),
    ]
    assert [ref for ref, *_ in visible(offers, [contract()])] == ["TICKET", "LENS"]
    assert visible(offers, [contract()], issuer="eyewear") == []  # no contract of that issuer


def test_sold_out_and_out_of_window_offers_are_hidden():
    assert visible([offer(stock=0)], [contract()]) == []
    assert visible([offer(stock=3)], [contract()]) != []
    assert visible([offer(valid_from=at(4, 1))], [contract()], moment=at(3, 31, 23)) == []
    assert visible([offer(valid_to=at(3, 1, 12))], [contract()], moment=at(3, 1, 12)) == []


def test_settlement_value_is_the_contract_rate_rounded_by_the_contract_rule():
    tiny = (
        FulfillerTerms(fulfiller_id="eyewear", rate_fen_per_point=Decimal("0.35"), categories=frozenset({"eyewear"})),
    )
    assert visible([offer(price=3, promotions=())], [contract(fulfillers=tiny)])[0][3] == 1  # 1.05 → 1
    assert visible([offer(price=5, promotions=())], [contract(fulfillers=tiny, rounding=Rounding.UP)])[0][3] == 2


@pytest.mark.parametrize("category", ["cash", "gift-card", "gift_card", "prepaid-card", "lottery", "securities"])
def test_cash_and_cash_equivalents_cannot_be_published(category):
    with pytest.raises(InvalidOffer, match="RL5"):
        offer(category=category)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"points_price": 0}, "points_price"),
        ({"face_value_fen": -1}, "face_value_fen"),
        ({"stock": -1}, "stock"),
        ({"title_zh": " "}, "title_zh"),
        ({"offer_ref": "bad ref"}, "offer_ref"),
        ({"promotions": (Promotion(2500, at(6, 6, 0), at(6, 7, 0)),)}, "below the list price"),
        ({"valid_to": at(1, 1, 0)}, "valid_to"),
        ({"valid_from": datetime(2026, 1, 1)}, "offset"),
    ],
)
def test_malformed_offers_are_refused_with_the_field_named(changes, message):
    with pytest.raises(InvalidOffer, match=message):
        offer(**changes)
