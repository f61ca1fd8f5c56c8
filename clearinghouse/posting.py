"""Bulk reads and writes of the clearing path: one query per kind of state a batch needs, and
executemany inserts for records, accounts and transfers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, insert, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from clearinghouse.tables import AccountRow, ClearingRecordRow, LedgerTransferRow, SettlementFileRow
from contracts.terms import ContractTerms
from settlement import ledger
from settlement.clearing import Accepted, BookKeys, ClearingBook, Decision, Original
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
        redeemed_in_period=_redeemed(connection, keys.redeemed_in_period),
    )


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


def _redeemed(connection: Connection, wanted: frozenset[tuple[str, str, Period]]) -> dict[tuple[str, str, Period], int]:
    used: dict[tuple[str, str, Period], int] = {}
    query = text(
        "SELECT coalesce(sum(points), 0) FROM clearing_record WHERE status = 'ACCEPTED' AND kind = 'REDEEM'"
        " AND issuer_id = :issuer AND fulfiller_id = :fulfiller AND business_period = :period"
    )
    for issuer, fulfiller, period in wanted:
        params = {"issuer": issuer, "fulfiller": fulfiller, "period": str(period)}
        used[(issuer, fulfiller, period)] = int(connection.execute(query, params).scalar_one())
    return used


# ------------------------------------------------------------------ writing a batch
def _record_row(file_pk: int, raw: RawDetail, decision: Decision, record_id: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": record_id,
        "file_pk": file_pk,
        "seq": raw.seq,
        "kind": raw.kind[:16],
        "issuer_id": raw.issuer_id[:128],
        "fulfiller_id": raw.fulfiller_id[:128],
        "member_token": raw.member_token[:128],
        "points": raw.points,
        "amount_fen": raw.amount_fen,
        "receipt_ref": raw.receipt_ref[:128],
        "category": raw.category[:128],
        "offer_ref": raw.offer_ref[:128],
        "original_ref": raw.original[:80],
        "business_time": None,
        "business_period": None,
        "settlement_period": None,
        "value_fen": 0,
        "original_id": None,
        "contract_pk": None,
    }
    if isinstance(decision, Accepted):
        row.update(
            status="ACCEPTED",
            reason_code=None,
            reason=None,
            business_time=decision.record.business_time,
            business_period=str(decision.business_period),
            settlement_period=str(decision.settlement_period),
            value_fen=decision.value_fen,
            original_id=decision.original_id,
            contract_pk=decision.contract_pk,
        )
    else:
        row.update(status="REFUSED", reason_code=decision.code, reason=decision.message[:500])
    return row


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
    connection.execute(
        insert(RECORDS),
        [
            _record_row(file_pk, raw, decision, record_id)
            for raw, decision, record_id in zip(raws, decisions, record_ids, strict=True)
        ],
    )
    accepted = [decision for decision in decisions if isinstance(decision, Accepted)]
    transfers = [
        (decision.record_id, leg, item) for decision in accepted for leg, item in enumerate(decision.transfers)
    ]
    if not transfers:
        return
    post_transfers(connection, [(record_id, None, leg, item) for record_id, leg, item in transfers], now=now)


def post_transfers(
    connection: Connection, transfers: Sequence[tuple[int | None, int | None, int, ledger.Transfer]], *, now: datetime
) -> None:
    """Insert transfers (record id or close id, leg, transfer), creating missing accounts and moving the
    accounts' running totals in the same transaction."""
    if not transfers:
        return
    accounts = {account for *_, item in transfers for account in (item.debit, item.credit)}
    ensure_accounts(connection, accounts)
    connection.execute(
        insert(TRANSFERS),
        [
            {
                "record_id": record_id,
                "close_id": close_id,
                "leg": leg,
                "debit_account": item.debit.code,
                "credit_account": item.credit.code,
                "unit": item.unit,
                "amount": item.amount,
                "posted_at": now,
            }
            for record_id, close_id, leg, item in transfers
        ],
    )
    deltas: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for account, (debits, credits) in ledger.balance_deltas(item for *_, item in transfers).items():
        deltas[account.code][0] += debits
        deltas[account.code][1] += credits
    connection.execute(
        ACCOUNTS.update()
        .where(ACCOUNTS.c.code == bindparam("b_code"))
        .values(debits=ACCOUNTS.c.debits + bindparam("b_debits"), credits=ACCOUNTS.c.credits + bindparam("b_credits")),
        [{"b_code": code, "b_debits": d, "b_credits": c} for code, (d, c) in deltas.items()],
    )


def ensure_accounts(connection: Connection, accounts: Iterable[ledger.Account]) -> None:
    rows = [
        {"code": a.code, "unit": a.unit, "kind": a.kind.value, "partner_id": a.partner_id, "debits": 0, "credits": 0}
        for a in sorted(accounts, key=lambda a: a.code)
    ]
    if not rows:
        return
    dialect_insert = sqlite_insert if connection.dialect.name == "sqlite" else pg_insert
    connection.execute(dialect_insert(ACCOUNTS).on_conflict_do_nothing(index_elements=["code"]), rows)
