"""Tables of evidence-gated actions on a member's points (red line RL9). Imported by ``clearinghouse.db``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from clearinghouse.tables import BigId, money_column, utc_column

APPEND_ONLY: tuple[str, ...] = ()
"""Tables of this area the database makes append-only (triggers in ``clearinghouse.db``)."""


class MemberActionRow(SQLModel, table=True):
    """A FREEZE or DEDUCT of a member's points under a monitoring case: REQUESTED by one admin, then APPLIED
    (approved by a second admin) or REJECTED; an APPLIED action can be LIFTED.

    Each change of state is a conditional UPDATE (``... WHERE status = 'REQUESTED'``), so two concurrent
    approvals apply it once. The CHECKs are the database's half of the rules: a positive amount, a known
    state, a decider different from the requester for an applied action, a reason for every lift. One
    pending request per (case, kind, issuer, member): a retried request finds the first.
    """

    __tablename__ = "member_action"
    __table_args__ = (
        CheckConstraint("kind IN ('FREEZE', 'DEDUCT')", name="ck_member_action_kind"),
        CheckConstraint("points > 0", name="ck_member_action_points"),
        CheckConstraint("status IN ('REQUESTED', 'APPLIED', 'REJECTED', 'LIFTED')", name="ck_member_action_status"),
        CheckConstraint(
            "status = 'REQUESTED' OR (decided_by IS NOT NULL AND decided_at IS NOT NULL)",
            name="ck_member_action_decided",
        ),
        CheckConstraint(
            "status NOT IN ('APPLIED', 'LIFTED') OR decided_by <> requested_by", name="ck_member_action_second_admin"
        ),
        CheckConstraint(
            "(status = 'LIFTED') = (lifted_by IS NOT NULL AND lifted_at IS NOT NULL AND lifted_reason IS NOT NULL)",
            name="ck_member_action_lifted",
        ),
        Index("ix_member_action_member", "issuer_id", "member_token"),
        Index(
            "uq_member_action_pending",
            "case_id",
            "kind",
            "issuer_id",
            "member_token",
            unique=True,
            sqlite_where=text("status = 'REQUESTED'"),
            postgresql_where=text("status = 'REQUESTED'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=8)
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    member_token: str = Field(max_length=128)
    points: int = Field(sa_column=money_column())
    case_id: int = Field(foreign_key="monitoring_case.id", index=True)
    reason: str = Field(sa_column=Column(Text(), nullable=False))
    status: str = Field(default="REQUESTED", max_length=10)
    requested_by: str = Field(max_length=80)
    requested_at: datetime = Field(sa_column=utc_column())
    decided_by: str | None = Field(default=None, max_length=80)  # the approving (second) or rejecting admin
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decision_reason: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    lifted_by: str | None = Field(default=None, max_length=80)
    lifted_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    lifted_reason: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
