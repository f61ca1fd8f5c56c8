"""A member's points of one issuer: the balance, and every change with its reason.

Read from the ledger itself (transfers on the member's account), joined to the record that caused each,
so the history is exactly what the balance is made of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, or_, select, text

from clearinghouse.db import unit_of_work
from clearinghouse.errors import NotFound
from clearinghouse.posting import FILES, RECORDS, TRANSFERS
from settlement import ledger


@dataclass(frozen=True)
class BalanceChange:
    posted_at: datetime
    business_time: datetime | None
    points: int  # + credited to the member, − taken from the member
    kind: str
    reason: str
    record: str  # <file id>#<seq> of the reporting partner
    reported_by: str


@dataclass(frozen=True)
class MemberPoints:
    issuer_id: str
    member_token: str
    balance: int
    history: tuple[BalanceChange, ...]


def _history_query(account: str) -> Select[Any]:
    t, r, f = TRANSFERS, RECORDS, FILES
    return (
        select(
            t.c.posted_at,
            r.c.business_time,
            t.c.amount,
            (t.c.debit_account == account).label("taken"),
            r.c.kind,
            r.c.receipt_ref,
            r.c.fulfiller_id,
            r.c.offer_ref,
            r.c.original_ref,
            f.c.file_id,
            r.c.seq,
            f.c.partner_id,
        )
        .join(r, r.c.id == t.c.record_id)
        .join(f, f.c.id == r.c.file_pk)
        .where(or_(t.c.debit_account == account, t.c.credit_account == account))
        .order_by(t.c.id)
    )


def _reason(kind: str, receipt: str, fulfiller: str, offer: str, original: str, taken: bool) -> str:
    if kind == "EARN":
        return f"earned on receipt {receipt}"
    if kind == "REDEEM":
        return f"redeemed {offer or 'an offer'} at {fulfiller}"
    return f"{'refund took back' if taken else 'refund gave back'} points of {original}"


def member_points(*, engine: Engine, issuer_id: str, member_token: str) -> MemberPoints:
    """Balance and history; a member the hub has never seen is not found (tokens are the issuer's own)."""
    account = ledger.member_account(issuer_id, member_token).code
    with unit_of_work(engine, read_only=True) as uow:
        totals = uow.connection.execute(
            text("SELECT credits - debits FROM account WHERE code = :account"), {"account": account}
        ).first()
        if totals is None:
            raise NotFound(f"no points of {issuer_id!r} for that member", code="MEMBER_NOT_FOUND")
        rows = uow.connection.execute(_history_query(account)).all()
    history = tuple(
        BalanceChange(
            posted_at=row.posted_at,
            business_time=row.business_time,
            points=-int(row.amount) if row.taken else int(row.amount),
            kind=row.kind,
            reason=_reason(
                row.kind, row.receipt_ref, row.fulfiller_id, row.offer_ref, row.original_ref, bool(row.taken)
            ),
            record=f"{row.file_id}#{row.seq}",
            reported_by=row.partner_id,
        )
        for row in rows
    )
    return MemberPoints(issuer_id, member_token, int(totals[0]), history)
