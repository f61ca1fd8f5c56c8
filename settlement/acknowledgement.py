"""Acknowledgement files ``CHACK/1``: the hub's signed answer to a settlement file.

``A`` line (file id, digest of the bytes received, status), one ``R`` line per record (result and reason),
and an ``S`` line with counts and totals. Rendered as a stream of lines so a large file's answer never
has to sit in memory as a whole.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from settlement.fileformat import format_time

ACK_FORMAT = "CHACK/1"


@dataclass(frozen=True, slots=True)
class AckHeader:
    partner_id: str
    file_id: str
    sha256: str
    received_at: datetime
    status: str  # PROCESSED or REFUSED
    code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class AckRecord:
    seq: int
    accepted: bool
    code: str = ""
    message: str = ""
    matched: bool = False  # reports a real-time capture: recorded, posted nothing again


@dataclass(frozen=True, slots=True)
class AckSummary:
    record_count: int
    accepted: int
    refused: int
    total_points: int
    total_amount_fen: int
    accepted_points: int
    accepted_amount_fen: int
    accepted_value_fen: int


def _line(values: Iterable[object]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(list(values))
    return out.getvalue().encode("utf-8")


def render(header: AckHeader, records: Iterable[AckRecord], summary: AckSummary | None) -> Iterator[bytes]:
    """The acknowledgement's bytes, line by line."""
    yield _line(
        [
            "A",
            ACK_FORMAT,
            header.partner_id,
            header.file_id,
            header.sha256,
            format_time(header.received_at),
            header.status,
            header.code,
            header.message,
        ]
    )
    for record in records:
        result = "MATCHED" if record.matched else "ACCEPTED" if record.accepted else "REFUSED"
        yield _line(["R", record.seq, result, record.code, record.message])
    if summary is not None:
        yield _line(
            [
                "S",
                summary.record_count,
                summary.accepted,
                summary.refused,
                summary.total_points,
                summary.total_amount_fen,
                summary.accepted_points,
                summary.accepted_amount_fen,
                summary.accepted_value_fen,
            ]
        )
