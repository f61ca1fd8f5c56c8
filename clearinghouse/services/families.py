"""Family groups and family pool moves (red line RL6).

An issuer (or an admin) registers a family group under an id of its own, records each member's consent as
the member joins, and records a member leaving (never deletes it). A real-time pool move passes exactly the
rules a ``FAMILY_POOL`` line of a settlement file passes (``settlement.clearing.approve_family_pool``) and is
idempotent by the issuer's reference.

A real-time move is posted as a ledger event (kind ``FAMILY_POOL``) and a ``family_pool_move`` row, not as a
clearing record: a clearing record stands for a line some partner reported (a file line, or a capture/refund
standing in for one) and carries money owed between partners, while a pool move carries no money and nets
nothing; the ledger event is the hub's one shape for member movements no settlement record carries, and it
keeps the clearing-record table's source rule (file, authorization or refund) as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from clearinghouse import audit
from clearinghouse.db import unit_of_work
from clearinghouse.errors import ClearinghouseError, Conflict, Forbidden, InvalidRequest, NotFound
from clearinghouse.locks import lock_clearing
from clearinghouse.posting import Source, load_book, post_transfers
from clearinghouse.queries import active_contracts, all_partners, closed_periods
from clearinghouse.services.partners import ADMIN
from clearinghouse.tables import LedgerEventRow, PartnerRow
from clearinghouse.tables_families import FamilyGroupRow, FamilyMembershipRow, FamilyPoolMoveRow
from partners.model import Role
from settlement.clearing import ClearingContext, Refused, approve_family_pool, family_pool_transfers, keys_for
from settlement.families import group_at
from settlement.fileformat import MAX_FIELD_CHARS
from settlement.records import RecordKind, SettlementRecord

FAMILY_POOL = "FAMILY_POOL"
_GROUP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# the ledger event's reference is "<issuer>:<reference>" in 80 characters; a partner id has at most 40
_MOVE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,38}")


class FamilyPoolRefused(ClearinghouseError):
    """A pool move the rules refuse; ``code`` is the one a FAMILY_POOL line of a file would carry."""

    kind = "invalid"


@dataclass(frozen=True)
class MembershipView:
    member_token: str
    consent_ref: str
    consented_at: datetime
    recorded_by: str
    joined_at: datetime
    left_at: datetime | None
    left_by: str | None
    leave_reason: str | None


@dataclass(frozen=True)
class GroupView:
    issuer_id: str
    group_id: str
    created_by: str
    created_at: datetime
    members: tuple[MembershipView, ...]


@dataclass(frozen=True)
class PoolMoveRequest:
    reference: str
    from_member: str
    to_member: str
    points: int
    amount_fen: int = 0  # a move carries no money; anything else is refused (RL7), never ignored


@dataclass(frozen=True)
class PoolMoveView:
    issuer_id: str
    reference: str
    group_id: str
    from_member: str
    to_member: str
    points: int
    created_at: datetime


# ------------------------------------------------------------------ checks shared by the writes
def _member_text(value: str, name: str) -> None:
    if not value or len(value) > MAX_FIELD_CHARS or not value.isprintable() or value != value.strip():
        raise InvalidRequest(
            f"{name}: 1-{MAX_FIELD_CHARS} printable characters, no surrounding blanks", code="FAMILY_FIELD_INVALID"
        )


def _check_group_id(group_id: str) -> None:
    if not _GROUP_ID.fullmatch(group_id):
        raise InvalidRequest("group_id: 1-64 of [A-Za-z0-9._:-]", code="FAMILY_FIELD_INVALID")


def _may_act_for(caller: str, issuer_id: str) -> None:
    """Only the issuer itself or an alliance admin manages an issuer's families."""
    if caller not in (ADMIN, issuer_id):
        raise Forbidden("only the issuer or an alliance admin manages its family groups", code="NOT_YOUR_DATA")


def _issuer(session: Session, issuer_id: str) -> PartnerRow:
    # an id no partner can have (NUL, a lone surrogate, too long) is unknown; the database would refuse it
    row = session.get(PartnerRow, issuer_id) if len(issuer_id) <= 40 and issuer_id.isprintable() else None
    if row is None:
        raise NotFound(f"no partner {issuer_id!r}", code="PARTNER_NOT_FOUND")
    if Role.ISSUER.value not in row.roles.split(","):
        raise InvalidRequest(f"{issuer_id!r} is not registered as an issuer", code="FAMILY_NOT_AN_ISSUER")
    return row


def _group(session: Session, issuer_id: str, group_id: str) -> FamilyGroupRow:
    row = session.scalars(
        select(FamilyGroupRow).where(
            col(FamilyGroupRow.issuer_id) == issuer_id, col(FamilyGroupRow.group_id) == group_id
        )
    ).first()
    if row is None or row.id is None:
        raise NotFound(f"no family group {group_id!r} of {issuer_id!r}", code="FAMILY_GROUP_NOT_FOUND")
    return row


def _memberships(session: Session, group_pk: int) -> list[FamilyMembershipRow]:
    query = select(FamilyMembershipRow).where(col(FamilyMembershipRow.group_pk) == group_pk)
    return list(session.scalars(query.order_by(col(FamilyMembershipRow.id))))


def _current(session: Session, issuer_id: str, member_token: str) -> FamilyMembershipRow | None:
    query = select(FamilyMembershipRow).where(
        col(FamilyMembershipRow.issuer_id) == issuer_id,
        col(FamilyMembershipRow.member_token) == member_token,
        col(FamilyMembershipRow.left_at).is_(None),
    )
    return session.scalars(query.with_for_update()).first()


def _membership_view(row: FamilyMembershipRow) -> MembershipView:
    return MembershipView(
        row.member_token,
        row.consent_ref,
        row.consented_at,
        row.recorded_by,
        row.joined_at,
        row.left_at,
        row.left_by,
        row.leave_reason,
    )


def _group_view(session: Session, group: FamilyGroupRow) -> GroupView:
    assert group.id is not None
    members = tuple(_membership_view(row) for row in _memberships(session, group.id))
    return GroupView(group.issuer_id, group.group_id, group.created_by, group.created_at, members)


def _membership_json(row: FamilyMembershipRow) -> dict[str, object]:
    return {
        "member_token": row.member_token,
        "consent_ref": row.consent_ref,
        "consented_at": row.consented_at.isoformat(),
        "recorded_by": row.recorded_by,
        "joined_at": row.joined_at.isoformat(),
        "left_at": row.left_at.isoformat() if row.left_at else None,
        "left_by": row.left_by,
        "leave_reason": row.leave_reason,
    }


# ------------------------------------------------------------------ groups and memberships
def create_group(
    *, engine: Engine, now: datetime, caller: str, actor: str, issuer_id: str, group_id: str
) -> tuple[GroupView, bool]:
    """Register a family group of ``issuer_id``; (the group, created). The same group again answers the group
    as it is (a retry creates nothing)."""
    _may_act_for(caller, issuer_id)
    _check_group_id(group_id)
    with unit_of_work(engine) as uow:
        _issuer(uow.session, issuer_id)
        existing = uow.session.scalars(
            select(FamilyGroupRow).where(
                col(FamilyGroupRow.issuer_id) == issuer_id, col(FamilyGroupRow.group_id) == group_id
            )
        ).first()
        if existing is not None:
            return _group_view(uow.session, existing), False
        row = FamilyGroupRow(issuer_id=issuer_id, group_id=group_id, created_by=actor, created_at=now)
        uow.session.add(row)
        try:
            uow.session.flush()
        except IntegrityError as exc:  # a concurrent creation of the same group won
            raise Conflict(f"family group {group_id!r} was just created", code="FAMILY_GROUP_EXISTS") from exc
        audit.append(
            uow.connection,
            actor=actor,
            action="families.create_group",
            subject=f"family:{issuer_id}/{group_id}",
            after={"issuer_id": issuer_id, "group_id": group_id},
            now=now,
        )
        view = _group_view(uow.session, row)
        uow.commit()
    return view, True


def add_member(
    *,
    engine: Engine,
    now: datetime,
    caller: str,
    actor: str,
    issuer_id: str,
    group_id: str,
    member_token: str,
    consent_ref: str,
    consented_at: datetime | None,
) -> tuple[MembershipView, bool]:
    """Record ``member_token`` joining the group with its consent (reference and time, not in the future).
    The membership counts from now. A member is in at most one current group of an issuer; joining the same
    group again with the same consent answers the membership as it is."""
    _may_act_for(caller, issuer_id)
    _member_text(member_token, "member_token")
    _member_text(consent_ref, "consent_ref")
    if consented_at is None or consented_at > now:
        raise InvalidRequest(
            "consented_at: when the member consented (RFC 3339, not in the future)", code="FAMILY_CONSENT_INVALID"
        )
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)  # a membership change and a pool move never interleave
        group = _group(uow.session, issuer_id, group_id)
        current = _current(uow.session, issuer_id, member_token)
        if current is not None:
            if current.group_pk == group.id and current.consent_ref == consent_ref:
                return _membership_view(current), False
            raise Conflict(
                "the member is already in a family group of this issuer (leave it first)",
                code="FAMILY_MEMBER_IN_GROUP",
            )
        assert group.id is not None
        row = FamilyMembershipRow(
            group_pk=group.id,
            issuer_id=issuer_id,
            member_token=member_token,
            consent_ref=consent_ref,
            consented_at=consented_at,
            recorded_by=actor,
            joined_at=now,
        )
        uow.session.add(row)
        try:
            uow.session.flush()
        except IntegrityError as exc:  # the unique index over current memberships decided a race
            raise Conflict("the member just joined a family group", code="FAMILY_MEMBER_IN_GROUP") from exc
        audit.append(
            uow.connection,
            actor=actor,
            action="families.add_member",
            subject=f"family:{issuer_id}/{group_id}",
            after=_membership_json(row),
            now=now,
        )
        view = _membership_view(row)
        uow.commit()
    return view, True


def remove_member(
    *,
    engine: Engine,
    now: datetime,
    caller: str,
    actor: str,
    issuer_id: str,
    group_id: str,
    member_token: str,
    reason: str,
) -> MembershipView:
    """Record the member leaving the group (the membership stays, ended now). Leaving again answers the
    membership as it ended."""
    _may_act_for(caller, issuer_id)
    if len(reason) > 500 or not reason.isprintable():
        raise InvalidRequest("reason: at most 500 printable characters", code="FAMILY_FIELD_INVALID")
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)  # a membership change and a pool move never interleave
        group = _group(uow.session, issuer_id, group_id)
        assert group.id is not None
        current = _current(uow.session, issuer_id, member_token)
        if current is None or current.group_pk != group.id:
            past = [row for row in _memberships(uow.session, group.id) if row.member_token == member_token]
            if past:
                return _membership_view(past[-1])
            raise NotFound("the member is not in this family group", code="FAMILY_MEMBER_NOT_FOUND")
        before = _membership_json(current)
        current.left_at, current.left_by, current.leave_reason = now, actor, reason
        uow.session.add(current)
        uow.session.flush()
        audit.append(
            uow.connection,
            actor=actor,
            action="families.remove_member",
            subject=f"family:{issuer_id}/{group_id}",
            before=before,
            after=_membership_json(current),
            now=now,
        )
        view = _membership_view(current)
        uow.commit()
    return view


def get_group(*, engine: Engine, caller: str, issuer_id: str, group_id: str) -> GroupView:
    """The group with every membership it ever had, in the order they were recorded."""
    _may_act_for(caller, issuer_id)
    with unit_of_work(engine, read_only=True) as uow:
        return _group_view(uow.session, _group(uow.session, issuer_id, group_id))


# ------------------------------------------------------------------ real-time pool moves
def _check_move(request: PoolMoveRequest) -> None:
    if not _MOVE_REFERENCE.fullmatch(request.reference):
        raise InvalidRequest("reference: 1-39 of [A-Za-z0-9._:-]", code="FAMILY_FIELD_INVALID")
    _member_text(request.from_member, "from_member")
    _member_text(request.to_member, "to_member")


def _move_view(row: FamilyPoolMoveRow) -> PoolMoveView:
    return PoolMoveView(
        row.issuer_id, row.reference, row.group_id, row.from_member, row.to_member, row.points, row.created_at
    )


def _same_move(row: FamilyPoolMoveRow, request: PoolMoveRequest) -> bool:
    asked = (request.from_member, request.to_member, request.points, request.amount_fen)
    return (row.from_member, row.to_member, row.points, 0) == asked


def pool_move(
    *, engine: Engine, now: datetime, zone_name: str, issuer_id: str, actor: str, request: PoolMoveRequest
) -> tuple[PoolMoveView, bool]:
    """Move ``request.points`` of ``issuer_id`` from one member to another of the same family group, now;
    (the move, made). Refused with the reason code a FAMILY_POOL file line would carry. The same reference
    with the same move answers the move already made; with another move, a conflict."""
    _check_move(request)
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        existing = uow.session.scalars(
            select(FamilyPoolMoveRow).where(
                col(FamilyPoolMoveRow.issuer_id) == issuer_id, col(FamilyPoolMoveRow.reference) == request.reference
            )
        ).first()
        if existing is not None:
            if not _same_move(existing, request):
                raise Conflict("that reference was used for another move", code="FAMILY_MOVE_REFERENCE_REUSED")
            return _move_view(existing), False
        record = SettlementRecord(
            seq=1,
            kind=RecordKind.FAMILY_POOL,
            business_time=now,
            issuer_id=issuer_id,
            fulfiller_id="",
            member_token=request.from_member,
            points=request.points,
            amount_fen=request.amount_fen,
            to_member_token=request.to_member,
        )
        context = ClearingContext(
            reporter_id=issuer_id,
            file_id="",
            partners=all_partners(uow.session),
            contracts=tuple(active_contracts(uow.session)),
            closed_periods=closed_periods(uow.session),
            zone=ZoneInfo(zone_name),
            received_at=now,
        )
        book = load_book(uow.connection, reporter_id=issuer_id, keys=keys_for([record], context.zone), terms_by_pk={})
        approved = approve_family_pool(record, context, book)
        if isinstance(approved, Refused):
            raise FamilyPoolRefused(approved.message, code=approved.code)
        group_id = group_at(book.families[(issuer_id, request.from_member)], now)
        assert group_id is not None  # approved: both members were in this group now
        event = LedgerEventRow(
            kind=FAMILY_POOL,
            reference=f"{issuer_id}:{request.reference}",
            issuer_id=issuer_id,
            member_token=request.from_member,
            points=request.points,
            reason=f"family pool {request.from_member} → {request.to_member} in group {group_id}",
            actor=actor,
            created_at=now,
        )
        uow.session.add(event)
        uow.session.flush()
        assert event.id is not None
        row = FamilyPoolMoveRow(
            issuer_id=issuer_id,
            reference=request.reference,
            group_id=group_id,
            from_member=request.from_member,
            to_member=request.to_member,
            points=request.points,
            event_id=event.id,
            actor=actor,
            created_at=now,
        )
        uow.session.add(row)
        uow.session.flush()
        transfers = family_pool_transfers(record)
        post_transfers(
            uow.connection, [(Source(event_id=event.id), leg, t) for leg, t in enumerate(transfers)], now=now
        )
        audit.append(
            uow.connection,
            actor=actor,
            action="families.pool_move",
            subject=f"family-pool-move:{issuer_id}/{request.reference}",
            after={
                "group_id": group_id,
                "from_member": request.from_member,
                "to_member": request.to_member,
                "points": request.points,
                "contract_pk": approved.pk,
            },
            now=now,
        )
        view = _move_view(row)
        uow.commit()
    return view, True
