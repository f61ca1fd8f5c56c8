"""Tables of monitoring (red line RL8): cases opened by a monitoring rule (or an admin), holding evidence.

A case is the only ground for an evidence-gated action on a member's points (RL9, ``tables_actions``).
Imported by ``clearinghouse.db`` for the schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from clearinghouse.tables import BigId, ClearingRecordRow, utc_column

APPEND_ONLY: tuple[str, ...] = ("case_evidence", "monitoring_scan")
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


_SCHEDULED_STRETCH = "trigger = 'scheduler' AND up_to_record_id > after_record_id"


class MonitoringScanRow(SQLModel, table=True):
    """One completed scan. A scheduled scan covers the accepted records with ``after_record_id < id <=
    up_to_record_id`` (and re-reads ``lookback`` of recent business time); the next one starts where the
    last ended, and ``after_record_id`` is unique among scheduled scans that took new records, so two runs
    cannot both take the same stretch. An on-demand scan (``trigger = 'cli'``) records its business-time range."""

    __tablename__ = "monitoring_scan"
    __table_args__ = (
        Index(
            "uq_monitoring_scan_start",
            "after_record_id",
            unique=True,
            sqlite_where=text(_SCHEDULED_STRETCH),
            postgresql_where=text(_SCHEDULED_STRETCH),
        ),
        CheckConstraint("up_to_record_id >= after_record_id", name="ck_monitoring_scan_range"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    trigger: str = Field(max_length=16)  # scheduler, cli
    after_record_id: int = Field(sa_column=Column(BigInteger(), nullable=False))
    up_to_record_id: int = Field(sa_column=Column(BigInteger(), nullable=False))
    since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    records: int = Field(sa_column=Column(BigInteger(), nullable=False))
    hits: int = Field(sa_column=Column(BigInteger(), nullable=False))
    cases_opened: int = Field(sa_column=Column(BigInteger(), nullable=False))
    scanned_at: datetime = Field(sa_column=utc_column())


# Scans read accepted records by business time; the index lives here so the shared table module stays as it is.
Index("ix_clearing_record_business_time", ClearingRecordRow.__table__.c.business_time)  # type: ignore[attr-defined]
