"""Golden files for every report the hub signs: statements (CSV, JSON) and acknowledgements.

Regenerate after an intended format change with
``CLEARINGHOUSE_REGENERATE_GOLDEN=1 pytest tests/unit/test_report_formats.py`` and review the diff:
partners parse these bytes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from settlement import acknowledgement as ack
from settlement.netting import PairSum, net, obligations_from
from settlement.periods import Period
from settlement.statements import build_statements, render_csv, render_json

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
NAMES = {"cvs": "易达便利", "cinema": "光影影院", "eyewear": "明眸眼镜"}


def _matches_golden(name: str, produced: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("CLEARINGHOUSE_REGENERATE_GOLDEN"):
        path.write_bytes(produced)
    assert produced == path.read_bytes(), f"{name} changed; see the module docstring"


@pytest.fixture
def statements():
    pairs = [PairSum("cvs", "cinema", 6000, 2), PairSum("cvs", "eyewear", 17600, 1), PairSum("eyewear", "cvs", 4500, 1)]
    result = net(obligations_from(pairs), partners=NAMES)
    return {
        s.partner_id: s
        for s in build_statements(
            result,
            NAMES,
            period=Period(2026, 11),
            zone="Asia/Shanghai",
            closed_at=datetime(2026, 11, 30, 16, 5, tzinfo=UTC),
            hub_key_id="ab" * 32,
        )
    }


@pytest.mark.parametrize("partner", ["cvs", "eyewear"])
def test_statement_csv_is_byte_for_byte_the_golden_file(statements, partner):
    _matches_golden(f"statement-{partner}.csv", render_csv(statements[partner]))


@pytest.mark.parametrize("partner", ["cvs", "eyewear"])
def test_statement_json_is_byte_for_byte_the_golden_file(statements, partner):
    _matches_golden(f"statement-{partner}.json", render_json(statements[partner]))


def test_a_statements_lines_sum_to_its_totals_and_the_instruction_follows_the_sign(statements):
    cvs = statements["cvs"]
    assert (cvs.gross_payable_fen, cvs.gross_receivable_fen, cvs.net_fen) == (23600, 4500, -19100)
    assert (cvs.instruction, statements["cinema"].instruction) == ("PAY", "RECEIVE")
    assert sum(s.net_fen for s in statements.values()) == 0


def test_acknowledgement_is_byte_for_byte_the_golden_file():
    header = ack.AckHeader("cvs", "SF-2026-11", "0" * 64, datetime(2026, 12, 1, 0, 1, tzinfo=UTC), "PROCESSED")
    records = [
        ack.AckRecord(1, True),
        ack.AckRecord(2, False, "RL1_MEMBER_MISSING", "the purchase names no member, 无会员"),
    ]
    summary = ack.AckSummary(2, 1, 1, 300, 30000, 100, 10000, 0)
    _matches_golden("ack-processed.csv", b"".join(ack.render(header, records, summary)))


def test_a_refused_file_is_acknowledged_with_its_header_line_only():
    header = ack.AckHeader(
        "cvs",
        "SF-2026-11",
        "0" * 64,
        datetime(2026, 12, 1, 0, 1, tzinfo=UTC),
        "REFUSED",
        "FILE_TOTALS_MISMATCH",
        "trailer totals 1 points / 0 fen, detail lines sum to 2 / 0",
    )
    _matches_golden("ack-refused.csv", b"".join(ack.render(header, (), None)))
