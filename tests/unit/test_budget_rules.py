"""Specs of RL3 (marketing budgets) and of the RL4 suspension, without a database.

Budgets of these specs: cvs declared 1,000 fen for November 2026 at 0.5 fen a point unless a spec says
otherwise; the clearing helpers are those of ``test_clearing_rules``.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.budgets import (
    Budget,
    BudgetError,
    Rollover,
    check_declaration,
    given_back_fen,
    issued_value_fen,
    levels_reached,
    parse_point_cost,
    roll_over,
    utilization,
)
from settlement.clearing import Accepted, ClearingBook, Refused
from settlement.periods import Period
from tests.unit.test_clearing_rules import CVS, NOV, OCT, RIDE, at, book, code_of, context, earn, reversal, run

HALF = Budget(1_000, Decimal("0.5"))


def budget_book(records: list, budget: Budget | None = HALF, used: int = 0, period: Period = NOV) -> ClearingBook:
    the_book = book(records, budgets={(CVS, period): budget})
    the_book.issued_in_period[(CVS, period)] = used
    return the_book


# ------------------------------------------------------------------ arithmetic
def test_issued_value_is_points_times_cost_rounded_half_up_per_record() -> None:
    assert issued_value_fen(3, Decimal("0.5")) == 2  # 1.5 → 2
    assert issued_value_fen(1, Decimal("0.5")) == 1  # 0.5 → 1
    assert issued_value_fen(1, Decimal("0.49")) == 0
    assert issued_value_fen(0, Decimal("0.5")) == 0


@given(st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8), st.sampled_from(["0.5", "0.35", "3"]))
def test_reversals_of_an_earn_give_back_exactly_what_it_used_however_they_split(parts: list[int], cost: str) -> None:
    rate = Decimal(cost)
    left, back = sum(parts), 0
    for part in parts:
        back += given_back_fen(left, part, rate)
        left -= part
    assert back == issued_value_fen(sum(parts), rate)


def test_alert_levels_are_reached_at_80_and_100_percent() -> None:
    assert levels_reached(799, 1_000) == ()
    assert levels_reached(800, 1_000) == (80,)
    assert levels_reached(999, 1_000) == (80,)
    assert levels_reached(1_000, 1_000) == (80, 100)
    assert utilization(800, 1_000) == Decimal("0.8000")
    assert str(utilization(1, 3)) == "0.3333"


@pytest.mark.parametrize(
    ("text", "expected"), [("0.5", "0.5"), ("0.50", "0.5"), ("100", "100"), ("1E+2", "100"), (" 2 ", "2")]
)
def test_a_point_cost_is_a_positive_decimal_string_spelt_one_way(text: str, expected: str) -> None:
    assert str(parse_point_cost(text)) == expected


@pytest.mark.parametrize("text", [0.5, 1, "0", "-1", "NaN", "Infinity", "abc", "0.0000001", ""])
def test_a_point_cost_that_is_no_positive_decimal_string_is_refused(text: object) -> None:
    with pytest.raises(BudgetError) as caught:
        parse_point_cost(text)
    assert caught.value.code == "BUDGET_POINT_COST_INVALID"


def test_a_declaration_may_not_go_below_what_is_used_nor_change_the_cost_of_a_period_that_issued() -> None:
    check_declaration(budget_fen=500, used_fen=500, current_cost=Decimal("0.5"), new_cost=Decimal("0.5"))
    check_declaration(budget_fen=400, used_fen=0, current_cost=Decimal("0.5"), new_cost=Decimal("1"))
    for budget, used, new_cost, code in (
        (499, 500, "0.5", "BUDGET_BELOW_USED"),
        (0, 0, "0.5", "BUDGET_AMOUNT_INVALID"),
        (900, 1, "1", "BUDGET_POINT_COST_LOCKED"),
    ):
        with pytest.raises(BudgetError) as caught:
            check_declaration(budget_fen=budget, used_fen=used, current_cost=Decimal("0.5"), new_cost=Decimal(new_cost))
        assert caught.value.code == code


def test_a_rollover_keeps_the_budget_and_carries_the_unused_rest_only_when_asked() -> None:
    assert roll_over(budget_fen=1_000, used_fen=300, carry_over_unused=False) == Rollover(1_000, 0)
    assert roll_over(budget_fen=1_000, used_fen=300, carry_over_unused=True) == Rollover(1_700, 700)
    assert roll_over(budget_fen=1_000, used_fen=1_000, carry_over_unused=True) == Rollover(1_000, 0)


# ------------------------------------------------------------------ clearing
def test_an_earn_that_fits_the_budget_clears_and_counts_its_issued_value() -> None:
    record = earn(points=1_999, spend=200_000)  # 999.5 → 1,000 fen: exactly the budget
    the_book = budget_book([record])
    assert isinstance(run(context(CVS), [record], the_book)[0], Accepted)
    assert the_book.issued_in_period[(CVS, NOV)] == 1_000
    assert not the_book.budget_refusals


def test_an_earn_one_fen_over_the_budget_is_refused_and_counts_nothing() -> None:
    record = earn(points=2_001, spend=300_000)  # 1,000.5 → 1,001 fen
    the_book = budget_book([record])
    decision = run(context(CVS), [record], the_book)[0]
    assert isinstance(decision, Refused) and decision.code == "RL3_BUDGET_EXCEEDED"
    assert the_book.issued_in_period[(CVS, NOV)] == 0
    assert the_book.balances[(CVS, "m1")] == 0
    assert the_book.budget_refusals == {(CVS, NOV)}


def test_what_earlier_records_used_counts_against_the_budget() -> None:
    first, second = earn(points=1_000, spend=100_000), earn(points=1_000, spend=100_000, seq=2)
    assert [code_of(d) for d in run(context(CVS), [first, second], budget_book([first, second], used=500))] == [
        "ACCEPTED",
        "RL3_BUDGET_EXCEEDED",
    ]


def test_an_earn_for_a_period_without_a_declared_budget_is_refused() -> None:
    record = earn()
    assert code_of(run(context(CVS), [record], budget_book([record], budget=None))[0]) == "RL3_BUDGET_MISSING"


def test_the_budget_is_that_of_the_records_business_period() -> None:
    record = earn(business_time=at(31, 23, month=10))  # 31 October, 23:00 Shanghai: October's budget
    the_book = budget_book([record], period=OCT)
    assert isinstance(run(context(CVS), [record], the_book)[0], Accepted)
    assert the_book.issued_in_period[(CVS, OCT)] == 50


def test_a_reversal_gives_the_issued_value_back_to_the_earns_own_period() -> None:
    original = earn(points=3, spend=300)  # 1.5 → 2 fen in November
    refund = reversal("F1#1", points=1, spend=100, business_time=at(2, month=12))
    the_book = budget_book([original, refund])
    the_book.budgets[(CVS, Period(2026, 12))] = HALF
    the_book.issued_in_period[(CVS, Period(2026, 12))] = 0
    assert [code_of(d) for d in run(context(CVS), [original, refund], the_book)] == ["ACCEPTED", "ACCEPTED"]
    assert the_book.issued_in_period[(CVS, NOV)] == 1  # 2 − (2 − round(1.0))
    assert the_book.issued_in_period[(CVS, Period(2026, 12))] == 0


def test_a_suspended_issuer_issues_nothing_even_with_a_licence_in_date() -> None:
    record = earn(issuer_id=RIDE, business_time=at(5))
    in_date = replace(context(RIDE), received_at=at(14, 13))  # ride's licence runs to 15 November
    assert isinstance(run(in_date, [record])[0], Accepted)
    suspended = replace(in_date, suspended_issuers=frozenset({RIDE}))
    assert code_of(run(suspended, [record])[0]) == "RL4_ISSUING_SUSPENDED"
