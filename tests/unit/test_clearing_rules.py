"""Specs of the clearing rules (``settlement.clearing.clear``), without a database.

The alliance of these specs: ``cvs`` issues points (earn cap 1 point per yuan) redeemable at ``cinema``
(7.5 fen per point, category ``cinema``) and ``eyewear`` (8.8 fen per point, category ``eyewear``) from
2026-01-01; ``ride`` is an online platform whose licence is checked when it issues.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.terms import ContractTerms, FulfillerTerms, Rounding
from partners.model import Licence, Partner, Role
from settlement import ledger
from settlement.budgets import Budget
from settlement.clearing import (
    Accepted,
    ActiveContract,
    ClearingBook,
    ClearingContext,
    Decision,
    Refused,
    clear,
    keys_for,
)
from settlement.periods import Period
from settlement.records import RecordKind, RecordRef, SettlementRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
NOV, DEC, OCT = Period(2026, 11), Period(2026, 12), Period(2026, 10)
CVS, CINEMA, EYEWEAR, RIDE = "cvs", "cinema", "eyewear", "ride"
GENEROUS = Budget(10**12, Decimal("1"))


def at(day: int, hour: int = 12, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def partner(partner_id: str, *roles: Role, online: bool = False, licence: Licence | None = None) -> Partner:
    return Partner(
        partner_id=partner_id,
        name=partner_id.title(),
        roles=frozenset(roles),
        category="retail",
        operates_online_platform=online,
        licence=licence,
    )


PARTNERS = {
    CVS: partner(CVS, Role.ISSUER, Role.FULFILLER),
    CINEMA: partner(CINEMA, Role.FULFILLER),
    EYEWEAR: partner(EYEWEAR, Role.ISSUER, Role.FULFILLER),
    RIDE: partner(RIDE, Role.ISSUER, Role.FULFILLER, online=True, licence=Licence("京B2-20260417", date(2026, 11, 15))),
}


def cvs_terms(
    *,
    rounding: Rounding = Rounding.HALF_UP,
    cinema_rate: str = "7.5",
    cinema_cap: int | None = None,
    effective_from: date = date(2026, 1, 1),
    effective_to: date | None = None,
    contract_id: str = "cvs-alliance",
) -> ContractTerms:
    return ContractTerms(
        contract_id=contract_id,
        version=1,
        previous_hash=None,
        title="cvs 联盟协议",
        issuer_id=CVS,
        earn_cap_points_per_yuan=Decimal("1"),
        fulfillers=(
            FulfillerTerms(
                fulfiller_id=CINEMA,
                rate_fen_per_point=Decimal(cinema_rate),
                categories=frozenset({"cinema"}),
                cap_points_per_period=cinema_cap,
            ),
            FulfillerTerms(
                fulfiller_id=EYEWEAR, rate_fen_per_point=Decimal("8.8"), categories=frozenset({"eyewear", "gift-box"})
            ),
        ),
        effective_from=effective_from,
        effective_to=effective_to,
        rounding=rounding,
    )


def ride_terms() -> ContractTerms:
    return ContractTerms(
        contract_id="ride-alliance",
        version=1,
        previous_hash=None,
        title="ride 联盟协议",
        issuer_id=RIDE,
        earn_cap_points_per_yuan=Decimal("2"),
        fulfillers=(
            FulfillerTerms(fulfiller_id=CINEMA, rate_fen_per_point=Decimal("5"), categories=frozenset({"cinema"})),
        ),
        effective_from=date(2026, 1, 1),
    )


def context(
    reporter: str, *contracts: ContractTerms, closed: frozenset[Period] = frozenset(), file_id: str = "F1"
) -> ClearingContext:
    terms = contracts or (cvs_terms(), ride_terms())
    return ClearingContext(
        reporter_id=reporter,
        file_id=file_id,
        partners=PARTNERS,
        contracts=tuple(ActiveContract(pk, t) for pk, t in enumerate(terms, start=10)),
        closed_periods=closed,
        zone=SHANGHAI,
        received_at=RECEIVED,
    )


def book(
    records: list[SettlementRecord],
    balances: dict[tuple[str, str], int] | None = None,
    used: dict[tuple[str, str, Period], int] | None = None,
    budgets: dict[tuple[str, Period], Budget | None] | None = None,
) -> ClearingBook:
    """A book holding every key the records need: the given balances, cap usage and budgets (a generous
    budget, nothing used, where none is given), zero elsewhere."""
    keys = keys_for(records, SHANGHAI)
    return ClearingBook(
        balances={key: (balances or {}).get(key, 0) for key in keys.balances},
        redeemed_in_period={key: (used or {}).get(key, 0) for key in keys.redeemed_in_period},
        budgets={key: (budgets or {}).get(key, GENEROUS) for key in keys.budgets},
        issued_in_period=dict.fromkeys(keys.budgets, 0),
    )


def earn(member: str = "m1", points: int = 100, spend: int | None = None, **changes: Any) -> SettlementRecord:
    fields: dict[str, Any] = {
        "seq": 1,
        "kind": RecordKind.EARN,
        "business_time": at(5),
        "issuer_id": CVS,
        "fulfiller_id": "",
        "member_token": member,
        "points": points,
        "amount_fen": points * 100 if spend is None else spend,
        "receipt_ref": "R-1",
    }
    return SettlementRecord(**(fields | changes))


def redeem(member: str = "m1", points: int = 100, **changes: Any) -> SettlementRecord:
    fields: dict[str, Any] = {
        "seq": 1,
        "kind": RecordKind.REDEEM,
        "business_time": at(6),
        "issuer_id": CVS,
        "fulfiller_id": CINEMA,
        "member_token": member,
        "points": points,
        "amount_fen": 0,
        "category": "cinema",
        "offer_ref": "OFFER",
    }
    return SettlementRecord(**(fields | changes))


def reversal(original: str, member: str = "m1", points: int = 10, spend: int = 0, **changes: Any) -> SettlementRecord:
    file_id, _, seq = original.partition("#")
    fields: dict[str, Any] = {
        "seq": 2,
        "kind": RecordKind.REVERSAL,
        "business_time": at(7),
        "issuer_id": CVS,
        "fulfiller_id": "",
        "member_token": member,
        "points": points,
        "amount_fen": spend,
        "original": RecordRef(file_id, int(seq)),
    }
    return SettlementRecord(**(fields | changes))


def run(ctx: ClearingContext, records: list[SettlementRecord], the_book: ClearingBook | None = None) -> list[Decision]:
    """Clear the records in order on one book (record ids 100, 101, ...)."""
    the_book = the_book if the_book is not None else book(records)
    return [clear(record, 100 + index, ctx, the_book) for index, record in enumerate(records)]


def only(decisions: list[Decision]) -> Decision:
    (decision,) = decisions
    return decision


def code_of(decision: Decision) -> str:
    return decision.code if isinstance(decision, Refused) else "ACCEPTED"


def member(account_member: str = "m1", issuer: str = CVS) -> ledger.Account:
    return ledger.member_account(issuer, account_member)


# ------------------------------------------------------------------ EARN
def test_an_earn_credits_the_member_from_the_issuers_issued_account():
    the_book = book([earn()])
    decision = only(run(context(CVS), [earn("m1", 100, 10000)], the_book))
    assert isinstance(decision, Accepted)
    assert decision.transfers == (ledger.Transfer(ledger.issued_account(CVS), member("m1"), 100),)
    assert (decision.value_fen, decision.business_period, decision.settlement_period) == (0, NOV, NOV)
    assert (decision.contract_pk, decision.original_id, decision.record_id) == (10, None, 100)
    assert the_book.balances[(CVS, "m1")] == 100
    assert the_book.originals[RecordRef("F1", 1)].points_left == 100
    assert the_book.originals[RecordRef("F1", 1)].spend_left_fen == 10000


@pytest.mark.parametrize(
    ("case", "reporter", "record", "expected"),
    [
        ("exactly at the cap: 1 point per yuan", CVS, earn(points=100, spend=10000), "ACCEPTED"),
        ("cap is floored: 199 fen earn 1 point", CVS, earn(points=1, spend=199), "ACCEPTED"),
        ("one point over the cap", CVS, earn(points=101, spend=10000), "EARN_OVER_PROGRAM_CAP"),
        ("2 points for 199 fen", CVS, earn(points=2, spend=199), "EARN_OVER_PROGRAM_CAP"),
        ("1 point for 99 fen", CVS, earn(points=1, spend=99), "EARN_OVER_PROGRAM_CAP"),
        ("reported by someone else", EYEWEAR, earn(), "RECORD_REPORTER_MISMATCH"),
        ("a fulfiller without the issuer role", CINEMA, earn(issuer_id=CINEMA), "RECORD_REPORTER_MISMATCH"),
        ("names a fulfiller", CVS, earn(fulfiller_id=CINEMA), "RECORD_FIELD_INVALID"),
        ("names an original", CVS, earn(original=RecordRef("F0", 1)), "RECORD_FIELD_INVALID"),
        ("no member", CVS, earn(member=""), "RL1_MEMBER_MISSING"),
        ("no receipt", CVS, earn(receipt_ref=""), "RL1_RECEIPT_MISSING"),
        ("no spend", CVS, earn(points=1, spend=0), "RL1_SPEND_NOT_POSITIVE"),
        ("negative spend", CVS, earn(points=1, spend=-100), "RL1_SPEND_NOT_POSITIVE"),
        ("zero points", CVS, earn(points=0, spend=100), "RECORD_POINTS_INVALID"),
        ("negative points", CVS, earn(points=-1, spend=100), "RECORD_POINTS_INVALID"),
        (
            "online issuer, licence in date on the record's day but lapsed when reported (no backdating)",
            RIDE,
            earn(issuer_id=RIDE, business_time=at(15, 23)),
            "RL4_LICENCE_INVALID",
        ),
        (
            "online issuer, licence expired the day before",
            RIDE,
            earn(issuer_id=RIDE, business_time=at(16, 0)),
            "RL4_LICENCE_INVALID",
        ),
        (
            "before the contract starts",
            CVS,
            earn(business_time=at(31, 23, month=12, year=2025)),
            "EARN_NO_ACTIVE_PROGRAM",
        ),
        ("unknown issuer", CVS, earn(issuer_id="ghost"), "RECORD_PARTNER_UNKNOWN"),
        ("11 minutes in the future", CVS, earn(business_time=RECEIVED + timedelta(minutes=11)), "RECORD_TIME_INVALID"),
        (
            "10 minutes in the future (clock drift)",
            CVS,
            earn(business_time=RECEIVED + timedelta(minutes=10)),
            "ACCEPTED",
        ),
    ],
)
def test_earn(case, reporter, record, expected):
    assert code_of(only(run(context(reporter), [record]))) == expected


def test_another_issuers_cap_applies_to_its_own_earnings():
    """ride's program gives 2 points per yuan (reported while its licence is in date)."""
    reported = replace(context(RIDE), received_at=at(14, 13))
    assert code_of(only(run(reported, [earn(points=200, spend=10000, issuer_id=RIDE, business_time=at(14))]))) == (
        "ACCEPTED"
    )


def test_an_online_issuer_in_date_on_the_day_and_when_reporting_is_accepted():
    reported_in_time = replace(context(RIDE), received_at=at(15, 23) + timedelta(minutes=30))
    assert code_of(only(run(reported_in_time, [earn(issuer_id=RIDE, business_time=at(15, 23))]))) == "ACCEPTED"


def test_earn_after_the_contract_ends_has_no_program():
    ctx = context(CVS, cvs_terms(effective_to=date(2026, 11, 1)))
    assert code_of(only(run(ctx, [earn(business_time=at(1, 0))]))) == "EARN_NO_ACTIVE_PROGRAM"
    assert code_of(only(run(ctx, [earn(business_time=at(31, 23, month=10))]))) == "ACCEPTED"


def test_a_refused_record_leaves_the_book_untouched():
    the_book = book([earn()], balances={(CVS, "m1"): 7})
    before = (dict(the_book.balances), dict(the_book.originals), dict(the_book.redeemed_in_period))
    assert isinstance(only(run(context(CVS), [earn(points=0)], the_book)), Refused)
    assert (the_book.balances, the_book.originals, the_book.redeemed_in_period) == before


# ------------------------------------------------------------------ REDEEM
def test_a_redeem_makes_the_issuer_owe_the_fulfiller():
    the_book = book([redeem()], balances={(CVS, "m1"): 500})
    decision = only(run(context(CINEMA), [redeem("m1", 400)], the_book))
    assert isinstance(decision, Accepted)
    assert decision.transfers[1:] == (
        ledger.Transfer(ledger.position_account(CINEMA), ledger.position_account(CVS), 3000),
    )
    assert decision.value_fen == 3000
    assert the_book.balances[(CVS, "m1")] == 100
    assert the_book.redeemed_in_period[(CVS, CINEMA, NOV)] == 400


def test_a_redeem_burns_the_members_points_into_the_fulfillers_redeemed_account():
    the_book = book([redeem()], balances={(CVS, "m1"): 500})
    decision = only(run(context(CINEMA), [redeem("m1", 400)], the_book))
    assert isinstance(decision, Accepted)
    assert decision.transfers[0] == ledger.Transfer(member("m1"), ledger.redeemed_account(CVS, CINEMA), 400)


def member_net(decision: Decision, account: ledger.Account) -> int:
    """What the decision's transfers add to ``account``'s credits − debits (a member's balance)."""
    assert isinstance(decision, Accepted)
    return sum(t.amount for t in decision.transfers if t.credit == account) - sum(
        t.amount for t in decision.transfers if t.debit == account
    )


def _after_earn(record: SettlementRecord) -> tuple[ClearingContext, ClearingBook]:
    ctx, the_book = cleared_earn_and_book()
    return ctx, the_book


def _after_redeem(record: SettlementRecord) -> tuple[ClearingContext, ClearingBook]:
    ctx, the_book, _ = cleared_redeem_and_book(100)
    the_book.balances[(CVS, "m1")] = 50
    return ctx, the_book


def _fresh(reporter: str) -> Any:
    def setup(record: SettlementRecord) -> tuple[ClearingContext, ClearingBook]:
        return context(reporter), book([record], balances={(CVS, "m1"): 500})

    return setup


@pytest.mark.parametrize(
    ("setup", "record"),
    [
        pytest.param(_fresh(CVS), earn(points=100), id="EARN"),
        pytest.param(_fresh(CINEMA), redeem(points=100), id="REDEEM"),
        pytest.param(_after_earn, reversal("F1#1", points=30), id="REVERSAL of an EARN"),
        pytest.param(
            _after_redeem,
            reversal("F1#1", points=30, fulfiller_id=CINEMA),
            id="REVERSAL of a REDEEM",
        ),
    ],
)
def test_the_ledger_moves_the_members_balance_exactly_as_the_book_does(setup, record):
    ctx, the_book = setup(record)
    before = the_book.balances[(CVS, "m1")]
    decision = clear(record, 300, ctx, the_book)
    assert member_net(decision, member("m1")) == the_book.balances[(CVS, "m1")] - before


@pytest.mark.parametrize(
    ("case", "reporter", "record", "expected"),
    [
        ("all the member's points", CINEMA, redeem(points=500), "ACCEPTED"),
        ("one more than the member holds", CINEMA, redeem(points=501), "POINTS_INSUFFICIENT"),
        ("reported by the issuer", CVS, redeem(), "RECORD_REPORTER_MISMATCH"),
        ("reported by another fulfiller", EYEWEAR, redeem(), "RECORD_REPORTER_MISMATCH"),
        ("no category", CINEMA, redeem(category=""), "RECORD_FIELD_INVALID"),
        ("names an original", CINEMA, redeem(original=RecordRef("F0", 1)), "RECORD_FIELD_INVALID"),
        ("negative face value", CINEMA, redeem(amount_fen=-1), "RECORD_FIELD_INVALID"),
        ("no member", CINEMA, redeem(member=""), "RECORD_MEMBER_MISSING"),
        ("zero points", CINEMA, redeem(points=0), "RECORD_POINTS_INVALID"),
        ("at the issuer itself", CVS, redeem(fulfiller_id=CVS, category="groceries"), "RECORD_SAME_PARTY"),
        ("a gift card", CINEMA, redeem(category="gift_card"), "RL5_CASH_EQUIVALENT"),
        ("CASH in capitals", CINEMA, redeem(category="CASH"), "RL5_CASH_EQUIVALENT"),
        ("lottery tickets", CINEMA, redeem(category="lottery"), "RL5_CASH_EQUIVALENT"),
        ("no contract between the two", CINEMA, redeem(issuer_id=EYEWEAR), "RL2_NO_ACTIVE_CONTRACT"),
        (
            "before the contract starts",
            CINEMA,
            redeem(business_time=at(31, 12, month=12, year=2025)),
            "RL2_NO_ACTIVE_CONTRACT",
        ),
        ("a category of another fulfiller", CINEMA, redeem(category="eyewear"), "RL2_CATEGORY_NOT_ALLOWED"),
        ("a category in another case", CINEMA, redeem(category="Cinema"), "RL2_CATEGORY_NOT_ALLOWED"),
        ("unknown fulfiller", CINEMA, redeem(fulfiller_id="ghost"), "RECORD_PARTNER_UNKNOWN"),
        ("unknown issuer", CINEMA, redeem(issuer_id="ghost"), "RECORD_PARTNER_UNKNOWN"),
        ("in the future", CINEMA, redeem(business_time=at(4, month=12)), "RECORD_TIME_INVALID"),
    ],
)
def test_redeem(case, reporter, record, expected):
    the_book = book([record], balances={(record.issuer_id, record.member_token): 500})
    assert code_of(only(run(context(reporter), [record], the_book))) == expected


@pytest.mark.parametrize("category", ["gift-card", "prepaid-card", "stored-value", "cash-equivalent"])
def test_redeem_of_a_hyphenated_cash_equivalent_is_refused_under_rl5(category):
    the_book = book([redeem()], balances={(CVS, "m1"): 500})
    assert code_of(only(run(context(CINEMA), [redeem(category=category)], the_book))) == "RL5_CASH_EQUIVALENT"


def test_the_cap_per_period_counts_what_was_already_redeemed():
    ctx = context(CINEMA, cvs_terms(cinema_cap=1000))
    records = [
        redeem(points=600, seq=1),
        redeem(points=401, seq=2),
        redeem(points=400, seq=3),
        redeem(points=1, seq=4),
        redeem(points=1, seq=5, business_time=at(1, month=12)),
    ]
    the_book = book(records, balances={(CVS, "m1"): 5000})
    assert [code_of(d) for d in run(ctx, records, the_book)] == [
        "ACCEPTED",
        "CONTRACT_CAP_EXCEEDED",
        "ACCEPTED",
        "CONTRACT_CAP_EXCEEDED",
        "ACCEPTED",
    ]
    assert the_book.redeemed_in_period == {(CVS, CINEMA, NOV): 1000, (CVS, CINEMA, DEC): 1}


def test_the_cap_is_checked_before_the_balance():
    ctx = context(CINEMA, cvs_terms(cinema_cap=100))
    assert code_of(only(run(ctx, [redeem(points=101)]))) == "CONTRACT_CAP_EXCEEDED"


def test_a_later_record_sees_the_balance_left_by_an_earlier_one():
    records = [redeem(points=300, seq=1), redeem(points=300, seq=2), redeem(points=200, seq=3)]
    the_book = book(records, balances={(CVS, "m1"): 500})
    assert [code_of(d) for d in run(context(CINEMA), records, the_book)] == [
        "ACCEPTED",
        "POINTS_INSUFFICIENT",
        "ACCEPTED",
    ]
    assert the_book.balances[(CVS, "m1")] == 0


def test_points_of_two_issuers_are_separate_balances():
    records = [redeem(points=100, issuer_id=RIDE, seq=1), redeem(points=100, seq=2)]
    the_book = book(records, balances={(RIDE, "m1"): 0, (CVS, "m1"): 100})
    assert [code_of(d) for d in run(context(CINEMA), records, the_book)] == ["POINTS_INSUFFICIENT", "ACCEPTED"]


def test_overlapping_contracts_clear_nothing():
    ctx = context(CINEMA, cvs_terms(), cvs_terms(contract_id="cvs-second"))
    the_book = book([redeem()], balances={(CVS, "m1"): 500})
    assert code_of(only(run(ctx, [redeem()], the_book))) == "RL2_NO_ACTIVE_CONTRACT"


# ------------------------------------------------------------------ rounding, per line
@pytest.mark.parametrize(
    ("rate", "points", "half_up", "half_even", "down", "up"),
    [
        ("7.5", 3, 23, 22, 22, 23),  # 22.5: a tie
        ("7.5", 1, 8, 8, 7, 8),  # 7.5: a tie to the even 8
        ("0.35", 1, 0, 0, 0, 1),  # 0.35
        ("0.35", 3, 1, 1, 1, 2),  # 1.05
        ("0.0001", 4999, 0, 0, 0, 1),  # 0.4999
        ("8.8", 5, 44, 44, 44, 44),  # exact
        ("1.2345", 2, 2, 2, 2, 3),  # 2.469
    ],
)
def test_a_redeems_value_is_rounded_by_the_contracts_rule(rate, points, half_up, half_even, down, up):
    for rounding, expected in zip(Rounding, (half_up, half_even, down, up), strict=True):
        ctx = context(CINEMA, cvs_terms(rounding=rounding, cinema_rate=rate))
        the_book = book([redeem()], balances={(CVS, "m1"): points})
        decision = only(run(ctx, [redeem(points=points)], the_book))
        assert isinstance(decision, Accepted)
        assert decision.value_fen == expected, rounding
        cny = [t for t in decision.transfers if t.unit == ledger.CNY]
        assert [t.amount for t in cny] == ([expected] if expected else [])


def test_rounding_is_per_line_not_per_file():
    ctx = context(CINEMA)
    records = [redeem(points=1, seq=1), redeem(points=1, seq=2), redeem(points=2, seq=3)]
    the_book = book(records, balances={(CVS, "m1"): 4})
    values = [d.value_fen for d in run(ctx, records, the_book) if isinstance(d, Accepted)]
    assert values == [8, 8, 15]  # 7.5 → 8 twice, but 15.0 for the pair on one line


# ------------------------------------------------------------------ REVERSAL
def cleared_earn_and_book(points: int = 100, spend: int = 10000) -> tuple[ClearingContext, ClearingBook]:
    ctx = context(CVS)
    the_book = book([earn()])
    assert isinstance(only(run(ctx, [earn(points=points, spend=spend)], the_book)), Accepted)
    return ctx, the_book


def test_a_partial_reversal_of_an_earn_gives_points_back_to_the_issuer():
    ctx, the_book = cleared_earn_and_book()
    decision = clear(reversal("F1#1", points=30, spend=3000), 200, ctx, the_book)
    assert isinstance(decision, Accepted)
    assert decision.transfers == (ledger.Transfer(member("m1"), ledger.issued_account(CVS), 30),)
    assert (decision.value_fen, decision.original_id, decision.contract_pk) == (0, 100, None)
    assert the_book.balances[(CVS, "m1")] == 70
    left = the_book.originals[RecordRef("F1", 1)]
    assert (left.points_left, left.spend_left_fen) == (70, 7000)


@pytest.mark.parametrize(
    ("case", "record", "expected"),
    [
        ("all the points and all the spend", reversal("F1#1", points=100, spend=10000), "ACCEPTED"),
        (
            "spend only, keeping points the rest of the purchase no longer earns",
            reversal("F1#1", points=0, spend=500),
            "RL1_POINTS_WITHOUT_PURCHASE",
        ),
        ("spend with the points it earned", reversal("F1#1", points=5, spend=500), "ACCEPTED"),
        ("one point more than the original", reversal("F1#1", points=101), "REV_EXCEEDS_ORIGINAL"),
        ("one fen more spend than the original", reversal("F1#1", points=1, spend=10001), "REV_EXCEEDS_ORIGINAL"),
        ("nothing at all", reversal("F1#1", points=0, spend=0), "RECORD_POINTS_INVALID"),
        ("negative points", reversal("F1#1", points=-1), "RECORD_POINTS_INVALID"),
        ("negative spend", reversal("F1#1", points=1, spend=-1), "RECORD_POINTS_INVALID"),
        ("another member", reversal("F1#1", member="m2"), "REV_ORIGINAL_MISMATCH"),
        ("another issuer", reversal("F1#1", issuer_id=EYEWEAR), "REV_ORIGINAL_MISMATCH"),
        ("a fulfiller the earn never had", reversal("F1#1", fulfiller_id=CINEMA), "REV_ORIGINAL_MISMATCH"),
        ("an hour before the earn", reversal("F1#1", business_time=at(5, 11)), "REV_BEFORE_ORIGINAL"),
        ("the same instant as the earn", reversal("F1#1", business_time=at(5)), "ACCEPTED"),
        ("an unknown original", reversal("F1#9"), "REV_ORIGINAL_NOT_FOUND"),
        ("an original of another file", reversal("F0#1"), "REV_ORIGINAL_NOT_FOUND"),
        ("no original", replace(reversal("F1#1"), original=None), "REV_ORIGINAL_MISSING"),
    ],
)
def test_reversal_of_an_earn(case, record, expected):
    ctx, the_book = cleared_earn_and_book()
    assert code_of(clear(record, 200, ctx, the_book)) == expected


def test_a_reversal_cannot_be_reversed():
    ctx, the_book = cleared_earn_and_book()
    assert isinstance(clear(reversal("F1#1", points=10), 200, ctx, the_book), Accepted)
    assert code_of(clear(reversal("F1#2", points=1, seq=3), 201, ctx, the_book)) == "REV_ORIGINAL_NOT_REVERSIBLE"


def test_reversals_of_an_earn_never_add_up_to_more_than_it():
    ctx, the_book = cleared_earn_and_book()
    codes = [code_of(clear(reversal("F1#1", points=40, seq=seq), seq, ctx, the_book)) for seq in (2, 3, 4)]
    assert codes == ["ACCEPTED", "ACCEPTED", "REV_EXCEEDS_ORIGINAL"]
    assert the_book.originals[RecordRef("F1", 1)].points_left == 20


def test_reversing_an_earn_whose_points_were_spent_is_refused():
    ctx, the_book = cleared_earn_and_book()
    the_book.balances[(CVS, "m1")] = 30  # 70 points were redeemed meanwhile
    assert code_of(clear(reversal("F1#1", points=31), 200, ctx, the_book)) == "POINTS_INSUFFICIENT"
    assert code_of(clear(reversal("F1#1", points=30), 201, ctx, the_book)) == "ACCEPTED"


def cleared_redeem_and_book(
    points: int, rate: str = "7.5", rounding: Rounding = Rounding.HALF_UP
) -> tuple[ClearingContext, ClearingBook, Accepted]:
    ctx = context(CINEMA, cvs_terms(rounding=rounding, cinema_rate=rate))
    the_book = book([redeem()], balances={(CVS, "m1"): points})
    decision = only(run(ctx, [redeem(points=points)], the_book))
    assert isinstance(decision, Accepted)
    return ctx, the_book, decision


def redeem_reversal(points: int, seq: int = 2) -> SettlementRecord:
    return reversal("F1#1", points=points, fulfiller_id=CINEMA, seq=seq)


def test_a_partial_reversal_of_a_redeem_gives_points_and_money_back():
    ctx, the_book, _ = cleared_redeem_and_book(3)  # 22.5 → 23 fen
    decision = clear(redeem_reversal(1), 200, ctx, the_book)
    assert isinstance(decision, Accepted)
    assert decision.transfers[1:] == (
        ledger.Transfer(ledger.position_account(CVS), ledger.position_account(CINEMA), 8),
    )
    assert decision.value_fen == -8
    assert the_book.balances[(CVS, "m1")] == 1
    assert the_book.originals[RecordRef("F1", 1)].value_left_fen == 15


def test_full_reversal_of_a_redeem_in_single_points_nets_to_zero():
    ctx, the_book, redeemed = cleared_redeem_and_book(3)  # 23 fen; one point is worth 7.5 → 8
    values = [clear(redeem_reversal(1, seq=seq), seq, ctx, the_book) for seq in (2, 3, 4)]
    assert [d.value_fen for d in values if isinstance(d, Accepted)] == [-8, -8, -7]
    assert redeemed.value_fen + sum(d.value_fen for d in values if isinstance(d, Accepted)) == 0


def test_a_reversal_of_a_redeem_must_name_its_fulfiller():
    ctx, the_book, _ = cleared_redeem_and_book(3)
    assert code_of(clear(reversal("F1#1", points=1), 200, ctx, the_book)) == "REV_ORIGINAL_MISMATCH"


def test_a_reversal_of_a_redeem_cannot_exceed_it():
    ctx, the_book, _ = cleared_redeem_and_book(3)
    assert code_of(clear(redeem_reversal(4), 200, ctx, the_book)) == "REV_EXCEEDS_ORIGINAL"


def test_a_reversal_of_a_redeem_giving_back_no_points_is_refused():
    ctx, the_book, _ = cleared_redeem_and_book(3)
    record = replace(redeem_reversal(0), amount_fen=500)
    assert code_of(clear(record, 200, ctx, the_book)) == "RECORD_POINTS_INVALID"


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=200_000).map(lambda n: Decimal(n).scaleb(-4)),
    rounding=st.sampled_from(list(Rounding)),
    parts=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=12),
    stop_early=st.booleans(),
)
def test_partial_reversals_of_a_redeem_never_exceed_it_and_a_full_one_sums_back_exactly(
    rate, rounding, parts, stop_early
):
    points = sum(parts)
    ctx, the_book, redeemed = cleared_redeem_and_book(points, rate=str(rate), rounding=rounding)
    returned_points = returned_fen = 0
    taken = parts[:-1] if stop_early and len(parts) > 1 else parts
    for seq, part in enumerate(taken, start=2):
        decision = clear(redeem_reversal(part, seq=seq), seq, ctx, the_book)
        assert isinstance(decision, Accepted)
        assert decision.value_fen <= 0
        returned_points += part
        returned_fen -= decision.value_fen
        assert returned_fen <= redeemed.value_fen
        money = sum(t.amount for t in decision.transfers if t.unit == ledger.CNY)
        assert money == -decision.value_fen
    assert the_book.balances[(CVS, "m1")] == returned_points
    left = the_book.originals[RecordRef("F1", 1)]
    assert (left.points_left, left.value_left_fen) == (points - returned_points, redeemed.value_fen - returned_fen)
    if returned_points == points:
        assert returned_fen == redeemed.value_fen


# ------------------------------------------------------------------ periods
@pytest.mark.parametrize(
    ("case", "business_time", "closed", "business", "settles"),
    [
        ("open period", at(5), frozenset(), NOV, NOV),
        ("late record of a closed November", at(30, 23), frozenset({NOV}), NOV, DEC),
        ("October and November closed", at(15, month=10), frozenset({OCT, NOV}), OCT, DEC),
        ("October closed, November open", at(15, month=10), frozenset({OCT}), OCT, NOV),
        (
            "the last second of November, Shanghai",
            datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC),
            frozenset(),
            NOV,
            NOV,
        ),
        (
            "the first second of December, Shanghai",
            datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC),
            frozenset({NOV}),
            DEC,
            DEC,
        ),
    ],
)
def test_a_record_settles_in_its_own_period_or_the_next_open_one(case, business_time, closed, business, settles):
    ctx = context(CVS, closed=closed)
    decision = only(run(ctx, [earn(business_time=business_time)]))
    assert isinstance(decision, Accepted)
    assert (decision.business_period, decision.settlement_period) == (business, settles)


def test_a_late_redeem_reversal_settles_in_the_open_period_too():
    ctx, the_book, _ = cleared_redeem_and_book(3)
    closed_ctx = replace(ctx, closed_periods=frozenset({NOV}))
    decision = clear(redeem_reversal(1), 200, closed_ctx, the_book)
    assert isinstance(decision, Accepted)
    assert (decision.business_period, decision.settlement_period) == (NOV, DEC)


def test_the_cap_counts_the_business_period_not_the_settlement_period():
    ctx = context(CINEMA, cvs_terms(cinema_cap=100), closed=frozenset({NOV}))
    records = [redeem(points=100, seq=1), redeem(points=1, seq=2, business_time=at(1, month=12))]
    the_book = book(records, balances={(CVS, "m1"): 500})
    assert [code_of(d) for d in run(ctx, records, the_book)] == ["ACCEPTED", "ACCEPTED"]


def test_a_refund_of_spent_points_takes_back_what_the_member_still_holds():
    """Documented rule: never a negative balance; the refund takes back the points the member holds and the
    rest, already spent, stays spent (it is not kept as a debt of the member)."""
    ctx = context(CVS)
    the_book = book([earn(points=100, spend=10000)])
    assert code_of(only(run(ctx, [earn(points=100, spend=10000)], the_book))) == "ACCEPTED"
    the_book.balances[(CVS, "m1")] = 30  # 70 points were redeemed elsewhere meanwhile
    assert code_of(clear(reversal("F1#1", points=30, spend=10000), 300, ctx, the_book)) == "ACCEPTED"
    assert the_book.balances[(CVS, "m1")] == 0
