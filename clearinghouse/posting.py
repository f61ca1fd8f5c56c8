"""Bulk reads and writes of the clearing path: one query per kind of state a batch needs, and
executemany inserts for records, accounts and transfers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, select, text, tuple_

from clearinghouse.db import driver_execute
from clearinghouse.tables import AccountRow, ClearingRecordRow, LedgerTransferRow, SettlementFileRow
from contracts.terms import ContractTerms
from settlement import ledger
from settlement.clearing import (
    CAPTURE_PREFIX,
    Accepted,
    BookKeys,
    CapturedAuthorization,
    ClearingBook,
    Decision,
    Matched,
    Original,
)
from settlement.families import Membership
from settlement.fileformat import RawDetail
from settlement.periods import Period
from settlement.records import RecordKind, RecordRef

_T = TypeVar("_T")
_IN_CHUNK = 500
RECORDS = ClearingRecordRow.__table__  # type: ignore[attr-defined]
ACCOUNTS = AccountRow.__table__  # type: ignore[attr-defined]
TRANSFERS = LedgerTransferRow.__table__  # type: ignore[attr-defined]
FILES = SettlementFileRow.__table__  # type: ignore[attr-defined]


def _slices(items: Sequence[_T], size: int = _IN_CHUNK) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ------------------------------------------------------------------ reading what a batch needs
def load_book(
    connection: Connection, *, reporter_id: str, keys: BookKeys, terms_by_pk: dict[int, ContractTerms]
) -> ClearingBook:
    return ClearingBook(
        balances=_balances(connection, keys.balances),
        originals=_originals(connection, reporter_id, keys.originals, terms_by_pk),
        redeemed_in_period=redeemed_in_period(connection, keys.redeemed_in_period),
        captures=_captures(connection, reporter_id, keys.captures),
        families=_memberships(connection, keys.family_members),
    )


def _memberships(
    connection: Connection, wanted: frozenset[tuple[str, str]]
) -> dict[tuple[str, str], tuple[Membership, ...]]:
    """Every family-group membership, current and past, of the members a batch's FAMILY_POOL lines name."""
    found: dict[tuple[str, str], tuple[Membership, ...]] = {}
    query = text(
        "SELECT g.group_id, m.joined_at, m.left_at FROM family_membership m JOIN family_group g ON g.id = m.group_pk"
        " WHERE m.issuer_id = :issuer AND m.member_token = :member ORDER BY m.joined_at"
    )
    for issuer, member in sorted(wanted):
        rows = connection.execute(query, {"issuer": issuer, "member": member})
        found[(issuer, member)] = tuple(
            Membership(row.group_id, _as_utc(row.joined_at), _as_utc(row.left_at) if row.left_at else None)
            for row in rows
        )
    return found


def _as_utc(value: datetime | str) -> datetime:
    """A stored time read through plain SQL: SQLite hands back naive UTC text, PostgreSQL an aware datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _captures(
    connection: Connection, fulfiller_id: str, references: frozenset[str]
) -> dict[str, CapturedAuthorization]:
    """The reporter's captured authorizations named by a batch, and whether a file reported them already."""
    found: dict[str, CapturedAuthorization] = {}
    query = text(
        "SELECT a.reference, a.issuer_id, a.member_token, a.captured_points,"
        " EXISTS (SELECT 1 FROM clearing_record r WHERE r.status = 'MATCHED' AND r.fulfiller_id = a.fulfiller_id"
        " AND r.receipt_ref = :prefix || a.reference) AS reported"
        " FROM authorization_hold a WHERE a.fulfiller_id = :fulfiller AND a.status = 'CAPTURED' AND a.reference = :ref"
    )
    for reference in references:
        row = connection.execute(query, {"prefix": CAPTURE_PREFIX, "fulfiller": fulfiller_id, "ref": reference}).first()
        if row is not None:
            found[reference] = CapturedAuthorization(
                row.issuer_id, row.member_token, int(row.captured_points), bool(row.reported)
            )
    return found


def _balances(connection: Connection, wanted: frozenset[tuple[str, str]]) -> dict[tuple[str, str], int]:
    by_code = {ledger.member_account(issuer, token).code: (issuer, token) for issuer, token in wanted}
    balances = dict.fromkeys(wanted, 0)
    codes = list(by_code)
    for part in _slices(codes):
        rows = connection.execute(
            select(ACCOUNTS.c.code, ACCOUNTS.c.credits - ACCOUNTS.c.debits).where(ACCOUNTS.c.code.in_(part))
        )
        for code, balance in rows:
            balances[by_code[code]] = int(balance)
    return balances


def _originals(
    connection: Connection, reporter_id: str, refs: frozenset[RecordRef], terms_by_pk: dict[int, ContractTerms]
) -> dict[RecordRef, Original]:
    found: dict[RecordRef, Original] = {}
    wanted = [(ref.file_id, ref.seq) for ref in refs]
    for part in _slices(wanted):
        query = (
            select(
                FILES.c.file_id,
                RECORDS.c.seq,
                RECORDS.c.id,
                RECORDS.c.kind,
                RECORDS.c.business_time,
                RECORDS.c.issuer_id,
                RECORDS.c.fulfiller_id,
                RECORDS.c.member_token,
                RECORDS.c.points,
                RECORDS.c.amount_fen,
                RECORDS.c.value_fen,
                RECORDS.c.contract_pk,
            )
            .join(FILES, FILES.c.id == RECORDS.c.file_pk)
            .where(
                FILES.c.partner_id == reporter_id,
                RECORDS.c.status == "ACCEPTED",
                tuple_(FILES.c.file_id, RECORDS.c.seq).in_(part),
            )
        )
        rows = list(connection.execute(query))
        reversed_so_far = _reversed_sums(connection, [row.id for row in rows])
        for row in rows:
            points, spend, value = reversed_so_far.get(row.id, (0, 0, 0))
            terms = terms_by_pk.get(row.contract_pk) if row.contract_pk is not None else None
            fulfiller_terms = terms.fulfiller(row.fulfiller_id) if terms else None
            found[RecordRef(row.file_id, int(row.seq))] = Original(
                record_id=row.id,
                kind=RecordKind(row.kind),
                business_time=row.business_time,
                issuer_id=row.issuer_id,
                fulfiller_id=row.fulfiller_id,
                member_token=row.member_token,
                points_left=row.points - points,
                spend_left_fen=row.amount_fen - spend,
                value_left_fen=row.value_fen + value,  # reversal values are negative
                rate_fen_per_point=fulfiller_terms.rate_fen_per_point if fulfiller_terms else None,
                rounding=terms.rounding if terms and row.kind == RecordKind.REDEEM else None,
                earn_cap_points_per_yuan=terms.earn_cap_points_per_yuan
                if terms and row.kind == RecordKind.EARN
                else None,
            )
    return found


def _reversed_sums(connection: Connection, original_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    if not original_ids:
        return {}
    rows = connection.execute(
        select(RECORDS.c.original_id, RECORDS.c.points, RECORDS.c.amount_fen, RECORDS.c.value_fen).where(
            RECORDS.c.status == "ACCEPTED", RECORDS.c.original_id.in_(original_ids)
        )
    )
    sums: dict[int, tuple[int, int, int]] = {}
    for original_id, points, spend, value in rows:
        p, s, v = sums.get(original_id, (0, 0, 0))
        sums[original_id] = (p + points, s + spend, v + value)
    return sums


def redeemed_in_period(
    connection: Connection, wanted: frozenset[tuple[str, str, Period]]
) -> dict[tuple[str, str, Period], int]:
    """Points redeemed per (issuer, fulfiller, period), counting real-time holds from the moment they are made."""
    used: dict[tuple[str, str, Period], int] = {}
    query = text(
        "SELECT (SELECT coalesce(sum(points), 0) FROM clearing_record WHERE status = 'ACCEPTED' AND kind = 'REDEEM'"
        " AND issuer_id = :issuer AND fulfiller_id = :fulfiller AND business_period = :period)"
        " + (SELECT coalesce(sum(points), 0) FROM authorization_hold WHERE status = 'HELD'"
        " AND issuer_id = :issuer AND fulfiller_id = :fulfiller AND business_period = :period)"
    )
    for issuer, fulfiller, period in wanted:
        params = {"issuer": issuer, "fulfiller": fulfiller, "period": str(period)}
        used[(issuer, fulfiller, period)] = int(connection.execute(query, params).scalar_one())
    return used


# ------------------------------------------------------------------ writing a batch
# The write side goes straight to the driver's executemany with plain tuples: no ORM objects and no
# per-parameter type processing, which dominate bulk inserts otherwise. Values are converted here exactly
# as the table types would (UTC; SQLite keeps naive UTC text in SQLAlchemy's own format).
RECORD_COLUMNS = (
    "id", "file_pk", "seq", "status", "reason_code", "reason", "kind", "business_time", "business_period",
    "settlement_period", "issuer_id", "fulfiller_id", "member_token", "points", "amount_fen", "value_fen",
    "receipt_ref", "category", "offer_ref", "original_ref", "original_id", "contract_pk",
)  # fmt: skip
TRANSFER_COLUMNS = (
    "record_id", "close_id", "authorization_id", "event_id", "leg", "debit_account", "credit_account", "unit", "amount",
    "posted_at",
)  # fmt: skip
ACCOUNT_COLUMNS = ("code", "unit", "kind", "partner_id", "debits", "credits")


def db_time(connection: Connection, moment: datetime) -> Any:
    utc = moment.astimezone(UTC)
    if connection.dialect.name == "sqlite":
        return utc.strftime("%Y-%m-%d %H:%M:%S.%f")
    return utc


def _placeholders(connection: Connection, count: int) -> str:
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)


def bulk_insert(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    ignore_conflicts_on: str | None = None,
) -> None:
    """One driver-level executemany of ``rows`` into ``table``."""
    if not rows:
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(connection, len(columns))})"
    if ignore_conflicts_on:
        sql += f" ON CONFLICT ({ignore_conflicts_on}) DO NOTHING"
    driver_execute(connection, sql, rows, many=True)


def _stored_text(value: str, limit: int = 128) -> str:
    """A raw field as it can be stored on every backend: PostgreSQL text holds no NUL."""
    return value[:limit].replace("\x00", "\ufffd")


def _record_row(
    connection: Connection, file_pk: int, raw: RawDetail, decision: Decision, record_id: int
) -> tuple[Any, ...]:
    head = (record_id, file_pk, raw.seq)
    result: tuple[Any, ...]
    if isinstance(decision, Accepted):
        result = (
            "ACCEPTED",
            None,
            None,
            raw.kind[:16],
            db_time(connection, decision.record.business_time),
            str(decision.business_period),
            str(decision.settlement_period),
        )
        value, original_id, contract_pk = decision.value_fen, decision.original_id, decision.contract_pk
    elif isinstance(decision, Matched):
        moment = db_time(connection, decision.record.business_time)
        result = ("MATCHED", None, f"reports the capture {decision.reference}", raw.kind[:16], moment, None, None)
        value, original_id, contract_pk = 0, None, None
    else:
        result = ("REFUSED", decision.code, _stored_text(decision.message, 500), raw.kind[:16], None, None, None)
        value, original_id, contract_pk = 0, None, None
    fields = (
        _stored_text(raw.issuer_id),
        _stored_text(raw.fulfiller_id),
        _stored_text(raw.member_token),
        raw.points,
        raw.amount_fen,
        value,
        _stored_text(raw.receipt_ref),
        _stored_text(raw.category),
        _stored_text(raw.offer_ref),
        _stored_text(raw.original, 80),
        original_id,
        contract_pk,
        _stored_text(raw.to_member),
    )
    return head + result + fields


def insert_batch(
    connection: Connection,
    *,
    file_pk: int,
    raws: Sequence[RawDetail],
    decisions: Sequence[Decision],
    record_ids: Sequence[int],
    now: datetime,
) -> None:
    """Write a cleared batch: every record with its result, the accounts it touches, its transfers, and
    the accounts' running totals."""
    rows = [
        _record_row(connection, file_pk, raw, decision, record_id)
        for raw, decision, record_id in zip(raws, decisions, record_ids, strict=True)
    ]
    bulk_insert(connection, "clearing_record", (*RECORD_COLUMNS, "to_member_token"), rows)
    transfers = [
        (Source(record_id=decision.record_id), leg, item)
        for decision in decisions
        if isinstance(decision, Accepted)
        for leg, item in enumerate(decision.transfers)
    ]
    post_transfers(connection, transfers, now=now)


@dataclass(frozen=True, slots=True)
class Source:
    """What a transfer belongs to: exactly one clearing record, period close, real-time authorization or
    ledger event."""

    record_id: int | None = None
    close_id: int | None = None
    authorization_id: int | None = None
    event_id: int | None = None


def post_transfers(
    connection: Connection, transfers: Sequence[tuple[Source, int, ledger.Transfer]], *, now: datetime
) -> None:
    """Insert transfers (source, leg, transfer), creating missing accounts and moving the accounts' running
    totals in the same transaction."""
    if not transfers:
        return
    deltas = ledger.balance_deltas(item for *_, item in transfers)
    ensure_accounts(connection, deltas)
    posted_at = db_time(connection, now)
    bulk_insert(
        connection,
        "ledger_transfer",
        TRANSFER_COLUMNS,
        [
            (
                source.record_id,
                source.close_id,
                source.authorization_id,
                source.event_id,
                leg,
                item.debit.code,
                item.credit.code,
                item.unit,
                item.amount,
                posted_at,
            )
            for source, leg, item in transfers
        ],
    )
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    driver_execute(
        connection,
        f"UPDATE account SET debits = debits + {mark}, credits = credits + {mark} WHERE code = {mark}",
        [
            (debits, credits, account.code)
            for account, (debits, credits) in sorted(deltas.items(), key=lambda kv: kv[0].code)
        ],
        many=True,
    )


def ensure_accounts(connection: Connection, accounts: Iterable[ledger.Account]) -> None:
    """Create the accounts that do not exist yet (sorted, so concurrent writers lock rows in one order)."""
    rows = [(a.code, a.unit, a.kind.value, a.partner_id, 0, 0) for a in sorted(accounts, key=lambda a: a.code)]
    bulk_insert(connection, "account", ACCOUNT_COLUMNS, rows, ignore_conflicts_on="code")
