"""Specs of contract terms: rounding, invariants of the value objects, and the JSON shape."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.errors import InvalidTerms
from contracts.terms import (
    MAX_JSON_INT,
    ContractTerms,
    FulfillerTerms,
    Rounding,
    terms_from_json,
    terms_to_json,
    to_fen,
)

HU, HE, DN, UP = Rounding.HALF_UP, Rounding.HALF_EVEN, Rounding.DOWN, Rounding.UP


def a_fulfiller(**changes: Any) -> FulfillerTerms:
    fields: dict[str, Any] = {
        "fulfiller_id": "teahouse",
        "rate_fen_per_point": Decimal("8.5"),
        "categories": frozenset({"tea", "books"}),
        "cap_points_per_period": 100_000,
    }
    return FulfillerTerms(**(fields | changes))


def a_contract(**changes: Any) -> ContractTerms:
    fields: dict[str, Any] = {
        "contract_id": "optika-alliance",
        "version": 1,
        "previous_hash": None,
        "title": "眼镜联盟协议",
        "issuer_id": "optika",
        "earn_cap_points_per_yuan": Decimal("1"),
        "fulfillers": (a_fulfiller(), a_fulfiller(fulfiller_id="cinema-1", categories=frozenset({"cinema"}))),
        "effective_from": date(2025, 1, 1),
        "effective_to": date(2026, 1, 1),
    }
    return ContractTerms(**(fields | changes))


def valid_json() -> dict[str, Any]:
    return {
        "contract_id": "optika-alliance",
        "version": 2,
        "previous_hash": "ab" * 32,
        "title": "眼镜联盟协议（第二版）",
        "issuer_id": "optika",
        "earn_cap_points_per_yuan": "1.5",
        "fulfillers": [
            {
                "fulfiller_id": "teahouse",
                "rate_fen_per_point": "8.5",
                "categories": ["books", "tea"],
                "cap_points_per_period": 100000,
            },
            {
                "fulfiller_id": "cinema-1",
                "rate_fen_per_point": "0.35",
                "categories": ["cinema"],
                "cap_points_per_period": None,
            },
        ],
        "effective_from": "2025-03-01",
        "effective_to": None,
        "timezone": "Asia/Shanghai",
        "settlement_cycle": "monthly",
        "rounding": "half_even",
        "family_pooling": True,
        "expiry_policy": "months:24",
    }


# --- rounding

ROUNDING_TABLE = [
    # points, rate, rounding, fen
    (2000, "8.5", HU, 17000),
    (2000, "8.5", HE, 17000),
    (2000, "8.5", DN, 17000),
    (2000, "8.5", UP, 17000),
    (3, "0.35", HU, 1),  # 1.05
    (3, "0.35", HE, 1),
    (3, "0.35", DN, 1),
    (3, "0.35", UP, 2),
    (5, "0.1", HU, 1),  # 0.5: a tie
    (5, "0.1", HE, 0),
    (5, "0.1", DN, 0),
    (5, "0.1", UP, 1),
    (15, "0.1", HU, 2),  # 1.5: a tie rounding to the even 2
    (15, "0.1", HE, 2),
    (25, "0.1", HU, 3),  # 2.5: a tie rounding to the even 2
    (25, "0.1", HE, 2),
    (7, "0.0714", HU, 0),  # 0.4998
    (7, "0.0715", HU, 1),  # 0.5005
    (1, "0.0001", DN, 0),
    (1, "0.0001", UP, 1),
    (0, "8.5", UP, 0),
    (1500, "10", HU, 15000),
]


@pytest.mark.parametrize(("points", "rate", "rounding", "fen"), ROUNDING_TABLE)
def test_converts_points_to_fen_by_the_rounding_table(points: int, rate: str, rounding: Rounding, fen: int) -> None:
    assert to_fen(points, Decimal(rate), rounding) == fen


@pytest.mark.parametrize(("points", "rate", "rounding", "fen"), ROUNDING_TABLE)
def test_rounds_reversals_symmetrically(points: int, rate: str, rounding: Rounding, fen: int) -> None:
    assert to_fen(-points, Decimal(rate), rounding) == -fen


def test_negative_ties_round_away_from_zero_with_half_up_and_to_even_with_half_even() -> None:
    assert to_fen(-5, Decimal("0.1"), HU) == -1
    assert to_fen(-25, Decimal("0.1"), HE) == -2
    assert to_fen(-3, Decimal("0.35"), UP) == -2
    assert to_fen(-3, Decimal("0.35"), DN) == -1


def test_converts_exactly_beyond_the_decimal_context_precision() -> None:
    points, rate = MAX_JSON_INT, Decimal("9999.9999")
    exact = points * 99_999_999
    assert to_fen(points, rate, DN) == exact // 10_000
    assert to_fen(points, rate, UP) == -(-exact // 10_000)


def test_accepts_the_rounding_by_its_json_name() -> None:
    assert to_fen(5, Decimal("0.1"), "half_even") == 0  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("points", "rate", "error", "words"),
    [
        (5.0, Decimal("0.1"), TypeError, "points must be an int, not float"),
        (True, Decimal("0.1"), TypeError, "points must be an int, not bool"),
        (5, 0.1, TypeError, "rate must be a Decimal"),
        (5, "0.1", TypeError, "rate must be a Decimal"),
        (5, Decimal("0"), ValueError, "rate must be a finite Decimal > 0"),
        (5, Decimal("-0.1"), ValueError, "rate must be a finite Decimal > 0"),
        (5, Decimal("NaN"), ValueError, "rate must be a finite Decimal > 0"),
        (5, Decimal("Infinity"), ValueError, "rate must be a finite Decimal > 0"),
    ],
)
def test_conversion_refuses_floats_and_non_positive_rates(
    points: object, rate: object, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        to_fen(points, rate, HU)  # type: ignore[arg-type]


def test_conversion_refuses_an_unknown_rounding_name() -> None:
    with pytest.raises(ValueError, match="nearest"):
        to_fen(5, Decimal("0.1"), "nearest")  # type: ignore[arg-type]


# --- the value objects


def test_lists_the_issuer_first_then_the_fulfillers_in_contract_order() -> None:
    assert a_contract().parties() == ("optika", "teahouse", "cinema-1")


def test_finds_a_fulfiller_by_id_and_answers_none_for_a_stranger() -> None:
    terms = a_contract()
    found = terms.fulfiller("cinema-1")
    assert found is not None and found.categories == frozenset({"cinema"})
    assert terms.fulfiller("optika") is None
    assert terms.fulfiller("nobody") is None


def test_a_fulfiller_allows_only_its_categories() -> None:
    assert a_fulfiller().allows("tea")
    assert not a_fulfiller().allows("cinema")


def test_covers_from_inclusive_to_exclusive() -> None:
    terms = a_contract(effective_from=date(2025, 1, 1), effective_to=date(2025, 2, 1))
    assert not terms.covers(date(2024, 12, 31))
    assert terms.covers(date(2025, 1, 1))
    assert terms.covers(date(2025, 1, 31))
    assert not terms.covers(date(2025, 2, 1))


def test_covers_every_later_day_when_open_ended() -> None:
    assert a_contract(effective_to=None).covers(date(2099, 12, 31))


def test_covers_refuses_a_datetime() -> None:
    with pytest.raises(TypeError, match="local date"):
        a_contract().covers(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))


def test_finds_the_local_day_of_a_business_time_in_the_contract_time_zone() -> None:
    terms = a_contract()
    assert terms.local_date(datetime(2025, 1, 31, 16, 0, tzinfo=UTC)) == date(2025, 2, 1)
    assert terms.local_date(datetime(2025, 1, 31, 15, 59, tzinfo=UTC)) == date(2025, 1, 31)
    assert replace(terms, timezone="UTC").local_date(datetime(2025, 1, 31, 16, 0, tzinfo=UTC)) == date(2025, 1, 31)


def test_local_day_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        a_contract().local_date(datetime(2025, 1, 31, 16, 0))


def test_defaults_to_shanghai_monthly_half_up_no_pooling_no_expiry() -> None:
    terms = a_contract()
    assert (terms.timezone, terms.settlement_cycle, terms.rounding) == ("Asia/Shanghai", "monthly", HU)
    assert (terms.family_pooling, terms.expiry_policy) == (False, "none")


def test_stores_rates_without_trailing_zeros_so_equal_terms_look_equal() -> None:
    fulfiller = a_fulfiller(rate_fen_per_point=Decimal("8.5000"))
    assert str(fulfiller.rate_fen_per_point) == "8.5"
    assert str(a_fulfiller(rate_fen_per_point=Decimal("1E+2")).rate_fen_per_point) == "100"
    assert str(a_contract(earn_cap_points_per_yuan=Decimal("2.50")).earn_cap_points_per_yuan) == "2.5"


def test_accepts_the_rounding_by_its_json_name_and_stores_the_enum() -> None:
    assert a_contract(rounding="down").rounding is Rounding.DOWN


def test_terms_are_hashable_values() -> None:
    assert hash(a_contract()) == hash(a_contract())
    assert len({a_contract(), a_contract()}) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"rate_fen_per_point": 8.5},
            'rate_fen_per_point: rate must be a Decimal such as Decimal("8.5"), never a float',
        ),
        (
            {"rate_fen_per_point": 8},
            'rate_fen_per_point: rate must be a Decimal such as Decimal("8.5"), not integer 8',
        ),
        ({"rate_fen_per_point": Decimal("NaN")}, "rate_fen_per_point: rate must be > 0 (got NaN)"),
        ({"categories": {"tea"}}, "categories: must be a frozenset of category slugs, not set"),
        ({"categories": frozenset({1})}, "categories: must be a string, not integer 1"),
        ({"cap_points_per_period": True}, "cap_points_per_period: must be an integer, not a boolean"),
        ({"fulfiller_id": None}, "fulfiller_id: must be a string, not null"),
    ],
)
def test_fulfiller_terms_refuse_bad_values_at_construction(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTerms) as caught:
        a_fulfiller(**changes)
    assert message in caught.value.message
    assert caught.value.code == "CONTRACT_TERMS_INVALID"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fulfillers": [a_fulfiller()]}, "fulfillers: must be a tuple of FulfillerTerms, not array"),
        ({"fulfillers": ({"fulfiller_id": "x"},)}, "fulfillers[0]: must be a FulfillerTerms, not object"),
        ({"earn_cap_points_per_yuan": 1.5}, "earn_cap_points_per_yuan: cap must be a Decimal such as"),
        (
            {"earn_cap_points_per_yuan": Decimal("0.00001")},
            "cap must have at most 4 decimal places (got 0.00001)",
        ),
        ({"effective_from": datetime(2025, 1, 1)}, "effective_from: must be a date (not a datetime)"),
        ({"effective_to": "2026-01-01"}, "effective_to: must be a date (not a datetime), not string"),
        ({"rounding": "nearest"}, 'rounding: must be one of "half_up", "half_even", "down", "up"'),
        ({"family_pooling": 1}, "family_pooling: must be a boolean, not integer 1"),
        ({"version": True}, "version: must be an integer, not a boolean"),
        ({"title": "a\u0000b"}, "title: must not contain control"),
    ],
)
def test_contract_terms_refuse_bad_values_at_construction(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTerms) as caught:
        a_contract(**changes)
    assert message in caught.value.message


# --- JSON


def test_reads_the_documented_json_shape() -> None:
    terms = terms_from_json(valid_json())
    assert terms.version == 2 and terms.previous_hash == "ab" * 32
    assert terms.earn_cap_points_per_yuan == Decimal("1.5")
    assert terms.fulfillers[1] == FulfillerTerms(
        fulfiller_id="cinema-1", rate_fen_per_point=Decimal("0.35"), categories=frozenset({"cinema"})
    )
    assert terms.effective_from == date(2025, 3, 1) and terms.effective_to is None
    assert (terms.rounding, terms.family_pooling, terms.expiry_policy) == (HE, True, "months:24")


def test_json_round_trip_is_exact_from_json() -> None:
    obj = valid_json()
    assert terms_to_json(terms_from_json(obj)) == obj


def test_json_round_trip_is_exact_from_terms() -> None:
    terms = a_contract(rounding=Rounding.UP, family_pooling=True, expiry_policy="months:120", timezone="UTC")
    assert terms_from_json(terms_to_json(terms)) == terms


def test_json_survives_a_trip_through_json_text() -> None:
    terms = a_contract()
    assert terms_from_json(json.loads(json.dumps(terms_to_json(terms)))) == terms


def test_writes_rates_as_strings_dates_as_iso_and_categories_sorted() -> None:
    obj = terms_to_json(a_contract(earn_cap_points_per_yuan=Decimal("100")))
    assert obj["earn_cap_points_per_yuan"] == "100"
    assert obj["effective_from"] == "2025-01-01" and obj["effective_to"] == "2026-01-01"
    fulfillers = obj["fulfillers"]
    assert isinstance(fulfillers, list)
    assert fulfillers[0] == {
        "fulfiller_id": "teahouse",
        "rate_fen_per_point": "8.5",
        "categories": ["books", "tea"],
        "cap_points_per_period": 100000,
    }
    assert obj["rounding"] == "half_up" and type(obj["rounding"]) is str


DELETE = object()


def _mutated(path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    obj = valid_json()
    target: Any = obj
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


F0 = ("fulfillers", 0)
INVALID_JSON = [
    # (path, value, the message's exact words)
    (("hub_fee",), "1", "contract: unknown field(s) 'hub_fee'"),
    (("timezone",), DELETE, "contract: missing field(s) 'timezone'"),
    (("contract_id",), "Bad_ID", "contract_id: 'Bad_ID' is not a contract id (^[a-z0-9][a-z0-9-]{1,63}$)"),
    (("contract_id",), "x", "contract_id: 'x' is not a contract id"),
    (("contract_id",), "a" * 65, "is not a contract id"),
    (("contract_id",), 5, "contract_id: must be a string, not integer 5"),
    (("version",), True, "version: must be an integer, not a boolean (True)"),
    (("version",), 2.0, "version: must be an integer, not number 2.0"),
    (("version",), "2", "version: must be an integer, not string '2'"),
    (("version",), 0, "version: must be >= 1 (got 0)"),
    (("version",), 2**53, "version: must be <= 2**53 - 1, the largest integer JSON carries exactly"),
    (("previous_hash",), None, "previous_hash: is required for version 2"),
    (("previous_hash",), "AB" * 32, "previous_hash: 'ABAB"),
    (("previous_hash",), "ab" * 31, "is not a SHA-256 digest (64 lowercase hex digits)"),
    (("previous_hash",), 5, "previous_hash: must be a string, not integer 5"),
    (("title",), "", "title: must not be empty"),
    (("title",), "   ", "title: must not be empty"),
    (("title",), " 联盟", "title: must not start or end with blanks"),
    (("title",), "联" * 201, "title: must be at most 200 characters (got 201)"),
    (("title",), "第一行\n第二行", "title: must not contain control, format or line-break characters"),
    (("title",), "Cafe\u0301", "title: must be in Unicode normalization form NFC"),
    (("title",), ["x"], "title: must be a string, not array ['x']"),
    (("issuer_id",), "", "issuer_id: '' is not a partner id (^[a-z0-9][a-z0-9-]{1,39}$)"),
    (("issuer_id",), "Optika", "issuer_id: 'Optika' is not a partner id"),
    (("issuer_id",), "o", "issuer_id: 'o' is not a partner id"),
    (
        ("issuer_id",),
        "hub",
        "issuer_id: 'hub' is the clearing house, which countersigns but is never a party",
    ),
    (("issuer_id",), "opt ika", "issuer_id: 'opt ika' is not a partner id"),
    (("issuer_id",), "teahouse", "fulfillers[0]: 'teahouse' is the issuer; redeeming there isn't clearing"),
    (
        ("earn_cap_points_per_yuan",),
        1.5,
        'earn_cap_points_per_yuan: cap must be a decimal string such as "1"',
    ),
    (("earn_cap_points_per_yuan",), "0", "earn_cap_points_per_yuan: cap must be > 0 (got 0)"),
    (
        ("earn_cap_points_per_yuan",),
        "1.50",
        'earn_cap_points_per_yuan: "1.50" is not in canonical form; write "1.5"',
    ),
    (("fulfillers",), {}, "fulfillers: must be an array of fulfiller objects, not object {}"),
    (("fulfillers",), [], "fulfillers: must name at least one fulfiller"),
    (("fulfillers", 0), "teahouse", "fulfillers[0]: must be a JSON object, not string 'teahouse'"),
    ((*F0, "fee"), "1", "fulfillers[0]: unknown field(s) 'fee'"),
    ((*F0, "categories"), DELETE, "fulfillers[0]: missing field(s) 'categories'"),
    ((*F0, "fulfiller_id"), "cinema-1", "fulfillers[1]: 'cinema-1' is named twice"),
    ((*F0, "fulfiller_id"), "茶馆", "fulfillers[0].fulfiller_id: '茶馆' is not a partner id"),
    ((*F0, "fulfiller_id"), "hub", "fulfillers[0].fulfiller_id: 'hub' is the clearing house"),
    ((*F0, "fulfiller_id"), "t" * 41, "fulfillers[0].fulfiller_id: 'tttt"),
    (
        (*F0, "rate_fen_per_point"),
        8.5,
        'fulfillers[0].rate_fen_per_point: rate must be a decimal string such as "8.5"',
    ),
    ((*F0, "rate_fen_per_point"), 8, 'rate must be a decimal string such as "8.5" (got integer 8)'),
    ((*F0, "rate_fen_per_point"), "8,5", "rate must be a decimal string such as \"8.5\" (got string '8,5')"),
    ((*F0, "rate_fen_per_point"), "1e3", "rate must be a decimal string such as \"8.5\" (got string '1e3')"),
    ((*F0, "rate_fen_per_point"), "NaN", "rate must be a decimal string such as \"8.5\" (got string 'NaN')"),
    ((*F0, "rate_fen_per_point"), ".5", "rate must be a decimal string such as \"8.5\" (got string '.5')"),
    (
        (*F0, "rate_fen_per_point"),
        " 8.5",
        "rate must be a decimal string such as \"8.5\" (got string ' 8.5')",
    ),
    (
        (*F0, "rate_fen_per_point"),
        "8.50",
        'fulfillers[0].rate_fen_per_point: "8.50" is not in canonical form; write "8.5"',
    ),
    ((*F0, "rate_fen_per_point"), "08.5", '"08.5" is not in canonical form; write "8.5"'),
    ((*F0, "rate_fen_per_point"), "0", "fulfillers[0].rate_fen_per_point: rate must be > 0 (got 0)"),
    ((*F0, "rate_fen_per_point"), "-8.5", "fulfillers[0].rate_fen_per_point: rate must be > 0 (got -8.5)"),
    ((*F0, "rate_fen_per_point"), "0.00001", "rate_fen_per_point: rate must have at most 4 decimal places"),
    (
        (*F0, "categories"),
        "tea",
        "fulfillers[0].categories: must be an array of category strings, not string 'tea'",
    ),
    (
        (*F0, "categories"),
        ["tea", 1],
        "fulfillers[0].categories: must be an array of category strings, not array",
    ),
    ((*F0, "categories"), [], "fulfillers[0].categories: must name at least one offer category"),
    (
        (*F0, "categories"),
        ["tea", "books"],
        "categories: must be sorted and without duplicates: write ['books', 'tea']",
    ),
    ((*F0, "categories"), ["tea", "tea"], "categories: must be sorted and without duplicates: write ['tea']"),
    (
        (*F0, "categories"),
        ["Tea"],
        "fulfillers[0].categories: 'Tea' is not a category slug (^[a-z0-9][a-z0-9-]{0,31}$)",
    ),
    ((*F0, "categories"), ["cash"], "'cash' is cash or a cash equivalent and never an offer category (RL5)"),
    ((*F0, "categories"), ["gift-card", "tea"], "'gift-card' is cash or a cash equivalent"),
    ((*F0, "cap_points_per_period"), 0, "fulfillers[0].cap_points_per_period: must be >= 1 (got 0)"),
    ((*F0, "cap_points_per_period"), 1.5, "cap_points_per_period: must be an integer, not number 1.5"),
    (
        (*F0, "cap_points_per_period"),
        False,
        "cap_points_per_period: must be an integer, not a boolean (False)",
    ),
    (("effective_from",), "2025/03/01", 'effective_from: must be a date string "YYYY-MM-DD" (got string'),
    (("effective_from",), "20250301", 'effective_from: must be a date string "YYYY-MM-DD"'),
    (("effective_from",), "2025-03-01T00:00:00", 'effective_from: must be a date string "YYYY-MM-DD"'),
    (
        ("effective_from",),
        20250301,
        'effective_from: must be a date string "YYYY-MM-DD" (got integer 20250301)',
    ),
    (("effective_from",), "2025-02-30", "effective_from: '2025-02-30' is not a calendar date"),
    (
        ("effective_to",),
        "2025-03-01",
        "effective_to: must be after effective_from 2025-03-01 (got 2025-03-01)",
    ),
    (("effective_to",), "2025-02-28", "effective_to: must be after effective_from"),
    (("effective_to",), "２０２５-03-01", 'effective_to: must be a date string "YYYY-MM-DD"'),
    (
        ("timezone",),
        "Mars/Olympus",
        "timezone: 'Mars/Olympus' is not an IANA time zone name known to zoneinfo",
    ),
    (("timezone",), "../../etc/passwd", "timezone: '../../etc/passwd' is not an IANA time zone name"),
    (("timezone",), "", "timezone: '' is not an IANA time zone name"),
    (("timezone",), "Asia", "timezone: 'Asia' is not an IANA time zone name"),
    (("timezone",), 8, "timezone: must be a string, not integer 8"),
    (("settlement_cycle",), "weekly", "settlement_cycle: must be one of \"monthly\" (got string 'weekly')"),
    (("rounding",), "nearest", 'rounding: must be one of "half_up", "half_even", "down", "up" (got string'),
    (("rounding",), None, 'rounding: must be one of "half_up", "half_even", "down", "up" (got null)'),
    (("family_pooling",), "yes", "family_pooling: must be a boolean, not string 'yes'"),
    (("family_pooling",), 1, "family_pooling: must be a boolean, not integer 1"),
    (("expiry_policy",), "months:0", 'expiry_policy: must be "none" or "months:N" with 1 <= N <= 120'),
    (("expiry_policy",), "months:121", "(got string 'months:121')"),
    (("expiry_policy",), "months:012", "(got string 'months:012')"),
    (("expiry_policy",), "years:1", "(got string 'years:1')"),
    (("expiry_policy",), None, 'expiry_policy: must be "none" or "months:N" with 1 <= N <= 120 (got null)'),
]


@pytest.mark.parametrize(("path", "value", "message"), INVALID_JSON)
def test_refuses_invalid_json_with_a_message_naming_the_field(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    with pytest.raises(InvalidTerms) as caught:
        terms_from_json(_mutated(path, value))
    assert message in caught.value.message


def test_refuses_previous_hash_on_a_first_version() -> None:
    obj = valid_json() | {"version": 1}
    with pytest.raises(InvalidTerms, match="previous_hash: must be null for version 1"):
        terms_from_json(obj)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "contract: must be a JSON object, not array []"),
        ("{}", "contract: must be a JSON object, not string '{}'"),
        (None, "contract: must be a JSON object, not null"),
        (dict[Any, Any]([*valid_json().items(), (1, "x")]), "contract: unknown field(s) 1"),
        ({}, "contract: missing field(s) 'contract_id', 'version', 'previous_hash'"),
    ],
)
def test_refuses_what_is_not_a_contract_object(obj: Any, message: str) -> None:
    with pytest.raises(InvalidTerms) as caught:
        terms_from_json(obj)
    assert message in caught.value.message


ODD_VALUES: list[object] = [
    None,
    True,
    0,
    -1,
    1.5,
    2**64,
    "",
    "x",
    "1e3",
    "8.5",
    "2025-01-01",
    [],
    ["x"],
    [None],
    {},
    {"x": 1},
    Decimal("8.5"),
]


def _all_paths() -> list[tuple[str | int, ...]]:
    obj = valid_json()
    top: list[tuple[str | int, ...]] = [(key,) for key in obj]
    return top + [(*F0, key) for key in obj["fulfillers"][0]]


@pytest.mark.parametrize("path", _all_paths(), ids=lambda path: ".".join(map(str, path)))
def test_only_ever_raises_invalid_terms_whatever_a_field_holds(path: tuple[str | int, ...]) -> None:
    for value in ODD_VALUES:
        try:
            terms_from_json(_mutated(path, copy.deepcopy(value)))
        except InvalidTerms as error:
            assert re.match(r"[a-z_]+(\[\d+\](\.[a-z_]+)?)?: ", error.message), error.message
