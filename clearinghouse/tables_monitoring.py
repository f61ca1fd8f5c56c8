"""Tables of monitoring (red line RL8): cases opened by a monitoring rule (or an admin), holding evidence.

A case is the only ground for an evidence-gated action on a member's points (RL9, ``tables_actions``).
Imported by ``clearinghouse.db`` for the schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from clearinghouse.tables import BigId, utc_column

APPEND_ONLY: tuple[str, ...] = ("case_evidence",)
"""Tables of this area the database makes append-only (triggers in ``clearinghouse.db``)."""


class CaseRow(SQLModel, table=True):
    """A monitoring case: which rule fired (or ``MANUAL``), about whom, OPEN until an admin closes it.

    ``dedupe_key`` is unique: the same hit (rule, subject, window) opens one case however often a scan runs.
    """

    __tablename__ = "monitoring_case"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_case_dedupe"),
        CheckConstraint("status IN ('OPEN', 'CLOSED')", name="ck_case_status"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    rule: str = Field(max_length=40)  # e.g. RL8_VELOCITY_MEMBER, RL8_STRUCTURING, RL8_ROUND_TRIP, RL8_SELF_DEALING
    status: str = Field(default="OPEN", max_length=8)
    issuer_id: str | None = Field(default=None, max_length=40, index=True)
    member_token: str | None = Field(default=None, max_length=128)
    partner_id: str | None = Field(default=None, max_length=40)  # the partner concerned, for partner-level rules
    summary: str = Field(sa_column=Column(Text(), nullable=False))
    dedupe_key: str = Field(max_length=200)
    opened_by: str = Field(max_length=80)  # "monitor" for a scan, admin:<name> for a manual case
    opened_at: datetime = Field(sa_column=utc_column())
    closed_by: str | None = Field(default=None, max_length=80)
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolution: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))


class CaseEvidenceRow(SQLModel, table=True):
    """One piece of evidence of a case: a clearing record (by id) or a described fact. Never changed."""

    __tablename__ = "case_evidence"
    __table_args__ = (
        UniqueConstraint("case_id", "record_id", name="uq_case_evidence_record"),
        CheckConstraint("record_id IS NOT NULL OR description <> ''", name="ck_case_evidence_content"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    case_id: int = Field(foreign_key="monitoring_case.id", index=True)
    record_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    description: str = Field(default="", sa_column=Column(Text(), nullable=False))
    added_by: str = Field(max_length=80)
    added_at: datetime = Field(sa_column=utc_column())
