"""Tables of the budgets area (red lines RL3 and RL4): marketing budgets and their rollovers, and licence
suspensions. Imported by ``clearinghouse.db`` for the schema."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from clearinghouse.tables import BigId, money_column, utc_column

APPEND_ONLY: tuple[str, ...] = ("budget_rollover", "licence_suspension")
"""Tables of this area the database makes append-only (triggers in ``clearinghouse.db``)."""


class MarketingBudgetRow(SQLModel, table=True):
    """An issuer's marketing budget for one period (RL3), and the issued value used of it.

    ``used_fen`` is a running total kept by the clearing of EARNs and their reversals, under the clearing
    lock; it never passes ``budget_fen`` (the rules refuse the EARN that would) and a declaration can never
    set the budget below it. ``source`` says whether it was DECLARED (by the issuer or an admin) or made
    by the ROLLOVER job; a declaration replaces a rollover's amount.
    """

    __tablename__ = "marketing_budget"
    __table_args__ = (
        UniqueConstraint("issuer_id", "period", name="uq_marketing_budget_period"),
        CheckConstraint("budget_fen > 0", name="ck_marketing_budget_positive"),
        CheckConstraint("used_fen >= 0 AND used_fen <= budget_fen", name="ck_marketing_budget_used"),
        CheckConstraint("source IN ('DECLARED', 'ROLLOVER')", name="ck_marketing_budget_source"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    period: str = Field(max_length=7)
    budget_fen: int = Field(sa_column=money_column())
    point_cost: str = Field(max_length=24)  # fen per point, a decimal string
    carry_over_unused: bool = False
    used_fen: int = Field(default=0, sa_column=money_column(default=0))
    source: str = Field(max_length=8)
    updated_by: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class BudgetRolloverRow(SQLModel, table=True):
    """One rollover of an issuer's budget into a new period: from which period, how much was carried."""

    __tablename__ = "budget_rollover"
    __table_args__ = (
        UniqueConstraint("issuer_id", "to_period", name="uq_budget_rollover_to"),
        CheckConstraint("carried_fen >= 0", name="ck_budget_rollover_carried"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    from_period: str = Field(max_length=7)
    to_period: str = Field(max_length=7)
    base_fen: int = Field(sa_column=money_column())
    carried_fen: int = Field(sa_column=money_column())
    budget_fen: int = Field(sa_column=money_column())
    created_at: datetime = Field(sa_column=utc_column())


class LicenceSuspensionRow(SQLModel, table=True):
    """RL4: issuing suspended because the licence on record (``licence_key``: number and expiry, or ``none``)
    was out of date. Unique per partner and licence, so the daily job suspends once. The suspension holds
    while that licence is the one on record; recording a new licence lifts it."""

    __tablename__ = "licence_suspension"
    __table_args__ = (UniqueConstraint("partner_id", "licence_key", name="uq_licence_suspension"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    partner_id: str = Field(foreign_key="partner.id", max_length=40, index=True)
    licence_key: str = Field(max_length=80)
    licence_number: str | None = Field(default=None, max_length=64)
    licence_expires_on: date | None = None
    suspended_on: date
    suspended_at: datetime = Field(sa_column=utc_column())
