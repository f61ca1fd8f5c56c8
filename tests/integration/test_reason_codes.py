"""Every reason code of the catalogue, reached through the real service on both databases.

Each case is the smallest input that produces exactly its code. A record-level case is a file with the bad
record followed by a genuine one (so the file goes on after the refusal); a file-level case is a signed
file with one fault. The last test fails when a code of ``settlement.reasons.REASONS`` has no case here.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from clearinghouse.hub import Hub
from clearinghouse.services import families
from clearinghouse.services.authorizations import AuthorizationRequest, authorize, capture
from clearinghouse.services.files import FileRejected, submit_settlement_file
from clearinghouse.services.licences import suspend_expired_licences
from settlement.fileformat import format_time
from settlement.periods import Period
from settlement.reasons import REASONS, Level
from tests.factories import (
    CINEMA,
    CVS,
    EYEWEAR,
    RIDE,
    Alliance,
    at,
    case_with_evidence,
    earn,
    family_pool,
    redeem,
    reversal,
    submit,
)

Row = dict[str, Any]


# ------------------------------------------------------------------ building files line by line
def detail_line(seq: int, row: Row) -> list[object]:
    """A CHSF/1 detail line from a factory row; any field may be overridden with raw text."""
    moment = row["business_time"]
    original = row.get("original")
    return [
        "D",
        seq,
        str(row["kind"]),
        format_time(moment) if isinstance(moment, datetime) else moment,
        row["issuer_id"],
        row["fulfiller_id"],
        row["member_token"],
        row["points"],
        row["amount_fen"],
        row.get("receipt_ref", ""),
        row.get("category", ""),
        row.get("offer_ref", ""),
        str(original) if original else "",
        *([row["to_member_token"]] if row.get("to_member_token") else []),  # a FAMILY_POOL's receiving member
    ]


def csv_bytes(lines: list[list[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue().encode("utf-8")


def chsf(
    partner_id: str,
    file_id: str,
    rows: list[Row],
    *,
    header: list[object] | None = None,
    trailer: list[object] | None = None,
) -> bytes:
    lines = [detail_line(seq, row) for seq, row in enumerate(rows, start=1)]
    counted = ["T", len(rows), sum(int(r["points"]) for r in rows), sum(int(r["amount_fen"]) for r in rows)]
    return csv_bytes(
        [header or ["H", "CHSF/1", partner_id, file_id, "2026-12-01T01:00:00Z"], *lines, trailer or counted]
    )


def submit_raw(hub: Hub, partner_id: str, content: bytes, signature: bytes, *, max_bytes: int | None = None):
    return submit_settlement_file(
        engine=hub.engine,
        hub=hub.signer,
        now=hub.now(),
        zone_name=hub.config.timezone,
        partner_id=partner_id,
        content=io.BytesIO(content),
        signature_blob=signature,
        max_bytes=hub.config.max_file_bytes if max_bytes is None else max_bytes,
        batch_size=hub.config.batch_size,
    )


# ------------------------------------------------------------------ reading the database
def count(hub: Hub, table: str) -> int:
    with hub.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def accounts(hub: Hub) -> dict[str, tuple[int, int]]:
    with hub.engine.connect() as connection:
        rows = connection.execute(text("SELECT code, debits, credits FROM account"))
        return {code: (int(debits), int(credits)) for code, debits, credits in rows}


def record_row(hub: Hub, partner_id: str, file_id: str, seq: int) -> tuple[int, str, str | None]:
    with hub.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT r.id, r.status, r.reason_code FROM clearing_record r JOIN settlement_file f ON f.id = r.file_pk"
                " WHERE f.partner_id = :p AND f.file_id = :f AND r.seq = :s"
            ),
            {"p": partner_id, "f": file_id, "s": seq},
        ).one()
        return int(row[0]), row[1], row[2]


def transfers_of(hub: Hub, record_id: int) -> list[tuple[str, str, int]]:
    with hub.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT debit_account, credit_account, amount FROM ledger_transfer WHERE record_id = :r"),
            {"r": record_id},
        )
        return [(debit, credit, int(amount)) for debit, credit, amount in rows]


# ------------------------------------------------------------------ record-level cases
@dataclass(frozen=True)
class RecordCase:
    code: str
    reporter: str
    bad: Row
    before: tuple[tuple[str, str, tuple[Row, ...]], ...] = ()
    alliance: dict[str, Any] = field(default_factory=dict)
    setup: Callable[[Hub, Alliance], None] | None = None  # e.g. real-time captures the bad line reports


# a genuine record each reporter sends after the bad one (a fulfiller's needs "bystander" to hold 100 cvs points)
GENUINE = {
    CVS: earn("bystander", 10, receipt="R-OK"),
    CINEMA: redeem("bystander", 10),
    RIDE: redeem("bystander", 10, fulfiller=RIDE, category="ride"),
}
EARNED_100 = ((CVS, "P1", (earn("m1", 100),)),)

RECORD_CASES = {
    "RECORD_KIND_UNKNOWN": RecordCase("RECORD_KIND_UNKNOWN", CVS, {**earn("m1", 10), "kind": "BONUS"}),
    "RECORD_TIME_INVALID": RecordCase("RECORD_TIME_INVALID", CVS, earn("m1", 10, when=at(3, 13, month=12))),
    "RECORD_FIELD_INVALID": RecordCase("RECORD_FIELD_INVALID", CVS, earn("m\x07", 10)),
    "RECORD_PARTNER_UNKNOWN": RecordCase("RECORD_PARTNER_UNKNOWN", CVS, earn("m1", 10, issuer="ghost")),
    "RECORD_REPORTER_MISMATCH": RecordCase("RECORD_REPORTER_MISMATCH", CVS, earn("m1", 10, issuer=EYEWEAR)),
    "RECORD_POINTS_INVALID": RecordCase("RECORD_POINTS_INVALID", CVS, earn("m1", 0, 100)),
    "RECORD_MEMBER_MISSING": RecordCase("RECORD_MEMBER_MISSING", CINEMA, redeem("", 10)),
    "RECORD_SAME_PARTY": RecordCase(
        "RECORD_SAME_PARTY", CVS, redeem("m1", 10, fulfiller=CVS, category="groceries"), EARNED_100
    ),
    "RL1_MEMBER_MISSING": RecordCase("RL1_MEMBER_MISSING", CVS, earn("", 10)),
    "RL1_RECEIPT_MISSING": RecordCase("RL1_RECEIPT_MISSING", CVS, earn("m1", 10, receipt="")),
    "RL1_SPEND_NOT_POSITIVE": RecordCase("RL1_SPEND_NOT_POSITIVE", CVS, earn("m1", 10, 0)),
    "RL1_POINTS_WITHOUT_PURCHASE": RecordCase(
        "RL1_POINTS_WITHOUT_PURCHASE", CVS, reversal("P1#1", "m1", 0, 10000), EARNED_100
    ),
    "RL2_NO_ACTIVE_CONTRACT": RecordCase(
        "RL2_NO_ACTIVE_CONTRACT",
        CINEMA,
        redeem("e1", 10, issuer=EYEWEAR),
        ((EYEWEAR, "P1", (earn("e1", 100, issuer=EYEWEAR),)),),
    ),
    "RL2_CATEGORY_NOT_ALLOWED": RecordCase(
        "RL2_CATEGORY_NOT_ALLOWED", CINEMA, redeem("m1", 10, category="books"), EARNED_100
    ),
    "RL4_LICENCE_INVALID": RecordCase(
        "RL4_LICENCE_INVALID", RIDE, earn("m1", 10, issuer=RIDE), alliance={"ride_licence": date(2026, 11, 4)}
    ),
    "RL3_BUDGET_MISSING": RecordCase(
        "RL3_BUDGET_MISSING",
        CVS,
        earn("m1", 10, when=at(5, month=10)),
        alliance={"budget_periods": (Period(2026, 11),)},
    ),
    "RL3_BUDGET_EXCEEDED": RecordCase("RL3_BUDGET_EXCEEDED", CVS, earn("m1", 100), alliance={"budget_fen": 50}),
    "RL4_ISSUING_SUSPENDED": RecordCase(
        "RL4_ISSUING_SUSPENDED",
        RIDE,
        earn("m1", 10, issuer=RIDE),
        alliance={"ride_licence": date(2026, 12, 2)},
        setup=lambda hub, alliance: _licences_checked(hub),
    ),
    "RL5_CASH_EQUIVALENT": RecordCase(
        "RL5_CASH_EQUIVALENT", CINEMA, redeem("m1", 10, category="gift_card"), EARNED_100
    ),
    "RL5_CASH_OUT": RecordCase("RL5_CASH_OUT", CVS, {**earn("m1", 10), "kind": "CASH_OUT"}, EARNED_100),
    "RL6_TRANSFER_NOT_ALLOWED": RecordCase(
        "RL6_TRANSFER_NOT_ALLOWED", CVS, {**earn("m1", 10), "kind": "TRANSFER", "to_member_token": "m2"}, EARNED_100
    ),
    "RL6_POOLING_NOT_ALLOWED": RecordCase(
        "RL6_POOLING_NOT_ALLOWED", CVS, family_pool("m1", "m2", 10), EARNED_100, setup=lambda h, a: _families(h)
    ),
    "RL6_NO_CONSENT": RecordCase(
        "RL6_NO_CONSENT",
        CVS,
        family_pool("m1", "m9", 10),
        EARNED_100,
        alliance={"family_pooling": True},
        setup=lambda h, a: _families(h),
    ),
    "RL6_NOT_SAME_FAMILY": RecordCase(
        "RL6_NOT_SAME_FAMILY",
        CVS,
        family_pool("m1", "m3", 10),
        EARNED_100,
        alliance={"family_pooling": True},
        setup=lambda h, a: _families(h),
    ),
    "RL7_INTEREST": RecordCase("RL7_INTEREST", CVS, {**earn("m1", 10), "kind": "INTEREST"}, EARNED_100),
    "RL7_POINTS_PURCHASE": RecordCase("RL7_POINTS_PURCHASE", CVS, {**earn("m1", 10), "category": "points"}),
    "RL7_COLLATERAL": RecordCase("RL7_COLLATERAL", CVS, {**earn("m1", 10), "kind": "PLEDGE"}, EARNED_100),
    "EARN_NO_ACTIVE_PROGRAM": RecordCase(
        "EARN_NO_ACTIVE_PROGRAM", CVS, earn("m1", 10, when=at(31, month=12, year=2025))
    ),
    "EARN_OVER_PROGRAM_CAP": RecordCase("EARN_OVER_PROGRAM_CAP", CVS, earn("m1", 101, 10000)),
    "CONTRACT_CAP_EXCEEDED": RecordCase(
        "CONTRACT_CAP_EXCEEDED",
        CINEMA,
        redeem("m1", 51),
        ((CVS, "P1", (earn("m1", 100),)), (CINEMA, "P2", (redeem("m1", 50),))),
        alliance={"cinema_cap": 100},
    ),
    "POINTS_INSUFFICIENT": RecordCase(
        "POINTS_INSUFFICIENT", CINEMA, redeem("m1", 11), ((CVS, "P1", (earn("m1", 10),)),)
    ),
    "REV_ORIGINAL_MISSING": RecordCase(
        "REV_ORIGINAL_MISSING", CVS, {**reversal("P1#1", "m1", 10), "original": None}, EARNED_100
    ),
    "REV_ORIGINAL_NOT_FOUND": RecordCase("REV_ORIGINAL_NOT_FOUND", CVS, reversal("P9#1", "m1", 10), EARNED_100),
    "REV_ORIGINAL_NOT_REVERSIBLE": RecordCase(
        "REV_ORIGINAL_NOT_REVERSIBLE",
        CVS,
        reversal("P1#2", "m1", 1),
        ((CVS, "P1", (earn("m1", 100), reversal("P1#1", "m1", 10))),),
    ),
    "REV_ORIGINAL_MISMATCH": RecordCase("REV_ORIGINAL_MISMATCH", CVS, reversal("P1#1", "m2", 10), EARNED_100),
    "REV_BEFORE_ORIGINAL": RecordCase("REV_BEFORE_ORIGINAL", CVS, reversal("P1#1", "m1", 10, when=at(4)), EARNED_100),
    "REV_EXCEEDS_ORIGINAL": RecordCase("REV_EXCEEDS_ORIGINAL", CVS, reversal("P1#1", "m1", 101), EARNED_100),
    "AUTH_NOT_CAPTURED": RecordCase(
        "AUTH_NOT_CAPTURED", CINEMA, {**redeem("m1", 10), "receipt_ref": "AUTH:NOPE"}, EARNED_100
    ),
    "AUTH_MISMATCH": RecordCase(
        "AUTH_MISMATCH",
        CINEMA,
        {**redeem("m1", 11), "receipt_ref": "AUTH:A1"},
        EARNED_100,
        setup=lambda hub, alliance: _captured(hub, "A1", 10),
    ),
    "AUTH_ALREADY_REPORTED": RecordCase(
        "AUTH_ALREADY_REPORTED",
        CINEMA,
        {**redeem("m1", 10), "receipt_ref": "AUTH:A1"},
        EARNED_100,
        setup=lambda hub, alliance: _captured(hub, "A1", 10, alliance=alliance),
    ),
}


def _families(hub: Hub) -> None:
    """cvs's family group F holds m1 and m2, group G holds m3, each with a recorded consent."""
    for group, members in (("F", ("m1", "m2")), ("G", ("m3",))):
        families.create_group(engine=hub.engine, now=hub.now(), caller=CVS, actor=CVS, issuer_id=CVS, group_id=group)
        for member in members:
            families.add_member(
                engine=hub.engine,
                now=hub.now(),
                caller=CVS,
                actor=CVS,
                issuer_id=CVS,
                group_id=group,
                member_token=member,
                consent_ref=f"CONSENT-{member}",
                consented_at=hub.now(),
            )


def _captured(hub: Hub, reference: str, points: int, alliance: Alliance | None = None) -> None:
    """A real-time capture at the cinema; with ``alliance``, also reported once in a file already."""
    request = AuthorizationRequest(
        reference=reference, issuer_id=CVS, member_token="m1", points=points, category="cinema"
    )
    authorize(
        engine=hub.engine,
        now=hub.now(),
        zone_name=hub.config.timezone,
        fulfiller_id=CINEMA,
        request=request,
        hold_for=timedelta(minutes=15),
    )
    capture(engine=hub.engine, now=hub.now(), fulfiller_id=CINEMA, reference=reference)
    if alliance is not None:
        outcome = submit(
            hub, alliance, CINEMA, "REPORTED", [{**redeem("m1", points), "receipt_ref": f"AUTH:{reference}"}]
        )
        assert (outcome.matched, outcome.refused) == (1, 0)


def _licences_checked(hub: Hub) -> None:
    """The daily RL4 job has run: ride's licence (expired 2 December) is suspended."""
    assert suspend_expired_licences(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone) == [RIDE]


def member_balance(snapshot: dict[str, tuple[int, int]], issuer: str, member: str) -> int:
    debits, credits = snapshot.get(f"pts:{issuer}:m:{member}", (0, 0))
    return credits - debits


@pytest.mark.parametrize("name", list(RECORD_CASES))
def test_record_level_code_refuses_that_record_only_and_posts_nothing_for_it(hub, name):
    case = RECORD_CASES[name]
    alliance = Alliance.standard(hub, **case.alliance)
    setup = () if case.reporter == CVS else ((CVS, "SETUP", (earn("bystander", 100),)),)  # for GENUINE
    for partner_id, file_id, rows in (*setup, *case.before):
        assert submit(hub, alliance, partner_id, file_id, list(rows)).refused == 0
    if case.setup is not None:
        case.setup(hub, alliance)
    before, transfers_before = accounts(hub), count(hub, "ledger_transfer")

    content = chsf(case.reporter, "T1", [case.bad, GENUINE[case.reporter]])
    outcome = submit_raw(hub, case.reporter, content, alliance.keys[case.reporter].sign(content))

    assert outcome.refused_by_code == Counter({case.code: 1})
    assert (outcome.record_count, outcome.accepted, outcome.refused) == (2, 1, 1)
    bad_id, status, reason_code = record_row(hub, case.reporter, "T1", 1)
    assert (status, reason_code) == ("REFUSED", case.code)
    assert transfers_of(hub, bad_id) == []
    genuine_id, status, _ = record_row(hub, case.reporter, "T1", 2)
    assert status == "ACCEPTED"
    after = accounts(hub)
    issuer, member = case.bad["issuer_id"], case.bad["member_token"]
    assert member_balance(after, issuer, member) == member_balance(before, issuer, member)
    moved = {code for code in after if after[code] != before.get(code, (0, 0))}
    assert moved == {account for debit, credit, _ in transfers_of(hub, genuine_id) for account in (debit, credit)}
    assert count(hub, "ledger_transfer") == transfers_before + len(transfers_of(hub, genuine_id))


# ------------------------------------------------------------------ file-level cases
GOOD_ROWS = [earn("m1", 10)]


@dataclass(frozen=True)
class Submission:
    content: bytes
    signature: bytes
    partner_id: str = CVS
    max_bytes: int | None = None


def signed(alliance: Alliance, content: bytes, partner_id: str = CVS, **options: Any) -> Submission:
    return Submission(content, alliance.keys[partner_id].sign(content), partner_id, **options)


def _tampered(alliance: Alliance) -> Submission:
    content = chsf(CVS, "F1", GOOD_ROWS)
    return Submission(content.replace(b"m1", b"m2"), alliance.keys[CVS].sign(content))


def _duplicate(alliance: Alliance) -> Submission:
    return signed(alliance, chsf(CVS, "F1", GOOD_ROWS))


def _too_large(alliance: Alliance) -> Submission:
    content = chsf(CVS, "F1", GOOD_ROWS)
    return signed(alliance, content, max_bytes=len(content) - 1)


def _lines(*rows: list[object]) -> bytes:
    return csv_bytes(list(rows))


HEADER = ["H", "CHSF/1", CVS, "F1", "2026-12-01T01:00:00Z"]
LINE = detail_line(1, GOOD_ROWS[0])

FILE_CASES: dict[str, tuple[str, Callable[[Alliance], Submission]]] = {
    "FILE_SIGNATURE_INVALID": ("FILE_SIGNATURE_INVALID", _tampered),
    "FILE_SIGNATURE_MALFORMED": (
        "FILE_SIGNATURE_MALFORMED",
        lambda a: Submission(chsf(CVS, "F1", GOOD_ROWS), b"not a signature"),
    ),
    "FILE_ENCODING_INVALID": (
        "FILE_ENCODING_INVALID",
        lambda a: signed(a, chsf(CVS, "F1", GOOD_ROWS).replace(b"m1", b"m\xff")),
    ),
    "FILE_STRUCTURE_INVALID": ("FILE_STRUCTURE_INVALID", lambda a: signed(a, _lines(HEADER, LINE))),
    "FILE_RECORD_MALFORMED": (
        "FILE_RECORD_MALFORMED",
        lambda a: signed(a, _lines(HEADER, [*LINE[:7], "ten", *LINE[8:]], ["T", 1, 10, 1000])),
    ),
    "FILE_SEQUENCE_INVALID": (
        "FILE_SEQUENCE_INVALID",
        lambda a: signed(a, _lines(HEADER, ["D", 2, *LINE[2:]], ["T", 1, 10, 1000])),
    ),
    "FILE_COUNT_MISMATCH": (
        "FILE_COUNT_MISMATCH",
        lambda a: signed(a, chsf(CVS, "F1", GOOD_ROWS, trailer=["T", 2, 10, 1000])),
    ),
    "FILE_TOTALS_MISMATCH": (
        "FILE_TOTALS_MISMATCH",
        lambda a: signed(a, chsf(CVS, "F1", GOOD_ROWS, trailer=["T", 1, 11, 1000])),
    ),
    "FILE_PARTNER_MISMATCH": ("FILE_PARTNER_MISMATCH", lambda a: signed(a, chsf(CINEMA, "F1", GOOD_ROWS))),
    "FILE_VERSION_UNSUPPORTED": (
        "FILE_VERSION_UNSUPPORTED",
        lambda a: signed(a, chsf(CVS, "F1", GOOD_ROWS, header=["H", "CHSF/2", *HEADER[2:]])),
    ),
    "FILE_DUPLICATE": ("FILE_DUPLICATE", _duplicate),
    "FILE_TOO_LARGE": ("FILE_TOO_LARGE", _too_large),
}


def state(hub: Hub) -> tuple[int, int, int, dict[str, tuple[int, int]]]:
    return (count(hub, "settlement_file"), count(hub, "clearing_record"), count(hub, "ledger_transfer"), accounts(hub))


@pytest.mark.parametrize("name", list(FILE_CASES))
def test_file_level_code_refuses_the_whole_file_with_a_signed_acknowledgement(hub, name):
    code, make = FILE_CASES[name]
    alliance = Alliance({})  # file-level checks need the partner and its key, no contract
    alliance.register(hub, CVS, "易达便利", ["issuer", "fulfiller"], "convenience")
    if code == "FILE_DUPLICATE":
        assert submit(hub, alliance, CVS, "F1", GOOD_ROWS).record_count == 1
    before = state(hub)
    submission = make(alliance)

    with pytest.raises(FileRejected) as caught:
        submit_raw(hub, submission.partner_id, submission.content, submission.signature, max_bytes=submission.max_bytes)

    rejected = caught.value
    assert rejected.code == code
    ack = rejected.details["acknowledgement"]
    signature = base64.b64decode(rejected.details["acknowledgement_signature"])
    assert hub.signer.public_key.verify(signature, ack.encode("utf-8"))
    assert rejected.details["hub_key_id"] == hub.signer.key_id
    (line,) = csv.reader(io.StringIO(ack))
    assert line[:3] == ["A", "CHACK/1", submission.partner_id]
    assert line[4] == hashlib.sha256(submission.content).hexdigest()
    assert line[6:8] == ["REFUSED", code]
    assert not hub.signer.public_key.verify(signature, ack.encode("utf-8") + b" ")
    assert state(hub) == before
    if code != "FILE_DUPLICATE":
        assert before[:3] == (0, 0, 0)


# ------------------------------------------------------------------ request-level cases
def _rl9_request(hub: Hub, case_id: int, *, points: int = 10, who: str = "admin:alice") -> Any:
    from clearinghouse.services.member_actions import request_action

    return request_action(
        engine=hub.engine,
        now=hub.now(),
        actor=who,
        kind="FREEZE",
        issuer_id=CVS,
        member_token="m1",
        points=points,
        case_id=case_id,
        reason="evidence",
    )


def _rl9_same_admin(hub: Hub) -> None:
    from clearinghouse.services.member_actions import approve_action

    action = _rl9_request(hub, case_with_evidence(hub))
    approve_action(engine=hub.engine, now=hub.now(), actor="admin:alice", action_id=action.action_id)


# the smallest evidence-gated request (RL9) tripping each code; the member holds 100 cvs points
REQUEST_CASES: dict[str, Callable[[Hub], object]] = {
    "RL9_NO_CASE": lambda hub: _rl9_request(hub, 999),
    "RL9_CASE_CLOSED": lambda hub: _rl9_request(hub, case_with_evidence(hub, status="CLOSED")),
    "RL9_NO_EVIDENCE": lambda hub: _rl9_request(hub, case_with_evidence(hub, described=0)),
    "RL9_POINTS_INVALID": lambda hub: _rl9_request(hub, case_with_evidence(hub), points=0),
    "RL9_SAME_ADMIN": _rl9_same_admin,
}


@pytest.mark.parametrize("code", list(REQUEST_CASES))
def test_request_level_code_refuses_the_request_and_changes_nothing(hub, code):
    from clearinghouse.errors import ClearinghouseError

    alliance = Alliance.standard(hub)
    assert submit(hub, alliance, CVS, "P1", [earn("m1", 100)]).refused == 0
    before = accounts(hub)
    with pytest.raises(ClearinghouseError) as caught:
        REQUEST_CASES[code](hub)
    assert caught.value.code == code
    assert (accounts(hub), count(hub, "ledger_event")) == (before, 0)
    assert count(hub, "member_action") == (1 if code == "RL9_SAME_ADMIN" else 0)  # only what an approval needs


# ------------------------------------------------------------------ every code has a case
def test_every_reason_code_of_the_catalogue_has_a_case_here():
    record_codes = {case.code for case in RECORD_CASES.values()}
    file_codes = {code for code, _ in FILE_CASES.values()}
    request_codes = set(REQUEST_CASES)
    assert record_codes | file_codes | request_codes == set(REASONS)
    assert all(REASONS[code].level is Level.REQUEST for code in request_codes)
    assert all(REASONS[code].level is Level.RECORD for code in record_codes)
    assert all(REASONS[code].level is Level.FILE for code in file_codes)
