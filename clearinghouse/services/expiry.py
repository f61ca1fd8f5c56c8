"""Points expiry: post what expires as ledger events, and write notices ahead of time.

Per issuer whose program has (or had) an expiry policy: one query streams every transfer on its members'
accounts in ledger order (with the record behind each), the pure rules in :mod:`settlement.expiry` replay
them per member, and what is due is posted in bulk. Rerunnable: a posted expiry is itself an outflow of the
replay, the event's reference is unique per (issuer, member, local day), and so is a notice.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, text

from clearinghouse import audit
from clearinghouse.db import allocate_ids, unit_of_work
from clearinghouse.errors import Forbidden, InvalidRequest
from clearinghouse.locks import lock_clearing
from clearinghouse.posting import Source, bulk_insert, db_time, post_transfers
from clearinghouse.queries import active_contracts
from clearinghouse.tables_expiry import ExpiryNoticeRow
from settlement import ledger
from settlement.clearing import ActiveContract, governing_program
from settlement.expiry import Expiring, Inflow, Lot, Movement, Outflow, day_expiry, due, lots_left, upcoming

EXPIRY = "EXPIRY"
NOTICES = ExpiryNoticeRow.__table__  # type: ignore[attr-defined]
_EVENT_COLUMNS = ("id", "kind", "reference", "issuer_id", "member_token", "points", "reason", "actor", "created_at")
_NOTICE_COLUMNS = ("issuer_id", "member_token", "points", "expires_on", "expires_at", "created_at")


def expiry_reference(issuer_id: str, member_token: str, expires_on: date) -> str:
    """Unique per (issuer, member, local day); the token is hashed, as it may be up to 128 characters."""
    digest = hashlib.sha256(f"{issuer_id}\n{member_token}".encode()).hexdigest()[:40]
    return f"EXP:{expires_on.isoformat()}:{digest}"


@dataclass(frozen=True)
class ExpiryRun:
    as_of: datetime
    members_expired: int
    points_expired: int
    notices_written: int


@dataclass(frozen=True)
class _Policies:
    """Which policy governs a lot: the EARN's own program, or the issuer's program on the lot's day."""

    issuer_id: str
    by_pk: dict[int, ActiveContract]
    contracts: Sequence[ActiveContract]
    zone: ZoneInfo
    notice_days: int

    _programs: dict[date, ActiveContract | None] = field(default_factory=dict)

    def expiry(self, *, contract_pk: int | None, lot_time: datetime, posted_at: datetime) -> datetime | None:
        lot_day = lot_time.astimezone(self.zone).date()
        program = self.by_pk.get(contract_pk) if contract_pk is not None else None
        if program is None:
            if lot_day not in self._programs:
                self._programs[lot_day] = governing_program(self.contracts, self.issuer_id, lot_day)
            program = self._programs[lot_day]
        if program is None:
            return None
        posted_day = posted_at.astimezone(self.zone).date()
        return day_expiry(lot_day, posted_day, program.terms.expiry_policy, self.zone, self.notice_days)


def run_expiry(
    *, engine: Engine, now: datetime, as_of: datetime | None = None, zone_name: str, notice_days: int, actor: str
) -> ExpiryRun:
    """Expire what is due at ``as_of`` (default ``now``, never later) and write the notices for what expires
    within ``notice_days`` after it; one transaction, audited as one action."""
    as_of = as_of or now
    if as_of > now:
        raise InvalidRequest("points cannot be expired ahead of time", code="EXPIRY_AS_OF_FUTURE")
    zone = ZoneInfo(zone_name)
    members = points = notices = 0
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        contracts = active_contracts(uow.session)
        issuers = sorted({c.terms.issuer_id for c in contracts if c.terms.expiry_policy != "none"})
        for issuer_id in issuers:
            policies = _Policies(issuer_id, {c.pk: c for c in contracts}, contracts, zone, notice_days)
            lots = {member: lots_left(moves) for member, moves in _movements(uow.connection, policies).items()}
            expiring = {m: due(left, as_of=as_of, zone=zone) for m, left in lots.items()}
            expiring = {m: items for m, items in expiring.items() if items}
            points += _post_expiries(uow.connection, issuer_id, expiring, actor=actor, now=now, zone=zone)
            members += len(expiring)
            until = as_of + timedelta(days=notice_days)
            ahead = {m: upcoming(left, as_of=as_of, until=until, zone=zone) for m, left in lots.items()}
            notices += _write_notices(uow.connection, issuer_id, ahead, now=now)
        audit.append(
            uow.connection,
            actor=actor,
            action="expiry.run",
            subject=f"expiry:{as_of.astimezone(zone).date().isoformat()}",
            after={"as_of": as_of.isoformat(), "members": members, "points": points, "notices": notices},
            now=now,
        )
        uow.commit()
    return ExpiryRun(as_of, members, points, notices)


_MOVEMENTS_SQL = (
    "SELECT t.id, t.debit_account, t.credit_account, t.amount, t.posted_at, r.id, r.kind, r.business_time,"
    " r.contract_pk, r.original_id FROM ledger_transfer t LEFT JOIN clearing_record r ON r.id = t.record_id"
    " WHERE t.unit = {mark} AND (t.debit_account LIKE {mark} OR t.credit_account LIKE {mark}) ORDER BY t.id"
)


def _movements(connection: Connection, policies: _Policies) -> dict[str, list[Movement]]:
    """Every member's movements of the issuer's points, in ledger order: one query, read at the driver's level
    (tens of thousands of rows; the ORM's per-value processing would dominate)."""
    issuer_id = policies.issuer_id
    prefix = ledger.member_account(issuer_id, "").code  # issuer ids are [a-z0-9-]: no LIKE wildcard in it
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    rows = connection.exec_driver_sql(
        _MOVEMENTS_SQL.format(mark=mark), (ledger.points_unit(issuer_id), prefix + "%", prefix + "%")
    ).all()  # one fetch: row-by-row fetching costs more than the rows' memory
    moves: dict[str, list[Movement]] = defaultdict(list)
    times: dict[Any, datetime] = {}
    for transfer_id, debit, credit, amount, posted, record_id, kind, business, contract_pk, original_id in rows:
        if credit.startswith(prefix):
            posted_at = times.get(posted) or times.setdefault(posted, _utc(posted))
            if kind == "EARN":
                dated = _utc(business)
                expires = policies.expiry(contract_pk=contract_pk, lot_time=dated, posted_at=posted_at)
                lot = Lot(f"earn:{record_id}", dated, expires)
            else:  # points that came back (a refund, a released hold...): a new lot, dated at their return
                expires = policies.expiry(contract_pk=None, lot_time=posted_at, posted_at=posted_at)
                lot = Lot(f"in:{transfer_id}", posted_at, expires)
            moves[credit[len(prefix) :]].append(Inflow(lot, int(amount)))
        if debit.startswith(prefix):
            own = f"earn:{original_id}" if kind == "REVERSAL" and original_id is not None else None
            moves[debit[len(prefix) :]].append(Outflow(int(amount), own_lot=own))
    return moves


def _utc(value: datetime | str) -> datetime:
    """A stored time as aware UTC: SQLite hands back SQLAlchemy's naive UTC text, PostgreSQL an aware value."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _reason(item: Expiring, zone: ZoneInfo) -> str:
    days = sorted({lot.lot.dated.astimezone(zone).date().isoformat() for lot in item.lots})
    shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more days" if len(days) > 5 else "")
    return f"{item.points} points earned on {shown} expired on {item.expires_on.isoformat()} (program expiry policy)"


def _post_expiries(
    connection: Connection,
    issuer_id: str,
    expiring: dict[str, list[Expiring]],
    *,
    actor: str,
    now: datetime,
    zone: ZoneInfo,
) -> int:
    posted = set(
        connection.execute(
            text("SELECT reference FROM ledger_event WHERE kind = :kind AND issuer_id = :issuer"),
            {"kind": EXPIRY, "issuer": issuer_id},
        ).scalars()
    )
    wanted = [
        (member, item, expiry_reference(issuer_id, member, item.expires_on))
        for member, items in sorted(expiring.items())
        for item in items
    ]
    wanted = [(member, item, ref) for member, item, ref in wanted if ref not in posted]
    ids = allocate_ids(connection, "ledger_event", len(wanted))
    created = db_time(connection, now)
    rows = [
        (event_id, EXPIRY, ref, issuer_id, member, item.points, _reason(item, zone), actor[:80], created)
        for event_id, (member, item, ref) in zip(ids, wanted, strict=True)
    ]
    bulk_insert(connection, "ledger_event", _EVENT_COLUMNS, rows)
    expired = ledger.expired_account(issuer_id)
    post_transfers(
        connection,
        [
            (Source(event_id=event_id), 0, item)
            for event_id, (member, points_item, _) in zip(ids, wanted, strict=True)
            for item in ledger.transfer(ledger.member_account(issuer_id, member), expired, points_item.points)
        ],
        now=now,
    )
    return sum(item.points for _, item, _ in wanted)


def _db_date(connection: Connection, day: date) -> date | str:
    """A date as the driver takes it: SQLite keeps ISO text (SQLAlchemy's own format), PostgreSQL a date."""
    return day.isoformat() if connection.dialect.name == "sqlite" else day


def _write_notices(connection: Connection, issuer_id: str, ahead: dict[str, list[Expiring]], *, now: datetime) -> int:
    wanted = [(member, item) for member, items in sorted(ahead.items()) for item in items]
    if not wanted:
        return 0
    days = sorted({item.expires_on for _, item in wanted})
    known = {
        (str(member), day)
        for member, day in connection.execute(
            select(NOTICES.c.member_token, NOTICES.c.expires_on).where(
                NOTICES.c.issuer_id == issuer_id, NOTICES.c.expires_on.between(days[0], days[-1])
            )
        )
    }
    created = db_time(connection, now)
    rows = [
        (
            issuer_id,
            member,
            item.points,
            _db_date(connection, item.expires_on),
            db_time(connection, item.expires_at),
            created,
        )
        for member, item in wanted
        if (member, item.expires_on) not in known
    ]
    bulk_insert(connection, "expiry_notice", _NOTICE_COLUMNS, rows)
    return len(rows)


# ------------------------------------------------------------------ reading notices
@dataclass(frozen=True)
class ExpiryNotice:
    id: int
    issuer_id: str
    member_token: str
    points: int
    expires_on: date
    expires_at: datetime
    created_at: datetime


MAX_PAGE = 500


def list_notices(
    *, engine: Engine, caller: str, issuer_id: str | None, after_id: int = 0, limit: int = 100
) -> list[ExpiryNotice]:
    """Notices by id, after ``after_id``: a partner reads its own; the admin any issuer's, or all."""
    if caller != "admin" and issuer_id not in (None, caller):
        raise Forbidden("a partner sees only its own notices", code="NOT_YOUR_DATA")
    issuer_id = issuer_id if caller == "admin" else caller
    if issuer_id is not None and (len(issuer_id) > 40 or not issuer_id.isprintable()):  # NUL: PostgreSQL refuses
        raise InvalidRequest("issuer is a partner id", code="REQUEST_FIELD_INVALID")
    if not 1 <= limit <= MAX_PAGE or after_id < 0:
        raise InvalidRequest(f"limit is 1..{MAX_PAGE} and after_id >= 0", code="REQUEST_FIELD_INVALID")
    query = select(NOTICES).where(NOTICES.c.id > after_id).order_by(NOTICES.c.id).limit(limit)
    if issuer_id is not None:
        query = query.where(NOTICES.c.issuer_id == issuer_id)
    with unit_of_work(engine, read_only=True) as uow:
        rows = uow.connection.execute(query).all()
    return [
        ExpiryNotice(
            int(row.id),
            row.issuer_id,
            row.member_token,
            int(row.points),
            row.expires_on,
            row.expires_at,
            row.created_at,
        )
        for row in rows
    ]
