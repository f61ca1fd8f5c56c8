"""The demo alliance: its partners, its offers and its earning rules, as constants.

Nothing here touches a database: the lead turns these values into registered partners and signed
contracts.

Rules stated by these constants (see ``docs/demo.md``):

* Two issuers: ``cvs-yida`` (易达便利) and ``eyewear-mingmou`` (明眸眼镜). Both give 1 point per whole yuan
  spent (``EARN_FEN_PER_POINT`` = 100 fen per point).
* The purchase history is in GBP; it is turned into fen at ``GBP_TO_CNY`` = 10.40 yuan per pound, a
  fixed, illustrative 2011 rate (roughly the 2011 average), never a live one.
* Each offer takes the points of exactly one issuer (``Offer.issuer_id``) and is fulfilled by one
  partner. A-points and B-points are never exchanged: there is no offer that takes one issuer's
  points to give the other's.
* An offer may have a promotional price on one local calendar day each year (Eye Care Day, 6 June,
  for the lens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType

ISSUER = "issuer"
FULFILLER = "fulfiller"

CVS_YIDA = "cvs-yida"
CINEMA_GUANGYING = "cinema-guangying"
TEA_CHAYU = "tea-chayu"
BOOKS_SHUXIANG = "books-shuxiang"
RIDE_KUAIXING = "ride-kuaixing"
EYEWEAR_MINGMOU = "eyewear-mingmou"

GBP_TO_CNY = Decimal("10.40")
"""Yuan per pound sterling: a fixed, illustrative 2011 rate (not a market quote of any given day)."""

FEN_PER_GBP = GBP_TO_CNY * 100
"""Fen per pound sterling, exact (1040)."""

EARN_FEN_PER_POINT: Mapping[str, int] = MappingProxyType({CVS_YIDA: 100, EYEWEAR_MINGMOU: 100})
"""Earning rule of each issuer: one point per this many fen of spend (100 fen = 1 yuan), rounded down."""

POINT_COST_FEN: Mapping[str, Decimal] = MappingProxyType({CVS_YIDA: Decimal("8.5"), EYEWEAR_MINGMOU: Decimal("9")})
"""RL3: each issuer's cost of one point in fen (about what it pays a fulfiller per point redeemed)."""

BUDGET_HEADROOM = Decimal("1.25")
"""RL3: each issuer declares, before each month, a marketing budget of its planned issuance × this headroom
(the plan is the month's purchases by identified members: the demo's marketing department plans well)."""

TIGHT_BUDGET: tuple[str, int, Decimal] = (EYEWEAR_MINGMOU, 9, Decimal("0.9"))
"""RL3 shown at work: in September (calendar month 9 of the replay) ``eyewear-mingmou`` declares only 90 % of
its planned issuance, so its budget reaches 80 % and then 100 % (two alerts) and its last EARNs of the month
are refused ``RL3_BUDGET_EXCEEDED``."""

EYE_CARE_DAY: tuple[int, int] = (6, 6)
"""(month, day) of Eye Care Day (全国爱眼日), local calendar day."""


@dataclass(frozen=True, slots=True)
class DemoPartner:
    """A partner of the demo alliance.

    ``roles`` holds "issuer" and/or "fulfiller". A partner that operates an online platform must have a
    value-added telecom licence number and its expiry date on record (RL4); the others have neither.
    """

    partner_id: str
    name_zh: str
    name_en: str
    roles: tuple[str, ...]
    category: str
    operates_online_platform: bool
    licence_number: str | None
    licence_expires_on: date | None

    @property
    def is_issuer(self) -> bool:
        """True when the partner gives its own points."""
        return ISSUER in self.roles

    @property
    def is_fulfiller(self) -> bool:
        """True when the partner gives goods or services for points."""
        return FULFILLER in self.roles


@dataclass(frozen=True, slots=True)
class Offer:
    """Something a member gets at ``fulfiller_id`` for ``points_price`` points of ``issuer_id``.

    ``face_value_fen`` is what the offer is worth (informational on a REDEEM). ``promo_price`` applies on
    the local calendar day ``promo_month_day`` (month, day) of every year, and only then.
    ``(issuer_id, offer_ref)`` is unique; the same ``offer_ref`` ("TICKET") exists for both issuers' points.
    """

    offer_ref: str
    issuer_id: str
    fulfiller_id: str
    category: str
    title_zh: str
    title_en: str
    points_price: int
    face_value_fen: int
    promo_price: int | None = None
    promo_month_day: tuple[int, int] | None = None

    def has_promo_on(self, day: date) -> bool:
        """True when ``day`` (a local calendar day) is this offer's promotion day."""
        return self.promo_price is not None and self.promo_month_day == (day.month, day.day)

    def price_on(self, day: date) -> int:
        """Points the offer costs on the local calendar day ``day``: the promo price on its day, else list."""
        if self.promo_price is not None and self.has_promo_on(day):
            return self.promo_price
        return self.points_price


def _partner(partner_id: str, name_zh: str, name_en: str, roles: tuple[str, ...], category: str) -> DemoPartner:
    """A partner without an online platform (and so without a licence)."""
    return DemoPartner(partner_id, name_zh, name_en, roles, category, False, None, None)


PARTNERS: tuple[DemoPartner, ...] = (
    _partner(CVS_YIDA, "易达便利", "Yida Convenience Stores", (ISSUER, FULFILLER), "convenience-store"),
    _partner(CINEMA_GUANGYING, "光影影院", "Guangying Cinemas", (FULFILLER,), "cinema"),
    _partner(TEA_CHAYU, "茶语奶茶", "Chayu Milk Tea", (FULFILLER,), "tea"),
    _partner(BOOKS_SHUXIANG, "书香书店", "Shuxiang Books", (FULFILLER,), "books"),
    DemoPartner(
        partner_id=RIDE_KUAIXING,
        name_zh="快行出行",
        name_en="Kuaixing Rides",
        roles=(FULFILLER,),
        category="ride-hailing",
        operates_online_platform=True,
        licence_number="京B2-20260417",
        licence_expires_on=date(2029, 12, 31),
    ),
    _partner(EYEWEAR_MINGMOU, "明眸眼镜", "Mingmou Eyewear", (ISSUER, FULFILLER), "eyewear"),
)
"""The six partners, in a fixed order."""

PARTNERS_BY_ID: Mapping[str, DemoPartner] = MappingProxyType({p.partner_id: p for p in PARTNERS})

ISSUERS: tuple[str, ...] = tuple(p.partner_id for p in PARTNERS if p.is_issuer)
"""Partner ids of the issuers, in ``PARTNERS`` order: ("cvs-yida", "eyewear-mingmou")."""

_YIDA, _MINGMOU, _CINEMA = CVS_YIDA, EYEWEAR_MINGMOU, CINEMA_GUANGYING

OFFERS: tuple[Offer, ...] = (
    # For cvs-yida points.                                              points  face fen
    Offer("LENS", _YIDA, _MINGMOU, "eyewear", "200元镜片", "200-yuan lens", 2_000, 20_000,
          promo_price=1_500, promo_month_day=EYE_CARE_DAY),
    Offer("FRAME", _YIDA, _MINGMOU, "eyewear", "300元镜框", "300-yuan frame", 3_000, 30_000),
    Offer("EYECHECK", _YIDA, _MINGMOU, "eyewear", "验光+清洗", "Eye check + cleaning", 1_000, 10_000),
    Offer("TICKET", _YIDA, _CINEMA, "cinema", "电影票一张", "One cinema ticket", 400, 4_000),
    Offer("MILKTEA", _YIDA, TEA_CHAYU, "tea", "奶茶一杯", "One cup of milk tea", 150, 1_500),
    Offer("BOOK", _YIDA, BOOKS_SHUXIANG, "books", "图书一本", "One book up to 30 yuan", 300, 3_000),
    Offer("RIDE", _YIDA, RIDE_KUAIXING, "ride", "快车一程", "One ride up to 20 yuan", 200, 2_000),
    # For eyewear-mingmou points.
    Offer("WATER", _MINGMOU, _YIDA, "groceries", "瓶装水一瓶", "A bottle of water", 20, 200),
    Offer("BUNDLE", _MINGMOU, _YIDA, "groceries", "零食+饮料套餐", "Snack + drink bundle", 50, 500),
    Offer("TICKET", _MINGMOU, _CINEMA, "cinema", "电影票一张", "One cinema ticket", 400, 4_000),
)  # fmt: skip
"""Every offer of the demo alliance. The order matters: a member's preferred offer is picked by index."""


def offers_for_issuer(issuer_id: str) -> tuple[Offer, ...]:
    """The offers that take ``issuer_id``'s points, in ``OFFERS`` order."""
    return tuple(o for o in OFFERS if o.issuer_id == issuer_id)
