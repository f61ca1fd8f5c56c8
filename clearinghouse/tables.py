"""Database tables (SQLModel). Constraints here are the database's half of every invariant:
uniqueness for idempotency, CHECKs for amounts, composite keys for units, and (in ``db.py``) triggers
that make the ledger and everything signed append-only.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; hands back timezone-aware UTC on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def money_column(*, nullable: bool = False, default: int | None = None) -> Any:
    return Column(BigInteger(), nullable=nullable, server_default=None if default is None else str(default))


# ------------------------------------------------------------------ partners
class PartnerRow(SQLModel, table=True):
    __tablename__ = "partner"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    roles: str = Field(sa_column=Column(String(40), nullable=False))
    category: str = Field(sa_column=Column(String(40), nullable=False))
    operates_online_platform: bool = False
    licence_number: str | None = Field(default=None, sa_column=Column(String(64)))
    licence_expires_on: date | None = None
    # the registered controlling owner (an opaque registry id); RL8 self-dealing compares issuer and fulfiller
    beneficial_owner: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, index=True))
    created_at: datetime = Field(sa_column=utc_column())


class PartnerKeyRow(SQLModel, table=True):
    __tablename__ = "partner_key"
    __table_args__ = (UniqueConstraint("key_id", name="uq_partner_key_key_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    partner_id: str = Field(foreign_key="partner.id", index=True, max_length=40)
    key_id: str = Field(sa_column=Column(String(64), nullable=False))
    public_key: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    valid_from: datetime = Field(sa_column=utc_column())
    valid_to: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())


class ApiCredentialRow(SQLModel, table=True):
    """Bearer tokens, stored only as SHA-256; principal is ``admin`` or a partner id."""

    __tablename__ = "api_credential"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    token_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    principal: str = Field(sa_column=Column(String(40), nullable=False))
    # who holds an admin token (two admins must be told apart: RL9's second approval); a partner's id otherwise
    holder: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class CatalogVersionRow(SQLModel, table=True):
    """One row whose ``version`` every change to partners, keys, API tokens, contracts, their signatures or
    period closes moves on, in the same transaction (triggers in ``db.py``): what a process's cache of
    them (``clearinghouse.catalog``) is checked against on every request."""

    __tablename__ = "catalog_version"

    id: int = Field(sa_column=Column(Integer(), primary_key=True, autoincrement=False))
    version: int = Field(sa_column=Column(BigInteger(), nullable=False))


# ------------------------------------------------------------------ contracts
class ContractRow(SQLModel, table=True):
    """One version of a contract; its canonical bytes are what every party signs. Never updated."""

    __tablename__ = "contract"
    __table_args__ = (
        UniqueConstraint("contract_id", "version", name="uq_contract_version"),
        UniqueConstraint("terms_hash", name="uq_contract_hash"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    contract_id: str = Field(sa_column=Column(String(64), nullable=False))
    version: int = Field(ge=1)
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    canonical: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    terms_hash: str = Field(sa_column=Column(String(64), nullable=False))
    previous_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    created_at: datetime = Field(sa_column=utc_column())


class ContractPartyRow(SQLModel, table=True):
    __tablename__ = "contract_party"
    __table_args__ = (UniqueConstraint("contract_pk", "partner_id", name="uq_contract_party"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    contract_pk: int = Field(foreign_key="contract.id", index=True)
    partner_id: str = Field(foreign_key="partner.id", max_length=40)
    role: str = Field(max_length=16)


class ContractSignatureRow(SQLModel, table=True):
    """A party's (or the hub's, ``signer_id = 'hub'``) signature over the version's canonical bytes."""

    __tablename__ = "contract_signature"
    __table_args__ = (UniqueConstraint("contract_pk", "signer_id", name="uq_contract_signer"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    contract_pk: int = Field(foreign_key="contract.id", index=True)
    signer_id: str = Field(max_length=40)
    key_id: str = Field(max_length=64)
    signature: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False))
    signed_at: datetime = Field(sa_column=utc_column())


# ------------------------------------------------------------------ settlement files and records
class SettlementFileRow(SQLModel, table=True):
    """A file that passed every file-level check; (partner, file id) can be used once."""

    __tablename__ = "settlement_file"
    __table_args__ = (UniqueConstraint("partner_id", "file_id", name="uq_settlement_file_partner_file"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    partner_id: str = Field(foreign_key="partner.id", max_length=40)
    file_id: str = Field(sa_column=Column(String(64), nullable=False))
    sha256: str = Field(sa_column=Column(String(64), nullable=False))
    size_bytes: int = Field(sa_column=Column(BigInteger(), nullable=False))
    key_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    received_at: datetime = Field(sa_column=utc_column())
    record_count: int = Field(sa_column=Column(BigInteger(), nullable=False))
    total_points: int = Field(sa_column=money_column())
    total_amount_fen: int = Field(sa_column=money_column())


class AuthorizationRow(SQLModel, table=True):
    """A real-time redemption held at a fulfiller's till: HELD, then CAPTURED, VOIDED or EXPIRED.

    The held points left the member's account when it was made (ledger legs under this row); a capture
    becomes a REDEEM clearing record, netted like file-reported ones. (fulfiller, reference) is unique.
    """

    __tablename__ = "authorization_hold"
    __table_args__ = (
        UniqueConstraint("fulfiller_id", "reference", name="uq_authorization_reference"),
        CheckConstraint("status IN ('HELD', 'CAPTURED', 'VOIDED', 'EXPIRED')", name="ck_authorization_status"),
        CheckConstraint(
            "points > 0 AND captured_points >= 0 AND captured_points <= points", name="ck_authorization_points"
        ),
        Index("ix_authorization_open", "status", "expires_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    fulfiller_id: str = Field(foreign_key="partner.id", max_length=40)
    reference: str = Field(max_length=64)
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    member_token: str = Field(max_length=128)
    category: str = Field(max_length=128)
    offer_ref: str = Field(max_length=128)
    face_value_fen: int = Field(sa_column=money_column())
    points: int = Field(sa_column=money_column())
    captured_points: int = Field(default=0, sa_column=money_column(default=0))
    status: str = Field(max_length=8)
    business_time: datetime = Field(sa_column=utc_column())
    business_period: str = Field(max_length=7)
    contract_pk: int = Field(foreign_key="contract.id")
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class RefundRow(SQLModel, table=True):
    """A refund of a real-time capture, asked by the fulfiller under its own reference (unique, so a retry
    cannot refund twice). Its effect is a REVERSAL clearing record."""

    __tablename__ = "refund"
    __table_args__ = (UniqueConstraint("fulfiller_id", "reference", name="uq_refund_reference"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    fulfiller_id: str = Field(foreign_key="partner.id", max_length=40)
    reference: str = Field(max_length=64)
    authorization_id: int = Field(foreign_key="authorization_hold.id", index=True)
    points: int = Field(sa_column=money_column())
    created_at: datetime = Field(sa_column=utc_column())


class ClearingRecordRow(SQLModel, table=True):
    """Every detail record of an accepted file, with its result. ``value_fen`` is what the issuer owes the
    fulfiller because of it (negative for a reversal of a redemption)."""

    __tablename__ = "clearing_record"
    __table_args__ = (
        UniqueConstraint("file_pk", "seq", name="uq_clearing_record_file_seq"),
        UniqueConstraint("authorization_id", name="uq_clearing_record_authorization"),
        UniqueConstraint("refund_id", name="uq_clearing_record_refund"),
        CheckConstraint(
            "file_pk IS NOT NULL OR authorization_id IS NOT NULL OR refund_id IS NOT NULL",
            name="ck_clearing_record_source",
        ),
        CheckConstraint("status IN ('ACCEPTED', 'REFUSED', 'MATCHED')", name="ck_clearing_record_status"),
        CheckConstraint("status <> 'REFUSED' OR reason_code IS NOT NULL", name="ck_clearing_record_reason"),
        Index("ix_clearing_record_settlement", "settlement_period", "status"),
        Index("ix_clearing_record_original", "original_id"),
    )

    id: int = Field(sa_column=Column(BigId, primary_key=True, autoincrement=True))
    file_pk: int | None = Field(default=None, foreign_key="settlement_file.id")  # None: a real-time capture
    authorization_id: int | None = Field(default=None, foreign_key="authorization_hold.id")
    refund_id: int | None = Field(default=None, foreign_key="refund.id")
    seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    status: str = Field(max_length=8)
    reason_code: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, sa_column=Column(Text()))
    kind: str = Field(max_length=16)
    business_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    business_period: str | None = Field(default=None, max_length=7)
    settlement_period: str | None = Field(default=None, max_length=7)
    issuer_id: str = Field(max_length=128)
    fulfiller_id: str = Field(max_length=128)
    member_token: str = Field(max_length=128)
    points: int = Field(sa_column=money_column())
    amount_fen: int = Field(sa_column=money_column())
    value_fen: int = Field(sa_column=money_column(default=0))
    receipt_ref: str = Field(max_length=128)
    category: str = Field(max_length=128)
    offer_ref: str = Field(max_length=128)
    original_ref: str = Field(max_length=80)
    original_id: int | None = Field(default=None, foreign_key="clearing_record.id")
    contract_pk: int | None = Field(default=None, foreign_key="contract.id")
    # the receiving member of a FAMILY_POOL line (RL6); empty on every other record
    to_member_token: str = Field(default="", sa_column=Column(String(128), nullable=False, server_default=""))


# ------------------------------------------------------------------ ledger
class AccountRow(SQLModel, table=True):
    """An account of one unit, with running totals (a projection of the transfers, checked by reconcile).

    A member's points (spendable, held or frozen) never go below zero: the database refuses it.
    """

    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("code", "unit", name="uq_account_code_unit"),
        CheckConstraint("debits >= 0 AND credits >= 0", name="ck_account_totals"),
        CheckConstraint(
            "kind NOT IN ('member', 'held', 'frozen') OR credits >= debits", name="ck_account_member_not_negative"
        ),
    )

    code: str = Field(sa_column=Column(String(200), primary_key=True))
    unit: str = Field(sa_column=Column(String(48), nullable=False))
    kind: str = Field(max_length=16)
    partner_id: str = Field(max_length=40, index=True)
    debits: int = Field(default=0, sa_column=money_column(default=0))
    credits: int = Field(default=0, sa_column=money_column(default=0))


class LedgerEventRow(SQLModel, table=True):
    """A movement of a member's points that no settlement record carries: an expiry, a family-pool move, an
    evidence-gated freeze or deduction, the lifting of one. (kind, reference) is unique, so a retried event
    posts once. ``case_id`` names the monitoring case behind an evidence-gated action."""

    __tablename__ = "ledger_event"
    __table_args__ = (UniqueConstraint("kind", "reference", name="uq_ledger_event_reference"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=24)
    reference: str = Field(max_length=80)
    issuer_id: str = Field(foreign_key="partner.id", max_length=40)
    member_token: str = Field(max_length=128)
    points: int = Field(sa_column=money_column())
    case_id: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    reason: str = Field(sa_column=Column(Text(), nullable=False))
    actor: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=utc_column())


class LedgerTransferRow(SQLModel, table=True):
    """One balanced movement: ``amount`` of ``unit`` from the credit account to the debit account.

    Belongs to exactly one clearing record, period close, real-time authorization (its hold and release) or
    ledger event (expiry, family pooling, an evidence-gated freeze or deduction and their lifting);
    (source, leg) is unique so nothing can be posted twice; both accounts must hold the transfer's unit
    (composite foreign keys).
    """

    __tablename__ = "ledger_transfer"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_transfer_amount_positive"),
        CheckConstraint("debit_account <> credit_account", name="ck_transfer_two_accounts"),
        CheckConstraint(
            "(CASE WHEN record_id IS NULL THEN 0 ELSE 1 END + CASE WHEN close_id IS NULL THEN 0 ELSE 1 END"
            " + CASE WHEN authorization_id IS NULL THEN 0 ELSE 1 END + CASE WHEN event_id IS NULL THEN 0 ELSE 1 END)"
            " = 1",
            name="ck_transfer_one_source",
        ),
        UniqueConstraint("record_id", "leg", name="uq_transfer_record_leg"),
        UniqueConstraint("close_id", "leg", name="uq_transfer_close_leg"),
        UniqueConstraint("authorization_id", "leg", name="uq_transfer_authorization_leg"),
        UniqueConstraint("event_id", "leg", name="uq_transfer_event_leg"),
        ForeignKeyConstraint(["debit_account", "unit"], ["account.code", "account.unit"], name="fk_transfer_debit"),
        ForeignKeyConstraint(["credit_account", "unit"], ["account.code", "account.unit"], name="fk_transfer_credit"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    record_id: int | None = Field(default=None, foreign_key="clearing_record.id", index=True)
    close_id: int | None = Field(default=None, foreign_key="period_close.id", index=True)
    authorization_id: int | None = Field(default=None, foreign_key="authorization_hold.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="ledger_event.id", index=True)
    leg: int
    debit_account: str = Field(max_length=200)
    credit_account: str = Field(max_length=200)
    unit: str = Field(max_length=48)
    amount: int = Field(sa_column=money_column())
    posted_at: datetime = Field(sa_column=utc_column())


# ------------------------------------------------------------------ period close
class PeriodCloseRow(SQLModel, table=True):
    __tablename__ = "period_close"
    __table_args__ = (UniqueConstraint("period", name="uq_period_close_period"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    period: str = Field(max_length=7)
    time_zone: str = Field(max_length=64)
    closed_at: datetime = Field(sa_column=utc_column())
    trigger: str = Field(max_length=16)
    gross_fen: int = Field(sa_column=money_column())
    net_fen: int = Field(sa_column=money_column())
    efficiency: str = Field(max_length=12)
    record_count: int = Field(sa_column=Column(BigInteger(), nullable=False))
    hub_key_id: str = Field(max_length=64)


class ObligationRow(SQLModel, table=True):
    __tablename__ = "obligation"
    __table_args__ = (
        UniqueConstraint("close_id", "payer_id", "payee_id", name="uq_obligation_pair"),
        CheckConstraint("amount_fen > 0", name="ck_obligation_positive"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    close_id: int = Field(foreign_key="period_close.id", index=True)
    payer_id: str = Field(max_length=40)
    payee_id: str = Field(max_length=40)
    amount_fen: int = Field(sa_column=money_column())
    records: int = Field(sa_column=Column(BigInteger(), nullable=False))


class StatementRow(SQLModel, table=True):
    """A partner's signed statement for a closed period: the exact bytes and the hub's signatures."""

    __tablename__ = "statement"
    __table_args__ = (UniqueConstraint("close_id", "partner_id", name="uq_statement_partner"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    close_id: int = Field(foreign_key="period_close.id", index=True)
    period: str = Field(max_length=7)
    partner_id: str = Field(foreign_key="partner.id", max_length=40)
    net_fen: int = Field(sa_column=money_column())
    csv_bytes: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    csv_signature: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False))
    json_bytes: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    json_signature: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False))


# ------------------------------------------------------------------ points mall
class OfferRow(SQLModel, table=True):
    """An offer a fulfiller publishes; publishing the same ref again replaces its terms (stock, price...)."""

    __tablename__ = "offer"
    __table_args__ = (UniqueConstraint("fulfiller_id", "offer_ref", name="uq_offer_ref"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    fulfiller_id: str = Field(foreign_key="partner.id", max_length=40, index=True)
    offer_ref: str = Field(max_length=40)
    document: str = Field(sa_column=Column(Text(), nullable=False))  # the offer as published (JSON)
    updated_at: datetime = Field(sa_column=utc_column())


# ------------------------------------------------------------------ alerts and the audit trail
class AlertRow(SQLModel, table=True):
    """Something an admin must look at (a budget at 80 %, a licence expired...). ``dedupe_key`` is unique:
    the same condition raises one alert, however often a job or a request notices it."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("dedupe_key", name="uq_alert_dedupe"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    kind: str = Field(max_length=40)
    severity: str = Field(max_length=16)
    partner_id: str | None = Field(default=None, max_length=40, index=True)
    period: str | None = Field(default=None, max_length=7)
    message: str = Field(sa_column=Column(Text(), nullable=False))
    dedupe_key: str = Field(max_length=200)
    raised_at: datetime = Field(sa_column=utc_column())


class AuditLogRow(SQLModel, table=True):
    """Every admin and partner action: who, when, what, before and after. Rows are hash-chained
    (``row_hash`` = SHA-256 over the previous row's hash and this row's canonical content); ``seq`` is unique
    and gap-free, so a fork or a removed row shows. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("seq", name="uq_audit_log_seq"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    seq: int = Field(sa_column=Column(BigInteger(), nullable=False))
    at: datetime = Field(sa_column=utc_column())
    actor: str = Field(max_length=80)
    action: str = Field(max_length=64)
    subject: str = Field(sa_column=Column(Text(), nullable=False))
    before_json: str = Field(sa_column=Column(Text(), nullable=False))
    after_json: str = Field(sa_column=Column(Text(), nullable=False))
    prev_hash: str = Field(max_length=64)
    row_hash: str = Field(max_length=64)


# Every change to these moves ``catalog_version`` on (what ``clearinghouse.catalog`` caches comes from them).
CATALOG_TABLES = (
    "partner",
    "partner_key",
    "api_credential",
    "contract",
    "contract_party",
    "contract_signature",
    "period_close",
)

APPEND_ONLY_TABLES = (
    "alert",
    "audit_log",
    "ledger_event",
    "contract",
    "contract_party",
    "contract_signature",
    "settlement_file",
    "clearing_record",
    "ledger_transfer",
    "period_close",
    "obligation",
    "statement",
)


# ------------------------------------------------------------------ idempotency keys
class IdempotencyKeyRow(SQLModel, table=True):
    """A POST's ``Idempotency-Key``, scoped to its principal, and the answer given under it.

    (principal, key) is unique: it decides between two concurrent first requests. ``status_code`` NULL is
    a placeholder (the first request is running); then the answer is stored. ``response_body`` NULL with a
    status means the answer held a secret shown once (an API token) and is not kept. Not append-only: the
    placeholder is completed, or deleted after a 5xx so a retry can run.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("principal", "key", name="uq_idempotency_key_principal_key"),
        CheckConstraint(
            "status_code IS NULL OR (status_code BETWEEN 200 AND 499 AND content_type IS NOT NULL "
            "AND completed_at IS NOT NULL)",
            name="ck_idempotency_key_answer",
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    principal: str = Field(sa_column=Column(String(40), nullable=False))
    key: str = Field(sa_column=Column(String(200), nullable=False))
    fingerprint: str = Field(sa_column=Column(String(64), nullable=False))
    method: str = Field(sa_column=Column(String(16), nullable=False))
    path: str = Field(sa_column=Column(Text(), nullable=False))
    status_code: int | None = Field(default=None, sa_column=Column(Integer(), nullable=True))
    content_type: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    completed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
