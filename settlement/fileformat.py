"""Settlement file format ``CHSF/1`` (see docs/settlement-file-format.md): read and write, streaming.

A file is UTF-8 CSV (RFC 4180 quoting; a leading BOM tolerated; LF or CRLF) of one header line ``H``,
detail lines ``D`` and one trailer line ``T``. The reader never holds more than one line; a caller that
needs two passes (structure and totals first, then records) reads the stream twice.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from settlement.errors import FileRefused
from settlement.periods import MAX_YEAR, MIN_YEAR
from settlement.prohibited import prohibited_kind
from settlement.records import RecordKind, RecordRef, SettlementRecord

FORMAT_VERSION = "CHSF/1"
DETAIL_FIELDS = 13
# A 14th field, ``to member``, names the receiving member of a FAMILY_POOL; files without it stay valid.
DETAIL_FIELDS_WITH_TO_MEMBER = 14
_INT_RE = re.compile(r"-?[0-9]{1,15}")
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_REF_RE = re.compile(r"(?P<file>[A-Za-z0-9][A-Za-z0-9._:-]{0,63})#(?P<seq>[1-9][0-9]{0,9})")
# RFC 3339 date-time with seconds and an offset; Python's fromisoformat alone accepts much more (weeks, basic format).
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})")
MAX_FIELD_CHARS = 128
# Per-record bounds keep every value, times any contract rate, far inside 64-bit integers.
MAX_POINTS = 10**9
MAX_AMOUNT_FEN = 10**13
_TOTAL_LIMIT = 2**62


@dataclass(frozen=True, slots=True)
class FileHeader:
    version: str
    partner_id: str
    file_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FileTrailer:
    record_count: int
    total_points: int
    total_amount_fen: int


@dataclass(frozen=True, slots=True)
class RawDetail:
    """A detail line whose structure is sound; its fields are checked record by record later."""

    line_no: int
    seq: int
    kind: str
    business_time: str
    issuer_id: str
    fulfiller_id: str
    member_token: str
    points: int
    amount_fen: int
    receipt_ref: str
    category: str
    offer_ref: str
    original: str
    to_member: str = ""


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """A detail line that cannot become a record; refused with ``code``, the rest of the file goes on."""

    seq: int
    code: str
    message: str


def _refuse(code: str, message: str) -> FileRefused:
    return FileRefused(message, code=code)


def _text_lines(stream: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    try:
        for row in reader:
            yield reader.line_num, row
    except UnicodeDecodeError as exc:
        raise _refuse("FILE_ENCODING_INVALID", f"the file is not valid UTF-8 (byte {exc.start})") from exc
    except csv.Error as exc:
        raise _refuse("FILE_STRUCTURE_INVALID", f"line {reader.line_num}: {exc}") from exc
    finally:
        text.detach()


def _parse_int(value: str, *, line_no: int, field: str) -> int:
    if not _INT_RE.fullmatch(value):
        raise _refuse("FILE_RECORD_MALFORMED", f"line {line_no}: {field} must be an integer, got {value[:20]!r}")
    return int(value)


def _parse_header(line_no: int, row: list[str]) -> FileHeader:
    if not row or row[0] != "H":
        raise _refuse("FILE_STRUCTURE_INVALID", f"line {line_no}: the file must start with a header line H")
    if len(row) != 5:
        raise _refuse("FILE_STRUCTURE_INVALID", f"line {line_no}: the header has 5 fields, got {len(row)}")
    _, version, partner_id, file_id, created = row
    if version != FORMAT_VERSION:
        raise _refuse("FILE_VERSION_UNSUPPORTED", f"format version must be {FORMAT_VERSION}, got {version[:20]!r}")
    if not _ID_RE.fullmatch(partner_id) or not _ID_RE.fullmatch(file_id):
        raise _refuse("FILE_STRUCTURE_INVALID", "partner id and file id must be 1-64 of [A-Za-z0-9._:-]")
    created_at = parse_time(created)
    if created_at is None:
        raise _refuse("FILE_STRUCTURE_INVALID", "creation time must be RFC 3339 with an offset")
    return FileHeader(version, partner_id, file_id, created_at)


def _parse_detail(line_no: int, row: list[str]) -> RawDetail:
    if len(row) not in (DETAIL_FIELDS, DETAIL_FIELDS_WITH_TO_MEMBER):
        raise _refuse(
            "FILE_RECORD_MALFORMED",
            f"line {line_no}: a detail line has {DETAIL_FIELDS} fields (or {DETAIL_FIELDS_WITH_TO_MEMBER} with "
            f"the receiving member of a FAMILY_POOL), got {len(row)}",
        )
    seq = _parse_int(row[1], line_no=line_no, field="sequence")
    points = _parse_int(row[7], line_no=line_no, field="points")
    amount = _parse_int(row[8], line_no=line_no, field="amount_fen")
    to_member = row[13] if len(row) == DETAIL_FIELDS_WITH_TO_MEMBER else ""
    return RawDetail(
        line_no, seq, row[2], row[3], row[4], row[5], row[6], points, amount, row[9], row[10], row[11], row[12],
        to_member,
    )  # fmt: skip


def _parse_trailer(line_no: int, row: list[str]) -> FileTrailer:
    if len(row) != 4:
        raise _refuse("FILE_STRUCTURE_INVALID", f"line {line_no}: the trailer has 4 fields, got {len(row)}")
    count, points, fen = (_parse_int(value, line_no=line_no, field="trailer total") for value in row[1:])
    return FileTrailer(count, points, fen)


def read_header(stream: IO[bytes]) -> FileHeader:
    """Only the header, for routing a file before its signature is checked."""
    for line_no, row in _text_lines(stream):
        return _parse_header(line_no, row)
    raise _refuse("FILE_STRUCTURE_INVALID", "the file is empty")


def iter_details(stream: IO[bytes]) -> Iterator[FileHeader | RawDetail | FileTrailer]:
    """Header, then each sound detail line, then the trailer; raises :class:`FileRefused` on a structural fault."""
    trailer: FileTrailer | None = None
    expected_seq = 1
    header_seen = False
    for line_no, row in _text_lines(stream):
        if trailer is not None:
            if row == []:
                continue
            raise _refuse("FILE_STRUCTURE_INVALID", f"line {line_no}: nothing may follow the trailer")
        if not header_seen:
            header_seen = True
            yield _parse_header(line_no, row)
            continue
        tag = row[0] if row else ""
        if tag == "D":
            detail = _parse_detail(line_no, row)
            if detail.seq != expected_seq:
                raise _refuse(
                    "FILE_SEQUENCE_INVALID", f"line {line_no}: sequence {detail.seq}, expected {expected_seq}"
                )
            expected_seq += 1
            yield detail
        elif tag == "T":
            trailer = _parse_trailer(line_no, row)
            yield trailer
        else:
            raise _refuse("FILE_STRUCTURE_INVALID", f"line {line_no}: a line starts with H, D or T, got {tag[:10]!r}")
    if trailer is None:
        raise _refuse("FILE_STRUCTURE_INVALID", "the file has no trailer line T")


@dataclass(frozen=True, slots=True)
class FileSummary:
    header: FileHeader
    trailer: FileTrailer


def scan(stream: IO[bytes]) -> FileSummary:
    """First pass: structure, sequence, count and control totals. Holds one line at a time."""
    header: FileHeader | None = None
    count = points = fen = 0
    trailer: FileTrailer | None = None
    for item in iter_details(stream):
        if isinstance(item, FileHeader):
            header = item
        elif isinstance(item, RawDetail):
            count, points, fen = count + 1, points + item.points, fen + item.amount_fen
        else:
            trailer = item
    if header is None or trailer is None:
        raise _refuse("FILE_STRUCTURE_INVALID", "the file needs a header and a trailer")
    if trailer.record_count != count:
        raise _refuse("FILE_COUNT_MISMATCH", f"trailer says {trailer.record_count} records, the file holds {count}")
    if (trailer.total_points, trailer.total_amount_fen) != (points, fen):
        raise _refuse(
            "FILE_TOTALS_MISMATCH",
            f"trailer totals {trailer.total_points} points / {trailer.total_amount_fen} fen, "
            f"detail lines sum to {points} points / {fen} fen",
        )
    if max(abs(points), abs(fen)) >= _TOTAL_LIMIT:
        raise _refuse("FILE_RECORD_MALFORMED", "control totals are out of range")
    return FileSummary(header, trailer)


def parse_time(text: str) -> datetime | None:
    """RFC 3339 date-time with an explicit offset (``Z`` or ``+08:00``), else None."""
    if _TIME_RE.fullmatch(text) is None:
        return None
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    if moment.tzinfo is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
        return None  # far years overflow as soon as they are moved to UTC or to a period
    return moment


def _clean(value: str) -> bool:
    return len(value) <= MAX_FIELD_CHARS and value.isprintable()


def to_record(raw: RawDetail) -> SettlementRecord | RecordProblem:
    """Turn a sound detail line into a record, or say which record-level rule its fields break."""
    try:
        kind = RecordKind(raw.kind)
    except ValueError:
        # a kind that would cash points out, move them between members or make them financial is refused by
        # its red line, record by record; any other unknown kind is a plain format fault of that record
        prohibition = prohibited_kind(raw.kind)
        if prohibition is not None:
            return RecordProblem(raw.seq, prohibition.code, prohibition.message)
        return RecordProblem(raw.seq, "RECORD_KIND_UNKNOWN", f"unknown record kind {raw.kind[:20]!r}")
    moment = parse_time(raw.business_time)
    if moment is None:
        return RecordProblem(raw.seq, "RECORD_TIME_INVALID", "business time must be RFC 3339 with an offset")
    texts = (
        raw.issuer_id, raw.fulfiller_id, raw.member_token, raw.receipt_ref, raw.category, raw.offer_ref, raw.to_member
    )  # fmt: skip
    if not all(_clean(value) for value in texts):
        return RecordProblem(
            raw.seq, "RECORD_FIELD_INVALID", f"fields are at most {MAX_FIELD_CHARS} printable characters"
        )
    if any(value.strip() and value != value.strip() for value in texts):
        # "m1 " and "m1" would be two members: surrounding blanks are refused (a blank-only field is left to
        # the rules, which treat it as missing)
        return RecordProblem(raw.seq, "RECORD_FIELD_INVALID", "fields carry no leading or trailing blanks")
    if abs(raw.points) > MAX_POINTS or abs(raw.amount_fen) > MAX_AMOUNT_FEN:
        return RecordProblem(
            raw.seq, "RECORD_FIELD_INVALID", f"at most {MAX_POINTS} points and {MAX_AMOUNT_FEN} fen per record"
        )
    original: RecordRef | None = None
    if raw.original:
        match = _REF_RE.fullmatch(raw.original)
        if match is None:
            return RecordProblem(raw.seq, "RECORD_FIELD_INVALID", "original must look like <file id>#<sequence>")
        original = RecordRef(match.group("file"), int(match.group("seq")))
    return SettlementRecord(
        seq=raw.seq,
        kind=kind,
        business_time=moment,
        issuer_id=raw.issuer_id,
        fulfiller_id=raw.fulfiller_id,
        member_token=raw.member_token,
        points=raw.points,
        amount_fen=raw.amount_fen,
        receipt_ref=raw.receipt_ref,
        category=raw.category,
        offer_ref=raw.offer_ref,
        original=original,
        to_member_token=raw.to_member,
    )


def format_time(moment: datetime) -> str:
    """RFC 3339 with the moment's own offset, seconds precision."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def write_file(
    out: IO[bytes], *, partner_id: str, file_id: str, created_at: datetime, records: Iterable[SettlementRecord]
) -> FileTrailer:
    """Write a ``CHSF/1`` file (LF line endings, no BOM), streaming; returns the trailer written. A line gets
    the 14th field (the receiving member) only when its record names one."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["H", FORMAT_VERSION, partner_id, file_id, format_time(created_at)])
    count = points = fen = 0
    for record in records:
        writer.writerow(_detail_row(record))
        count, points, fen = count + 1, points + record.points, fen + record.amount_fen
    trailer = FileTrailer(count, points, fen)
    writer.writerow(["T", count, points, fen])
    text.flush()
    text.detach()
    return trailer


def _detail_row(record: SettlementRecord) -> list[object]:
    return [
        "D",
        record.seq,
        record.kind.value,
        format_time(record.business_time),
        record.issuer_id,
        record.fulfiller_id,
        record.member_token,
        record.points,
        record.amount_fen,
        record.receipt_ref,
        record.category,
        record.offer_ref,
        str(record.original) if record.original else "",
        *([record.to_member_token] if record.to_member_token else []),
    ]
