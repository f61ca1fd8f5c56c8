"""The audit trail: every admin and partner action — who, when, what, before and after — in an append-only,
hash-chained table.

Each row's hash is SHA-256 over the previous row's hash and the row's own canonical content, so changing,
removing or reordering any row breaks the chain from there on; :func:`verify` names the first row that does
not match. Writers append inside the service's own transaction (the action and its trail commit together or
not at all) and take the chain's head under a lock: SQLite serialises writers already (``BEGIN IMMEDIATE``),
PostgreSQL takes a transaction-scoped advisory lock, held only from the append to the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from clearinghouse.db import unit_of_work
from clearinghouse.posting import db_time

GENESIS = "0" * 64
AUDIT_LOCK = 0x43484155  # "CHAU"
_BATCH = 1000

JsonObject = Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    prev_hash: str
    row_hash: str


def _canonical(value: Any) -> str:
    """One spelling per value: sorted keys, no blanks, UTF-8 kept; dates and Decimals as their str()."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(
    prev_hash: str, seq: int, at: datetime, actor: str, action: str, subject: str, before: str, after: str
) -> str:
    content = _canonical([seq, _stamp(at), actor, action, subject, before, after])
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()


def append(
    connection: Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    now: datetime,
    before: JsonObject = None,
    after: JsonObject = None,
) -> int:
    """Append one entry to the chain inside the caller's transaction; returns its sequence number."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK})
    head = connection.execute(text("SELECT seq, row_hash FROM audit_log ORDER BY seq DESC LIMIT 1")).first()
    seq, prev = (int(head.seq) + 1, str(head.row_hash)) if head is not None else (1, GENESIS)
    at = now.astimezone(UTC)
    before_json, after_json = _canonical(before), _canonical(after)
    digest = row_hash(prev, seq, at, actor, action, subject, before_json, after_json)
    connection.execute(
        text(
            "INSERT INTO audit_log (seq, at, actor, action, subject, before_json, after_json, prev_hash, row_hash)"
            " VALUES (:seq, :at, :actor, :action, :subject, :before, :after, :prev, :hash)"
        ),
        {
            "seq": seq,
            "at": db_time(connection, at),
            "actor": actor[:80],
            "action": action[:64],
            "subject": subject,
            "before": before_json,
            "after": after_json,
            "prev": prev,
            "hash": digest,
        },
    )
    return seq


@dataclass(frozen=True, slots=True)
class ChainReport:
    rows: int
    first_bad_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def _stored(connection: Connection) -> Iterator[Any]:
    last = 0
    while True:
        rows = connection.execute(
            text(
                "SELECT seq, at, actor, action, subject, before_json, after_json, prev_hash, row_hash"
                " FROM audit_log WHERE seq > :last ORDER BY seq LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1].seq)


def _as_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def verify(engine: Engine) -> ChainReport:
    """Walk the chain from the start; the first row whose sequence, link or hash does not match is named."""
    with unit_of_work(engine, read_only=True) as uow:
        expected_seq, prev, count = 1, GENESIS, 0
        for row in _stored(uow.connection):
            count += 1
            problem = None
            if int(row.seq) != expected_seq:
                problem = f"sequence {row.seq} where {expected_seq} was expected (a row is missing)"
            elif row.prev_hash != prev:
                problem = "its link to the previous row does not match"
            else:
                recomputed = row_hash(
                    prev,
                    int(row.seq),
                    _as_utc(row.at),
                    row.actor,
                    row.action,
                    row.subject,
                    row.before_json,
                    row.after_json,
                )
                if recomputed != row.row_hash:
                    problem = "its content does not match its hash"
            if problem is not None:
                return ChainReport(count, int(row.seq), problem)
            expected_seq, prev = int(row.seq) + 1, row.row_hash
        return ChainReport(count, None, None)


def entries(engine: Engine, *, subject_prefix: str = "", limit: int = 200, after_seq: int = 0) -> list[AuditEntry]:
    """Entries in chain order (for auditors), optionally only those about one subject."""
    with unit_of_work(engine, read_only=True) as uow:
        rows = uow.connection.execute(
            text(
                "SELECT seq, at, actor, action, subject, before_json, after_json, prev_hash, row_hash"
                " FROM audit_log WHERE seq > :after AND substr(subject, 1, :length) = :prefix ORDER BY seq LIMIT :n"
            ),
            {"after": after_seq, "prefix": subject_prefix, "length": len(subject_prefix), "n": limit},
        ).all()
    return [
        AuditEntry(
            int(r.seq),
            _as_utc(r.at),
            r.actor,
            r.action,
            r.subject,
            json.loads(r.before_json),
            json.loads(r.after_json),
            r.prev_hash,
            r.row_hash,
        )
        for r in rows
    ]
