"""Marketing budgets (RL3): declaring them, rolling them over into a new period, reading their utilization.

Declarations and rollovers take the clearing lock, so a budget never changes under a file being cleared
(whose EARNs count against it) and ``used_fen`` is only ever read and written by one writer at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, text
from sqlmodel import Session, col

from clearinghouse import audit
from clearinghouse.budget_book import budget_alert_key
from clearinghouse.db import unit_of_work
from clearinghouse.errors import Conflict, Forbidden, InvalidRequest, NotFound
from clearinghouse.locks import lock_clearing
from clearinghouse.queries import partner_from_row
from clearinghouse.services.partners import ADMIN
from clearinghouse.tables import PartnerRow
from clearinghouse.tables_budgets import BudgetRolloverRow, MarketingBudgetRow
from partners.model import Role
from settlement.budgets import ALERT_LEVELS, BudgetError, check_declaration, roll_over, utilization
from settlement.periods import Period


@dataclass(frozen=True, slots=True)
class Declaration:
    issuer_id: str
    period: Period
    budget_fen: int
    point_cost: Decimal
    carry_over_unused: bool = False


@dataclass(frozen=True, slots=True)
class BudgetView:
    issuer_id: str
    period: str
    budget_fen: int
    used_fen: int
    point_cost: str
    carry_over_unused: bool
    source: str
    alerts: tuple[int, ...]  # the alert levels (percent) raised for this budget

    @property
    def remaining_fen(self) -> int:
        return self.budget_fen - self.used_fen

    @property
    def utilization(self) -> Decimal:
        return utilization(self.used_fen, self.budget_fen)


@dataclass(frozen=True, slots=True)
class RolloverView:
    issuer_id: str
    from_period: str
    to_period: str
    budget_fen: int
    carried_fen: int


def declare_budget(
    *, engine: Engine, now: datetime, actor: str, caller: str, declaration: Declaration
) -> tuple[BudgetView, bool]:
    """Declare (or re-declare) one issuer's budget for one period; True when the period had none."""
    return declare_budgets(engine=engine, now=now, actor=actor, caller=caller, declarations=[declaration])[0]


def declare_budgets(
    *, engine: Engine, now: datetime, actor: str, caller: str, declarations: Sequence[Declaration]
) -> list[tuple[BudgetView, bool]]:
    """Declare budgets in one transaction (all or none). A partner declares only its own; an admin any.
    The same declaration again changes nothing (and is not audited again)."""
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        results = [_declare(uow.session, now, actor, caller, item) for item in declarations]
        uow.commit()
    return results


def _declare(session: Session, now: datetime, actor: str, caller: str, item: Declaration) -> tuple[BudgetView, bool]:
    if caller not in (ADMIN, item.issuer_id):
        raise Forbidden("a partner declares only its own budgets", code="NOT_YOUR_DATA")
    _require_issuer(session, item.issuer_id)
    row = _budget_row(session, item.issuer_id, item.period)
    cost = str(item.point_cost)
    try:
        check_declaration(
            budget_fen=item.budget_fen,
            used_fen=row.used_fen if row else 0,
            current_cost=Decimal(row.point_cost) if row else None,
            new_cost=item.point_cost,
        )
    except BudgetError as exc:
        raise (InvalidRequest if exc.code != "BUDGET_BELOW_USED" else Conflict)(exc.message, code=exc.code) from exc
    before = _audit_state(row) if row else None
    created = row is None
    if row is None:
        row = MarketingBudgetRow(
            issuer_id=item.issuer_id,
            period=str(item.period),
            budget_fen=item.budget_fen,
            point_cost=cost,
            carry_over_unused=item.carry_over_unused,
            used_fen=0,
            source="DECLARED",
            updated_by=actor,
            created_at=now,
            updated_at=now,
        )
    elif (row.budget_fen, row.point_cost, row.carry_over_unused, row.source) == (
        item.budget_fen,
        cost,
        item.carry_over_unused,
        "DECLARED",
    ):
        return _view(session.connection(), row), False
    else:
        row.budget_fen, row.point_cost, row.carry_over_unused = item.budget_fen, cost, item.carry_over_unused
        row.source, row.updated_by, row.updated_at = "DECLARED", actor, now
    session.add(row)
    session.flush()
    audit.append(
        session.connection(),
        actor=actor,
        action="budgets.declare",
        subject=f"budget:{item.issuer_id}:{item.period}",
        before=before,
        after=_audit_state(row),
        now=now,
    )
    return _view(session.connection(), row), created


def _require_issuer(session: Session, issuer_id: str) -> None:
    # an id no partner can have (NUL, a lone surrogate, too long) is unknown; the database would refuse it
    partner = session.get(PartnerRow, issuer_id) if len(issuer_id) <= 40 and issuer_id.isprintable() else None
    if partner is None:
        raise NotFound(f"no partner {issuer_id!r}", code="PARTNER_NOT_FOUND")
    if not partner_from_row(partner).has_role(Role.ISSUER):
        raise InvalidRequest(f"{issuer_id!r} is not an issuer", code="BUDGET_NOT_ISSUER")


def _budget_row(session: Session, issuer_id: str, period: Period) -> MarketingBudgetRow | None:
    return session.scalars(
        select(MarketingBudgetRow).where(
            col(MarketingBudgetRow.issuer_id) == issuer_id, col(MarketingBudgetRow.period) == str(period)
        )
    ).first()


def _audit_state(row: MarketingBudgetRow) -> dict[str, object]:
    return {
        "budget_fen": row.budget_fen,
        "point_cost_fen_per_point": row.point_cost,
        "carry_over_unused": row.carry_over_unused,
        "used_fen": row.used_fen,
        "source": row.source,
    }


def _alerts_raised(connection: Connection, issuer_id: str, period: str) -> tuple[int, ...]:
    keys = {budget_alert_key(issuer_id, period, level): level for level in ALERT_LEVELS}
    found = connection.execute(
        text("SELECT dedupe_key FROM alert WHERE partner_id = :p AND period = :period"),
        {"p": issuer_id, "period": period},
    ).scalars()
    return tuple(sorted(keys[key] for key in found if key in keys))


def _view(connection: Connection, row: MarketingBudgetRow) -> BudgetView:
    return BudgetView(
        issuer_id=row.issuer_id,
        period=row.period,
        budget_fen=row.budget_fen,
        used_fen=row.used_fen,
        point_cost=row.point_cost,
        carry_over_unused=row.carry_over_unused,
        source=row.source,
        alerts=_alerts_raised(connection, row.issuer_id, row.period),
    )


def get_budget(*, engine: Engine, caller: str, issuer_id: str, period: Period) -> BudgetView:
    """The budget of ``issuer_id`` for ``period`` and how much of it is used (the issuer itself or an admin)."""
    if caller not in (ADMIN, issuer_id):
        raise Forbidden("a partner sees only its own budgets", code="NOT_YOUR_DATA")
    with unit_of_work(engine, read_only=True) as uow:
        row = _budget_row(uow.session, issuer_id, period)
        if row is None:
            raise NotFound(f"{issuer_id!r} declared no budget for {period}", code="BUDGET_NOT_FOUND")
        return _view(uow.connection, row)


# ------------------------------------------------------------------ rollover
def roll_over_budgets(
    *, engine: Engine, now: datetime, zone_name: str, period: Period | None = None, actor: str = "scheduler"
) -> list[RolloverView]:
    """Give every issuer that has a budget before ``period`` (default: the period ``now`` is in, hub zone) and
    none for it a budget rolled over from its latest one. Idempotent: a period is rolled into once (its
    rollover row is unique), and a budget already declared for it is left alone."""
    target = period or Period.of(now, ZoneInfo(zone_name))
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        done = [view for view in _roll_each(uow.session, target, now, actor) if view is not None]
        uow.commit()
    return done


def _roll_each(session: Session, target: Period, now: datetime, actor: str) -> list[RolloverView | None]:
    latest = (
        session.connection()
        .execute(
            text(
                "SELECT b.issuer_id, max(b.period) AS period FROM marketing_budget b WHERE b.period < :t"
                " AND NOT EXISTS (SELECT 1 FROM marketing_budget n WHERE n.issuer_id = b.issuer_id AND n.period = :t)"
                " GROUP BY b.issuer_id ORDER BY b.issuer_id"
            ),
            {"t": str(target)},
        )
        .all()
    )
    return [_roll_one(session, row.issuer_id, Period.parse(row.period), target, now, actor) for row in latest]


def _declared_base(session: Session, budget: MarketingBudgetRow) -> int:
    """The amount the issuer last declared behind ``budget``: its own amount, or for a rolled budget the base
    it was rolled from (what it carried is not part of the base, or it would be carried again and again)."""
    if budget.source != "ROLLOVER":
        return budget.budget_fen
    base = session.scalars(
        select(col(BudgetRolloverRow.base_fen)).where(
            col(BudgetRolloverRow.issuer_id) == budget.issuer_id, col(BudgetRolloverRow.to_period) == budget.period
        )
    ).first()
    return budget.budget_fen if base is None else base


def _roll_one(
    session: Session, issuer_id: str, source: Period, target: Period, now: datetime, actor: str
) -> RolloverView | None:
    previous = _budget_row(session, issuer_id, source)
    assert previous is not None
    rolled = roll_over(
        budget_fen=previous.budget_fen,
        used_fen=previous.used_fen,
        carry_over_unused=previous.carry_over_unused,
        base_fen=_declared_base(session, previous),
    )
    row = MarketingBudgetRow(
        issuer_id=issuer_id,
        period=str(target),
        budget_fen=rolled.budget_fen,
        point_cost=previous.point_cost,
        carry_over_unused=previous.carry_over_unused,
        used_fen=0,
        source="ROLLOVER",
        updated_by=actor,
        created_at=now,
        updated_at=now,
    )
    record = BudgetRolloverRow(
        issuer_id=issuer_id,
        from_period=str(source),
        to_period=str(target),
        base_fen=rolled.budget_fen - rolled.carried_fen,
        carried_fen=rolled.carried_fen,
        budget_fen=rolled.budget_fen,
        created_at=now,
    )
    session.add(row)
    session.add(record)
    session.flush()
    audit.append(
        session.connection(),
        actor=actor,
        action="budgets.rollover",
        subject=f"budget:{issuer_id}:{target}",
        before=None,
        after={**_audit_state(row), "from_period": str(source), "carried_fen": rolled.carried_fen},
        now=now,
    )
    return RolloverView(issuer_id, str(source), str(target), rolled.budget_fen, rolled.carried_fen)
