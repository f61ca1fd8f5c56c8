"""Tables of the expiry area (red lines as code). Imported by ``clearinghouse.db`` for the schema."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from clearinghouse.tables import BigId, money_column, utc_column


class ExpiryNoticeRow(SQLModel, table=True):
    """Notice to a member, through its issuer, that ``points`` expire at ``expires_at`` (local day
    ``expires_on``). One per (issuer, member, day): the daily job writes it once, however often it runs. The
    points are those left when the notice was written; what actually expires is on the ledger."""

    __tablename__ = "expiry_notice"
    __table_args__ = (
        UniqueConstraint("issuer_id", "member_token", "expires_on", name="uq_expiry_notice_member_day"),
        CheckConstraint("points > 0", name="ck_expiry_notice_points"),
        Index("ix_expiry_notice_issuer", "issuer_id", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    member_token: str = Field(max_length=128)
    points: int = Field(sa_column=money_column())
    expires_on: date
    expires_at: datetime = Field(sa_column=utc_column())
    created_at: datetime = Field(sa_column=utc_column())


APPEND_ONLY: tuple[str, ...] = ("expiry_notice",)
"""Tables of this area the database makes append-only (triggers in ``clearinghouse.db``)."""
