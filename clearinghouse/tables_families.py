"""Tables of the families area (red line RL6): family groups, consented memberships, real-time pool moves.

Imported by ``clearinghouse.db`` for the schema. A membership is never deleted: leaving sets ``left_at`` once
(and the audit log keeps who did it); a member is in at most one current group of an issuer, which the
database enforces with a partial unique index over the memberships not yet left.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from clearinghouse.tables import BigId, money_column, utc_column

APPEND_ONLY: tuple[str, ...] = ("family_group", "family_pool_move")
"""Tables of this area the database makes append-only (triggers in ``clearinghouse.db``)."""


class FamilyGroupRow(SQLModel, table=True):
    """A family group of one issuer; ``group_id`` is unique per issuer. Never changed."""

    __tablename__ = "family_group"
    __table_args__ = (UniqueConstraint("issuer_id", "group_id", name="uq_family_group_issuer_group"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    group_id: str = Field(sa_column=Column(String(64), nullable=False))
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=utc_column())


class FamilyMembershipRow(SQLModel, table=True):
    """A member in a family group from ``joined_at`` (when the hub recorded the consent) until ``left_at``."""

    __tablename__ = "family_membership"
    __table_args__ = (
        # at most one current group per (issuer, member): the database's half of the rule
        Index(
            "uq_family_membership_current",
            "issuer_id",
            "member_token",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
        Index("ix_family_membership_member", "issuer_id", "member_token"),
        CheckConstraint("left_at IS NULL OR left_at >= joined_at", name="ck_family_membership_interval"),
        CheckConstraint("consent_ref <> ''", name="ck_family_membership_consent"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    group_pk: int = Field(foreign_key="family_group.id", index=True)
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    member_token: str = Field(sa_column=Column(String(128), nullable=False))
    consent_ref: str = Field(sa_column=Column(String(128), nullable=False))
    consented_at: datetime = Field(sa_column=utc_column())
    recorded_by: str = Field(max_length=80)
    joined_at: datetime = Field(sa_column=utc_column())
    left_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    left_by: str | None = Field(default=None, max_length=80)
    leave_reason: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))


class FamilyPoolMoveRow(SQLModel, table=True):
    """A real-time family pool move, asked by the issuer under its own ``reference`` (unique per issuer, so a
    retry moves the points once). Its ledger transfers hang on the ledger event ``event_id``."""

    __tablename__ = "family_pool_move"
    __table_args__ = (
        UniqueConstraint("issuer_id", "reference", name="uq_family_pool_move_reference"),
        UniqueConstraint("event_id", name="uq_family_pool_move_event"),
        CheckConstraint("points > 0", name="ck_family_pool_move_points"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    reference: str = Field(sa_column=Column(String(64), nullable=False))
    group_id: str = Field(sa_column=Column(String(64), nullable=False))
    from_member: str = Field(sa_column=Column(String(128), nullable=False))
    to_member: str = Field(sa_column=Column(String(128), nullable=False))
    points: int = Field(sa_column=money_column())
    event_id: int = Field(foreign_key="ledger_event.id")
    actor: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=utc_column())
