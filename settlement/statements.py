"""Period statements, one per partner, rendered as CSV and JSON (format ``CHST/1``).

The hub signs the exact bytes rendered here; rendering is deterministic (sorted, LF line endings,
UTF-8 without BOM), so the same close always produces the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from settlement.fileformat import format_time
from settlement.netting import NettingResult
from settlement.periods import Period

STATEMENT_FORMAT = "CHST/1"
SETTLEMENT_ACCOUNT = "alliance settlement account / 联盟结算账户"


@dataclass(frozen=True, slots=True)
class CounterpartyLine:
    counterparty_id: str
    counterparty_name: str
    records: int
    payable_fen: int
    receivable_fen: int

    @property
    def net_fen(self) -> int:
        return self.receivable_fen - self.payable_fen


@dataclass(frozen=True, slots=True)
class Statement:
    period: Period
    zone: str
    partner_id: str
    partner_name: str
    lines: tuple[CounterpartyLine, ...]
    alliance_gross_fen: int
    alliance_net_fen: int
    efficiency: Decimal
    closed_at: datetime
    hub_key_id: str

    @property
    def gross_payable_fen(self) -> int:
        return sum(line.payable_fen for line in self.lines)

    @property
    def gross_receivable_fen(self) -> int:
        return sum(line.receivable_fen for line in self.lines)

    @property
    def net_fen(self) -> int:
        return self.gross_receivable_fen - self.gross_payable_fen

    @property
    def records(self) -> int:
        return sum(line.records for line in self.lines)

    @property
    def instruction(self) -> str:
        return "RECEIVE" if self.net_fen > 0 else "PAY" if self.net_fen < 0 else "NONE"


def build_statements(
    result: NettingResult, names: Mapping[str, str], *, period: Period, zone: str, closed_at: datetime, hub_key_id: str
) -> tuple[Statement, ...]:
    """A statement for every partner with a position (zero positions included)."""
    statements = []
    for partner_id in result.positions:
        lines: dict[str, CounterpartyLine] = {}
        for item in result.obligations:
            if partner_id not in (item.payer_id, item.payee_id):
                continue
            other = item.payee_id if item.payer_id == partner_id else item.payer_id
            line = lines.get(other, CounterpartyLine(other, names.get(other, other), 0, 0, 0))
            pays = item.amount_fen if item.payer_id == partner_id else 0
            gets = item.amount_fen - pays
            lines[other] = CounterpartyLine(
                other,
                line.counterparty_name,
                line.records + item.records,
                line.payable_fen + pays,
                line.receivable_fen + gets,
            )
        statements.append(
            Statement(
                period,
                zone,
                partner_id,
                names.get(partner_id, partner_id),
                tuple(lines[k] for k in sorted(lines)),
                result.gross_fen,
                result.net_fen,
                result.efficiency,
                closed_at,
                hub_key_id,
            )
        )
    return tuple(statements)


def _summary(statement: Statement) -> list[tuple[str, object]]:
    zone = ZoneInfo(statement.zone)
    return [
        ("statement_format", STATEMENT_FORMAT),
        ("period", str(statement.period)),
        ("period_start_utc", format_time(statement.period.start(zone))),
        ("period_end_utc", format_time(statement.period.end(zone))),
        ("time_zone", statement.zone),
        ("partner_id", statement.partner_id),
        ("partner_name", statement.partner_name),
        ("closed_at_utc", format_time(statement.closed_at)),
        ("hub_key_id", statement.hub_key_id),
        ("records", statement.records),
        ("gross_payable_fen", statement.gross_payable_fen),
        ("gross_receivable_fen", statement.gross_receivable_fen),
        ("net_fen", statement.net_fen),
        ("instruction", statement.instruction),
        ("instruction_amount_fen", abs(statement.net_fen)),
        ("instruction_counterparty", SETTLEMENT_ACCOUNT),
        ("alliance_gross_fen", statement.alliance_gross_fen),
        ("alliance_net_fen", statement.alliance_net_fen),
        ("netting_efficiency", str(statement.efficiency)),
    ]


def render_csv(statement: Statement) -> bytes:
    """Key/value summary, a blank line, then one row per counterparty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(_summary(statement))
    writer.writerow([])
    writer.writerow(["counterparty_id", "counterparty_name", "records", "payable_fen", "receivable_fen", "net_fen"])
    for line in statement.lines:
        writer.writerow(
            [
                line.counterparty_id,
                line.counterparty_name,
                line.records,
                line.payable_fen,
                line.receivable_fen,
                line.net_fen,
            ]
        )
    return out.getvalue().encode("utf-8")


def render_json(statement: Statement) -> bytes:
    document: dict[str, object] = dict(_summary(statement))
    document["counterparties"] = [
        {
            "counterparty_id": line.counterparty_id,
            "counterparty_name": line.counterparty_name,
            "records": line.records,
            "payable_fen": line.payable_fen,
            "receivable_fen": line.receivable_fen,
            "net_fen": line.net_fen,
        }
        for line in statement.lines
    ]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
