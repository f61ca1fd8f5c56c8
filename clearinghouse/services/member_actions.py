"""Evidence-gated actions on a member's points (RL9): request, approve (a second admin), reject, lift, read.

Each write takes the clearing lock first (as a real-time authorization does), so a freeze and a redemption
never both spend the same points; a change of state is a conditional UPDATE on the action's status, so two
concurrent approvals apply it once. Applying and lifting post a ``ledger_event`` (FREEZE/DEDUCT,
UNFREEZE/RESTORE) with its transfers. Every write appends to the audit trail in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text, update
from sqlmodel import Session, col

from clearinghouse import audit
from clearinghouse.db import UnitOfWork, unit_of_work
from clearinghouse.errors import ClearinghouseError, Conflict, Forbidden, InvalidRequest, NotFound
from clearinghouse.locks import lock_clearing
from clearinghouse.posting import Source, post_transfers
from clearinghouse.tables import ClearingRecordRow, LedgerEventRow
from clearinghouse.tables_actions import MemberActionRow
from clearinghouse.tables_monitoring import CaseEvidenceRow, CaseRow
from settlement import ledger
from settlement.member_actions import (
    APPLY_EVENT,
    LIFT_EVENT,
    ActionKind,
    ActionRequest,
    ActionStatus,
    CaseFacts,
    Evidence,
    Refusal,
    apply_transfers,
    check_approval,
    check_request,
    event_reference,
    is_admin,
    lift_transfers,
)

ACTIONS = MemberActionRow.__table__  # type: ignore[attr-defined]
_TEXT_LIMIT = 2000
MAX_ID = 2**63 - 1


class ActionRefused(ClearinghouseError):
    """A rule of RL9 refuses the request; nothing changed."""

    kind = "invalid"


@dataclass(frozen=True)
class ActionView:
    action_id: int
    kind: str
    issuer_id: str
    member_token: str
    points: int
    case_id: int
    reason: str
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    lifted_by: str | None
    lifted_at: datetime | None
    lifted_reason: str | None


def _view(row: MemberActionRow) -> ActionView:
    assert row.id is not None
    return ActionView(
        row.id,
        row.kind,
        row.issuer_id,
        row.member_token,
        row.points,
        row.case_id,
        row.reason,
        row.status,
        row.requested_by,
        row.requested_at,
        row.decided_by,
        row.decided_at,
        row.decision_reason,
        row.lifted_by,
        row.lifted_at,
        row.lifted_reason,
    )


def _audit_state(row: MemberActionRow) -> dict[str, Any]:
    return {
        "kind": row.kind,
        "issuer_id": row.issuer_id,
        "member_token": row.member_token,
        "points": row.points,
        "case_id": row.case_id,
        "status": row.status,
        "decided_by": row.decided_by,
        "lifted_by": row.lifted_by,
    }


# ------------------------------------------------------------------ checks of input
def _require_admin(actor: str) -> None:
    if not is_admin(actor):
        raise Forbidden("evidence-gated actions are for alliance admins only", code="ADMIN_ONLY")


def _reason_text(value: str, name: str = "reason") -> str:
    value = value.strip()
    if not value or len(value) > _TEXT_LIMIT or "\x00" in value or not _encodable(value):
        raise InvalidRequest(f"{name}: 1-{_TEXT_LIMIT} characters saying why", code="REQUEST_FIELD_INVALID")
    return value


def _encodable(value: str) -> bool:
    """Free text may hold newlines but no lone surrogate: no driver can store it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _field_text(value: str, name: str, limit: int) -> str:
    """An id as the columns hold it on every backend: printable (PostgreSQL text holds no NUL), bounded."""
    if not value or len(value) > limit or not value.isprintable():
        raise InvalidRequest(f"{name}: 1-{limit} printable characters", code="REQUEST_FIELD_INVALID")
    return value


def _row_id(value: int, name: str) -> int:
    if not 0 < value <= MAX_ID:
        raise InvalidRequest(f"{name}: a positive 64-bit id", code="REQUEST_FIELD_INVALID")
    return value


def _kind(value: str) -> ActionKind:
    try:
        return ActionKind(value)
    except ValueError as exc:
        raise InvalidRequest("kind must be FREEZE or DEDUCT", code="REQUEST_FIELD_INVALID") from exc


def _refuse(refusal: Refusal | None) -> None:
    if refusal is None:
        return
    if refusal.code == "RL9_SAME_ADMIN":
        raise Forbidden(refusal.message, code=refusal.code)
    raise ActionRefused(refusal.message, code=refusal.code)


# ------------------------------------------------------------------ reading the facts
def case_facts(session: Session, case_id: int) -> CaseFacts | None:
    """The case with its evidence, each evidence record's issuer and member (None for a described fact)."""
    case = session.get(CaseRow, case_id)
    if case is None or case.id is None:
        return None
    rows = session.execute(
        select(col(ClearingRecordRow.issuer_id), col(ClearingRecordRow.member_token))
        .select_from(CaseEvidenceRow)
        .outerjoin(ClearingRecordRow, col(ClearingRecordRow.id) == col(CaseEvidenceRow.record_id))
        .where(col(CaseEvidenceRow.case_id) == case_id)
        .order_by(col(CaseEvidenceRow.id))
    ).all()
    evidence = tuple(Evidence(issuer, member) for issuer, member in rows)
    return CaseFacts(case.id, case.status, case.issuer_id, case.member_token, evidence)


def _balance(connection: Connection, account: ledger.Account) -> int:
    value = connection.execute(
        text("SELECT credits - debits FROM account WHERE code = :c"), {"c": account.code}
    ).scalar()
    return int(value or 0)


def spendable(connection: Connection, issuer_id: str, member_token: str) -> int:
    return _balance(connection, ledger.member_account(issuer_id, member_token))


def _as_request(row: MemberActionRow) -> ActionRequest:
    return ActionRequest(
        ActionKind(row.kind), row.issuer_id, row.member_token, row.points, row.case_id, row.requested_by
    )


def _load(session: Session, action_id: int) -> MemberActionRow:
    row = session.get(MemberActionRow, action_id, populate_existing=True) if 0 < action_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"no member action {action_id}", code="ACTION_NOT_FOUND")
    return row


# ------------------------------------------------------------------ request
def request_action(
    *,
    engine: Engine,
    now: datetime,
    actor: str,
    kind: str,
    issuer_id: str,
    member_token: str,
    points: int,
    case_id: int,
    reason: str,
) -> ActionView:
    """Ask for a FREEZE or DEDUCT of ``points`` of the member under ``case_id``; nothing moves until a second
    admin approves. The same pending request again (same admin, same points) answers the first."""
    _require_admin(actor)
    wanted = ActionRequest(
        _kind(kind),
        _field_text(issuer_id, "issuer_id", 40),
        _field_text(member_token, "member_token", 128),
        points,
        _row_id(case_id, "case_id"),
        actor,
    )
    reason = _reason_text(reason)
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        pending = _pending(uow.session, wanted)
        if pending is not None:
            if (pending.points, pending.requested_by) != (points, actor):
                raise Conflict(f"action {pending.id} asks for this already", code="ACTION_PENDING")
            return _view(pending)
        _refuse(
            check_request(wanted, case_facts(uow.session, case_id), spendable(uow.connection, issuer_id, member_token))
        )
        row = MemberActionRow(
            kind=wanted.kind.value,
            issuer_id=issuer_id,
            member_token=wanted.member_token,
            points=points,
            case_id=case_id,
            reason=reason,
            status=ActionStatus.REQUESTED.value,
            requested_by=actor,
            requested_at=now,
        )
        uow.session.add(row)
        uow.session.flush()
        audit.append(
            uow.connection,
            actor=actor,
            action="member_actions.request",
            subject=f"member_action:{row.id}",
            before=None,
            after={**_audit_state(row), "reason": reason},
            now=now,
        )
        view = _view(row)
        uow.commit()
    return view


def _pending(session: Session, wanted: ActionRequest) -> MemberActionRow | None:
    return session.scalars(
        select(MemberActionRow).where(
            col(MemberActionRow.case_id) == wanted.case_id,
            col(MemberActionRow.kind) == wanted.kind.value,
            col(MemberActionRow.issuer_id) == wanted.issuer_id,
            col(MemberActionRow.member_token) == wanted.member_token,
            col(MemberActionRow.status) == ActionStatus.REQUESTED.value,
        )
    ).first()


# ------------------------------------------------------------------ approve / reject
def _transition(connection: Connection, action_id: int, source: ActionStatus, values: dict[str, Any]) -> bool:
    """Move the action from ``source`` to a new state; False when another transaction moved it first."""
    result = connection.execute(
        update(ACTIONS).where(ACTIONS.c.id == action_id, ACTIONS.c.status == source.value).values(**values)
    )
    return result.rowcount == 1


def approve_action(*, engine: Engine, now: datetime, actor: str, action_id: int) -> ActionView:
    """A second admin applies the requested action: the rules are checked again now, then the points move.
    Approving again (the same admin) answers the same, with no second movement."""
    _require_admin(actor)
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        row = _load(uow.session, action_id)
        if row.status != ActionStatus.REQUESTED:
            return _already_decided(row, actor, ActionStatus.APPLIED)
        request = _as_request(row)
        balance = spendable(uow.connection, row.issuer_id, row.member_token)
        _refuse(check_approval(request, actor, case_facts(uow.session, row.case_id), balance))
        before = _audit_state(row)
        values = {"status": ActionStatus.APPLIED.value, "decided_by": actor, "decided_at": now}
        if not _transition(uow.connection, action_id, ActionStatus.REQUESTED, values):
            raise Conflict("another admin decided this action meanwhile", code="ACTION_ALREADY_DECIDED")
        _post_event(uow.session, row, APPLY_EVENT[request.kind].value, "apply", row.reason, actor, now)
        view = _audited(uow, actor, "approve", action_id, before, now)
        uow.commit()
    return view


def _already_decided(row: MemberActionRow, actor: str, wanted: ActionStatus) -> ActionView:
    if row.status == wanted and row.decided_by == actor:
        return _view(row)  # a retry of the same decision
    raise Conflict(f"action {row.id} is {row.status.lower()}", code=f"ACTION_{row.status}")


def reject_action(*, engine: Engine, now: datetime, actor: str, action_id: int, reason: str) -> ActionView:
    """Any admin (the requester too: a withdrawal) turns a request down; nothing moves."""
    _require_admin(actor)
    reason = _reason_text(reason)
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        row = _load(uow.session, action_id)
        if row.status != ActionStatus.REQUESTED:
            return _already_decided(row, actor, ActionStatus.REJECTED)
        before = _audit_state(row)
        values = {
            "status": ActionStatus.REJECTED.value,
            "decided_by": actor,
            "decided_at": now,
            "decision_reason": reason,
        }
        if not _transition(uow.connection, action_id, ActionStatus.REQUESTED, values):
            raise Conflict("another admin decided this action meanwhile", code="ACTION_ALREADY_DECIDED")
        view = _audited(uow, actor, "reject", action_id, before, now, reason=reason)
        uow.commit()
    return view


def _audited(
    uow: UnitOfWork, actor: str, verb: str, action_id: int, before: dict[str, Any], now: datetime, **extra: str
) -> ActionView:
    """The action as it now stands, with its audit entry (before and after) in the same transaction."""
    row = _load(uow.session, action_id)
    audit.append(
        uow.connection,
        actor=actor,
        action=f"member_actions.{verb}",
        subject=f"member_action:{action_id}",
        before=before,
        after={**_audit_state(row), **extra},
        now=now,
    )
    return _view(row)


# ------------------------------------------------------------------ lift
def lift_action(*, engine: Engine, now: datetime, actor: str, action_id: int, reason: str) -> ActionView:
    """Any admin lifts an applied action (an appeal upheld, or the case cleared): a freeze gives the points
    back, a deduction restores them. One admin suffices: lifting only gives the member back what is theirs.
    Lifting again (the same admin) answers the same."""
    _require_admin(actor)
    reason = _reason_text(reason)
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        row = _load(uow.session, action_id)
        if row.status == ActionStatus.LIFTED and row.lifted_by == actor:
            return _view(row)
        if row.status != ActionStatus.APPLIED:
            raise Conflict(
                f"only an applied action can be lifted; {action_id} is {row.status.lower()}",
                code=f"ACTION_{row.status}",
            )
        before = _audit_state(row)
        values = {"status": ActionStatus.LIFTED.value, "lifted_by": actor, "lifted_at": now, "lifted_reason": reason}
        if not _transition(uow.connection, action_id, ActionStatus.APPLIED, values):
            raise Conflict("another admin lifted this action meanwhile", code="ACTION_LIFTED")
        _post_event(uow.session, row, LIFT_EVENT[ActionKind(row.kind)].value, "lift", reason, actor, now)
        view = _audited(uow, actor, "lift", action_id, before, now, reason=reason)
        uow.commit()
    return view


def _post_event(
    session: Session, row: MemberActionRow, kind: str, step: str, reason: str, actor: str, now: datetime
) -> None:
    """The ledger event of applying or lifting the action (reference unique per kind), and its transfers."""
    assert row.id is not None
    event = LedgerEventRow(
        kind=kind,
        reference=event_reference(row.id, step),
        issuer_id=row.issuer_id,
        member_token=row.member_token,
        points=row.points,
        case_id=row.case_id,
        reason=reason,
        actor=actor,
        created_at=now,
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    make = apply_transfers if step == "apply" else lift_transfers
    transfers = make(ActionKind(row.kind), row.issuer_id, row.member_token, row.points)
    source = Source(event_id=event.id)
    post_transfers(session.connection(), [(source, leg, t) for leg, t in enumerate(transfers)], now=now)


# ------------------------------------------------------------------ read
def get_action(*, engine: Engine, action_id: int) -> ActionView:
    with unit_of_work(engine, read_only=True) as uow:
        return _view(_load(uow.session, action_id))


def list_actions(*, engine: Engine, issuer_id: str | None = None, member_token: str | None = None) -> list[ActionView]:
    """Actions, newest first, of an issuer and/or a member."""
    query = select(MemberActionRow).order_by(col(MemberActionRow.id).desc())
    if issuer_id:
        query = query.where(col(MemberActionRow.issuer_id) == _field_text(issuer_id, "issuer", 40))
    if member_token:
        query = query.where(col(MemberActionRow.member_token) == _field_text(member_token, "member", 128))
    with unit_of_work(engine, read_only=True) as uow:
        return [_view(row) for row in uow.session.scalars(query)]
