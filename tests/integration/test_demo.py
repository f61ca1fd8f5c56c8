"""The main job's invariants: positions sum to zero every month, accepted + refused = records read,
every statement verifies with the hub's public key (also with the openssl command-line tool)."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from clearinghouse.demo.run import DEFAULT_DATA, run_demo
from partners.keys import load_public_key

AS_OF = date(2026, 12, 3)


def _slice(tmp_path: Path, lines: int) -> Path:
    """The first ``lines`` invoice lines of the real data set (a few months of it)."""
    target = tmp_path / "slice.csv.gz"
    with gzip.open(DEFAULT_DATA, "rt", encoding="utf-8") as source, gzip.open(target, "wt", encoding="utf-8") as out:
        for number, line in enumerate(source):
            if number > lines:
                break
            out.write(line)
    return target


def _check_invariants(out: Path, summary: dict) -> None:
    source = summary["source"]
    read = source["earn_records"] + source["reversal_records"] + source["redeem_records"]
    assert summary["records"]["accepted"] + sum(summary["records"]["rejected"].values()) == read
    assert summary["records"]["rejected"].get("RL1_MEMBER_MISSING") == source["earn_records_without_member"]
    assert summary["periods"], "no period was closed"
    for period in summary["periods"]:
        assert sum(period["positions"].values()) == 0, period
        assert period["net_fen"] == sum(v for v in period["positions"].values() if v > 0)
        assert period["gross_fen"] >= period["net_fen"] >= 0
    hub_key = load_public_key((out / "hub-public.pem").read_text())
    statements = sorted((out / "statements").rglob("*.csv")) + sorted((out / "statements").rglob("*.json"))
    assert len(statements) == 2 * 6 * len(summary["periods"])
    for statement in statements:
        signature = statement.with_name(statement.name + ".sig").read_bytes()
        assert len(signature) == 64
        assert hub_key.verify(signature, statement.read_bytes()), statement
    assert json.loads((out / "summary.json").read_text()) == summary
    _check_red_lines(summary)


DRILL_CODES = {
    "RL1_MEMBER_MISSING",
    "RL2_NO_ACTIVE_CONTRACT",
    "RL5_CASH_EQUIVALENT",
    "RL6_POOLING_NOT_ALLOWED",
    "RL7_POINTS_PURCHASE",
}


def _check_red_lines(summary: dict) -> None:
    """Every injected drill is refused by its own red line; refusals per red line add the real data's and the
    drills'; the structuring drill opens a case, and every case raised an alert."""
    drills = summary["red_line_drills"]["refused"]
    assert drills == dict.fromkeys(sorted(DRILL_CODES), 1)
    by_line = summary["refusals_by_red_line"]
    assert list(by_line) == [f"RL{n}" for n in range(1, 10)]
    for line, count in by_line.items():
        codes = {**summary["records"]["rejected"]}
        real = sum(v for code, v in codes.items() if code.startswith(line + "_"))
        assert count == real + sum(v for code, v in drills.items() if code.startswith(line + "_")), line
    assert summary["cases"] >= 1 and summary["monitoring"]["cases_opened"] == summary["cases"]
    assert summary["alerts"] >= summary["cases"] and summary["alerts"] == len(summary["alert_list"])


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_demo_on_a_slice_of_the_real_data_keeps_its_invariants(tmp_path, database, request):
    if not DEFAULT_DATA.exists():
        pytest.skip(f"data set missing at {DEFAULT_DATA}")
    database_url = None
    if database == "postgresql":
        database_url = request.getfixturevalue("database_url_pg")
    out = tmp_path / "demo"
    summary = run_demo(
        out=out,
        data=_slice(tmp_path, 60_000),
        as_of=AS_OF,
        database_url=database_url,
        console=Console(file=io.StringIO()),
    )
    _check_invariants(out, summary)


def test_full_demo_keeps_its_invariants_and_statements_verify_with_openssl(tmp_path):
    if not DEFAULT_DATA.exists():
        pytest.skip(f"data set missing at {DEFAULT_DATA}")
    out = tmp_path / "demo"
    summary = run_demo(out=out, as_of=AS_OF, console=Console(file=io.StringIO()))
    _check_invariants(out, summary)
    assert [p["period"] for p in summary["periods"]][-1] == "2026-11"
    assert summary["source"]["lines_read"] == 541_909
    by_line = summary["refusals_by_red_line"]
    assert by_line["RL1"] > 0 and by_line["RL2"] > 0 and by_line["RL3"] > 0
    assert summary["expiry"]["points_expired"] > 0 and summary["expiry"]["notices_written"] > 0
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: verified with the hub key in Python only")
    statement = out / "statements" / "2026-11" / "cvs-yida.csv"
    subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-rawin",
            "-pubin",
            "-inkey",
            str(out / "hub-public.pem"),
            "-sigfile",
            f"{statement}.sig",
            "-in",
            str(statement),
        ],
        check=True,
        capture_output=True,
    )
