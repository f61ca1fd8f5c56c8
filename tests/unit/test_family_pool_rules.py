"""Specs of family pooling (red line RL6) and of the record kinds refused by RL5 and RL7, without a database.

The alliance is the one of ``test_clearing_rules``; here cvs's program allows family pooling unless a spec
says otherwise, and ``m1``, ``m2`` are in cvs's family group ``F`` from 1 November 2026 (``m3`` in ``G``).
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts.errors import InvalidTerms
from contracts.offers import InvalidOffer
from contracts.terms import (
    RL7_FINANCIAL_TERMS,
    is_financial_category,
    is_financial_key,
    is_points_purchase,
    terms_from_json,
    terms_to_json,
)
from settlement import ledger
from settlement.clearing import Accepted, ClearingBook, ClearingContext, clear, keys_for
from settlement.errors import FileRefused
from settlement.families import Membership, group_at, pool_problem
from settlement.fileformat import RawDetail, RecordProblem, iter_details, to_record, write_file
from settlement.prohibited import prohibited_kind
from settlement.records import RecordKind, SettlementRecord
from tests.unit.test_clearing_rules import CVS, EYEWEAR, SHANGHAI, at, code_of, context, cvs_terms, earn, reversal
from tests.unit.test_clearing_rules import book as earn_book  # every key an EARN needs, budgets included
from tests.unit.test_offers import offer

JOINED = at(1, 0)
FAMILIES = {
    (CVS, "m1"): (Membership("F", JOINED),),
    (CVS, "m2"): (Membership("F", JOINED),),
    (CVS, "m3"): (Membership("G", JOINED),),
}


def pooling_context(*, allowed: bool = True, reporter: str = CVS) -> ClearingContext:
    return context(reporter, replace(cvs_terms(), family_pooling=allowed))


def pool(giver: str = "m1", receiver: str = "m2", points: int = 30, **changes: Any) -> SettlementRecord:
    fields: dict[str, Any] = {
        "seq": 1,
        "kind": RecordKind.FAMILY_POOL,
        "business_time": at(8),
        "issuer_id": CVS,
        "fulfiller_id": "",
        "member_token": giver,
        "to_member_token": receiver,
        "points": points,
        "amount_fen": 0,
    }
    return SettlementRecord(**(fields | changes))


def pool_book(record: SettlementRecord, *, giver_holds: int = 30, families: Any = None) -> ClearingBook:
    keys = keys_for([record], SHANGHAI)
    balances = dict.fromkeys(keys.balances, 0)
    balances[(CVS, record.member_token)] = giver_holds
    return ClearingBook(balances=balances, families=dict(FAMILIES if families is None else families))


def decide(record: SettlementRecord, ctx: ClearingContext | None = None, **book_options: Any) -> str:
    return code_of(clear(record, 100, ctx or pooling_context(), pool_book(record, **book_options)))


# ------------------------------------------------------------------ accepted moves
def test_a_pool_move_takes_the_givers_points_to_the_receiver_and_moves_no_money():
    record = pool(points=30)
    the_book = pool_book(record, giver_holds=30)
    decision = clear(record, 100, pooling_context(), the_book)
    assert isinstance(decision, Accepted)
    assert decision.transfers == (
        ledger.Transfer(ledger.member_account(CVS, "m1"), ledger.member_account(CVS, "m2"), 30),
    )
    assert decision.value_fen == 0 and decision.contract_pk == 10
    assert (the_book.balances[(CVS, "m1")], the_book.balances[(CVS, "m2")]) == (0, 30)


def test_keys_for_a_pool_line_name_both_members_balances_and_memberships():
    keys = keys_for([pool()], SHANGHAI)
    assert keys.balances == {(CVS, "m1"), (CVS, "m2")}
    assert keys.family_members == {(CVS, "m1"), (CVS, "m2")}


# ------------------------------------------------------------------ each refusal and the nearest input that passes
REFUSALS = [
    ("reported by a fulfiller", pool(), {"ctx": pooling_context(reporter=EYEWEAR)}, "RECORD_REPORTER_MISMATCH"),
    ("names a fulfiller", pool(fulfiller_id=EYEWEAR), {}, "RECORD_FIELD_INVALID"),
    ("no receiving member", pool(receiver=""), {}, "RECORD_FIELD_INVALID"),
    ("to the giver itself", pool(receiver="m1"), {}, "RECORD_FIELD_INVALID"),
    ("carries money", pool(amount_fen=1), {}, "RL7_POINTS_PURCHASE"),
    ("no points", pool(points=0), {}, "RECORD_POINTS_INVALID"),
    ("program without pooling", pool(), {"ctx": pooling_context(allowed=False)}, "RL6_POOLING_NOT_ALLOWED"),
    ("no program that day", pool(business_time=at(31, month=12, year=2025)), {}, "RL6_POOLING_NOT_ALLOWED"),
    ("giver in no group", pool(giver="m9"), {}, "RL6_NO_CONSENT"),
    ("receiver in no group", pool(receiver="m9"), {}, "RL6_NO_CONSENT"),
    ("before the membership was recorded", pool(business_time=JOINED - timedelta(seconds=1)), {}, "RL6_NO_CONSENT"),
    ("another family", pool(receiver="m3"), {}, "RL6_NOT_SAME_FAMILY"),
    ("more than the giver holds", pool(points=31), {}, "POINTS_INSUFFICIENT"),
]


@pytest.mark.parametrize(("case", "record", "options", "code"), REFUSALS, ids=[case for case, *_ in REFUSALS])
def test_a_pool_move_is_refused(case, record, options, code):
    assert decide(record, options.get("ctx")) == code


def test_the_nearest_moves_pass():
    assert decide(pool(points=30)) == "ACCEPTED"  # all the giver holds
    assert decide(pool(business_time=JOINED)) == "ACCEPTED"  # from the moment the membership was recorded
    assert decide(pool(points=1)) == "ACCEPTED"
    assert decide(pool(giver="m2", receiver="m1"), giver_holds=30) == "ACCEPTED"


def test_a_member_who_left_pools_nothing_from_that_moment():
    left = at(8)
    families = {**FAMILIES, (CVS, "m2"): (Membership("F", JOINED, left),)}
    assert decide(pool(business_time=left - timedelta(seconds=1)), families=families) == "ACCEPTED"
    assert decide(pool(business_time=left), families=families) == "RL6_NO_CONSENT"


def test_a_member_who_moved_to_another_family_pools_only_with_the_new_one():
    moved = at(8)
    families = {**FAMILIES, (CVS, "m2"): (Membership("F", JOINED, moved), Membership("G", moved))}
    assert decide(pool(business_time=moved), families=families) == "RL6_NOT_SAME_FAMILY"
    assert decide(pool(receiver="m3", business_time=moved, giver="m2"), families=families) == "ACCEPTED"


def test_membership_lookup_is_by_time_joined_inclusive_left_exclusive():
    memberships = (Membership("F", JOINED, at(8)), Membership("G", at(9)))
    moments = (JOINED - timedelta(seconds=1), JOINED, at(8) - timedelta(seconds=1), at(8), at(9))
    assert [group_at(memberships, moment) for moment in moments] == [None, "F", "F", None, "G"]
    assert pool_problem(FAMILIES, CVS, "m1", "m2", at(8)) is None


def test_a_pool_line_cannot_be_reversed():
    ctx = pooling_context()
    the_book = pool_book(pool(), giver_holds=30)
    assert isinstance(clear(pool(), 100, ctx, the_book), Accepted)
    back = reversal("F1#1", member="m1", points=10)
    the_book.balances.setdefault((CVS, "m1"), 0)
    assert code_of(clear(back, 101, ctx, the_book)) == "REV_ORIGINAL_NOT_REVERSIBLE"


# ------------------------------------------------------------------ no other member-to-member movement (RL6)
def test_any_other_kind_naming_a_receiving_member_is_refused_under_rl6():
    record = replace(earn(), to_member_token="m2")
    ctx = context(CVS)
    assert code_of(clear(record, 100, ctx, earn_book([record]))) == "RL6_TRANSFER_NOT_ALLOWED"
    plain = earn()
    assert code_of(clear(plain, 101, ctx, earn_book([plain]))) == "ACCEPTED"


# ------------------------------------------------------------------ kinds refused by a red line, not as unknown
@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("CASH_OUT", "RL5_CASH_OUT"),
        ("cash-out", "RL5_CASH_OUT"),
        ("WITHDRAW", "RL5_CASH_OUT"),
        ("REFUND_TO_CASH", "RL5_CASH_OUT"),
        ("TRANSFER", "RL6_TRANSFER_NOT_ALLOWED"),
        ("GIFT", "RL6_TRANSFER_NOT_ALLOWED"),
        ("INTEREST", "RL7_INTEREST"),
        ("APPRECIATION", "RL7_INTEREST"),
        ("TOP_UP", "RL7_POINTS_PURCHASE"),
        ("BUY_POINTS", "RL7_POINTS_PURCHASE"),
        ("PURCHASE_POINTS", "RL7_POINTS_PURCHASE"),
        ("PLEDGE", "RL7_COLLATERAL"),
        ("Collateral", "RL7_COLLATERAL"),
    ],
)
def test_a_prohibited_kind_is_refused_record_by_record_with_its_red_line(kind, code):
    problem = to_record(raw(kind=kind))
    assert isinstance(problem, RecordProblem) and problem.code == code
    assert prohibited_kind(kind) is not None


@pytest.mark.parametrize("kind", ["BONUS", "EARNS", "CASH", "POOL"])
def test_other_unknown_kinds_stay_unknown(kind):
    problem = to_record(raw(kind=kind))
    assert isinstance(problem, RecordProblem) and problem.code == "RECORD_KIND_UNKNOWN"


# ------------------------------------------------------------------ EARN of points themselves (RL7)
@pytest.mark.parametrize("category", ["points", "point-purchase", "POINTS_TOPUP", "top-up", "recharge", "积分充值"])
def test_an_earn_on_a_purchase_of_points_is_refused_under_rl7(category):
    assert is_points_purchase(category)
    record = earn(category=category)
    assert code_of(clear(record, 100, context(CVS), earn_book([record]))) == "RL7_POINTS_PURCHASE"


@pytest.mark.parametrize("category", ["", "groceries", "appointment", "checkpoint-cafe", "pointe-shoes"])
def test_an_earn_on_an_ordinary_purchase_passes(category):
    assert not is_points_purchase(category)
    record = earn(category=category)
    assert code_of(clear(record, 100, context(CVS), earn_book([record]))) == "ACCEPTED"


# ------------------------------------------------------------------ contract terms with financial attributes (RL7)
@pytest.mark.parametrize("key", ["interest_rate", "annual_interest", "appreciation", "yield", "collateral", "apr"])
def test_terms_with_a_financial_key_are_refused_under_rl7(key):
    document = terms_to_json(cvs_terms()) | {key: "0.01"}
    with pytest.raises(InvalidTerms) as caught:
        terms_from_json(document)
    assert caught.value.code == RL7_FINANCIAL_TERMS and "RL7" in caught.value.message
    assert is_financial_key(key)


def test_a_fulfillers_financial_key_is_refused_under_rl7_too():
    document = terms_to_json(cvs_terms())
    document["fulfillers"][0] = {**document["fulfillers"][0], "pledge_points": True}
    with pytest.raises(InvalidTerms) as caught:
        terms_from_json(document)
    assert caught.value.code == RL7_FINANCIAL_TERMS
    assert caught.value.message.startswith("fulfillers[0]: 'pledge_points'")


def test_any_other_unknown_key_is_an_ordinary_terms_error_and_pooling_terms_pass():
    with pytest.raises(InvalidTerms) as caught:
        terms_from_json(terms_to_json(cvs_terms()) | {"colour": "red"})
    assert caught.value.code == "CONTRACT_TERMS_INVALID"
    pooled = replace(cvs_terms(), family_pooling=True)
    assert terms_from_json(terms_to_json(pooled)) == pooled


# ------------------------------------------------------------------ the 14th field of CHSF/1
def raw(**changes: Any) -> RawDetail:
    fields: dict[str, Any] = {
        "line_no": 2,
        "seq": 1,
        "kind": "FAMILY_POOL",
        "business_time": "2026-11-08T12:00:00+08:00",
        "issuer_id": CVS,
        "fulfiller_id": "",
        "member_token": "m1",
        "points": 30,
        "amount_fen": 0,
        "receipt_ref": "",
        "category": "",
        "offer_ref": "",
        "original": "",
        "to_member": "m2",
    }
    return RawDetail(**(fields | changes))


def file_of(*details: str) -> bytes:
    lines = ["H,CHSF/1,cvs,F1,2026-12-01T01:00:00Z", *details, f"T,{len(details)},30,0"]
    return ("\n".join(lines) + "\n").encode()


POOL_LINE = "D,1,FAMILY_POOL,2026-11-08T12:00:00+08:00,cvs,,m1,30,0,,,,,m2"


def test_a_pool_line_names_its_receiver_in_a_fourteenth_field():
    (detail,) = [item for item in iter_details(io.BytesIO(file_of(POOL_LINE))) if isinstance(item, RawDetail)]
    record = to_record(detail)
    assert isinstance(record, SettlementRecord)
    assert (record.kind, record.member_token, record.to_member_token) == (RecordKind.FAMILY_POOL, "m1", "m2")


def test_a_thirteen_field_line_is_still_valid_and_names_no_receiver():
    line = "D,1,EARN,2026-11-05T12:00:00+08:00,cvs,,m1,30,3000,R-1,,,"
    data = file_of(line).replace(b"T,1,30,0", b"T,1,30,3000")
    (detail,) = [item for item in iter_details(io.BytesIO(data)) if isinstance(item, RawDetail)]
    assert detail.to_member == ""


def test_a_fifteen_field_line_refuses_the_file():
    with pytest.raises(FileRefused) as caught:
        list(iter_details(io.BytesIO(file_of(POOL_LINE + ",extra"))))
    assert caught.value.code == "FILE_RECORD_MALFORMED"


def test_a_receiver_with_control_characters_is_refused_for_that_record():
    problem = to_record(raw(to_member="m\x07"))
    assert isinstance(problem, RecordProblem) and problem.code == "RECORD_FIELD_INVALID"


def test_the_writer_adds_the_fourteenth_field_only_to_lines_naming_a_receiver():
    out = io.BytesIO()
    moment = datetime(2026, 12, 1, 1, 0, tzinfo=SHANGHAI)
    write_file(out, partner_id=CVS, file_id="F1", created_at=moment, records=[earn(), replace(pool(), seq=2)])
    lines = out.getvalue().decode().splitlines()
    assert [line.count(",") for line in lines[1:3]] == [12, 13]
    assert lines[2].endswith(",m2")


# ------------------------------------------------------------------ offer categories with a financial use (RL7)
@pytest.mark.parametrize("category", ["loan", "pledge", "collateral", "interest", "points", "top-up", "yield-plan"])
def test_a_financial_offer_category_is_refused_in_offers_and_contracts_under_rl7(category):
    with pytest.raises(InvalidOffer) as caught:
        offer(category=category)
    assert caught.value.code == "RL7_FINANCIAL_OFFER"
    fulfiller = replace(cvs_terms().fulfillers[0], categories=frozenset({"cinema"}))
    with pytest.raises(InvalidTerms) as refused:
        replace(fulfiller, categories=frozenset({category}))
    assert refused.value.code == RL7_FINANCIAL_TERMS


@pytest.mark.parametrize("category", ["eyewear", "appointment", "checkpoint-cafe", "green-goods"])
def test_an_ordinary_offer_category_passes(category):
    assert offer(category=category).category == category
    assert not is_financial_category(category)
