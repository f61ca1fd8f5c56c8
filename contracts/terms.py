"""Alliance contract terms: immutable values, their validation, point-to-fen conversion and their JSON shape.

Pure domain code: no database, no web, no clock. Money is integer fen, points are integers, rates are
:class:`decimal.Decimal`; a ``float`` is refused everywhere.

Invariants held by every :class:`ContractTerms` (checked in ``__post_init__``, so no invalid value can exist):

* ``contract_id`` is a slug ``^[a-z0-9][a-z0-9-]{1,63}$``; ``version >= 1``;
  ``previous_hash is None`` iff ``version == 1``, otherwise 64 lowercase hex digits;
* the issuer and every fulfiller are distinct partner ids; there is at least one fulfiller;
* rates and the earn cap are finite Decimals > 0 with at most 4 decimal places, stored without trailing zeros
  (``Decimal("8.50")`` is stored as ``Decimal("8.5")``), so equal terms always have equal canonical bytes;
* ``effective_from < effective_to`` (when an end is set); both are local dates in ``timezone``;
* every integer fits the range JSON carries exactly (``|n| <= 2**53 - 1``).

JSON shape (:func:`terms_to_json` writes it, :func:`terms_from_json` reads it). Every key is required, no
other key is allowed, ``null`` only where shown::

    {
      "contract_id": "optika-teahouse",        slug ^[a-z0-9][a-z0-9-]{1,63}$
      "version": 1,                            integer >= 1
      "previous_hash": null,                   null iff version == 1, else 64 lowercase hex (SHA-256)
      "title": "眼镜与茶饮联盟协议",            non-empty text, Unicode NFC, no surrounding blanks
      "issuer_id": "optika",                   partner id ^[a-z0-9][a-z0-9-]{1,39}$, never "hub"
      "earn_cap_points_per_yuan": "1",         decimal string > 0, at most 4 decimal places
      "fulfillers": [                          non-empty; unique ids; never the issuer
        {"fulfiller_id": "teahouse",
         "rate_fen_per_point": "8.5",          decimal string (fen per point) > 0, at most 4 decimal places
         "categories": ["books", "tea"],       sorted, unique lowercase slugs ^[a-z0-9][a-z0-9-]{0,31}$
         "cap_points_per_period": 100000}      integer > 0, or null for no cap
      ],
      "effective_from": "2025-01-01",          local date, inclusive
      "effective_to": null,                    local date, exclusive, or null for open-ended
      "timezone": "Asia/Shanghai",             IANA name known to zoneinfo
      "settlement_cycle": "monthly",           only "monthly" for now
      "rounding": "half_up",                   "half_up" | "half_even" | "down" | "up"
      "family_pooling": false,
      "expiry_policy": "none"                  "none" | "months:N" with 1 <= N <= 120
    }

Decimal strings must be canonical (no exponent, no sign, no leading zeros, no trailing fractional zeros):
``"8.5"``, not ``"8.50"`` or ``8.5``. With that, ``terms_to_json(terms_from_json(obj)) == obj`` for every
accepted ``obj`` and ``terms_from_json(terms_to_json(terms)) == terms`` for every ``terms``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.errors import InvalidTerms

__all__ = [
    "DEFAULT_TIMEZONE",
    "FORBIDDEN_CATEGORIES",
    "MAX_DECIMAL_PLACES",
    "MAX_JSON_INT",
    "RL7_FINANCIAL_TERMS",
    "ContractTerms",
    "FulfillerTerms",
    "Rounding",
    "check_contract_id",
    "check_local_date",
    "check_sha256_hex",
    "check_text",
    "check_version",
    "is_cash_equivalent",
    "is_financial_category",
    "is_financial_key",
    "is_points_purchase",
    "terms_from_json",
    "terms_to_json",
    "to_fen",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
MAX_JSON_INT = 2**53 - 1
"""Largest integer an IEEE double (hence JSON, hence RFC 8785) carries exactly."""
MAX_DECIMAL_PLACES = 4
MAX_TITLE_CHARS = 200
MAX_EXPIRY_MONTHS = 120

FORBIDDEN_CATEGORIES = frozenset(
    {
        "cash",
        "cash-equivalent",
        "crypto",
        "gift-card",
        "lottery",
        "prepaid-card",
        "securities",
        "stored-value",
        "stored-value-card",
    }
)
"""Cash and cash equivalents: never an offer category (red line RL5, no cash-out)."""

# Spellings vary ("gift-cards", "giftcard", "prepaid", "e-cny", "cash-voucher"): RL5 matches the stems of a
# category with separators and a plural "s" removed, not an exact list.
_CASH_STEMS = (
    "cash",
    "giftcard",
    "giftcert",
    "giftvoucher",
    "prepaid",
    "storedvalue",
    "ecny",
    "digitalcurrency",
    "digitalyuan",
    "securit",
    "lotter",
    "crypto",
    "bitcoin",
    "moneyorder",
)


def is_cash_equivalent(category: str) -> bool:
    """Whether ``category`` names cash or a cash equivalent, however it is spelt (red line RL5)."""
    squeezed = "".join(ch for ch in category.lower() if ch.isalnum())
    return any(stem in squeezed for stem in _CASH_STEMS) or category.lower() in FORBIDDEN_CATEGORIES


# A purchase whose goods are points themselves (red line RL7: points are never bought for money). Whole words,
# not stems: "appointment" holds "point" and is an ordinary purchase.
_POINTS_WORDS = frozenset({"point", "points", "pts", "积分", "topup", "recharge", "充值", "积分充值", "购买积分"})
_POINTS_SQUEEZED = ("topup", "pointpurchase", "pointspurchase", "buypoint", "purchasepoint", "积分")


def is_points_purchase(category: str) -> bool:
    """Whether an EARN's ``category`` says the purchase was of points themselves ("points", "point-purchase",
    "top-up", "积分充值"), however it is spelt (red line RL7)."""
    lowered = category.lower()
    words = {word for word in re.split(r"[^0-9a-z\u4e00-\u9fff]+", lowered) if word}
    squeezed = "".join(ch for ch in lowered if ch.isalnum())
    return bool(words & _POINTS_WORDS) or any(stem in squeezed for stem in _POINTS_SQUEEZED)


# Keys that would give points a financial attribute (red line RL7): refused with their own code, not as a typo.
_FINANCIAL_STEMS = ("interest", "apprecia", "yield", "dividend", "collateral", "pledge")
_FINANCIAL_WORDS = frozenset({"apr", "apy", "利息", "增值", "质押"})
RL7_FINANCIAL_TERMS = "RL7_FINANCIAL_TERMS"


def is_financial_key(key: str) -> bool:
    """Whether a contract key names interest, appreciation, a yield or collateral (red line RL7)."""
    lowered = key.lower()
    squeezed = "".join(ch for ch in lowered if ch.isalnum())
    words = {word for word in re.split(r"[^0-9a-z\u4e00-\u9fff]+", lowered) if word}
    return any(stem in squeezed for stem in _FINANCIAL_STEMS) or bool(words & _FINANCIAL_WORDS)


_FINANCIAL_CATEGORY_WORDS = frozenset({"loan", "loans", "lien", "mortgage", "credit-line"})


def is_financial_category(category: str) -> bool:
    """Whether an offer category would give points a financial use: interest, appreciation, a loan or
    collateral, or points themselves (red line RL7)."""
    words = {word for word in re.split(r"[^0-9a-z\u4e00-\u9fff]+", category.lower()) if word}
    return is_financial_key(category) or bool(words & _FINANCIAL_CATEGORY_WORDS) or is_points_purchase(category)


_CONTRACT_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")
_PARTNER_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")  # the shape partners.model accepts
_HUB_ID = "hub"  # reserved by partners.model for the clearing house, which countersigns but is never a party
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_EXPIRY_MONTHS = re.compile(r"months:([1-9][0-9]{0,2})")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_REFUSED_CHAR_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SETTLEMENT_CYCLES = ("monthly",)
_EARN_CAP = "earn_cap_points_per_yuan"
_CAP = "cap_points_per_period"

_T = TypeVar("_T")


# --- rounding and conversion


class Rounding(StrEnum):
    """How a per-record fen amount is rounded to a whole fen; applied to the magnitude, so it is symmetric."""

    HALF_UP = "half_up"
    """Nearest fen; a tie goes away from zero (the default)."""
    HALF_EVEN = "half_even"
    """Nearest fen; a tie goes to the even fen (banker's rounding)."""
    DOWN = "down"
    """Toward zero (truncate)."""
    UP = "up"
    """Away from zero."""


def to_fen(points: int, rate_fen_per_point: Decimal, rounding: Rounding) -> int:
    """Convert one record's ``points`` to whole fen at ``rate_fen_per_point`` with ``rounding``.

    Exact integer arithmetic (no Decimal context, no float): the result is ``points × rate`` rounded once.
    Symmetric: ``to_fen(-p, r, m) == -to_fen(p, r, m)`` (reversals mirror the records they reverse).

    Raises ``TypeError`` for a non-``int`` (or ``bool``) ``points`` or a non-``Decimal`` rate (a ``float``
    above all), and ``ValueError`` for a rate that is not finite and > 0 or an unknown rounding name.
    """
    if isinstance(points, bool) or not isinstance(points, int):
        raise TypeError(f"points must be an int, not {type(points).__name__} ({points!r})")
    numerator, denominator = _positive_ratio(rate_fen_per_point)
    magnitude = _divide(abs(points) * numerator, denominator, Rounding(rounding))
    return -magnitude if points < 0 else magnitude


def _positive_ratio(rate: Decimal) -> tuple[int, int]:
    """``rate`` as an exact fraction ``(numerator, denominator)`` with both > 0."""
    if not isinstance(rate, Decimal):
        raise TypeError(f'rate must be a Decimal such as Decimal("8.5"), not {type(rate).__name__} {rate!r}')
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"rate must be a finite Decimal > 0 (got {rate})")
    return rate.as_integer_ratio()


def _divide(numerator: int, denominator: int, rounding: Rounding) -> int:
    """``numerator / denominator`` (both >= 0, denominator > 0) rounded to an integer by ``rounding``."""
    quotient, remainder = divmod(numerator, denominator)
    if remainder == 0 or rounding is Rounding.DOWN:
        return quotient
    if rounding is Rounding.UP:
        return quotient + 1
    twice = 2 * remainder
    tie_goes_up = rounding is Rounding.HALF_UP or quotient % 2 == 1
    return quotient + 1 if twice > denominator or (twice == denominator and tie_goes_up) else quotient


# --- field checks (shared by the dataclasses, the JSON reader and the other modules of the package)


def _fail(path: str, problem: str) -> InvalidTerms:
    return InvalidTerms(f"{path}: {problem}")


def _describe(value: object) -> str:
    """A value as the JSON reader of a message sees it: its JSON type and its repr."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    kind = "null" if value is None else names.get(type(value), type(value).__name__)
    return kind if value is None else f"{kind} {value!r}"


def _check_int(value: object, path: str, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise _fail(path, f"must be an integer, not a boolean ({value!r})")
    if not isinstance(value, int):
        raise _fail(path, f"must be an integer, not {_describe(value)}")
    if value < minimum:
        raise _fail(path, f"must be >= {minimum} (got {value})")
    if value > MAX_JSON_INT:
        raise _fail(path, f"must be <= 2**53 - 1, the largest integer JSON carries exactly (got {value})")
    return value


def _check_pattern(value: object, path: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, not {_describe(value)}")
    if pattern.fullmatch(value) is None:
        raise _fail(path, f"{value!r} is not {what}")
    return value


def check_contract_id(value: object, path: str = "contract_id") -> str:
    """A contract id: slug ``^[a-z0-9][a-z0-9-]{1,63}$``."""
    return _check_pattern(value, path, _CONTRACT_ID, "a contract id (^[a-z0-9][a-z0-9-]{1,63}$)")


def check_version(value: object, path: str = "version") -> int:
    """A contract version: an integer >= 1 (never a bool)."""
    return _check_int(value, path, minimum=1)


def check_sha256_hex(value: object, path: str) -> str:
    """A SHA-256 digest written as 64 lowercase hex digits."""
    return _check_pattern(value, path, _SHA256_HEX, "a SHA-256 digest (64 lowercase hex digits)")


def check_local_date(value: object, path: str) -> date:
    """A calendar date; a ``datetime`` (a subclass of ``date``) is refused: terms speak of local days."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise _fail(path, f"must be a date (not a datetime), not {_describe(value)}")
    return value


def check_text(value: object, path: str, *, max_chars: int = MAX_TITLE_CHARS) -> str:
    """Human text (any script): non-empty, NFC, no surrounding blanks, no control or line-break characters."""
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, not {_describe(value)}")
    if not value.strip():
        raise _fail(path, "must not be empty")
    if value != value.strip():
        raise _fail(path, "must not start or end with blanks")
    if len(value) > max_chars:
        raise _fail(path, f"must be at most {max_chars} characters (got {len(value)})")
    if any(unicodedata.category(char) in _REFUSED_CHAR_CATEGORIES for char in value):
        raise _fail(path, "must not contain control, format or line-break characters")
    if unicodedata.normalize("NFC", value) != value:
        raise _fail(path, "must be in Unicode normalization form NFC")
    return value


def _check_partner_id(value: object, path: str) -> str:
    partner_id = _check_pattern(value, path, _PARTNER_ID, "a partner id (^[a-z0-9][a-z0-9-]{1,39}$)")
    if partner_id == _HUB_ID:
        raise _fail(path, f"{_HUB_ID!r} is the clearing house, which countersigns but is never a party")
    return partner_id


def _decimal_text(value: Decimal) -> str:
    """A finite Decimal in canonical text: no exponent, no trailing fractional zeros (exact, no context)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# Rates (fen per point) and earn caps (points per yuan) above this are typos, and would take values past
# 64-bit integers: 10,000 fen (100 yuan) per point, 10,000 points per yuan.
MAX_RATIO = Decimal(10_000)


def _check_decimal(value: object, path: str, *, noun: str, example: str) -> Decimal:
    """A finite Decimal > 0 with at most 4 decimal places, returned without trailing zeros."""
    if isinstance(value, float):
        raise _fail(path, f'{noun} must be a Decimal such as Decimal("{example}"), never a float ({value!r})')
    if not isinstance(value, Decimal):
        raise _fail(path, f'{noun} must be a Decimal such as Decimal("{example}"), not {_describe(value)}')
    if not value.is_finite() or value <= 0:
        raise _fail(path, f"{noun} must be > 0 (got {value})")
    if value > MAX_RATIO:
        raise _fail(path, f"{noun} must be at most {MAX_RATIO} (got {value})")
    text = _decimal_text(value)
    if len(text.partition(".")[2]) > MAX_DECIMAL_PLACES:
        raise _fail(path, f"{noun} must have at most {MAX_DECIMAL_PLACES} decimal places (got {text})")
    return Decimal(text)


def _check_categories(value: object, path: str) -> frozenset[str]:
    if not isinstance(value, frozenset):
        raise _fail(path, f"must be a frozenset of category slugs, not {_describe(value)}")
    if not value:
        raise _fail(path, "must name at least one offer category")
    for category in sorted(value, key=repr):
        _check_pattern(category, path, _CATEGORY, "a category slug (^[a-z0-9][a-z0-9-]{0,31}$)")
        if is_cash_equivalent(category):
            raise _fail(path, f"{category!r} is cash or a cash equivalent and never an offer category (RL5)")
        if is_financial_category(category):
            raise InvalidTerms(
                f"{path}: {category!r} would give points a financial use (interest, a loan, collateral, a purchase "
                "of points) and is never an offer category (RL7)",
                code=RL7_FINANCIAL_TERMS,
            )
    return value


def _check_timezone(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, not {_describe(value)}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _fail(path, f"{value!r} is not an IANA time zone name known to zoneinfo") from None
    return value


def _check_choice(value: object, path: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(f'"{choice}"' for choice in choices)
        raise _fail(path, f"must be one of {allowed} (got {_describe(value)})")
    return value


def _check_rounding(value: object, path: str) -> Rounding:
    return Rounding(_check_choice(value, path, tuple(Rounding)))


def _check_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, f"must be a boolean, not {_describe(value)}")
    return value


def _check_expiry_policy(value: object, path: str) -> str:
    if value == "none":
        return "none"
    what = f'"none" or "months:N" with 1 <= N <= {MAX_EXPIRY_MONTHS}'
    match = _EXPIRY_MONTHS.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) > MAX_EXPIRY_MONTHS:
        raise _fail(path, f"must be {what} (got {_describe(value)})")
    return match.group(0)


def _optional(check: Callable[[object, str], _T], value: object, path: str) -> _T | None:
    return None if value is None else check(value, path)


# --- the terms


@dataclass(frozen=True, kw_only=True)
class FulfillerTerms:
    """What one fulfiller agreed to: its settlement rate, the offer categories it may redeem for, its cap.

    Invariants: ``rate_fen_per_point`` is a Decimal > 0 with at most 4 decimal places (stored without
    trailing zeros); ``categories`` is a non-empty frozenset of lowercase slugs, none of them cash or a cash
    equivalent; ``cap_points_per_period`` is ``None`` (no cap) or an integer > 0.
    """

    fulfiller_id: str
    rate_fen_per_point: Decimal
    categories: frozenset[str]
    cap_points_per_period: int | None = None

    def __post_init__(self) -> None:
        _check_partner_id(self.fulfiller_id, "fulfiller_id")
        rate = _check_decimal(self.rate_fen_per_point, "rate_fen_per_point", noun="rate", example="8.5")
        object.__setattr__(self, "rate_fen_per_point", rate)
        _check_categories(self.categories, "categories")
        _optional(_positive_int, self.cap_points_per_period, "cap_points_per_period")

    def allows(self, category: str) -> bool:
        """Whether an offer of ``category`` may be redeemed at this fulfiller."""
        return category in self.categories


def _positive_int(value: object, path: str) -> int:
    return _check_int(value, path, minimum=1)


@dataclass(frozen=True, kw_only=True)
class ContractTerms:
    """One version of an alliance contract between one issuer and its fulfillers (invariants: see the module).

    The dates are local days in ``timezone``: ``effective_from`` inclusive, ``effective_to`` exclusive
    (``None``: open-ended). A version is immutable; an amendment is a new version whose ``previous_hash`` is
    the :func:`contracts.canonical.contract_hash` of this one.
    """

    contract_id: str
    version: int
    previous_hash: str | None
    title: str
    issuer_id: str
    earn_cap_points_per_yuan: Decimal
    fulfillers: tuple[FulfillerTerms, ...]
    effective_from: date
    effective_to: date | None = None
    timezone: str = DEFAULT_TIMEZONE
    settlement_cycle: str = "monthly"
    rounding: Rounding = Rounding.HALF_UP
    family_pooling: bool = False
    expiry_policy: str = "none"

    def __post_init__(self) -> None:
        check_contract_id(self.contract_id)
        check_version(self.version)
        self._check_chain_link()
        check_text(self.title, "title")
        _check_partner_id(self.issuer_id, "issuer_id")
        cap = _check_decimal(self.earn_cap_points_per_yuan, _EARN_CAP, noun="cap", example="1")
        object.__setattr__(self, "earn_cap_points_per_yuan", cap)
        self._check_fulfillers()
        self._check_dates()
        _check_timezone(self.timezone, "timezone")
        _check_choice(self.settlement_cycle, "settlement_cycle", _SETTLEMENT_CYCLES)
        object.__setattr__(self, "rounding", _check_rounding(self.rounding, "rounding"))
        _check_bool(self.family_pooling, "family_pooling")
        _check_expiry_policy(self.expiry_policy, "expiry_policy")

    def _check_chain_link(self) -> None:
        if self.version == 1 and self.previous_hash is not None:
            raise _fail("previous_hash", "must be null for version 1 (a first version amends nothing)")
        if self.version > 1 and self.previous_hash is None:
            raise _fail("previous_hash", f"is required for version {self.version} (hash of the amended version)")
        _optional(check_sha256_hex, self.previous_hash, "previous_hash")

    def _check_fulfillers(self) -> None:
        if not isinstance(self.fulfillers, tuple):
            raise _fail("fulfillers", f"must be a tuple of FulfillerTerms, not {_describe(self.fulfillers)}")
        if not self.fulfillers:
            raise _fail("fulfillers", "must name at least one fulfiller")
        seen: set[str] = set()
        for index, fulfiller in enumerate(self.fulfillers):
            path = f"fulfillers[{index}]"
            if not isinstance(fulfiller, FulfillerTerms):
                raise _fail(path, f"must be a FulfillerTerms, not {_describe(fulfiller)}")
            if fulfiller.fulfiller_id == self.issuer_id:
                raise _fail(path, f"{fulfiller.fulfiller_id!r} is the issuer; redeeming there isn't clearing")
            if fulfiller.fulfiller_id in seen:
                raise _fail(path, f"{fulfiller.fulfiller_id!r} is named twice")
            seen.add(fulfiller.fulfiller_id)

    def _check_dates(self) -> None:
        check_local_date(self.effective_from, "effective_from")
        end = _optional(check_local_date, self.effective_to, "effective_to")
        if end is not None and end <= self.effective_from:
            raise _fail("effective_to", f"must be after effective_from {self.effective_from} (got {end})")

    def parties(self) -> tuple[str, ...]:
        """The signing parties: the issuer first, then the fulfillers in contract order."""
        return (self.issuer_id, *(fulfiller.fulfiller_id for fulfiller in self.fulfillers))

    def fulfiller(self, fulfiller_id: str) -> FulfillerTerms | None:
        """The terms of ``fulfiller_id``, or ``None`` when it is not a fulfiller of this contract."""
        return next((f for f in self.fulfillers if f.fulfiller_id == fulfiller_id), None)

    def covers(self, day: date) -> bool:
        """Whether the local ``day`` is in ``[effective_from, effective_to)``; a datetime is a TypeError."""
        if isinstance(day, datetime):
            raise TypeError("covers() takes a local date; convert a business time with local_date() first")
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def local_date(self, moment: datetime) -> date:
        """The local day of the aware ``moment`` in the contract's time zone; a naive time is a ValueError."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"a business time must be timezone-aware (got naive {moment.isoformat()})")
        return moment.astimezone(ZoneInfo(self.timezone)).date()


# --- JSON

_FULFILLER_KEYS = ("fulfiller_id", "rate_fen_per_point", "categories", "cap_points_per_period")
_CONTRACT_KEYS = (
    "contract_id",
    "version",
    "previous_hash",
    "title",
    "issuer_id",
    "earn_cap_points_per_yuan",
    "fulfillers",
    "effective_from",
    "effective_to",
    "timezone",
    "settlement_cycle",
    "rounding",
    "family_pooling",
    "expiry_policy",
)


def terms_to_json(terms: ContractTerms) -> dict[str, object]:
    """The JSON object of ``terms`` (shape: module docstring): only strings, ints, bools, null, lists."""
    return {
        "contract_id": terms.contract_id,
        "version": terms.version,
        "previous_hash": terms.previous_hash,
        "title": terms.title,
        "issuer_id": terms.issuer_id,
        "earn_cap_points_per_yuan": _decimal_text(terms.earn_cap_points_per_yuan),
        "fulfillers": [_fulfiller_to_json(fulfiller) for fulfiller in terms.fulfillers],
        "effective_from": terms.effective_from.isoformat(),
        "effective_to": None if terms.effective_to is None else terms.effective_to.isoformat(),
        "timezone": terms.timezone,
        "settlement_cycle": terms.settlement_cycle,
        "rounding": terms.rounding.value,
        "family_pooling": terms.family_pooling,
        "expiry_policy": terms.expiry_policy,
    }


def _fulfiller_to_json(fulfiller: FulfillerTerms) -> dict[str, object]:
    return {
        "fulfiller_id": fulfiller.fulfiller_id,
        "rate_fen_per_point": _decimal_text(fulfiller.rate_fen_per_point),
        "categories": sorted(fulfiller.categories),
        "cap_points_per_period": fulfiller.cap_points_per_period,
    }


def terms_from_json(obj: Mapping[str, object]) -> ContractTerms:
    """Read and validate terms from their JSON object (as ``json.loads`` gives it).

    Raises only :class:`~contracts.errors.InvalidTerms`, whose message starts with the path of the offending
    field (``fulfillers[1].rate_fen_per_point: ...``). Floats, booleans-for-integers, non-canonical decimal
    strings, unsorted categories, missing and unknown keys are all refused.
    """
    data = _json_object(obj, "contract", _CONTRACT_KEYS)
    return ContractTerms(
        contract_id=check_contract_id(data["contract_id"]),
        version=check_version(data["version"]),
        previous_hash=_optional(_json_string, data["previous_hash"], "previous_hash"),
        title=check_text(data["title"], "title"),
        issuer_id=_check_partner_id(data["issuer_id"], "issuer_id"),
        earn_cap_points_per_yuan=_json_decimal(data[_EARN_CAP], _EARN_CAP, noun="cap", example="1"),
        fulfillers=_json_fulfillers(data["fulfillers"], "fulfillers"),
        effective_from=_json_date(data["effective_from"], "effective_from"),
        effective_to=_optional(_json_date, data["effective_to"], "effective_to"),
        timezone=_check_timezone(data["timezone"], "timezone"),
        settlement_cycle=_check_choice(data["settlement_cycle"], "settlement_cycle", _SETTLEMENT_CYCLES),
        rounding=_check_rounding(data["rounding"], "rounding"),
        family_pooling=_check_bool(data["family_pooling"], "family_pooling"),
        expiry_policy=_check_expiry_policy(data["expiry_policy"], "expiry_policy"),
    )


def _json_fulfillers(value: object, path: str) -> tuple[FulfillerTerms, ...]:
    if not isinstance(value, list):
        raise _fail(path, f"must be an array of fulfiller objects, not {_describe(value)}")
    return tuple(_json_fulfiller(item, f"{path}[{index}]") for index, item in enumerate(value))


def _json_fulfiller(value: object, path: str) -> FulfillerTerms:
    data = _json_object(value, path, _FULFILLER_KEYS)
    with _prefixed(f"{path}."):
        return FulfillerTerms(
            fulfiller_id=_check_partner_id(data["fulfiller_id"], "fulfiller_id"),
            rate_fen_per_point=_json_decimal(
                data["rate_fen_per_point"], "rate_fen_per_point", noun="rate", example="8.5"
            ),
            categories=_json_categories(data["categories"], "categories"),
            cap_points_per_period=_optional(_positive_int, data[_CAP], _CAP),
        )


@contextmanager
def _prefixed(prefix: str) -> Iterator[None]:
    """Re-raise an :class:`InvalidTerms` with its field path prefixed (``rate`` → ``fulfillers[0].rate``)."""
    try:
        yield
    except InvalidTerms as error:
        raise InvalidTerms(f"{prefix}{error.message}", code=error.code) from None


def _json_object(value: object, path: str, keys: tuple[str, ...]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"must be a JSON object, not {_describe(value)}")
    unknown = sorted(repr(key) for key in value if key not in keys)
    financial = sorted(repr(key) for key in value if key not in keys and is_financial_key(str(key)))
    if financial:
        raise InvalidTerms(
            f"{path}: {', '.join(financial)}: points carry no interest, appreciation, yield or collateral (RL7)",
            code=RL7_FINANCIAL_TERMS,
        )
    if unknown:
        raise _fail(path, f"unknown field(s) {', '.join(unknown)}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise _fail(path, f"missing field(s) {', '.join(repr(key) for key in missing)}")
    return value


def _json_string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"must be a string, not {_describe(value)}")
    return value


def _json_decimal(value: object, path: str, *, noun: str, example: str) -> Decimal:
    """A decimal written as a JSON string in canonical form; a JSON number (float or int) is refused."""
    if not isinstance(value, str) or _PLAIN_DECIMAL.fullmatch(value) is None:
        raise _fail(path, f'{noun} must be a decimal string such as "{example}" (got {_describe(value)})')
    number = Decimal(value)
    canonical = _decimal_text(number)
    if value != canonical and number > 0:
        raise _fail(path, f'"{value}" is not in canonical form; write "{canonical}"')
    return number


def _json_categories(value: object, path: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(path, f"must be an array of category strings, not {_describe(value)}")
    if value != sorted(set(value)):
        raise _fail(path, f"must be sorted and without duplicates: write {sorted(set(value))!r}")
    return frozenset(value)


def _json_date(value: object, path: str) -> date:
    if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
        raise _fail(path, f'must be a date string "YYYY-MM-DD" (got {_describe(value)})')
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(path, f"{value!r} is not a calendar date") from None
