"""The points mall: offers fulfillers publish, and what a member of an issuer may buy with its points now.

Pure: offers and contracts in, a priced list out. An offer is visible to a member of issuer A only at a
fulfiller that an active contract of A names, for a category that contract allows, inside the offer's
validity and with stock left; its price is the promotion's while one runs, else the list price.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from contracts.errors import InvalidTerms, OverlappingContracts
from contracts.lifecycle import applicable_terms
from contracts.terms import ContractTerms, is_cash_equivalent, is_financial_category, to_fen

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
MAX_TITLE = 100


class InvalidOffer(InvalidTerms):
    code = "OFFER_INVALID"


@dataclass(frozen=True, slots=True)
class Promotion:
    """A time-boxed price, e.g. 1,500 points instead of 2,000 on Eye Care Day: [starts_at, ends_at)."""

    points_price: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class Offer:
    fulfiller_id: str
    offer_ref: str
    title_zh: str
    title_en: str
    category: str
    points_price: int
    face_value_fen: int
    stock: int | None  # None: unlimited
    valid_from: datetime
    valid_to: datetime | None
    promotions: tuple[Promotion, ...] = ()

    def __post_init__(self) -> None:
        _check_offer(self)

    def price_at(self, moment: datetime) -> int:
        """The promotion's price while one runs (the lowest if several overlap), else the list price."""
        running = [p.points_price for p in self.promotions if p.starts_at <= moment < p.ends_at]
        return min(running, default=self.points_price)

    def available_at(self, moment: datetime) -> bool:
        in_window = self.valid_from <= moment and (self.valid_to is None or moment < self.valid_to)
        return in_window and (self.stock is None or self.stock > 0)


def _fail(message: str) -> InvalidOffer:
    return InvalidOffer(message)


def _check_offer(offer: Offer) -> None:
    if not _REF.fullmatch(offer.offer_ref):
        raise _fail("offer_ref: 1-40 of [A-Za-z0-9._-]")
    if is_cash_equivalent(offer.category):
        raise _fail(f"category {offer.category!r} is cash or a cash equivalent: points never buy those (RL5)")
    if is_financial_category(offer.category):
        raise InvalidOffer(
            f"category {offer.category!r} would give points a financial use (interest, a loan, collateral, "
            "points themselves): never an offer (RL7)",
            code="RL7_FINANCIAL_OFFER",
        )
    if not _CATEGORY.fullmatch(offer.category):
        raise _fail("category: a lowercase slug such as 'eyewear'")
    for name, title in (("title_zh", offer.title_zh), ("title_en", offer.title_en)):
        if not title.strip() or len(title) > MAX_TITLE or not title.isprintable():
            raise _fail(f"{name}: 1-{MAX_TITLE} printable characters")
    _check_counts(offer)
    _check_times(offer)


def _check_counts(offer: Offer) -> None:
    for name, value in (("points_price", offer.points_price), ("face_value_fen", offer.face_value_fen)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _fail(f"{name} must be a positive integer")
    if offer.stock is not None and (
        isinstance(offer.stock, bool) or not isinstance(offer.stock, int) or offer.stock < 0
    ):
        raise _fail("stock must be a non-negative integer or null")
    for promotion in offer.promotions:
        price = promotion.points_price
        if isinstance(price, bool) or not isinstance(price, int) or not 0 < price < offer.points_price:
            raise _fail("a promotion's price is a positive integer below the list price")


def _check_times(offer: Offer) -> None:
    moments = [offer.valid_from, offer.valid_to] + [m for p in offer.promotions for m in (p.starts_at, p.ends_at)]
    if any(m is not None and m.tzinfo is None for m in moments):
        raise _fail("times need an offset")
    if offer.valid_to is not None and offer.valid_to <= offer.valid_from:
        raise _fail("valid_to must be after valid_from")
    if any(p.ends_at <= p.starts_at for p in offer.promotions):
        raise _fail("a promotion ends after it starts")


@dataclass(frozen=True, slots=True)
class PricedOffer:
    offer: Offer
    points_price: int
    on_promotion: bool
    settlement_value_fen: int  # what the issuer owes the fulfiller for one redemption at this price


def offers_for_member(
    offers: Iterable[Offer], contracts: Iterable[ContractTerms], *, issuer_id: str, moment: datetime, zone: ZoneInfo
) -> list[PricedOffer]:
    """What a member of ``issuer_id`` can buy at ``moment`` with its points, at the price in force then.

    ``contracts`` are the ACTIVE versions; an offer shows only at a fulfiller whose governing contract with
    the issuer allows its category. Sorted by fulfiller, then price, then offer ref.
    """
    day = moment.astimezone(zone).date()
    candidates = tuple(contracts)
    priced = []
    for offer in offers:
        if not offer.available_at(moment):
            continue
        try:
            found = applicable_terms(candidates, issuer_id=issuer_id, fulfiller_id=offer.fulfiller_id, day=day)
        except OverlappingContracts:
            found = None  # never price on a guess
        if found is None or not found[1].allows(offer.category):
            continue
        terms, fulfiller_terms = found
        price = offer.price_at(moment)
        priced.append(
            PricedOffer(
                offer,
                price,
                price < offer.points_price,
                to_fen(price, fulfiller_terms.rate_fen_per_point, terms.rounding),
            )
        )
    return sorted(priced, key=lambda p: (p.offer.fulfiller_id, p.points_price, p.offer.offer_ref))
