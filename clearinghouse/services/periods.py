"""Closing a period: bilateral obligations → multilateral net positions (summing to zero) → a ledger
transaction onto the settlement account → a statement per partner, signed by the hub.

A period closes once: the unique key on ``period_close.period`` refuses a second close, which then
posts nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from clearinghouse import audit
from clearinghouse.db import unit_of_work
from clearinghouse.errors import Conflict, NotFound
from clearinghouse.hubkey import HubSigner
from clearinghouse.locks import lock_clearing
from clearinghouse.posting import Source, post_transfers
from clearinghouse.queries import closed_periods, partner_names
from clearinghouse.tables import ObligationRow, PeriodCloseRow, StatementRow
from settlement import netting
from settlement.errors import PeriodError
from settlement.periods import Period
from settlement.statements import build_statements, render_csv, render_json


@dataclass(frozen=True)
class CloseResult:
    period: Period
    gross_fen: int
    net_fen: int
    efficiency: Decimal
    positions: dict[str, int]
    record_count: int


def _pair_sums(connection: Connection, period: Period) -> list[netting.PairSum]:
    rows = connection.execute(
        text(
            "SELECT issuer_id, fulfiller_id, sum(value_fen), count(*) FROM clearing_record"
            " WHERE status = 'ACCEPTED' AND settlement_period = :p AND fulfiller_id <> ''"
            " GROUP BY issuer_id, fulfiller_id ORDER BY issuer_id, fulfiller_id"
        ),
        {"p": str(period)},
    )
    return [netting.PairSum(issuer, fulfiller, int(value), int(count)) for issuer, fulfiller, value, count in rows]


def _check_order(connection: Connection, period: Period, closed: frozenset[Period]) -> None:
    """Periods close forward: never behind a later close, never past an earlier period still holding records."""
    later = sorted(p for p in closed if p > period)
    if later:
        raise Conflict(f"{later[-1]} is already closed; {period} cannot close after it", code="PERIOD_OUT_OF_ORDER")
    pending = connection.execute(
        text(
            "SELECT min(settlement_period) FROM clearing_record WHERE status = 'ACCEPTED' AND settlement_period < :p"
            " AND settlement_period NOT IN (SELECT period FROM period_close)"
        ),
        {"p": str(period)},
    ).scalar_one()
    if pending is not None:
        raise Conflict(f"{pending} still holds open records; close it first", code="PERIOD_OUT_OF_ORDER")


def close_period(
    *,
    engine: Engine,
    hub: HubSigner,
    now: datetime,
    period: Period,
    zone_name: str,
    trigger: str = "manual",
    actor: str | None = None,
) -> CloseResult:
    """Close ``period`` (it must have ended). Raises :class:`Conflict` ``PERIOD_ALREADY_CLOSED`` if it was."""
    zone = ZoneInfo(zone_name)
    if now < period.end(zone):
        raise PeriodError(
            f"{period} ends at {period.end(zone).isoformat()}; it cannot close before", code="PERIOD_NOT_ENDED"
        )
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        closed = closed_periods(uow.session)
        if period in closed:
            raise Conflict(f"{period} is already closed", code="PERIOD_ALREADY_CLOSED")
        _check_order(uow.connection, period, closed)
        names = partner_names(uow.session)
        pairs = _pair_sums(uow.connection, period)
        result = netting.net(netting.obligations_from(pairs), partners=names)
        close_row = PeriodCloseRow(
            period=str(period),
            time_zone=zone_name,
            closed_at=now,
            trigger=trigger,
            gross_fen=result.gross_fen,
            net_fen=result.net_fen,
            efficiency=str(result.efficiency),
            record_count=sum(p.records for p in pairs),
            hub_key_id=hub.key_id,
        )
        uow.session.add(close_row)
        try:
            uow.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"{period} is already closed", code="PERIOD_ALREADY_CLOSED") from exc
        assert close_row.id is not None
        _write_close(uow.session, hub, close_row, result, names, period, zone_name, now)
        audit.append(
            uow.connection,
            actor=actor or trigger,
            action="period.close",
            subject=f"period:{period}",
            now=now,
            before={"status": "open"},
            after={
                "status": "closed",
                "gross_fen": result.gross_fen,
                "net_fen": result.net_fen,
                "records": close_row.record_count,
                "positions": dict(sorted(result.positions.items())),
            },
        )
        uow.commit()
    return CloseResult(
        period, result.gross_fen, result.net_fen, result.efficiency, dict(result.positions), close_row.record_count
    )


def _write_close(
    session: Session,
    hub: HubSigner,
    close_row: PeriodCloseRow,
    result: netting.NettingResult,
    names: dict[str, str],
    period: Period,
    zone_name: str,
    now: datetime,
) -> None:
    assert close_row.id is not None
    connection = session.connection()
    if result.obligations:
        connection.execute(
            insert(ObligationRow.__table__),  # type: ignore[attr-defined]
            [
                {
                    "close_id": close_row.id,
                    "payer_id": o.payer_id,
                    "payee_id": o.payee_id,
                    "amount_fen": o.amount_fen,
                    "records": o.records,
                }
                for o in result.obligations
            ],
        )
    transfers = netting.close_transfers(result.positions)
    post_transfers(
        connection, [(Source(close_id=close_row.id), leg, item) for leg, item in enumerate(transfers)], now=now
    )
    statements = build_statements(result, names, period=period, zone=zone_name, closed_at=now, hub_key_id=hub.key_id)
    for statement in statements:
        csv_bytes, json_bytes = render_csv(statement), render_json(statement)
        session.add(
            StatementRow(
                close_id=close_row.id,
                period=str(period),
                partner_id=statement.partner_id,
                net_fen=statement.net_fen,
                csv_bytes=csv_bytes,
                csv_signature=hub.sign(csv_bytes),
                json_bytes=json_bytes,
                json_signature=hub.sign(json_bytes),
            )
        )


def periods_due(*, engine: Engine, now: datetime, zone_name: str) -> list[Period]:
    """Ended periods not yet closed: the previous month, and any earlier one that still has records."""
    zone = ZoneInfo(zone_name)
    with unit_of_work(engine, read_only=True) as uow:
        closed = closed_periods(uow.session)
        pending = {
            Period.parse(value)
            for value in uow.session.scalars(
                select(text("DISTINCT settlement_period"))
                .select_from(text("clearing_record"))
                .where(text("status = 'ACCEPTED'"))
            )
        }
    pending.add(Period.of(now, zone).previous())
    return sorted(p for p in pending if p not in closed and p.end(zone) <= now)


def close_due_periods(
    *, engine: Engine, hub: HubSigner, now: datetime, zone_name: str, trigger: str = "scheduler"
) -> list[CloseResult]:
    """Close every period that is due, oldest first; one that another process closed meanwhile is skipped.
    Run by the scheduler on the 1st, and once after a restart to make up a run missed while down."""
    results = []
    for period in periods_due(engine=engine, now=now, zone_name=zone_name):
        try:
            results.append(
                close_period(engine=engine, hub=hub, now=now, period=period, zone_name=zone_name, trigger=trigger)
            )
        except Conflict as exc:
            if exc.code != "PERIOD_ALREADY_CLOSED":
                raise
    return results


@dataclass(frozen=True)
class StatementDocument:
    period: str
    partner_id: str
    net_fen: int
    body: bytes
    signature: bytes


def get_statement(*, engine: Engine, period: Period, partner_id: str, fmt: str) -> StatementDocument:
    with unit_of_work(engine, read_only=True) as uow:
        row = uow.session.scalars(
            select(StatementRow).where(
                col(StatementRow.period) == str(period), col(StatementRow.partner_id) == partner_id
            )
        ).first()
        if row is None:
            raise NotFound(f"no statement of {partner_id!r} for {period}", code="STATEMENT_NOT_FOUND")
        body, signature = (row.csv_bytes, row.csv_signature) if fmt == "csv" else (row.json_bytes, row.json_signature)
        return StatementDocument(row.period, partner_id, row.net_fen, body, signature)


def list_statements(*, engine: Engine, period: Period) -> list[StatementDocument]:
    with unit_of_work(engine, read_only=True) as uow:
        rows = uow.session.scalars(
            select(StatementRow).where(col(StatementRow.period) == str(period)).order_by(StatementRow.partner_id)
        )
        return [StatementDocument(r.period, r.partner_id, r.net_fen, r.csv_bytes, r.csv_signature) for r in rows]


@dataclass(frozen=True)
class CloseSummary:
    period: str
    closed_at: datetime
    gross_fen: int
    net_fen: int
    efficiency: str
    record_count: int


def list_closes(*, engine: Engine) -> list[CloseSummary]:
    with unit_of_work(engine, read_only=True) as uow:
        rows = uow.session.scalars(select(PeriodCloseRow).order_by(col(PeriodCloseRow.period)))
        return [CloseSummary(r.period, r.closed_at, r.gross_fen, r.net_fen, r.efficiency, r.record_count) for r in rows]
