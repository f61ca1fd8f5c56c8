"""The table of nonces seen in signed requests (RFC 9421 ``nonce``), kept apart from ``tables.py``.

(key_id, nonce) is unique: the database, not a read-then-write, decides that a nonce is used once. A row may be
purged once ``usable_until`` has passed, because a signature is refused by its ``created``/``expires`` from then
on whatever its nonce (``clearinghouse.services.nonces.purge_nonces``). Imported by ``clearinghouse.db`` so that
``create_all`` creates it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from clearinghouse.tables import BigId, utc_column


class SignatureNonceRow(SQLModel, table=True):
    """One signed request the hub accepted: the key that signed it, its nonce and when it stops mattering."""

    __tablename__ = "signature_nonce"
    __table_args__ = (
        UniqueConstraint("key_id", "nonce", name="uq_signature_nonce_key_nonce"),
        Index("ix_signature_nonce_usable_until", "usable_until"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    key_id: str = Field(sa_column=Column(String(64), nullable=False))
    nonce: str = Field(sa_column=Column(String(128), nullable=False))
    partner_id: str = Field(sa_column=Column(String(40), nullable=False))
    signed_at: datetime = Field(sa_column=utc_column())  # the signature's ``created``
    seen_at: datetime = Field(sa_column=utc_column())
    usable_until: datetime = Field(sa_column=utc_column())
