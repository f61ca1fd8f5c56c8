"""Marketing budgets (red line RL3): an issuer's points are paid for from a budget it declares per period.

Pure: amounts are integer fen, the point cost a Decimal (fen per point), issued value rounded half-up per
record. The service loads budgets and their usage; the clearing rules (``settlement.clearing``) and the
rollover job use these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from contracts.terms import Rounding, to_fen

ALERT_LEVELS: tuple[int, ...] = (80, 100)
"""Percentages of a budget at which an alert is raised, once each per issuer and period."""

_UTILIZATION_PLACES = Decimal("0.0001")

MAX_BUDGET_FEN = 10**15
"""A period's budget is at most 10 trillion yuan: far above any program, far below a 64-bit column, so a
budget and a rollover that carries it over always fit."""


class BudgetError(ValueError):
    """A declaration that cannot be a budget (a code from the reason catalogue, and a message)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True, slots=True)
class Budget:
    """What an issuer may issue in one period: ``budget_fen`` of issued value at ``point_cost`` fen a point."""

    budget_fen: int
    point_cost: Decimal


def parse_point_cost(text: object) -> Decimal:
    """A point cost as declared: a decimal string of fen per point, finite and > 0 (never a float)."""
    if not isinstance(text, str):
        raise BudgetError("point_cost_fen_per_point must be a decimal string", code="BUDGET_POINT_COST_INVALID")
    try:
        cost = Decimal(text.strip())
    except InvalidOperation:
        cost = Decimal("NaN")
    if not cost.is_finite() or cost <= 0 or cost.as_tuple().exponent < -6 or cost > 1_000_000:  # type: ignore[operator]
        raise BudgetError(
            f"point_cost_fen_per_point must be a decimal > 0 with at most 6 places, got {text[:40]!r}",
            code="BUDGET_POINT_COST_INVALID",
        )
    return Decimal(format(cost.normalize(), "f"))  # one spelling: "0.5", "100", never "0.50" or "1E+2"


def issued_value_fen(points: int, point_cost: Decimal) -> int:
    """Issued value of ``points``: points × point cost, rounded half-up, in whole fen."""
    return to_fen(points, point_cost, Rounding.HALF_UP) if points else 0


def given_back_fen(points_left: int, points_reversed: int, point_cost: Decimal) -> int:
    """Issued value a reversal of ``points_reversed`` (of ``points_left`` still standing) gives back.

    The difference of the rounded values before and after, so the reversals of an EARN always give back
    exactly what the EARN used, however the points are split.
    """
    return issued_value_fen(points_left, point_cost) - issued_value_fen(points_left - points_reversed, point_cost)


def levels_reached(used_fen: int, budget_fen: int) -> tuple[int, ...]:
    """The alert levels (percent) that ``used_fen`` of ``budget_fen`` has reached."""
    return tuple(level for level in ALERT_LEVELS if used_fen * 100 >= level * budget_fen)


def utilization(used_fen: int, budget_fen: int) -> Decimal:
    """used / budget, four places, half-up (budget_fen > 0)."""
    return (Decimal(used_fen) / Decimal(budget_fen)).quantize(_UTILIZATION_PLACES, rounding=ROUND_HALF_UP)


def check_declaration(*, budget_fen: int, used_fen: int, current_cost: Decimal | None, new_cost: Decimal) -> None:
    """A (re-)declaration is refused when it is not positive, is below what is already used, or changes the
    point cost of a period that has already issued (its usage was measured at the old cost)."""
    if not 0 < budget_fen <= MAX_BUDGET_FEN:
        raise BudgetError(f"budget_fen must be > 0 and <= {MAX_BUDGET_FEN}", code="BUDGET_AMOUNT_INVALID")
    if budget_fen < used_fen:
        raise BudgetError(
            f"{used_fen} fen of this period's budget is already used; it cannot be set to {budget_fen}",
            code="BUDGET_BELOW_USED",
        )
    if current_cost is not None and used_fen > 0 and new_cost != current_cost:
        raise BudgetError(
            f"the point cost ({current_cost}) cannot change once the period has issued points",
            code="BUDGET_POINT_COST_LOCKED",
        )


@dataclass(frozen=True, slots=True)
class Rollover:
    """The next period's budget, from the last declared one: the same amount, plus what was left unused when
    the program carries it over."""

    budget_fen: int
    carried_fen: int


def roll_over(*, budget_fen: int, used_fen: int, carry_over_unused: bool, base_fen: int | None = None) -> Rollover:
    """The next budget: the amount last declared (``base_fen``; default ``budget_fen``), plus the unused rest of
    ``budget_fen`` when carried over. A rolled budget's base excludes what it carried, so a carried rest is
    counted once, not again in every later month."""
    carried = max(budget_fen - used_fen, 0) if carry_over_unused else 0
    base = budget_fen if base_fen is None else base_fen
    return Rollover(base + carried, carried)
