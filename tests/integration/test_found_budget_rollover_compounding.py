"""Found: with carry-over, each rollover started from the last budget *including what it had carried*, and
carried that budget's whole unused rest again: an idle issuer's 1,000 fen a month became 2,000, 4,000, 8,000 …
(doubling until it passed a 64-bit column and broke every issuer's rollover). The carried rest is added to the
amount the issuer last declared, so the budget grows by what it declared a month, as carry-over means."""

from __future__ import annotations

from decimal import Decimal

from clearinghouse.hub import Hub
from clearinghouse.services import budgets as service
from settlement.periods import Period
from tests.factories import CVS, Alliance, earn, submit

NOV = Period(2026, 11)


def roll(hub: Hub, period: Period) -> tuple[int, int]:
    rolled = service.roll_over_budgets(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone, period=period)
    (mine,) = [(r.budget_fen, r.carried_fen) for r in rolled if r.issuer_id == CVS]
    return mine


def test_a_carried_rest_is_added_to_the_declared_amount_not_to_the_last_rolled_budget(hub: Hub) -> None:
    periods = tuple(Period(2026, month) for month in range(1, 11))
    alliance = Alliance.standard(hub, budget_periods=periods)
    declaration = service.Declaration(CVS, NOV, 1_000, Decimal("1"), True)
    service.declare_budget(engine=hub.engine, now=hub.now(), actor="admin", caller="admin", declaration=declaration)
    submit(hub, alliance, CVS, "F1", [earn("m1", 300)])  # November: 700 unused
    assert roll(hub, Period(2026, 12)) == (1_700, 700)  # 1,000 declared + 700 carried
    assert roll(hub, Period(2027, 1)) == (2_700, 1_700)  # nothing used in December: 1,000 + 1,700, not 1,700 + 1,700
    assert roll(hub, Period(2027, 2)) == (3_700, 2_700)
