"""Monitoring (red line RL8): scan accepted clearing records with the rules of ``settlement.monitoring``,
open a case per hit with its records as evidence, raise an alert per new case; and the admin's case work
(open a manual case, add evidence, close with a resolution).

A case is opened once per hit: its ``dedupe_key`` (rule, window, subject) is unique in the database, so
scans that overlap, repeat or run concurrently open it once; a later scan that sees more records of the
same window adds them as evidence while the case is open. Every opening, addition and closing is audited
(a scan as actor ``monitor``) in the transaction that makes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.exc import IntegrityError

from clearinghouse import audit
from clearinghouse.alerts import raise_alert
from clearinghouse.db import unit_of_work
from clearinghouse.errors import Conflict, InvalidRequest, NotFound
from clearinghouse.posting import db_time
from settlement.monitoring import ClearedRecord, Hit, Thresholds, run_rules

MONITOR = "monitor"
MANUAL = "MANUAL"
OPEN, CLOSED = "OPEN", "CLOSED"
_TEXT_MAX = 4000
_IDS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class ScanResult:
    since: datetime
    until: datetime
    records: int
    hits: int
    cases_opened: int
    evidence_added: int
    up_to_record_id: int | None = None  # where a scheduled scan stopped; None for an on-demand range

    def line(self) -> str:
        return (
            f"monitor {self.since.isoformat()} .. {self.until.isoformat()}: {self.records} records, "
            f"{self.hits} hits, {self.cases_opened} cases opened, {self.evidence_added} evidence added"
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    id: int
    record_id: int | None
    description: str
    added_by: str
    added_at: datetime
    record: dict[str, object] | None = None  # what the record says (file line or real-time call), for the reader


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    rule: str
    status: str
    issuer_id: str | None
    member_token: str | None
    partner_id: str | None
    summary: str
    dedupe_key: str
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    resolution: str | None
    evidence: tuple[Evidence, ...] = ()

    def audit_view(self) -> dict[str, object]:
        return {"status": self.status, "evidence": len(self.evidence), "resolution": self.resolution}


# ------------------------------------------------------------------ scanning
def scan(
    *, engine: Engine, now: datetime, limits: Thresholds, zone: ZoneInfo, since: datetime, until: datetime
) -> ScanResult:
    """On demand: run every rule over the accepted records of business time [since, until)."""
    if until <= since:
        raise InvalidRequest("until must be after since", code="MONITOR_RANGE_INVALID")
    with unit_of_work(engine) as uow:
        result = _scan_range(uow.connection, now=now, limits=limits, zone=zone, since=since, until=until)
        _record_scan(uow.connection, "cli", 0, 0, result, now)
        uow.commit()
    return result


def scheduled_scan(
    *, engine: Engine, now: datetime, limits: Thresholds, zone: ZoneInfo, lookback: timedelta
) -> ScanResult:
    """The job: every record accepted since the last scheduled scan (by record id, so a file of old business
    times arriving late is still scanned), in the business-time neighbourhood it falls in, plus ``lookback``
    of recent business time again (a record committed after a later id was scanned is caught there)."""
    with unit_of_work(engine) as uow:
        connection = uow.connection
        after = int(
            connection.execute(
                text("SELECT coalesce(max(up_to_record_id), 0) FROM monitoring_scan WHERE trigger = 'scheduler'")
            ).scalar_one()
        )
        top = int(connection.execute(text("SELECT coalesce(max(id), 0) FROM clearing_record")).scalar_one())
        span = connection.execute(
            text(
                "SELECT min(business_time) AS first, max(business_time) AS last FROM clearing_record"
                " WHERE id > :after AND id <= :top AND status = 'ACCEPTED' AND business_time IS NOT NULL"
            ),
            {"after": after, "top": top},
        ).one()
        since, until = now - lookback, now
        if span.first is not None:
            since = min(since, _utc(span.first))
            until = max(until, _utc(span.last) + timedelta(microseconds=1))
        result = _scan_range(connection, now=now, limits=limits, zone=zone, since=since, until=until)
        result = replace(result, up_to_record_id=top)
        try:
            _record_scan(connection, "scheduler", after, top, result, now)
            uow.commit()
        except IntegrityError as exc:  # another scheduled scan took this stretch first
            raise Conflict("a scheduled scan of these records ran concurrently", code="MONITOR_SCAN_RACE") from exc
    return result


def _scan_range(
    connection: Connection, *, now: datetime, limits: Thresholds, zone: ZoneInfo, since: datetime, until: datetime
) -> ScanResult:
    # Whole windows at both ends, so a window the range cuts is judged on all its records.
    margin = limits.longest_aligned_window
    records = _accepted_records(connection, since - margin, until + margin)
    hits = [
        hit
        for hit in run_rules(records, owners=_owners(connection), limits=limits, zone=zone)
        if hit.window_start < until and hit.window_end > since
    ]
    opened = added = 0
    for hit in hits:
        new_case, evidence = _open_for_hit(connection, hit, now)
        opened += new_case
        added += evidence
    return ScanResult(since, until, len(records), len(hits), opened, added)


def _accepted_records(connection: Connection, since: datetime, until: datetime) -> list[ClearedRecord]:
    """One query for the range. MATCHED rows are a file's echo of a real-time capture already counted."""
    rows = connection.execute(
        text(
            "SELECT id, business_time, kind, issuer_id, fulfiller_id, member_token, points, amount_fen, value_fen"
            " FROM clearing_record WHERE status = 'ACCEPTED' AND business_time >= :since AND business_time < :until"
        ),
        {"since": db_time(connection, since), "until": db_time(connection, until)},
    )
    return [
        ClearedRecord(
            int(r.id),
            _utc(r.business_time),
            r.kind,
            r.issuer_id,
            r.fulfiller_id,
            r.member_token,
            int(r.points),
            int(r.amount_fen),
            int(r.value_fen),
        )
        for r in rows
    ]


def _owners(connection: Connection) -> dict[str, str | None]:
    rows = connection.execute(text("SELECT id, beneficial_owner FROM partner"))
    return {r.id: r.beneficial_owner for r in rows}


def _open_for_hit(connection: Connection, hit: Hit, now: datetime) -> tuple[int, int]:
    """Open the hit's case unless it exists (the unique key decides); add the evidence an open case lacks."""
    inserted = connection.execute(
        text(
            "INSERT INTO monitoring_case (rule, status, issuer_id, member_token, partner_id, summary, dedupe_key,"
            " opened_by, opened_at) VALUES (:rule, 'OPEN', :issuer, :member, :partner, :summary, :key, :by, :at)"
            " ON CONFLICT (dedupe_key) DO NOTHING"
        ),
        {
            "rule": hit.rule,
            "issuer": hit.issuer_id,
            "member": hit.member_token,
            "partner": hit.partner_id,
            "summary": hit.summary,
            "key": hit.dedupe_key,
            "by": MONITOR,
            "at": db_time(connection, now),
        },
    ).rowcount
    case_id, status = _locked_case(connection, hit.dedupe_key)
    if status != OPEN:
        return 0, 0  # closed: an admin has judged this window; a new window opens a new case
    added = _attach_records(connection, case_id, hit.record_ids, MONITOR, now)
    window = {"from": hit.window_start.isoformat(), "to": hit.window_end.isoformat()}
    if inserted:
        audit.append(
            connection,
            actor=MONITOR,
            action="case.open",
            subject=f"case:{case_id}",
            now=now,
            after={"rule": hit.rule, "subject": hit.subject, "window": window, "records": len(added)},
        )
        raise_alert(
            connection,
            kind="monitoring_case",
            severity="warning",
            dedupe_key=f"case:{case_id}",
            message=f"case {case_id} opened by {hit.rule}: {hit.summary}",
            now=now,
            partner_id=hit.partner_id or hit.issuer_id,
        )
    elif added:
        audit.append(
            connection,
            actor=MONITOR,
            action="case.evidence",
            subject=f"case:{case_id}",
            now=now,
            after={"records": added},
        )
    return int(bool(inserted)), len(added)


def _locked_case(connection: Connection, dedupe_key: str) -> tuple[int, str]:
    lock = " FOR UPDATE" if connection.dialect.name == "postgresql" else ""
    row = connection.execute(
        text("SELECT id, status FROM monitoring_case WHERE dedupe_key = :key" + lock), {"key": dedupe_key}
    ).one()
    return int(row.id), str(row.status)


def _attach_records(
    connection: Connection, case_id: int, record_ids: Iterable[int], actor: str, now: datetime
) -> list[int]:
    """Add the records the case does not hold yet; returns those added (the unique key guards a race)."""
    held = {
        int(r)
        for (r,) in connection.execute(
            text("SELECT record_id FROM case_evidence WHERE case_id = :case AND record_id IS NOT NULL"),
            {"case": case_id},
        )
    }
    missing = sorted(set(record_ids) - held)
    if missing:
        connection.execute(
            text(
                "INSERT INTO case_evidence (case_id, record_id, description, added_by, added_at)"
                " VALUES (:case, :record, '', :by, :at) ON CONFLICT (case_id, record_id) DO NOTHING"
            ),
            [{"case": case_id, "record": r, "by": actor, "at": db_time(connection, now)} for r in missing],
        )
    return missing


def _record_scan(connection: Connection, trigger: str, after: int, top: int, result: ScanResult, now: datetime) -> None:
    connection.execute(
        text(
            "INSERT INTO monitoring_scan (trigger, after_record_id, up_to_record_id, since, until, records, hits,"
            " cases_opened, scanned_at) VALUES (:trigger, :after, :top, :since, :until, :records, :hits, :opened, :at)"
        ),
        {
            "trigger": trigger,
            "after": after,
            "top": top,
            "since": db_time(connection, result.since),
            "until": db_time(connection, result.until),
            "records": result.records,
            "hits": result.hits,
            "opened": result.cases_opened,
            "at": db_time(connection, now),
        },
    )


# ------------------------------------------------------------------ cases, for admins
def _case_rows(connection: Connection, where: str, params: dict[str, object]) -> list[Case]:
    rows = connection.execute(
        text(
            "SELECT id, rule, status, issuer_id, member_token, partner_id, summary, dedupe_key, opened_by, opened_at,"
            " closed_by, closed_at, resolution FROM monitoring_case " + where
        ),
        params,
    ).all()
    return [
        Case(
            int(r.id),
            r.rule,
            r.status,
            r.issuer_id,
            r.member_token,
            r.partner_id,
            r.summary,
            r.dedupe_key,
            r.opened_by,
            _utc(r.opened_at),
            r.closed_by,
            _utc(r.closed_at) if r.closed_at is not None else None,
            r.resolution,
        )
        for r in rows
    ]


def _with_evidence(connection: Connection, case: Case) -> Case:
    rows = connection.execute(
        text(
            "SELECT e.id, e.record_id, e.description, e.added_by, e.added_at, r.kind, r.status, r.business_time,"
            " r.issuer_id, r.fulfiller_id, r.member_token, r.points, r.amount_fen, r.value_fen, r.seq, r.receipt_ref,"
            " f.partner_id AS file_partner, f.file_id"
            " FROM case_evidence e LEFT JOIN clearing_record r ON r.id = e.record_id"
            " LEFT JOIN settlement_file f ON f.id = r.file_pk WHERE e.case_id = :case ORDER BY e.id"
        ),
        {"case": case.id},
    )
    evidence = tuple(
        Evidence(
            int(r.id),
            None if r.record_id is None else int(r.record_id),
            r.description,
            r.added_by,
            _utc(r.added_at),
            _record_summary(r) if r.kind is not None else None,
        )
        for r in rows
    )
    return replace(case, evidence=evidence)


def _record_summary(row: Any) -> dict[str, object]:
    """The evidence record as a reader needs it: where it came from and what it moved."""
    source = (
        f"{row.file_partner}:{row.file_id}#{row.seq}" if row.file_id is not None else f"real time {row.receipt_ref}"
    )
    return {
        "source": source,
        "kind": row.kind,
        "status": row.status,
        "business_time": _utc(row.business_time).isoformat() if row.business_time is not None else None,
        "issuer_id": row.issuer_id,
        "fulfiller_id": row.fulfiller_id,
        "member_token": row.member_token,
        "points": int(row.points),
        "amount_fen": int(row.amount_fen),
        "value_fen": int(row.value_fen),
    }


def list_cases(*, engine: Engine, status: str | None = None, limit: int = 500) -> list[Case]:
    """Newest first; only OPEN or CLOSED ones when ``status`` says so."""
    if status is not None and status not in (OPEN, CLOSED):
        raise InvalidRequest("status must be OPEN or CLOSED", code="CASE_STATUS_INVALID")
    where = "WHERE status = :status " if status else ""
    with unit_of_work(engine, read_only=True) as uow:
        return _case_rows(uow.connection, where + "ORDER BY id DESC LIMIT :n", {"status": status, "n": limit})


def get_case(*, engine: Engine, case_id: int) -> Case:
    with unit_of_work(engine, read_only=True) as uow:
        return _with_evidence(uow.connection, _one_case(uow.connection, case_id))


def _one_case(connection: Connection, case_id: int, *, lock: bool = False) -> Case:
    suffix = " FOR UPDATE" if lock and connection.dialect.name == "postgresql" else ""
    found = _case_rows(connection, "WHERE id = :id" + suffix, {"id": case_id})
    if not found:
        raise NotFound(f"no case {case_id}", code="CASE_NOT_FOUND")
    return found[0]


def _storable_text(value: str) -> bool:
    """1.._TEXT_MAX characters a database stores as text: no NUL (PostgreSQL refuses it), no lone surrogate."""
    if not 0 < len(value) <= _TEXT_MAX or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_subject(issuer_id: str | None, member_token: str | None, partner_id: str | None) -> None:
    for name, value, limit in (
        ("issuer_id", issuer_id, 40),
        ("member_token", member_token, 128),
        ("partner_id", partner_id, 40),
    ):
        if value is not None and (not value or len(value) > limit or not value.isprintable()):
            raise InvalidRequest(f"{name} is 1..{limit} printable characters", code="REQUEST_FIELD_INVALID")


def _clean_facts(facts: Sequence[str]) -> list[str]:
    cleaned = [fact.strip() for fact in facts]
    if any(not _storable_text(fact) for fact in cleaned):
        raise InvalidRequest(f"each fact is 1..{_TEXT_MAX} characters", code="CASE_FACT_INVALID")
    return list(dict.fromkeys(cleaned))


def _check_records(connection: Connection, record_ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(record_ids))
    if len(wanted) > _IDS_MAX:
        raise InvalidRequest(f"at most {_IDS_MAX} records at once", code="CASE_EVIDENCE_INVALID")
    if not wanted:
        return []
    query = text("SELECT id FROM clearing_record WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    known = {int(r) for (r,) in connection.execute(query, {"ids": wanted})}
    unknown = [r for r in wanted if r not in known]
    if unknown:
        raise InvalidRequest(
            f"no clearing record {unknown[0]}", code="CASE_RECORD_UNKNOWN", details={"record_ids": unknown[:20]}
        )
    return wanted


def open_case(
    *,
    engine: Engine,
    now: datetime,
    actor: str,
    summary: str,
    record_ids: Sequence[int] = (),
    facts: Sequence[str] = (),
    issuer_id: str | None = None,
    member_token: str | None = None,
    partner_id: str | None = None,
) -> tuple[Case, bool]:
    """An admin opens a case (rule ``MANUAL``) with records and/or described facts as evidence. The same
    request again answers the case it opened (False: not new), so a retry never opens a second one."""
    summary = summary.strip()
    if not _storable_text(summary):
        raise InvalidRequest(f"summary is 1..{_TEXT_MAX} characters", code="CASE_SUMMARY_INVALID")
    _check_subject(issuer_id, member_token, partner_id)
    cleaned_facts = _clean_facts(facts)
    content = [actor, summary, sorted(set(record_ids)), cleaned_facts, issuer_id, member_token, partner_id]
    dedupe_key = f"{MANUAL}|" + hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()
    with unit_of_work(engine) as uow:
        connection = uow.connection
        records = _check_records(connection, record_ids)
        if not records and not cleaned_facts:
            raise InvalidRequest("a case needs evidence: record ids and/or facts", code="CASE_EVIDENCE_REQUIRED")
        inserted = connection.execute(
            text(
                "INSERT INTO monitoring_case (rule, status, issuer_id, member_token, partner_id, summary, dedupe_key,"
                " opened_by, opened_at) VALUES (:rule, 'OPEN', :issuer, :member, :partner, :summary, :key, :by, :at)"
                " ON CONFLICT (dedupe_key) DO NOTHING"
            ),
            {
                "rule": MANUAL,
                "issuer": issuer_id,
                "member": member_token,
                "partner": partner_id,
                "summary": summary,
                "key": dedupe_key,
                "by": actor,
                "at": db_time(connection, now),
            },
        ).rowcount
        case_id, _ = _locked_case(connection, dedupe_key)
        if inserted:
            _attach_records(connection, case_id, records, actor, now)
            _attach_facts(connection, case_id, cleaned_facts, actor, now)
            case = _with_evidence(connection, _one_case(connection, case_id))
            audit.append(
                connection,
                actor=actor,
                action="case.open",
                subject=f"case:{case_id}",
                now=now,
                after={"rule": MANUAL, "summary": summary, "records": records, "facts": cleaned_facts},
            )
            uow.commit()
            return case, True
        return _with_evidence(connection, _one_case(connection, case_id)), False


def _attach_facts(connection: Connection, case_id: int, facts: Sequence[str], actor: str, now: datetime) -> list[str]:
    held = {
        str(d)
        for (d,) in connection.execute(
            text("SELECT description FROM case_evidence WHERE case_id = :case AND record_id IS NULL"),
            {"case": case_id},
        )
    }
    new = [fact for fact in facts if fact not in held]
    if new:
        connection.execute(
            text(
                "INSERT INTO case_evidence (case_id, record_id, description, added_by, added_at)"
                " VALUES (:case, NULL, :fact, :by, :at)"
            ),
            [{"case": case_id, "fact": fact, "by": actor, "at": db_time(connection, now)} for fact in new],
        )
    return new


def add_evidence(
    *,
    engine: Engine,
    now: datetime,
    actor: str,
    case_id: int,
    record_ids: Sequence[int] = (),
    facts: Sequence[str] = (),
) -> Case:
    """Add records and/or facts to an OPEN case; what it already holds is not added twice (a retry is harmless)."""
    cleaned_facts = _clean_facts(facts)
    with unit_of_work(engine) as uow:
        connection = uow.connection
        case = _with_evidence(connection, _one_case(connection, case_id, lock=True))
        if case.status != OPEN:
            raise Conflict(f"case {case_id} is closed", code="CASE_CLOSED")
        records = _check_records(connection, record_ids)
        if not records and not cleaned_facts:
            raise InvalidRequest("send record ids and/or facts", code="CASE_EVIDENCE_REQUIRED")
        added_records = _attach_records(connection, case_id, records, actor, now)
        added_facts = _attach_facts(connection, case_id, cleaned_facts, actor, now)
        after = _with_evidence(connection, case)
        if added_records or added_facts:
            audit.append(
                connection,
                actor=actor,
                action="case.evidence",
                subject=f"case:{case_id}",
                now=now,
                before=case.audit_view(),
                after={**after.audit_view(), "records": added_records, "facts": added_facts},
            )
            uow.commit()
        return after


def close_case(*, engine: Engine, now: datetime, actor: str, case_id: int, resolution: str) -> Case:
    """Close an OPEN case with the admin's resolution. Closing it again with the same resolution answers
    the closed case; with another resolution it is a conflict (a closed case is not rewritten)."""
    resolution = resolution.strip()
    if not _storable_text(resolution):
        raise InvalidRequest(f"resolution is 1..{_TEXT_MAX} characters", code="CASE_RESOLUTION_INVALID")
    with unit_of_work(engine) as uow:
        connection = uow.connection
        case = _with_evidence(connection, _one_case(connection, case_id, lock=True))
        if case.status == CLOSED:
            if case.resolution == resolution:
                return case
            raise Conflict(f"case {case_id} is closed with another resolution", code="CASE_CLOSED")
        connection.execute(
            text(
                "UPDATE monitoring_case SET status = 'CLOSED', closed_by = :by, closed_at = :at, resolution = :res"
                " WHERE id = :id AND status = 'OPEN'"
            ),
            {"by": actor, "at": db_time(connection, now), "res": resolution, "id": case_id},
        )
        closed = _with_evidence(connection, _one_case(connection, case_id))
        audit.append(
            connection,
            actor=actor,
            action="case.close",
            subject=f"case:{case_id}",
            now=now,
            before=case.audit_view(),
            after=closed.audit_view(),
        )
        uow.commit()
        return closed


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
