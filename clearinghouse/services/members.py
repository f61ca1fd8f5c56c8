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
from clearinghouse.tables import AuthorizationRow, LedgerEventRow
from settlement import ledger
from settlement.member_actions import EventKind, action_id_of


@dataclass(frozen=True)
class BalanceChange:
    posted_at: datetime
    business_time: datetime | None
    points: int  # + credited to the member, − taken from the member
    kind: str
    reason: str
    record: str  # <file id>#<seq> of the reporting partner; action:<id> for an evidence-gated action
    reported_by: str  # the reporting partner; "hub" for an evidence-gated action (RL9)
    case_id: int | None = None  # the monitoring case behind a freeze, deduction or their lifting
    action_id: int | None = None
    record_id: int | None = None  # the clearing record's id (what a monitoring case names as evidence)


@dataclass(frozen=True)
class MemberPoints:
    issuer_id: str
    member_token: str
    balance: int  # spendable
    history: tuple[BalanceChange, ...]
    frozen: int = 0  # frozen by evidence-gated actions (RL9): still the member's, not spendable until lifted


AUTHORIZATIONS = AuthorizationRow.__table__  # type: ignore[attr-defined]
EVENTS = LedgerEventRow.__table__  # type: ignore[attr-defined]
_ACTION_REASONS = {
    EventKind.FREEZE: "frozen under case {case}",
    EventKind.DEDUCT: "deducted under case {case}",
    EventKind.UNFREEZE: "freeze lifted (case {case})",
    EventKind.RESTORE: "deduction lifted, points restored (case {case})",
}


def _history_query(account: str) -> Select[Any]:
    """Every transfer on the member's account with what caused it: a record (from a file or real time) or a
    real-time hold and its release, or a ledger event (an expiry, an evidence-gated action and its lifting...)."""
    t, r, f, a, e = TRANSFERS, RECORDS, FILES, AUTHORIZATIONS, EVENTS
    return (
        select(
            t.c.posted_at,
            t.c.amount,
            t.c.leg,
            (t.c.debit_account == account).label("taken"),
            r.c.business_time,
            r.c.id.label("record_id"),
            r.c.kind,
            r.c.receipt_ref,
            r.c.fulfiller_id,
            r.c.offer_ref,
            r.c.original_ref,
            r.c.seq,
            r.c.member_token,
            r.c.to_member_token,
            f.c.file_id,
            f.c.partner_id,
            a.c.reference.label("hold_reference"),
            a.c.fulfiller_id.label("hold_fulfiller"),
            a.c.offer_ref.label("hold_offer"),
            a.c.business_time.label("hold_time"),
            e.c.kind.label("event_kind"),
            e.c.reference.label("event_reference"),
            e.c.case_id.label("event_case"),
            e.c.reason.label("event_reason"),
            e.c.issuer_id.label("event_issuer"),
            e.c.created_at.label("event_time"),
        )
        .outerjoin(r, r.c.id == t.c.record_id)
        .outerjoin(f, f.c.id == r.c.file_pk)
        .outerjoin(a, a.c.id == t.c.authorization_id)
        .outerjoin(e, e.c.id == t.c.event_id)
        .where(or_(t.c.debit_account == account, t.c.credit_account == account))
        .order_by(t.c.id)
    )


def _reason(row: Any, taken: bool) -> str:
    kind, receipt, fulfiller, offer, original = (
        row.kind,
        row.receipt_ref,
        row.fulfiller_id,
        row.offer_ref,
        row.original_ref,
    )
    if kind == "FAMILY_POOL":
        return (
            f"gave to family member {row.to_member_token}"
            if taken
            else f"received from family member {row.member_token}"
        )
    if kind == "EARN":
        return f"earned on receipt {receipt}"
    if kind == "REDEEM":
        return f"redeemed {offer or 'an offer'} at {fulfiller}"
    return f"{'refund took back' if taken else 'refund gave back'} points of {original}"


def _action_change(row: Any, points: int) -> BalanceChange:
    """A freeze, deduction or lifting (RL9), named by its action and case."""
    action_id = action_id_of(row.event_reference)
    reason = _ACTION_REASONS[EventKind(row.event_kind)].format(case=row.event_case)
    return BalanceChange(
        posted_at=row.posted_at,
        business_time=row.event_time,
        points=points,
        kind=row.event_kind,
        reason=f"{reason}: {row.event_reason}",
        record=f"action:{action_id}",
        reported_by="hub",
        case_id=row.event_case,
        action_id=action_id,
    )


def _change(row: Any) -> BalanceChange:
    points = -int(row.amount) if row.taken else int(row.amount)
    if row.event_kind in _ACTION_REASONS:
        return _action_change(row, points)
    if row.event_kind == "FAMILY_POOL":  # a real-time family pool move, reported by the issuer
        return BalanceChange(
            posted_at=row.posted_at,
            business_time=row.event_time,
            points=points,
            kind=row.event_kind,
            reason=f"{row.event_reason} ({'given' if row.taken else 'received'}, real time)",
            record=row.event_reference,
            reported_by=row.event_issuer,
        )
    if row.event_kind is not None:  # a movement the hub posts (an expiry...); its reason says why
        return BalanceChange(
            posted_at=row.posted_at,
            business_time=row.event_time,
            points=points,
            kind=row.event_kind,
            reason=row.event_reason,
            record=row.event_reference,
            reported_by="hub",
        )
    if row.kind is None:  # a real-time hold (leg 0) or its release (leg 1)
        held = row.leg == 0
        return BalanceChange(
            posted_at=row.posted_at,
            business_time=row.hold_time,
            points=points,
            kind="HOLD" if held else "RELEASE",
            reason=f"{'held for' if held else 'released from the hold for'} {row.hold_offer or 'an offer'} at "
            f"{row.hold_fulfiller}",
            record=f"AUTH:{row.hold_reference}",
            reported_by=row.hold_fulfiller,
        )
    real_time = row.file_id is None
    return BalanceChange(
        posted_at=row.posted_at,
        business_time=row.business_time,
        points=points,
        kind=row.kind,
        reason=_reason(row, bool(row.taken)) + (" (real time)" if real_time else ""),
        record=row.receipt_ref if real_time else f"{row.file_id}#{row.seq}",
        reported_by=row.fulfiller_id if real_time else row.partner_id,
        record_id=int(row.record_id),
    )


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
        frozen = uow.connection.execute(
            text("SELECT credits - debits FROM account WHERE code = :account"),
            {"account": ledger.frozen_account(issuer_id, member_token).code},
        ).scalar()
    history = tuple(_change(row) for row in rows)
    return MemberPoints(issuer_id, member_token, int(totals[0]), history, int(frozen or 0))
