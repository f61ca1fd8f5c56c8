"""Taking settlement files end to end, on SQLite and PostgreSQL: signatures as partners really make them,
duplicates, batches, caps across files, the ledger's invariants, and what the database itself refuses.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from clearinghouse.hub import Hub
from clearinghouse.services.files import FileOutcome, FileRejected, submit_settlement_file
from tests.factories import (
    CINEMA,
    CVS,
    EYEWEAR,
    Alliance,
    at,
    earn,
    file_bytes,
    redeem,
    reversal,
    submit,
    submit_bytes,
)

Row = dict[str, Any]


# ------------------------------------------------------------------ helpers
def rejected(hub: Hub, partner_id: str, content: bytes, signature: bytes) -> FileRejected:
    with pytest.raises(FileRejected) as caught:
        submit_bytes(hub, partner_id, content, signature)
    return caught.value


def scalar(hub: Hub, sql: str, **params: Any) -> Any:
    with hub.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def count(hub: Hub, table: str) -> int:
    return int(scalar(hub, f"SELECT count(*) FROM {table}"))


def balance(hub: Hub, member: str, issuer: str = CVS) -> int:
    """A member's points of ``issuer`` as the ledger holds them (credits − debits of the member account)."""
    with hub.engine.connect() as connection:
        row = connection.execute(
            text("SELECT credits - debits FROM account WHERE code = :c"), {"c": f"pts:{issuer}:m:{member}"}
        ).first()
    return int(row[0]) if row else 0


def posted(hub: Hub) -> tuple[int, int, int, list[tuple[str, int, int]]]:
    """Everything a file can post: files, records, transfers and every account's totals."""
    with hub.engine.connect() as connection:
        totals = [
            (code, int(d), int(c))
            for code, d, c in connection.execute(text("SELECT code, debits, credits FROM account ORDER BY code"))
        ]
    return count(hub, "settlement_file"), count(hub, "clearing_record"), count(hub, "ledger_transfer"), totals


def results(hub: Hub, partner_id: str, file_id: str) -> dict[int, str]:
    """seq → ACCEPTED or the reason code, for one stored file."""
    with hub.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT r.seq, r.status, r.reason_code FROM clearing_record r"
                " JOIN settlement_file f ON f.id = r.file_pk"
                " WHERE f.partner_id = :p AND f.file_id = :f ORDER BY r.seq"
            ),
            {"p": partner_id, "f": file_id},
        )
        return {int(seq): code or status for seq, status, code in rows}


def value_of(hub: Hub, partner_id: str, file_id: str, seq: int) -> int:
    return int(
        scalar(
            hub,
            "SELECT r.value_fen FROM clearing_record r JOIN settlement_file f ON f.id = r.file_pk"
            " WHERE f.partner_id = :p AND f.file_id = :f AND r.seq = :s",
            p=partner_id,
            f=file_id,
            s=seq,
        )
    )


def all_accepted(outcome: FileOutcome) -> FileOutcome:
    assert outcome.refused == 0, outcome.refused_by_code
    return outcome


# ------------------------------------------------------------------ signatures as partners make them
@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command-line tool is not installed")
def test_a_file_signed_with_the_openssl_cli_is_accepted_and_the_same_file_with_crlf_is_refused(hub, tmp_path):
    alliance = Alliance.standard(hub)
    key = tmp_path / "key.pem"
    key.write_bytes(alliance.keys[CVS].private_pem())
    lf = tmp_path / "F1.csv"
    lf.write_bytes(file_bytes(CVS, "F1", [earn("m1", 100), earn("m2", 50)]))
    signature = tmp_path / "F1.csv.sig"
    subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(key), "-in", str(lf), "-out", str(signature)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert len(signature.read_bytes()) == 64

    crlf = lf.read_bytes().replace(b"\n", b"\r\n")
    refusal = rejected(hub, CVS, crlf, signature.read_bytes())
    assert refusal.code == "FILE_SIGNATURE_INVALID"
    assert posted(hub)[:3] == (0, 0, 0)

    outcome = all_accepted(submit_bytes(hub, CVS, lf.read_bytes(), signature.read_bytes()))
    assert (outcome.file_id, outcome.accepted) == ("F1", 2)
    assert (balance(hub, "m1"), balance(hub, "m2")) == (100, 50)


def test_a_signature_is_taken_raw_or_as_base64_and_a_leading_bom_is_tolerated(hub):
    alliance = Alliance.standard(hub)
    spellings = {
        "raw 64 bytes": lambda sig: sig,
        "base64": base64.b64encode,
        "base64 as `base64` prints it (wrapped at 76, final newline)": lambda sig: (
            base64.b64encode(sig)[:76] + b"\n" + base64.b64encode(sig)[76:] + b"\n"
        ),
        "url-safe base64 without padding": lambda sig: base64.urlsafe_b64encode(sig).rstrip(b"="),
    }
    for number, (name, spell) in enumerate(spellings.items(), start=1):
        content = file_bytes(CVS, f"F{number}", [earn(f"m{number}", 10)])
        outcome = submit_bytes(hub, CVS, content, spell(alliance.keys[CVS].sign(content)))
        assert outcome.accepted == 1, name
    assert [balance(hub, f"m{n}") for n in range(1, 5)] == [10, 10, 10, 10]

    with_bom = b"\xef\xbb\xbf" + file_bytes(CVS, "F5", [earn("m5", 100)])
    outcome = all_accepted(submit_bytes(hub, CVS, with_bom, alliance.keys[CVS].sign(with_bom)))
    assert (outcome.file_id, outcome.accepted, balance(hub, "m5")) == ("F5", 1, 100)
    # the BOM is part of the signed bytes: that signature does not cover the file without it
    assert rejected(hub, CVS, with_bom[3:], alliance.keys[CVS].sign(with_bom)).code == "FILE_SIGNATURE_INVALID"


def test_the_signature_is_checked_over_a_real_file_on_disk(hub, tmp_path):
    alliance = Alliance.standard(hub)
    content = file_bytes(CVS, "F1", [earn("m1", 100)])
    on_disk = tmp_path / "upload.csv"
    on_disk.write_bytes(content)

    def submit_file(path: Path, signature: bytes) -> FileOutcome:
        with path.open("rb") as handle:
            return submit_settlement_file(
                engine=hub.engine,
                hub=hub.signer,
                now=hub.now(),
                zone_name=hub.config.timezone,
                partner_id=CVS,
                content=handle,
                signature_blob=signature,
                max_bytes=hub.config.max_file_bytes,
                batch_size=hub.config.batch_size,
            )

    tampered = tmp_path / "tampered.csv"
    tampered.write_bytes(content.replace(b"m1", b"m2"))
    with pytest.raises(FileRejected) as caught:
        submit_file(tampered, alliance.keys[CVS].sign(content))
    assert caught.value.code == "FILE_SIGNATURE_INVALID"

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(FileRejected) as caught:
        submit_file(empty, alliance.keys[CVS].sign(b""))
    assert caught.value.code == "FILE_STRUCTURE_INVALID"

    outcome = all_accepted(submit_file(on_disk, alliance.keys[CVS].sign(content)))
    assert (outcome.accepted, balance(hub, "m1")) == (1, 100)


# ------------------------------------------------------------------ duplicates
def test_a_resubmitted_file_id_is_a_duplicate_whatever_its_bytes_and_posts_nothing_again(hub):
    alliance = Alliance.standard(hub)
    all_accepted(submit(hub, alliance, CVS, "F1", [earn("m1", 100)]))
    all_accepted(submit(hub, alliance, CINEMA, "F1", [redeem("m1", 40)]))  # same id, another partner: fine
    before = posted(hub)

    same = file_bytes(CVS, "F1", [earn("m1", 100)])
    different = file_bytes(CVS, "F1", [earn("m1", 100), earn("m2", 7)])
    for content in (same, different, b"\xef\xbb\xbf" + same):
        refusal = rejected(hub, CVS, content, alliance.keys[CVS].sign(content))
        assert refusal.code == "FILE_DUPLICATE"
        assert refusal.kind == "conflict"
        assert refusal.details["file_id"] == "F1"
        assert posted(hub) == before
    assert balance(hub, "m2") == 0

    # a file refused at file level leaves its id unused: the corrected file goes through
    corrected = file_bytes(CVS, "F2", [earn("m2", 7)])
    assert rejected(hub, CVS, corrected, alliance.keys[CINEMA].sign(corrected)).code == "FILE_SIGNATURE_INVALID"
    assert all_accepted(submit_bytes(hub, CVS, corrected, alliance.keys[CVS].sign(corrected))).file_id == "F2"
    assert balance(hub, "m2") == 7


def test_a_file_id_with_a_trailing_newline_does_not_post_a_file_twice(hub):
    alliance = Alliance.standard(hub)
    all_accepted(submit(hub, alliance, CVS, "F1", [earn("m1", 100)]))
    content = file_bytes(CVS, "F1", [earn("m1", 100)]).replace(b",F1,", b',"F1\n",', 1)
    with pytest.raises(FileRejected):
        submit_bytes(hub, CVS, content, alliance.keys[CVS].sign(content))
    assert balance(hub, "m1") == 100


# ------------------------------------------------------------------ records
def test_two_identical_genuine_lines_are_two_records(hub):
    alliance = Alliance.standard(hub)
    outcome = all_accepted(submit(hub, alliance, CVS, "F1", [earn("m1", 100), earn("m1", 100)]))
    assert (outcome.accepted, outcome.accepted_points) == (2, 200)
    assert results(hub, CVS, "F1") == {1: "ACCEPTED", 2: "ACCEPTED"}
    assert balance(hub, "m1") == 200
    assert count(hub, "ledger_transfer") == 2


def filler(seq: int) -> Row:
    return earn(f"f{seq}", 10, receipt=f"R-{seq}")


def test_a_file_of_many_batches_clears_each_record_against_those_of_earlier_batches(hub):
    alliance = Alliance.standard(hub)
    all_accepted(submit(hub, alliance, EYEWEAR, "E0", [earn("e1", 500, issuer=EYEWEAR)]))
    assert hub.config.batch_size == 7  # batches: 1-7, 8-14, 15-21, 22-28, 29-30
    special: dict[int, tuple[Row, str]] = {
        1: (earn("m1", 1000), "ACCEPTED"),
        2: (redeem("e1", 300, issuer=EYEWEAR, fulfiller=CVS, category="groceries"), "ACCEPTED"),  # 2700 fen
        9: (reversal("BIG#1", "m1", 200, 20000), "ACCEPTED"),
        16: (reversal("BIG#2", "e1", 100, issuer=EYEWEAR, fulfiller=CVS), "ACCEPTED"),  # 900 fen back
        17: (reversal("BIG#9", "m1", 1), "REV_ORIGINAL_NOT_REVERSIBLE"),
        23: (reversal("BIG#1", "m1", 800, 80000), "ACCEPTED"),
        24: (reversal("BIG#1", "m1", 1), "REV_EXCEEDS_ORIGINAL"),
        29: (reversal("BIG#2", "e1", 200, issuer=EYEWEAR, fulfiller=CVS), "ACCEPTED"),  # the last 1800 fen
        30: (reversal("BIG#2", "e1", 1, issuer=EYEWEAR, fulfiller=CVS), "REV_EXCEEDS_ORIGINAL"),
    }
    rows = [special[seq][0] if seq in special else filler(seq) for seq in range(1, 31)]

    outcome = submit(hub, alliance, CVS, "BIG", rows)

    assert (outcome.record_count, outcome.accepted, outcome.refused) == (30, 27, 3)
    assert results(hub, CVS, "BIG") == {seq: special[seq][1] if seq in special else "ACCEPTED" for seq in range(1, 31)}
    assert balance(hub, "m1") == 0
    assert [balance(hub, f"f{seq}") for seq in range(1, 31) if seq not in special] == [10] * 21
    assert [value_of(hub, CVS, "BIG", seq) for seq in (2, 16, 29)] == [2700, -900, -1800]
    assert outcome.accepted_value_fen == 0
    assert scalar(hub, "SELECT debits - credits FROM account WHERE code = 'cny:cvs:position'") == 0


def test_points_spent_in_one_batch_are_gone_in_the_next(hub):
    alliance = Alliance.standard(hub)
    all_accepted(submit(hub, alliance, EYEWEAR, "E0", [earn("e1", 500, issuer=EYEWEAR)]))
    spend = [redeem("e1", 400, issuer=EYEWEAR, fulfiller=CVS, category="groceries")]
    outcome = submit(hub, alliance, CVS, "R1", spend + [filler(seq) for seq in range(2, 8)] + spend)
    assert results(hub, CVS, "R1")[8] == "POINTS_INSUFFICIENT"
    assert outcome.refused_by_code == Counter({"POINTS_INSUFFICIENT": 1})
    assert balance(hub, "e1", EYEWEAR) == 100


def test_a_reversal_may_point_to_a_record_of_an_earlier_file(hub):
    alliance = Alliance.standard(hub)
    all_accepted(submit(hub, alliance, CVS, "F1", [earn("m1", 100, 10000), earn("m2", 500)]))
    all_accepted(submit(hub, alliance, CINEMA, "C1", [redeem("m2", 3)]))  # 22.5 → 23 fen
    all_accepted(submit(hub, alliance, CVS, "F2", [reversal("F1#1", "m1", 40, 4000)]))
    assert balance(hub, "m1") == 60

    submit(
        hub,
        alliance,
        CVS,
        "F3",
        [
            reversal("F1#1", "m1", 61),
            reversal("F1#1", "m1", 60, 6001),
            reversal("F2#1", "m1", 1),
            reversal("F1#1", "m1", 60, 6000),
        ],
    )
    assert results(hub, CVS, "F3") == {
        1: "REV_EXCEEDS_ORIGINAL",
        2: "REV_EXCEEDS_ORIGINAL",
        3: "REV_ORIGINAL_NOT_REVERSIBLE",
        4: "ACCEPTED",
    }
    assert balance(hub, "m1") == 0

    submit(hub, alliance, CINEMA, "C2", [reversal("C1#1", "m2", 1, fulfiller=CINEMA)])
    submit(
        hub,
        alliance,
        CINEMA,
        "C3",
        [reversal("C1#1", "m2", 2, fulfiller=CINEMA), reversal("C1#1", "m2", 1, fulfiller=CINEMA)],
    )
    assert results(hub, CINEMA, "C3") == {1: "ACCEPTED", 2: "REV_EXCEEDS_ORIGINAL"}
    assert [value_of(hub, CINEMA, file_id, 1) for file_id in ("C1", "C2", "C3")] == [23, -8, -15]
    # another partner cannot reverse cvs's records
    submit(hub, alliance, EYEWEAR, "Y1", [reversal("F1#2", "m2", 1)])
    assert results(hub, EYEWEAR, "Y1") == {1: "REV_ORIGINAL_NOT_FOUND"}


def test_the_contract_cap_per_period_counts_redemptions_of_earlier_files(hub):
    alliance = Alliance.standard(hub, cinema_cap=1000)
    all_accepted(submit(hub, alliance, CVS, "F1", [earn("m1", 3000), earn("m2", 3000)]))
    all_accepted(submit(hub, alliance, CINEMA, "C1", [redeem("m1", 600)]))
    submit(hub, alliance, CINEMA, "C2", [redeem("m2", 401), redeem("m2", 400)])
    submit(hub, alliance, CINEMA, "C3", [redeem("m1", 1), redeem("m1", 1, when=at(1, month=12))])
    all_accepted(submit(hub, alliance, EYEWEAR, "Y1", [redeem("m1", 2000, fulfiller=EYEWEAR, category="eyewear")]))
    assert results(hub, CINEMA, "C2") == {1: "CONTRACT_CAP_EXCEEDED", 2: "ACCEPTED"}
    assert results(hub, CINEMA, "C3") == {1: "CONTRACT_CAP_EXCEEDED", 2: "ACCEPTED"}  # December has its own cap


# ------------------------------------------------------------------ the ledger
def mixed_scenario(hub: Hub) -> None:
    """Earns of two issuers, redemptions at three fulfillers, reversals of both kinds, some refusals."""
    alliance = Alliance.standard(hub)
    submit(
        hub,
        alliance,
        CVS,
        "F1",
        [earn("m1", 1000), earn("m2", 500), earn("会员-甲", 300, receipt="小票-001"), earn("", 10)],
    )
    submit(hub, alliance, EYEWEAR, "E1", [earn("e1", 800, issuer=EYEWEAR)])
    submit(hub, alliance, CINEMA, "C1", [redeem("m1", 400), redeem("m2", 3), redeem("会员-甲", 999)])
    submit(hub, alliance, EYEWEAR, "Y1", [redeem("m1", 100, fulfiller=EYEWEAR, category="eyewear")])
    submit(hub, alliance, CVS, "R1", [redeem("e1", 500, issuer=EYEWEAR, fulfiller=CVS, category="groceries")])
    submit(hub, alliance, CVS, "F2", [reversal("F1#1", "m1", 100, 10000), reversal("F1#2", "m2", 50, 5000)])
    submit(
        hub,
        alliance,
        CINEMA,
        "C2",
        [reversal("C1#2", "m2", 1, fulfiller=CINEMA), reversal("C1#1", "m1", 400, fulfiller=CINEMA)],
    )
    assert count(hub, "clearing_record") == 14
    assert scalar(hub, "SELECT count(*) FROM clearing_record WHERE status = 'REFUSED'") == 2
    assert scalar(hub, "SELECT receipt_ref FROM clearing_record WHERE member_token = '会员-甲' AND kind = 'EARN'") == (
        "小票-001"
    )


def test_the_ledger_balances_after_a_mixed_scenario(hub):
    mixed_scenario(hub)
    with hub.engine.connect() as connection:
        transfers = [
            (d, c, u, int(a))
            for d, c, u, a in connection.execute(
                text("SELECT debit_account, credit_account, unit, amount FROM ledger_transfer")
            )
        ]
        accounts = {
            code: (unit, kind, int(d), int(c))
            for code, unit, kind, d, c in connection.execute(
                text("SELECT code, unit, kind, debits, credits FROM account")
            )
        }
    assert transfers and all(amount > 0 for *_, amount in transfers)
    # per unit, debits equal credits, and every leg's account holds the transfer's unit
    for unit in {u for _, _, u, _ in transfers}:
        assert sum(d for u, _, d, _ in accounts.values() if u == unit) == sum(
            c for u, _, _, c in accounts.values() if u == unit
        )
    assert all(accounts[debit][0] == unit == accounts[credit][0] for debit, credit, unit, _ in transfers)
    # the account table's running totals are the sums of the transfers
    for code, (_, _, debits, credits) in accounts.items():
        assert debits == sum(a for d, _, _, a in transfers if d == code), code
        assert credits == sum(a for _, c, _, a in transfers if c == code), code
    # no member below zero; the partners' money positions sum to zero
    members = {code: credits - debits for code, (_, kind, debits, credits) in accounts.items() if kind == "member"}
    assert set(members) == {"pts:cvs:m:m1", "pts:cvs:m:m2", "pts:cvs:m:会员-甲", "pts:eyewear:m:e1"}
    assert all(held >= 0 for held in members.values())
    assert members["pts:cvs:m:会员-甲"] == 300
    assert sum(d - c for _, kind, d, c in accounts.values() if kind == "position") == 0


def test_the_database_refuses_what_the_ledger_must_never_hold(hub):
    alliance = Alliance.standard(hub)
    all_accepted(submit(hub, alliance, CVS, "F1", [earn("m1", 500)]))
    all_accepted(submit(hub, alliance, CINEMA, "C1", [redeem("m1", 40)]))
    record_id = int(scalar(hub, "SELECT min(record_id) FROM ledger_transfer"))
    transfer_id = int(scalar(hub, "SELECT min(id) FROM ledger_transfer"))
    insert = (
        "INSERT INTO ledger_transfer (record_id, close_id, leg, debit_account, credit_account, unit, amount,"
        " posted_at) VALUES (:r, NULL, 9, :debit, 'pts:cvs:m:m1', :unit, :amount, :at)"
    )
    good = {
        "r": record_id,
        "debit": "pts:cvs:issued",
        "unit": "PTS:cvs",
        "amount": 1,
        "at": datetime(2026, 12, 3, 4, tzinfo=UTC),
    }
    refused: list[tuple[str, str, dict[str, Any], type[DBAPIError]]] = [
        (
            "update a transfer",
            "UPDATE ledger_transfer SET amount = amount + 1 WHERE id = :t",
            {"t": transfer_id},
            DBAPIError,
        ),
        ("delete a transfer", "DELETE FROM ledger_transfer WHERE id = :t", {"t": transfer_id}, DBAPIError),
        ("update a record", "UPDATE clearing_record SET points = 1 WHERE id = :r", {"r": record_id}, DBAPIError),
        ("delete a record", "DELETE FROM clearing_record WHERE id = :r", {"r": record_id}, DBAPIError),
        ("a transfer of 0", insert, good | {"amount": 0}, IntegrityError),
        ("a negative transfer", insert, good | {"amount": -5}, IntegrityError),
        ("a transfer between two units", insert, good | {"debit": "cny:cvs:position"}, IntegrityError),
        ("a transfer of one unit between accounts of another", insert, good | {"unit": "CNY"}, IntegrityError),
        (
            "a member below zero",
            "UPDATE account SET debits = credits + 1 WHERE code = 'pts:cvs:m:m1'",
            {},
            IntegrityError,
        ),
    ]
    before = posted(hub)
    for name, sql, params, error in refused:
        with pytest.raises(error), hub.engine.begin() as connection:
            connection.execute(text(sql), params)
        assert posted(hub) == before, name
    # the same insert with a positive amount of the right unit is accepted (rolled back here)
    with hub.engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(text(insert), good)
        transaction.rollback()
    assert posted(hub) == before


# ------------------------------------------------------------------ robustness of refusals
def test_a_nul_in_a_field_refuses_that_record_only(hub):
    alliance = Alliance.standard(hub)
    outcome = submit(hub, alliance, CVS, "F1", [earn("m\x001", 10), earn("m2", 10)])
    assert outcome.refused_by_code == Counter({"RECORD_FIELD_INVALID": 1})
    assert (outcome.accepted, balance(hub, "m2")) == (1, 10)


def test_the_refusal_of_a_file_that_is_not_utf8_echoes_its_file_id(hub):
    alliance = Alliance.standard(hub)
    content = file_bytes(CVS, "F1", [earn("m1", 10)]).replace(b"m1", b"m\xff")
    refusal = rejected(hub, CVS, content, alliance.keys[CVS].sign(content))
    assert refusal.code == "FILE_ENCODING_INVALID"
    assert refusal.details["file_id"] == "F1"
