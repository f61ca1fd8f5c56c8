"""Specs of the canonical bytes (RFC 8785 JCS) that parties sign, and of the contract hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from contracts.canonical import canonical_bytes, contract_hash, termination_bytes
from contracts.errors import InvalidTerms
from contracts.terms import ContractTerms, FulfillerTerms, terms_from_json, terms_to_json


def small_contract(**changes: Any) -> ContractTerms:
    fields: dict[str, Any] = {
        "contract_id": "optika-tea",
        "version": 1,
        "previous_hash": None,
        "title": "眼镜联盟",
        "issuer_id": "optika",
        "earn_cap_points_per_yuan": Decimal("1"),
        "fulfillers": (
            FulfillerTerms(
                fulfiller_id="teahouse",
                rate_fen_per_point=Decimal("8.5"),
                categories=frozenset({"tea", "books"}),
                cap_points_per_period=100000,
            ),
            FulfillerTerms(
                fulfiller_id="cinema-1", rate_fen_per_point=Decimal("0.35"), categories=frozenset({"cinema"})
            ),
        ),
        "effective_from": date(2025, 1, 1),
        "effective_to": date(2026, 1, 1),
    }
    return ContractTerms(**(fields | changes))


# Keys sorted at every level, no whitespace, fulfillers in contract order, the title "眼镜联盟" as raw UTF-8.
GOLDEN_BYTES = (
    b'{"contract_id":"optika-tea","earn_cap_points_per_yuan":"1","effective_from":"2025-01-01",'
    b'"effective_to":"2026-01-01","expiry_policy":"none","family_pooling":false,"fulfillers":['
    b'{"cap_points_per_period":100000,"categories":["books","tea"],"fulfiller_id":"teahouse",'
    b'"rate_fen_per_point":"8.5"},'
    b'{"cap_points_per_period":null,"categories":["cinema"],"fulfiller_id":"cinema-1",'
    b'"rate_fen_per_point":"0.35"}],'
    b'"issuer_id":"optika","previous_hash":null,"rounding":"half_up","settlement_cycle":"monthly",'
    b'"timezone":"Asia/Shanghai","title":"\xe7\x9c\xbc\xe9\x95\x9c\xe8\x81\x94\xe7\x9b\x9f","version":1}'
)
GOLDEN_HASH = "d0eafc9c8c9a23b2a0d024e45e48d575fe00706e8262f3ff0a0e20e92f0c4edf"


def test_canonical_bytes_of_a_small_contract_match_the_golden_bytes() -> None:
    assert canonical_bytes(small_contract()) == GOLDEN_BYTES


def test_contract_hash_is_the_sha256_of_the_golden_bytes() -> None:
    assert hashlib.sha256(GOLDEN_BYTES).hexdigest() == GOLDEN_HASH
    assert contract_hash(small_contract()) == GOLDEN_HASH


def test_keeps_non_ascii_as_utf8_and_never_escapes_it() -> None:
    data = canonical_bytes(small_contract(title="眼镜联盟 · Eyewear"))
    assert "眼镜联盟 · Eyewear".encode() in data
    assert b"\\u" not in data
    data.decode("utf-8")  # valid UTF-8 throughout


def test_equals_sorted_compact_json_for_this_value_domain() -> None:
    obj = terms_to_json(small_contract())
    expected = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert canonical_bytes(small_contract()) == expected


def test_reads_back_to_the_same_terms() -> None:
    terms = small_contract()
    assert terms_from_json(json.loads(canonical_bytes(terms))) == terms


def test_equal_terms_have_equal_bytes_whatever_the_decimal_spelling_or_set_order() -> None:
    first = small_contract()
    teahouse = FulfillerTerms(
        fulfiller_id="teahouse",
        rate_fen_per_point=Decimal("8.50"),
        categories=frozenset(["books", "tea"]),
        cap_points_per_period=100000,
    )
    second = small_contract(fulfillers=(teahouse, first.fulfillers[1]), earn_cap_points_per_yuan=Decimal("1.000"))
    assert second == first
    assert canonical_bytes(second) == canonical_bytes(first)


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "眼镜联盟协议"},
        {"version": 2, "previous_hash": "0" * 64},
        {"effective_to": None},
        {"family_pooling": True},
        {"expiry_policy": "months:12"},
        {"timezone": "Asia/Urumqi"},
    ],
)
def test_any_change_of_terms_changes_the_hash(changes: dict[str, Any]) -> None:
    assert contract_hash(small_contract(**changes)) != GOLDEN_HASH


def test_a_changed_rate_or_fulfiller_order_changes_the_hash() -> None:
    terms = small_contract()
    teahouse, cinema = terms.fulfillers
    assert contract_hash(replace(terms, fulfillers=(cinema, teahouse))) != GOLDEN_HASH
    cheaper = replace(teahouse, rate_fen_per_point=Decimal("8.4"))
    assert contract_hash(replace(terms, fulfillers=(cheaper, cinema))) != GOLDEN_HASH


def test_hash_is_64_lowercase_hex() -> None:
    digest = contract_hash(small_contract(title="Optika Alliance"))
    assert len(digest) == 64 and digest == digest.lower() and int(digest, 16) >= 0


GOLDEN_TERMINATION = (
    b'{"act":"terminate","contract_hash":"d0eafc9c8c9a23b2a0d024e45e48d575fe00706e8262f3ff0a0e20e92f0c4edf",'
    b'"contract_id":"optika-tea","effective_on":"2025-07-01",'
    b'"reason":"\xe8\x8c\xb6\xe9\xa6\x86\xe5\x81\x9c\xe4\xb8\x9a","version":1}'
)


def test_termination_bytes_match_the_golden_bytes() -> None:
    data = termination_bytes(
        contract_id="optika-tea",
        version=1,
        contract_hash=GOLDEN_HASH,
        effective_on=date(2025, 7, 1),
        reason="茶馆停业",
    )
    assert data == GOLDEN_TERMINATION


def test_termination_bytes_can_never_pass_for_contract_terms() -> None:
    with pytest.raises(InvalidTerms, match="unknown field"):
        terms_from_json(json.loads(GOLDEN_TERMINATION))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"contract_id": "Optika Tea"}, "contract_id: 'Optika Tea' is not a contract id"),
        ({"version": 0}, "version: must be >= 1 (got 0)"),
        ({"version": True}, "version: must be an integer, not a boolean"),
        ({"contract_hash": GOLDEN_HASH.upper()}, "contract_hash: 'D0EA"),
        ({"effective_on": datetime(2025, 7, 1)}, "effective_on: must be a date (not a datetime)"),
        ({"effective_on": "2025-07-01"}, "effective_on: must be a date (not a datetime), not string"),
        ({"reason": ""}, "reason: must not be empty"),
        ({"reason": "x" * 501}, "reason: must be at most 500 characters (got 501)"),
    ],
)
def test_termination_refuses_malformed_arguments(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "contract_id": "optika-tea",
        "version": 1,
        "contract_hash": GOLDEN_HASH,
        "effective_on": date(2025, 7, 1),
        "reason": "茶馆停业",
    }
    with pytest.raises(InvalidTerms) as caught:
        termination_bytes(**(arguments | changes))
    assert message in caught.value.message
