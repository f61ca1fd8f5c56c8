"""Bulk clearing throughput and memory on SQLite.

For each size, a fresh hub clears one signed file of N records (EARNs followed by REDEEMs of those
points) through the real service, in a child process so its peak RSS is its own. Next to it, the floor:
a bare ``sqlite3`` executemany of the same number of record rows. Prints one JSON line per size:
``{"records", "clear_s", "records_per_s", "peak_rss_mib", "floor_s", "floor_ratio"}``.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

SIZES = (20_000, 100_000, 300_000)


def _hub(folder: Path):
    from clearinghouse.config import load_config
    from clearinghouse.hub import open_hub

    config = load_config(
        {"database_url": f"sqlite:///{folder / 'bench.db'}", "hub_key_path": str(folder / "hub.pem")}, environ={}
    )
    hub = open_hub(config)
    hub.clock = lambda: datetime(2026, 12, 1, 1, tzinfo=UTC)
    return hub


def _alliance(hub, key) -> None:
    from cryptography.hazmat.primitives import serialization

    from clearinghouse.services import contracts, partners
    from contracts.canonical import canonical_bytes
    from contracts.terms import ContractTerms, FulfillerTerms, terms_to_json

    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for partner_id, roles in (("cvs", ["issuer"]), ("cinema", ["fulfiller"])):
        partners.register_partner(
            engine=hub.engine, now=hub.now(), partner_id=partner_id, name=partner_id, roles=roles, category="shop"
        )
    partners.add_partner_key(engine=hub.engine, now=hub.now() - timedelta(days=1), partner_id="cvs", key_text=pem)
    terms = ContractTerms(
        contract_id="bench",
        version=1,
        previous_hash=None,
        title="bench",
        issuer_id="cvs",
        earn_cap_points_per_yuan=Decimal("1"),
        effective_from=date(2026, 1, 1),
        fulfillers=(
            FulfillerTerms(fulfiller_id="cinema", rate_fen_per_point=Decimal("7.5"), categories=frozenset({"cinema"})),
        ),
    )
    contracts.propose_contract(
        engine=hub.engine, now=hub.now(), terms_json=terms_to_json(terms), hub_timezone="Asia/Shanghai"
    )
    cinema_key = _cinema_key()
    partners.add_partner_key(
        engine=hub.engine,
        now=hub.now() - timedelta(days=1),
        partner_id="cinema",
        key_text=cinema_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    from clearinghouse.services.budgets import Declaration, declare_budget
    from settlement.periods import Period

    declaration = Declaration("cvs", Period(2026, 11), 10**12, Decimal("0.35"))  # RL3: EARNs need a budget
    declare_budget(engine=hub.engine, now=hub.now(), actor="admin:bench", caller="admin", declaration=declaration)
    for party, party_key in (("cvs", key), ("cinema", cinema_key)):
        contracts.sign_contract(
            engine=hub.engine,
            hub=hub.signer,
            now=hub.now(),
            contract_id="bench",
            version=1,
            signer_id=party,
            signature=party_key.sign(canonical_bytes(terms)),
        )


def _cinema_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _records(count: int):
    from zoneinfo import ZoneInfo

    from settlement.records import RecordKind, SettlementRecord

    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 11, 1, 8, tzinfo=zone)
    for seq in range(1, count + 1):
        member = f"m{seq % 5000:05d}"
        yield SettlementRecord(
            seq=seq,
            kind=RecordKind.EARN,
            business_time=start + timedelta(seconds=seq),
            issuer_id="cvs",
            fulfiller_id="",
            member_token=member,
            points=500,
            amount_fen=50_000,
            receipt_ref=f"R{seq}",
        )


def child(size: int) -> None:
    """Clear one file of ``size`` records; print seconds and peak RSS."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from clearinghouse.services.files import submit_settlement_file
    from settlement.fileformat import write_file

    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    hub = _hub(folder)
    key = Ed25519PrivateKey.generate()
    _alliance(hub, key)
    path = folder / "file.csv"
    with path.open("wb") as handle:
        write_file(handle, partner_id="cvs", file_id="B1", created_at=hub.now(), records=_records(size))
    signature = key.sign(path.read_bytes())
    started = time.perf_counter()
    with path.open("rb") as upload:
        outcome = submit_settlement_file(
            engine=hub.engine,
            hub=hub.signer,
            now=hub.now(),
            zone_name="Asia/Shanghai",
            partner_id="cvs",
            content=upload,
            signature_blob=signature,
            max_bytes=1 << 31,
            batch_size=5000,
        )
    elapsed = time.perf_counter() - started
    assert outcome.accepted == size, outcome.refused_by_code
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "clear_s": round(elapsed, 3),
                "peak_rss_mib": round(peak, 1),
                "file_mib": round(path.stat().st_size / 2**20, 1),
            }
        )
    )


def floor(size: int) -> float:
    """A bare sqlite3 executemany of ``size`` rows shaped like clearing records, in one transaction."""
    with tempfile.TemporaryDirectory() as folder:
        connection = sqlite3.connect(Path(folder) / "floor.db", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(
            "CREATE TABLE r (id INTEGER PRIMARY KEY, file_pk INT, seq INT, status TEXT, kind TEXT,"
            " business_time TEXT, issuer_id TEXT, member_token TEXT, points INT, amount_fen INT,"
            " receipt_ref TEXT, UNIQUE (file_pk, seq))"
        )
        rows = [
            (i, 1, i, "ACCEPTED", "EARN", "2026-11-01 00:00:00.000000", "cvs", f"m{i % 5000:05d}", 500, 50_000, f"R{i}")
            for i in range(1, size + 1)
        ]
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT INTO r VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
    return elapsed


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(int(sys.argv[2]))
        return
    for size in SIZES:
        result = subprocess.run(
            [sys.executable, "-m", "bench.clearing", "--child", str(size)], check=True, capture_output=True, text=True
        )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        floor_s = floor(size)
        print(
            json.dumps(
                {
                    "bench": "clearing",
                    "records": size,
                    **figures,
                    "records_per_s": round(size / figures["clear_s"]),
                    "floor_s": round(floor_s, 3),
                    "floor_ratio": round(floor_s / figures["clear_s"], 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
