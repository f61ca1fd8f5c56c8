"""Real-time redemption at the till, the way card networks do it: authorize (hold), then capture (in full
or in part) or void; holds not captured in time expire.

A hold passes every rule a REDEEM line passes (``approve_redemption``), takes the points off the member's
account at once (into the fulfiller's held account) and counts against the contract's per-period cap. A
capture becomes a REDEEM clearing record — the same ledger, the same period netting as file-reported
ones — and gives back what it did not capture. Every step is idempotent by (fulfiller, reference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, text
from sqlmodel import Session, col

from clearinghouse import audit, catalog
from clearinghouse.catalog import Catalog
from clearinghouse.db import allocate_ids, driver_execute, unit_of_work
from clearinghouse.errors import ClearinghouseError, Conflict, Forbidden, InvalidRequest, NotFound
from clearinghouse.locks import lock_cap, lock_clearing, lock_member, takes_locks
from clearinghouse.posting import (
    RECORD_COLUMNS,
    Source,
    bulk_insert,
    db_time,
    load_book,
    post_transfers,
    redeemed_in_period,
)
from clearinghouse.tables import AuthorizationRow, RefundRow
from contracts.terms import ContractTerms, terms_from_json, to_fen
from settlement import ledger
from settlement.clearing import (
    Accepted,
    BookKeys,
    ClearingBook,
    ClearingContext,
    Original,
    Refused,
    approve_redemption,
    clear,
    keys_for,
)
from settlement.periods import Period, settlement_period
from settlement.records import RecordKind, RecordRef, SettlementRecord

HOLD_LEG, RELEASE_LEG = 0, 1


class AuthorizationRefused(ClearinghouseError):
    """A redemption the rules refuse; ``code`` is the same reason code a settlement file would carry."""

    kind = "invalid"


@dataclass(frozen=True)
class AuthorizationRequest:
    reference: str
    issuer_id: str
    member_token: str
    points: int
    category: str
    offer_ref: str = ""
    face_value_fen: int = 0


@dataclass(frozen=True)
class AuthorizationView:
    reference: str
    fulfiller_id: str
    issuer_id: str
    member_token: str
    points: int
    captured_points: int
    status: str
    category: str
    offer_ref: str
    face_value_fen: int
    business_time: datetime
    expires_at: datetime
    value_fen: int | None  # what the issuer owes for the capture, once captured


def _text(value: str, name: str, limit: int, *, required: bool = True) -> None:
    """Till input fits the columns on every backend: printable (no NUL), bounded, present when required."""
    if (required and not value) or len(value) > limit or not value.isprintable():
        raise InvalidRequest(
            f"{name}: {'1' if required else '0'}-{limit} printable characters", code="AUTH_FIELD_INVALID"
        )


def _check_request(request: AuthorizationRequest) -> None:
    _text(request.reference, "reference", 64)
    _text(request.member_token, "member_token", 128)
    _text(request.category, "category", 128)
    _text(request.offer_ref, "offer_ref", 128, required=False)


@dataclass(frozen=True, slots=True)
class Hold:
    """An ``authorization_hold`` row as the real-time path reads it (driver-level, no ORM object)."""

    id: int
    fulfiller_id: str
    reference: str
    issuer_id: str
    member_token: str
    category: str
    offer_ref: str
    face_value_fen: int
    points: int
    captured_points: int
    status: str
    business_time: datetime
    business_period: str
    contract_pk: int
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None


_HOLD_COLUMNS = (
    "id", "fulfiller_id", "reference", "issuer_id", "member_token", "category", "offer_ref", "face_value_fen",
    "points", "captured_points", "status", "business_time", "business_period", "contract_pk", "created_at",
    "expires_at", "closed_at",
)  # fmt: skip
_HOLD_TIMES = frozenset({"business_time", "created_at", "expires_at", "closed_at"})


def _mark(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _from_db_time(value: object) -> datetime:
    """A stored time back as aware UTC (SQLite keeps naive UTC text, PostgreSQL an aware timestamp)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _hold(values: tuple[object, ...]) -> Hold:
    fields = {
        name: (_from_db_time(value) if name in _HOLD_TIMES and value is not None else value)
        for name, value in zip(_HOLD_COLUMNS, values, strict=True)
    }
    return Hold(**fields)  # type: ignore[arg-type]


def _view(row: Hold | AuthorizationRow, value_fen: int | None = None) -> AuthorizationView:
    return AuthorizationView(
        row.reference,
        row.fulfiller_id,
        row.issuer_id,
        row.member_token,
        row.points,
        row.captured_points,
        row.status,
        row.category,
        row.offer_ref,
        row.face_value_fen,
        row.business_time,
        row.expires_at,
        value_fen,
    )


def _same_request(row: Hold, request: AuthorizationRequest) -> bool:
    return (row.issuer_id, row.member_token, row.points, row.category, row.offer_ref, row.face_value_fen) == (
        request.issuer_id,
        request.member_token,
        request.points,
        request.category,
        request.offer_ref,
        request.face_value_fen,
    )


def _find(connection: Connection, fulfiller_id: str, reference: str, *, for_update: bool = True) -> Hold | None:
    mark = _mark(connection)
    sql = (
        f"SELECT {', '.join(_HOLD_COLUMNS)} FROM authorization_hold WHERE fulfiller_id = {mark} AND reference = {mark}"
    )
    if for_update and connection.dialect.name == "postgresql":
        sql += " FOR UPDATE"
    rows = driver_execute(connection, sql, (fulfiller_id, reference))
    return _hold(rows[0]) if rows else None


def _insert_hold(connection: Connection, values: dict[str, object]) -> int:
    names = [name for name in _HOLD_COLUMNS if name != "id"]
    row = [db_time(connection, v) if n in _HOLD_TIMES and isinstance(v, datetime) else v for n, v in values.items()]
    assert list(values) == names
    sql = (
        f"INSERT INTO authorization_hold ({', '.join(names)})"
        f" VALUES ({', '.join([_mark(connection)] * len(names))}) RETURNING id"
    )
    return int(driver_execute(connection, sql, tuple(row))[0][0])


def _close(connection: Connection, hold: Hold, status: str, now: datetime, captured_points: int = 0) -> Hold:
    """Record the hold's end (captured or voided); returns it as it now stands."""
    mark = _mark(connection)
    driver_execute(
        connection,
        f"UPDATE authorization_hold SET status = {mark}, captured_points = {mark}, closed_at = {mark}"
        f" WHERE id = {mark}",
        (status, captured_points, db_time(connection, now), hold.id),
    )
    return replace(hold, status=status, captured_points=captured_points, closed_at=now)


def authorize(
    *,
    engine: Engine,
    now: datetime,
    zone_name: str,
    fulfiller_id: str,
    request: AuthorizationRequest,
    hold_for: timedelta,
) -> AuthorizationView:
    """Hold ``request.points`` of the member for ``hold_for``; refused with the rules' reason code otherwise."""
    _check_request(request)
    with unit_of_work(engine) as uow:
        connection = uow.connection
        lock_member(
            connection,
            request.issuer_id,
            request.member_token,
            fulfiller_id=fulfiller_id,
            reference=request.reference,
        )
        existing = _find(connection, fulfiller_id, request.reference)
        if existing is not None:
            if not _same_request(existing, request):
                raise Conflict("that reference was used for another authorization", code="AUTH_REFERENCE_REUSED")
            return _view(existing)
        record = SettlementRecord(
            seq=1,
            kind=RecordKind.REDEEM,
            business_time=now,
            issuer_id=request.issuer_id,
            fulfiller_id=fulfiller_id,
            member_token=request.member_token,
            points=request.points,
            amount_fen=request.face_value_fen,
            category=request.category,
            offer_ref=request.offer_ref,
        )
        context = _context(catalog.current(connection), fulfiller_id, now, zone_name)
        capped = _capped(context, request.issuer_id, fulfiller_id)
        if capped:
            lock_cap(connection, request.issuer_id, fulfiller_id)
        book = _hold_book(connection, keys_for([record], context.zone), capped=capped)
        approval = approve_redemption(record, context, book)
        if isinstance(approval, Refused):
            raise AuthorizationRefused(approval.message, code=approval.code)
        values: dict[str, object] = {
            "fulfiller_id": fulfiller_id,
            "reference": request.reference,
            "issuer_id": request.issuer_id,
            "member_token": request.member_token,
            "category": request.category,
            "offer_ref": request.offer_ref,
            "face_value_fen": request.face_value_fen,
            "points": request.points,
            "captured_points": 0,
            "status": "HELD",
            "business_time": now,
            "business_period": str(approval.business_period),
            "contract_pk": approval.contract.pk,
            "created_at": now,
            "expires_at": now + hold_for,
            "closed_at": None,
        }
        row = Hold(id=_insert_hold(connection, values), **values)  # type: ignore[arg-type]
        member = ledger.member_account(request.issuer_id, request.member_token)
        held = ledger.held_account(request.issuer_id, fulfiller_id)
        post_transfers(
            connection,
            [(Source(authorization_id=row.id), HOLD_LEG, t) for t in ledger.transfer(member, held, request.points)],
            now=now,
        )
        view = _view(row)
        _audit(connection, fulfiller_id, "authorization.hold", view, now, before=None)
        uow.commit()
    return view


def _audit(
    connection: Connection, actor: str, action: str, view: AuthorizationView, now: datetime, *, before: str | None
) -> None:
    """The till's action in the audit trail (the member by its opaque token only, as the hub knows it)."""
    audit.append(
        connection,
        actor=actor,
        action=action,
        subject=f"authorization:{view.fulfiller_id}:{view.reference}",
        now=now,
        before=None if before is None else {"status": before},
        after={
            "status": view.status,
            "issuer_id": view.issuer_id,
            "member_token": view.member_token,
            "points": view.points,
            "captured_points": view.captured_points,
            "value_fen": view.value_fen,
        },
    )


def _hold_book(connection: Connection, keys: BookKeys, *, capped: bool) -> ClearingBook:
    """What one hold's rules read: the member's balance, and what the period's cap has used (only read when a
    cap applies; without one the rules never look at it)."""
    ((issuer_id, member_token),) = keys.balances
    code = ledger.member_account(issuer_id, member_token).code
    rows = driver_execute(connection, f"SELECT credits - debits FROM account WHERE code = {_mark(connection)}", (code,))
    balance = rows[0][0] if rows else 0
    used = redeemed_in_period(connection, keys.redeemed_in_period) if capped else {}
    return ClearingBook(
        balances={(issuer_id, member_token): int(balance or 0)},
        redeemed_in_period={key: used.get(key, 0) for key in keys.redeemed_in_period},
    )


def _capped(context: ClearingContext, issuer_id: str, fulfiller_id: str) -> bool:
    """Whether any active contract of the issuer caps what the fulfiller may redeem per period."""
    return any(
        terms.fulfiller_id == fulfiller_id and terms.cap_points_per_period is not None
        for contract in context.contracts
        if contract.terms.issuer_id == issuer_id
        for terms in contract.terms.fulfillers
    )


def _context(current: Catalog, reporter_id: str, now: datetime, zone_name: str) -> ClearingContext:
    return ClearingContext(
        reporter_id=reporter_id,
        file_id="",
        partners=current.partners,
        contracts=current.contracts,
        closed_periods=current.closed_periods,
        zone=ZoneInfo(zone_name),
        received_at=now,
    )


def _open(connection: Connection, fulfiller_id: str, reference: str) -> Hold:
    row = _find(connection, fulfiller_id, reference)
    if row is None:
        raise NotFound(f"no authorization {reference!r} of {fulfiller_id!r}", code="AUTH_NOT_FOUND")
    return row


def _release(connection: Connection, row: Hold | AuthorizationRow, points: int, now: datetime) -> None:
    assert row.id is not None
    member = ledger.member_account(row.issuer_id, row.member_token)
    held = ledger.held_account(row.issuer_id, row.fulfiller_id)
    post_transfers(
        connection,
        [(Source(authorization_id=row.id), RELEASE_LEG, t) for t in ledger.transfer(held, member, points)],
        now=now,
    )


def capture(
    *, engine: Engine, now: datetime, fulfiller_id: str, reference: str, points: int | None = None
) -> AuthorizationView:
    """Capture ``points`` (default: all) of a live hold; the rest goes back to the member. Capturing again
    with the same amount answers the same."""
    with unit_of_work(engine) as uow:
        connection = uow.connection
        seen = _find(connection, fulfiller_id, reference, for_update=False) if takes_locks(connection) else None
        if seen is not None:  # its member's lock before the row's, in the order every real-time call takes them
            lock_member(connection, seen.issuer_id, seen.member_token)
        row = _open(connection, fulfiller_id, reference)
        amount = row.points if points is None else points
        if row.status == "CAPTURED":
            if amount != row.captured_points:
                raise Conflict("already captured with another amount", code="AUTH_ALREADY_CAPTURED")
            return _view(row, _captured_value(connection, row))
        _check_live(row, now)
        if not 0 < amount <= row.points:
            raise AuthorizationRefused(f"capture 1..{row.points} points", code="AUTH_CAPTURE_INVALID")
        value = _post_capture(connection, row, amount, now, catalog.current(connection))
        if amount < row.points:
            _release(connection, row, row.points - amount, now)
        view = _view(_close(connection, row, "CAPTURED", now, captured_points=amount), value)
        _audit(connection, fulfiller_id, "authorization.capture", view, now, before=row.status)
        uow.commit()
    return view


def _check_live(row: Hold, now: datetime) -> None:
    if row.status != "HELD":
        raise Conflict(f"the authorization is {row.status.lower()}", code=f"AUTH_{row.status}")
    if now >= row.expires_at:
        raise Conflict("the hold has expired", code="AUTH_EXPIRED")


def _terms(connection: Connection, current: Catalog, contract_pk: int) -> ContractTerms:
    """A contract version's terms: from the catalog (every countersigned version), else from its row."""
    terms = current.terms_by_pk.get(contract_pk)
    if terms is not None:
        return terms
    canonical = connection.exec_driver_sql(
        f"SELECT canonical FROM contract WHERE id = {_mark(connection)}", (contract_pk,)
    ).scalar_one()
    return terms_from_json(json.loads(bytes(canonical).decode("utf-8")))


def _post_capture(connection: Connection, row: Hold, points: int, now: datetime, current: Catalog) -> int:
    """The capture as a REDEEM clearing record with its transfers: burnt points, and the issuer's debt."""
    closed = current.closed_periods
    terms = _terms(connection, current, row.contract_pk)
    fulfiller_terms = terms.fulfiller(row.fulfiller_id)
    assert fulfiller_terms is not None
    value = to_fen(points, fulfiller_terms.rate_fen_per_point, terms.rounding)
    business = Period.parse(row.business_period)
    record_id = allocate_ids(connection, "clearing_record", 1)[0]
    _insert_real_time_record(
        connection,
        record_id,
        ("authorization_id", row.id),
        kind="REDEEM",
        business_time=row.business_time,
        business_period=business,
        settlement_period=settlement_period(business, closed),
        row=row,
        points=points,
        amount_fen=row.face_value_fen,
        value_fen=value,
        receipt_ref=f"AUTH:{row.reference}",
        original_ref="",
        original_id=None,
        contract_pk=row.contract_pk,
    )
    held = ledger.held_account(row.issuer_id, row.fulfiller_id)
    burnt = ledger.redeemed_account(row.issuer_id, row.fulfiller_id)
    owed = ledger.transfer(ledger.position_account(row.fulfiller_id), ledger.position_account(row.issuer_id), value)
    transfers = ledger.transfer(held, burnt, points) + owed
    post_transfers(connection, [(Source(record_id=record_id), leg, t) for leg, t in enumerate(transfers)], now=now)
    return value


def _insert_real_time_record(
    connection: Connection,
    record_id: int,
    link: tuple[str, int | None],
    *,
    kind: str,
    business_time: datetime,
    business_period: Period,
    settlement_period: Period,
    row: Hold,
    points: int,
    amount_fen: int,
    value_fen: int,
    receipt_ref: str,
    original_ref: str,
    original_id: int | None,
    contract_pk: int | None,
) -> None:
    """An accepted clearing record that no file carried: a capture (linked to its authorization) or a
    refund (linked to its refund)."""
    values: dict[str, object] = {
        "id": record_id,
        "file_pk": None,
        "seq": 1,
        "status": "ACCEPTED",
        "reason_code": None,
        "reason": None,
        "kind": kind,
        "business_time": db_time(connection, business_time),
        "business_period": str(business_period),
        "settlement_period": str(settlement_period),
        "issuer_id": row.issuer_id,
        "fulfiller_id": row.fulfiller_id,
        "member_token": row.member_token,
        "points": points,
        "amount_fen": amount_fen,
        "value_fen": value_fen,
        "receipt_ref": receipt_ref,
        "category": row.category,
        "offer_ref": row.offer_ref,
        "original_ref": original_ref,
        "original_id": original_id,
        "contract_pk": contract_pk,
    }
    column, link_id = link
    bulk_insert(
        connection, "clearing_record", (*RECORD_COLUMNS, column), [(*(values[c] for c in RECORD_COLUMNS), link_id)]
    )


def _captured_value(connection: Connection, row: Hold | AuthorizationRow) -> int | None:
    value = connection.execute(
        text("SELECT value_fen FROM clearing_record WHERE authorization_id = :a"), {"a": row.id}
    ).scalar()
    return int(value) if value is not None else None


def void(*, engine: Engine, now: datetime, fulfiller_id: str, reference: str) -> AuthorizationView:
    """Give every held point back to the member; voiding again answers the same."""
    with unit_of_work(engine) as uow:
        connection = uow.connection
        lock_clearing(connection)
        row = _open(connection, fulfiller_id, reference)
        if row.status == "VOIDED":
            return _view(row)
        if row.status != "HELD":
            raise Conflict(f"the authorization is {row.status.lower()}", code=f"AUTH_{row.status}")
        _release(connection, row, row.points, now)
        view = _view(_close(connection, row, "VOIDED", now))
        _audit(connection, fulfiller_id, "authorization.void", view, now, before=row.status)
        uow.commit()
    return view


def expire_holds(*, engine: Engine, now: datetime) -> int:
    """Release every hold past its time (a scheduler job); returns how many expired."""
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        rows = list(
            uow.session.scalars(
                select(AuthorizationRow)
                .where(col(AuthorizationRow.status) == "HELD", col(AuthorizationRow.expires_at) <= now)
                .with_for_update()
            )
        )
        for row in rows:
            _release(uow.connection, row, row.points, now)
            row.status, row.closed_at = "EXPIRED", now
        uow.session.flush()
        if rows:
            audit.append(
                uow.connection,
                actor="scheduler",
                action="authorization.expire",
                subject="authorizations",
                now=now,
                after={"expired": sorted(f"{row.fulfiller_id}:{row.reference}" for row in rows)},
            )
        uow.commit()
    return len(rows)


def get_authorization(*, engine: Engine, fulfiller_id: str, reference: str, caller: str) -> AuthorizationView:
    if caller not in ("admin", fulfiller_id):
        raise Forbidden("a partner sees only its own authorizations", code="NOT_YOUR_DATA")
    with unit_of_work(engine, read_only=True) as uow:
        row = uow.session.scalars(
            select(AuthorizationRow).where(
                col(AuthorizationRow.fulfiller_id) == fulfiller_id, col(AuthorizationRow.reference) == reference
            )
        ).first()
        if row is None:
            raise NotFound(f"no authorization {reference!r} of {fulfiller_id!r}", code="AUTH_NOT_FOUND")
        return _view(row, _captured_value(uow.connection, row) if row.status == "CAPTURED" else None)


@dataclass(frozen=True)
class RefundView:
    reference: str
    authorization_reference: str
    points: int
    value_fen: int  # negative: the fulfiller's claim on the issuer shrinks by this much
    settlement_period: str


def refund(
    *,
    engine: Engine,
    now: datetime,
    zone_name: str,
    fulfiller_id: str,
    authorization_reference: str,
    reference: str,
    points: int,
) -> RefundView:
    """Give ``points`` of a captured redemption back to the member and reverse the fulfiller's claim for
    them — in the open period (an adjustment when the capture's period is already closed). Never more than
    was captured; a retry under the same refund reference answers the same."""
    _text(reference, "reference", 64)
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        auth = _open(uow.connection, fulfiller_id, authorization_reference)
        done = uow.session.scalars(
            select(RefundRow).where(col(RefundRow.fulfiller_id) == fulfiller_id, col(RefundRow.reference) == reference)
        ).first()
        if done is not None:
            if (done.authorization_id, done.points) != (auth.id, points):
                raise Conflict("that refund reference was used for another refund", code="REFUND_REFERENCE_REUSED")
            return _refund_view(uow.connection, done, auth)
        if auth.status != "CAPTURED":
            raise Conflict(f"the authorization is {auth.status.lower()}", code=f"AUTH_{auth.status}")
        assert auth.id is not None
        row = RefundRow(
            fulfiller_id=fulfiller_id, reference=reference, authorization_id=auth.id, points=points, created_at=now
        )
        uow.session.add(row)
        uow.session.flush()
        _post_refund(uow.session, auth, row, now, zone_name)
        view = _refund_view(uow.connection, row, auth)
        audit.append(
            uow.connection,
            actor=fulfiller_id,
            action="authorization.refund",
            subject=f"authorization:{fulfiller_id}:{authorization_reference}",
            now=now,
            after={"refund": reference, "points": points, "value_fen": view.value_fen},
        )
        uow.commit()
    return view


def _post_refund(session: Session, auth: Hold, row: RefundRow, now: datetime, zone_name: str) -> None:
    """The refund as a REVERSAL of the capture record, through the same rules as a file's reversal."""
    connection = session.connection()
    original_ref = RecordRef("AUTH", auth.id or 0)
    record = SettlementRecord(
        seq=1,
        kind=RecordKind.REVERSAL,
        business_time=now,
        issuer_id=auth.issuer_id,
        fulfiller_id=auth.fulfiller_id,
        member_token=auth.member_token,
        points=row.points,
        amount_fen=0,
        original=original_ref,
    )
    context = _context(catalog.current(connection), auth.fulfiller_id, now, zone_name)
    book = load_book(connection, reporter_id=auth.fulfiller_id, keys=keys_for([], context.zone), terms_by_pk={})
    book.balances[(auth.issuer_id, auth.member_token)] = _member_balance(connection, auth)
    book.originals[original_ref] = _capture_as_original(session, auth)
    record_id = allocate_ids(connection, "clearing_record", 1)[0]
    decision = clear(record, record_id, context, book)
    if isinstance(decision, Refused):
        raise AuthorizationRefused(decision.message, code=decision.code)
    assert isinstance(decision, Accepted) and row.id is not None
    _insert_real_time_record(
        connection,
        record_id,
        ("refund_id", row.id),
        kind="REVERSAL",
        business_time=now,
        business_period=decision.business_period,
        settlement_period=decision.settlement_period,
        row=auth,
        points=row.points,
        amount_fen=0,
        value_fen=decision.value_fen,
        receipt_ref=f"REFUND:{row.reference}",
        original_ref=f"AUTH:{auth.reference}",
        original_id=decision.original_id,
        contract_pk=None,
    )
    post_transfers(
        connection, [(Source(record_id=record_id), leg, t) for leg, t in enumerate(decision.transfers)], now=now
    )


def _member_balance(connection: Connection, auth: Hold) -> int:
    code = ledger.member_account(auth.issuer_id, auth.member_token).code
    value = connection.execute(text("SELECT credits - debits FROM account WHERE code = :c"), {"c": code}).scalar()
    return int(value or 0)


def _capture_as_original(session: Session, auth: Hold) -> Original:
    """What is left to refund of the capture: its points and value less the refunds already made."""
    connection = session.connection()
    capture_id, value = connection.execute(
        text("SELECT id, value_fen FROM clearing_record WHERE authorization_id = :a"), {"a": auth.id}
    ).one()
    refunded_points, refunded_value = connection.execute(
        text(
            "SELECT coalesce(sum(points), 0), coalesce(sum(value_fen), 0) FROM clearing_record"
            " WHERE original_id = :c AND status = 'ACCEPTED'"
        ),
        {"c": capture_id},
    ).one()
    terms = _terms(connection, catalog.current(connection), auth.contract_pk)
    fulfiller_terms = terms.fulfiller(auth.fulfiller_id)
    return Original(
        record_id=int(capture_id),
        kind=RecordKind.REDEEM,
        business_time=auth.business_time,
        issuer_id=auth.issuer_id,
        fulfiller_id=auth.fulfiller_id,
        member_token=auth.member_token,
        points_left=auth.captured_points - int(refunded_points),
        spend_left_fen=0,
        value_left_fen=int(value) + int(refunded_value),
        rate_fen_per_point=fulfiller_terms.rate_fen_per_point if fulfiller_terms else None,
        rounding=terms.rounding,
    )


def _refund_view(connection: Connection, row: RefundRow, auth: Hold) -> RefundView:
    value, period = connection.execute(
        text("SELECT value_fen, settlement_period FROM clearing_record WHERE refund_id = :r"), {"r": row.id}
    ).one()
    return RefundView(row.reference, auth.reference, row.points, int(value), str(period))
