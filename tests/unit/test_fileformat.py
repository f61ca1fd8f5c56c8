"""Specs of the settlement file format CHSF/1: writing, reading, and every structural refusal.

Pure: bytes in, values or :class:`FileRefused` out. A file is written as a list of CSV lines inside the
test, so each case reads like the file it is about.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from settlement.errors import FileRefused
from settlement.fileformat import (
    DETAIL_FIELDS,
    MAX_FIELD_CHARS,
    FileHeader,
    FileTrailer,
    RawDetail,
    RecordProblem,
    iter_details,
    parse_time,
    read_header,
    scan,
    to_record,
    write_file,
)
from settlement.records import RecordKind, RecordRef, SettlementRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
CREATED = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
HEADER = ["H", "CHSF/1", "cvs", "F1", "2026-12-01T01:00:00Z"]
EARN_LINE = ["D", "1", "EARN", "2026-11-05T12:00:00+08:00", "cvs", "", "m1", "100", "10000", "R-1", "", "", ""]


def chsf(*rows: list[str], newline: str = "\n") -> bytes:
    """Rows written as RFC 4180 CSV, exactly as given (no trailer is added)."""
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue().encode("utf-8")


def detail(seq: int, **fields: str) -> list[str]:
    names = [
        "kind",
        "business_time",
        "issuer_id",
        "fulfiller_id",
        "member_token",
        "points",
        "amount_fen",
        "receipt_ref",
        "category",
        "offer_ref",
        "original",
    ]
    values = dict(zip(names, EARN_LINE[2:], strict=True)) | fields
    return ["D", str(seq), *(values[name] for name in names)]


def one_earn_file(**fields: str) -> bytes:
    line = detail(1, **fields)
    return chsf(HEADER, line, ["T", "1", line[7], line[8]])


def refusal(data: bytes) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        scan(io.BytesIO(data))
    return caught.value


def details_of(data: bytes) -> list[RawDetail]:
    return [item for item in iter_details(io.BytesIO(data)) if isinstance(item, RawDetail)]


def a_record(seq: int, kind: RecordKind, **changes: object) -> SettlementRecord:
    fields: dict[str, object] = {
        "seq": seq,
        "kind": kind,
        "business_time": datetime(2026, 11, 5, 12, tzinfo=SHANGHAI),
        "issuer_id": "cvs",
        "fulfiller_id": "",
        "member_token": "m1",
        "points": 100,
        "amount_fen": 10000,
        "receipt_ref": "R-1",
    }
    return SettlementRecord(**(fields | changes))  # type: ignore[arg-type]


def written(records: list[SettlementRecord], *, file_id: str = "F1") -> bytes:
    out = io.BytesIO()
    write_file(out, partner_id="cvs", file_id=file_id, created_at=CREATED, records=records)
    return out.getvalue()


SMALL_FILE = [
    a_record(1, RecordKind.EARN),
    a_record(
        2,
        RecordKind.REDEEM,
        fulfiller_id="cinema",
        points=40,
        amount_fen=0,
        receipt_ref="",
        category="cinema",
        offer_ref="IMAX, 2D",
        business_time=datetime(2026, 11, 6, 20, 30, tzinfo=SHANGHAI),
    ),
    a_record(
        3,
        RecordKind.REVERSAL,
        points=10,
        amount_fen=1000,
        receipt_ref="",
        original=RecordRef("F0", 7),
        business_time=datetime(2026, 11, 7, 1, 2, 3, tzinfo=UTC),
    ),
]


# ------------------------------------------------------------------ writing
def test_writes_golden_bytes_of_a_small_file():
    assert written(SMALL_FILE) == (
        b"H,CHSF/1,cvs,F1,2026-12-01T01:00:00Z\n"
        b"D,1,EARN,2026-11-05T12:00:00+08:00,cvs,,m1,100,10000,R-1,,,\n"
        b'D,2,REDEEM,2026-11-06T20:30:00+08:00,cvs,cinema,m1,40,0,,cinema,"IMAX, 2D",\n'
        b"D,3,REVERSAL,2026-11-07T01:02:03Z,cvs,,m1,10,1000,,,,F0#7\n"
        b"T,3,150,11000\n"
    )


def test_write_returns_the_trailer_it_wrote():
    out = io.BytesIO()
    trailer = write_file(out, partner_id="cvs", file_id="F1", created_at=CREATED, records=SMALL_FILE)
    assert trailer == FileTrailer(record_count=3, total_points=150, total_amount_fen=11000)


def test_writes_an_empty_file_as_header_and_zero_trailer():
    assert written([]) == b"H,CHSF/1,cvs,F1,2026-12-01T01:00:00Z\nT,0,0,0\n"


def test_writes_chinese_text_as_utf8_without_bom():
    data = written(
        [
            a_record(
                1,
                RecordKind.REDEEM,
                fulfiller_id="cinema",
                category="cinema",
                offer_ref="电影票，双人套餐",
                member_token="会员-甲",
            )
        ]
    )
    assert not data.startswith(b"\xef\xbb\xbf")
    line = "D,1,REDEEM,2026-11-05T12:00:00+08:00,cvs,cinema,会员-甲,100,10000,R-1,cinema,电影票，双人套餐,\n"
    assert line.encode("utf-8") in data


def test_write_then_read_gives_back_the_same_records():
    records = [
        *SMALL_FILE,
        a_record(
            4,
            RecordKind.REDEEM,
            fulfiller_id="cinema",
            category="cinema",
            offer_ref='他说"好"，然后, 走了',
            member_token="会员-乙",
        ),
    ]
    data = written(records)
    summary = scan(io.BytesIO(data))
    assert summary.header == FileHeader("CHSF/1", "cvs", "F1", CREATED)
    assert summary.trailer == FileTrailer(4, 250, 21000)
    back = [to_record(raw) for raw in details_of(data)]
    assert back == records


def test_write_refuses_a_naive_time():
    with pytest.raises(ValueError, match="naive"):
        written([a_record(1, RecordKind.EARN, business_time=datetime(2026, 11, 5, 12))])


# ------------------------------------------------------------------ reading: what is tolerated
def test_reads_header_details_and_trailer_in_order():
    data = chsf(HEADER, EARN_LINE, ["T", "1", "100", "10000"])
    items = list(iter_details(io.BytesIO(data)))
    assert items == [
        FileHeader("CHSF/1", "cvs", "F1", CREATED),
        RawDetail(2, 1, "EARN", "2026-11-05T12:00:00+08:00", "cvs", "", "m1", 100, 10000, "R-1", "", "", ""),
        FileTrailer(1, 100, 10000),
    ]


@pytest.mark.parametrize(
    ("name", "transform"),
    [
        ("CRLF line endings", lambda data: data.replace(b"\n", b"\r\n")),
        ("a leading UTF-8 BOM", lambda data: b"\xef\xbb\xbf" + data),
        ("BOM and CRLF", lambda data: b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")),
        ("no newline after the trailer", lambda data: data.rstrip(b"\n")),
        ("blank lines after the trailer", lambda data: data + b"\n\n"),
    ],
)
def test_tolerates(name, transform):
    data = written(SMALL_FILE)
    assert scan(io.BytesIO(transform(data))) == scan(io.BytesIO(data))
    assert details_of(transform(data)) == details_of(data)


def test_reads_chinese_text_and_quoted_commas_in_fields():
    line = detail(
        1, kind="REDEEM", fulfiller_id="cinema", category="cinema", offer_ref="电影票, 双人", member_token="会员,甲"
    )
    data = chsf(HEADER, line, ["T", "1", "100", "10000"])
    assert b'"\xe7\x94\xb5' in data  # the field was quoted because of its comma
    (raw,) = details_of(data)
    assert (raw.offer_ref, raw.member_token) == ("电影票, 双人", "会员,甲")
    record = to_record(raw)
    assert isinstance(record, SettlementRecord)
    assert record.offer_ref == "电影票, 双人"


def test_a_quoted_newline_is_read_as_part_of_its_field_then_refused_for_that_record_only():
    line = detail(1, offer_ref="line one\nline two")
    data = chsf(HEADER, line, detail(2), ["T", "2", "200", "20000"])
    raws = details_of(data)
    assert [raw.seq for raw in raws] == [1, 2]
    assert raws[0].offer_ref == "line one\nline two"
    assert raws[1].line_no == 4  # the quoted newline made line 2 two physical lines
    problem = to_record(raws[0])
    assert isinstance(problem, RecordProblem)
    assert (problem.seq, problem.code) == (1, "RECORD_FIELD_INVALID")
    assert isinstance(to_record(raws[1]), SettlementRecord)


def test_read_header_reads_only_the_header():
    data = chsf(HEADER, ["garbage"])
    assert read_header(io.BytesIO(data)) == FileHeader("CHSF/1", "cvs", "F1", CREATED)


def test_read_header_of_an_empty_file_is_refused():
    with pytest.raises(FileRefused) as caught:
        read_header(io.BytesIO(b""))
    assert caught.value.code == "FILE_STRUCTURE_INVALID"


# ------------------------------------------------------------------ reading: structural refusals
TRAILER_1 = ["T", "1", "100", "10000"]
STRUCTURAL_REFUSALS = [
    ("empty file", b"", "FILE_STRUCTURE_INVALID"),
    ("only a header", chsf(HEADER), "FILE_STRUCTURE_INVALID"),
    ("first line is not H", chsf(EARN_LINE, HEADER, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("blank line before the header", b"\n" + chsf(HEADER, EARN_LINE, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("header with 4 fields", chsf(HEADER[:4], TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("header with 6 fields", chsf([*HEADER, "x"], EARN_LINE, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("version CHSF/2", chsf(["H", "CHSF/2", *HEADER[2:]], EARN_LINE, TRAILER_1), "FILE_VERSION_UNSUPPORTED"),
    ("lowercase version", chsf(["H", "chsf/1", *HEADER[2:]], EARN_LINE, TRAILER_1), "FILE_VERSION_UNSUPPORTED"),
    ("empty file id", chsf(["H", "CHSF/1", "cvs", "", HEADER[4]], EARN_LINE, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    (
        "file id with a space",
        chsf(["H", "CHSF/1", "cvs", "F 1", HEADER[4]], EARN_LINE, TRAILER_1),
        "FILE_STRUCTURE_INVALID",
    ),
    (
        "file id of 65 characters",
        chsf(["H", "CHSF/1", "cvs", "F" * 65, HEADER[4]], EARN_LINE, TRAILER_1),
        "FILE_STRUCTURE_INVALID",
    ),
    (
        "partner id with a slash",
        chsf(["H", "CHSF/1", "cvs/x", "F1", HEADER[4]], EARN_LINE, TRAILER_1),
        "FILE_STRUCTURE_INVALID",
    ),
    (
        "creation time without offset",
        chsf([*HEADER[:4], "2026-12-01T01:00:00"], EARN_LINE, TRAILER_1),
        "FILE_STRUCTURE_INVALID",
    ),
    ("creation time a date", chsf([*HEADER[:4], "2026-12-01"], EARN_LINE, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("no trailer", chsf(HEADER, EARN_LINE), "FILE_STRUCTURE_INVALID"),
    ("a line tagged X", chsf(HEADER, ["X", "1"], EARN_LINE, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("a lowercase d tag", chsf(HEADER, ["d", *EARN_LINE[1:]], TRAILER_1), "FILE_STRUCTURE_INVALID"),
    (
        "a blank line between details",
        chsf(HEADER, EARN_LINE, [], detail(2), ["T", "2", "200", "20000"]),
        "FILE_STRUCTURE_INVALID",
    ),
    ("a second header", chsf(HEADER, EARN_LINE, HEADER, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("a detail after the trailer", chsf(HEADER, TRAILER_1, EARN_LINE), "FILE_STRUCTURE_INVALID"),
    ("two trailers", chsf(HEADER, EARN_LINE, TRAILER_1, TRAILER_1), "FILE_STRUCTURE_INVALID"),
    ("trailer with 3 fields", chsf(HEADER, EARN_LINE, ["T", "1", "100"]), "FILE_STRUCTURE_INVALID"),
    ("unterminated quote", chsf(HEADER, EARN_LINE) + b'T,1,100,"10000\n', "FILE_STRUCTURE_INVALID"),
    ("text after a closing quote", chsf(HEADER) + b'D,1,"EARN"x' + b",a" * 11 + b"\n", "FILE_STRUCTURE_INVALID"),
    ("trailer count not an integer", chsf(HEADER, EARN_LINE, ["T", "one", "100", "10000"]), "FILE_RECORD_MALFORMED"),
    ("detail with 12 fields", chsf(HEADER, EARN_LINE[:12], TRAILER_1), "FILE_RECORD_MALFORMED"),
    ("detail with 15 fields", chsf(HEADER, [*EARN_LINE, "", ""], TRAILER_1), "FILE_RECORD_MALFORMED"),
    ("a bare D", chsf(HEADER, ["D"], TRAILER_1), "FILE_RECORD_MALFORMED"),
    ("points not an integer", chsf(HEADER, detail(1, points="1.5"), TRAILER_1), "FILE_RECORD_MALFORMED"),
    ("points with a plus sign", chsf(HEADER, detail(1, points="+100"), TRAILER_1), "FILE_RECORD_MALFORMED"),
    ("points of 16 digits", chsf(HEADER, detail(1, points="1" * 16), TRAILER_1), "FILE_RECORD_MALFORMED"),
    (
        "amount with a thousands separator",
        chsf(HEADER, detail(1, amount_fen="10,000"), TRAILER_1),
        "FILE_RECORD_MALFORMED",
    ),
    ("amount empty", chsf(HEADER, detail(1, amount_fen=""), TRAILER_1), "FILE_RECORD_MALFORMED"),
    ("sequence not an integer", chsf(HEADER, ["D", "one", *EARN_LINE[2:]], TRAILER_1), "FILE_RECORD_MALFORMED"),
    ("sequence starting at 0", chsf(HEADER, detail(0), TRAILER_1), "FILE_SEQUENCE_INVALID"),
    ("sequence starting at 2", chsf(HEADER, detail(2), TRAILER_1), "FILE_SEQUENCE_INVALID"),
    ("sequence with a gap", chsf(HEADER, detail(1), detail(3), ["T", "2", "200", "20000"]), "FILE_SEQUENCE_INVALID"),
    ("sequence repeated", chsf(HEADER, detail(1), detail(1), ["T", "2", "200", "20000"]), "FILE_SEQUENCE_INVALID"),
    ("sequence descending", chsf(HEADER, detail(2), detail(1), ["T", "2", "200", "20000"]), "FILE_SEQUENCE_INVALID"),
    ("trailer counts 2 of 1", chsf(HEADER, EARN_LINE, ["T", "2", "100", "10000"]), "FILE_COUNT_MISMATCH"),
    ("trailer counts 0 of 1", chsf(HEADER, EARN_LINE, ["T", "0", "100", "10000"]), "FILE_COUNT_MISMATCH"),
    ("trailer points off by one", chsf(HEADER, EARN_LINE, ["T", "1", "101", "10000"]), "FILE_TOTALS_MISMATCH"),
    ("trailer fen off by one", chsf(HEADER, EARN_LINE, ["T", "1", "100", "9999"]), "FILE_TOTALS_MISMATCH"),
    ("invalid UTF-8 in a detail", chsf(HEADER, EARN_LINE, TRAILER_1).replace(b"m1", b"m\xff"), "FILE_ENCODING_INVALID"),
    (
        "Latin-1 text",
        chsf(HEADER, detail(1, offer_ref="café"), TRAILER_1).replace("é".encode(), b"\xe9"),
        "FILE_ENCODING_INVALID",
    ),
    ("UTF-16", chsf(HEADER, EARN_LINE, TRAILER_1).decode().encode("utf-16"), "FILE_ENCODING_INVALID"),
]


@pytest.mark.parametrize(("name", "data", "code"), STRUCTURAL_REFUSALS, ids=[case[0] for case in STRUCTURAL_REFUSALS])
def test_refuses_the_whole_file(name, data, code):
    assert refusal(data).code == code


def test_refuses_control_totals_out_of_range_even_when_the_trailer_agrees():
    big = "999999999999999"  # the largest 15-digit integer a field may hold
    lines = [detail(seq, points=big, amount_fen="1") for seq in range(1, 4613)]
    total = str(4612 * int(big))
    refused = refusal(chsf(HEADER, *lines, ["T", "4612", total, "4612"]))
    assert refused.code == "FILE_RECORD_MALFORMED"


def test_a_negative_number_is_structurally_sound_and_left_to_the_record_rules():
    (raw,) = details_of(chsf(HEADER, detail(1, points="-5", amount_fen="-1"), ["T", "1", "-5", "-1"]))
    assert (raw.points, raw.amount_fen) == (-5, -1)


def test_a_refusal_names_the_line():
    assert "line 3" in refusal(chsf(HEADER, EARN_LINE, ["X"], TRAILER_1)).message


# the anchors of the id and integer patterns are ``$``, which also matches before a final newline
def test_refuses_a_file_id_with_a_trailing_newline():
    assert refusal(chsf(["H", "CHSF/1", "cvs", "F1\n", HEADER[4]], EARN_LINE, TRAILER_1)).code == (
        "FILE_STRUCTURE_INVALID"
    )


def test_refuses_points_with_a_trailing_newline():
    assert refusal(chsf(HEADER, detail(1, points="100\n"), TRAILER_1)).code == "FILE_RECORD_MALFORMED"


def test_refuses_an_original_with_a_trailing_newline():
    (raw,) = details_of(chsf(HEADER, detail(1, kind="REVERSAL", original="F0#7\n"), TRAILER_1))
    assert isinstance(to_record(raw), RecordProblem)


# ------------------------------------------------------------------ to_record: record-level problems
@pytest.mark.parametrize(
    ("name", "fields", "code"),
    [
        ("unknown kind", {"kind": "BONUS"}, "RECORD_KIND_UNKNOWN"),
        ("lowercase kind", {"kind": "earn"}, "RECORD_KIND_UNKNOWN"),
        ("empty kind", {"kind": ""}, "RECORD_KIND_UNKNOWN"),
        ("time without offset", {"business_time": "2026-11-05T12:00:00"}, "RECORD_TIME_INVALID"),
        ("time with a space for T", {"business_time": "2026-11-05 12:00:00+08:00"}, "RECORD_TIME_INVALID"),
        ("a date only", {"business_time": "2026-11-05"}, "RECORD_TIME_INVALID"),
        ("30 February", {"business_time": "2026-02-30T12:00:00+08:00"}, "RECORD_TIME_INVALID"),
        ("empty time", {"business_time": ""}, "RECORD_TIME_INVALID"),
        ("member token of 129 characters", {"member_token": "m" * 129}, "RECORD_FIELD_INVALID"),
        ("a tab in the receipt", {"receipt_ref": "R\t1"}, "RECORD_FIELD_INVALID"),
        ("a NUL in the member token", {"member_token": "m\x001"}, "RECORD_FIELD_INVALID"),
        ("a line separator in the category", {"category": "a\u2028b"}, "RECORD_FIELD_INVALID"),
        ("original without #", {"original": "F0-7"}, "RECORD_FIELD_INVALID"),
        ("original with sequence 0", {"original": "F0#0"}, "RECORD_FIELD_INVALID"),
        ("original without file id", {"original": "#7"}, "RECORD_FIELD_INVALID"),
    ],
)
def test_to_record_names_the_problem(name, fields, code):
    (raw,) = details_of(one_earn_file(**fields))
    problem = to_record(raw)
    assert isinstance(problem, RecordProblem)
    assert (problem.seq, problem.code) == (1, code)


def test_to_record_builds_the_record():
    (raw,) = details_of(one_earn_file(member_token="会员-" + "甲" * (MAX_FIELD_CHARS - 3), original="F-0.a:b#12"))
    record = to_record(raw)
    assert record == SettlementRecord(
        seq=1,
        kind=RecordKind.EARN,
        business_time=datetime(2026, 11, 5, 4, tzinfo=UTC),
        issuer_id="cvs",
        fulfiller_id="",
        member_token="会员-" + "甲" * 125,
        points=100,
        amount_fen=10000,
        receipt_ref="R-1",
        category="",
        offer_ref="",
        original=RecordRef("F-0.a:b", 12),
    )
    assert len(record.member_token) == MAX_FIELD_CHARS


def test_detail_fields_constant_matches_the_written_line():
    assert len(chsf(EARN_LINE).decode().rstrip("\n").split(",")) == DETAIL_FIELDS


# ------------------------------------------------------------------ parse_time
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-05T12:00:00Z", datetime(2026, 11, 5, 12, tzinfo=UTC)),
        ("2026-11-05T12:00:00z", datetime(2026, 11, 5, 12, tzinfo=UTC)),
        ("2026-11-05T12:00:00+08:00", datetime(2026, 11, 5, 4, tzinfo=UTC)),
        ("2026-11-05T12:00:00-05:30", datetime(2026, 11, 5, 17, 30, tzinfo=UTC)),
        ("2026-11-05T12:00:00.250+08:00", datetime(2026, 11, 5, 4, 0, 0, 250000, tzinfo=UTC)),
        ("2026-11-05T12:00:00+00:00", datetime(2026, 11, 5, 12, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_rfc3339_with_an_offset(text, expected):
    moment = parse_time(text)
    assert moment == expected
    assert moment is not None and moment.tzinfo is not None


def test_parse_time_keeps_the_offset_given():
    moment = parse_time("2026-11-05T12:00:00+08:00")
    assert moment is not None and moment.utcoffset() == timedelta(hours=8)
    assert moment.tzinfo == timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11-05T12:00:00",
        "2026-11-05 12:00:00+08:00",
        "2026-11-05",
        "not a time at all, really",
        "2026-13-05T12:00:00+08:00",
        "2026-11-05T25:00:00+08:00",
        "2026-11-05T12:00:00+08:00" + "0" * 20,
    ],
)
def test_parse_time_refuses(text):
    assert parse_time(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-05T12:00+08:00",
        "20261105T120000+0800",
        "2026-W45-4T12:00:00Z",
        "2026-11-05T12:00:00+08",
        "2026-11-05T12:00:00,5+08:00",
        "2026-11-05T12:00:00 +08:00",
        "2026-11-05T12:00:00+08:00:30",
    ],
)
def test_parse_time_refuses_what_rfc3339_does_not_allow(text):
    assert parse_time(text) is None


def test_parse_time_reads_a_lowercase_t():
    assert parse_time("2026-11-05t12:00:00z") == datetime(2026, 11, 5, 12, tzinfo=UTC)
