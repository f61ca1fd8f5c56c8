"""What admins and auditors read: alerts and the audit trail (with its chain check)."""

from __future__ import annotations

from typing import Any

from flask import request

from clearinghouse import alerts, audit
from clearinghouse.api import api
from clearinghouse.api.common import admin_only, authenticated, caller, hub
from clearinghouse.errors import InvalidRequest
from clearinghouse.services.partners import ADMIN

MAX_PAGE = 500


def _int_arg(name: str, default: int, *, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # isascii: str.isdigit also says yes to "²" and "①", which int() cannot read
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidRequest(f"{name} must be an integer from {low} to {high}", code="QUERY_INVALID")
    return int(raw)


@api.get("/alerts")
@authenticated
def list_alerts() -> dict[str, Any]:
    """Newest first: every alert for an admin, a partner's own alerts for a partner."""
    partner = None if caller() == ADMIN else caller()
    found = alerts.list_alerts(hub().engine, partner_id=partner, limit=_int_arg("limit", 200, low=1, high=MAX_PAGE))
    return {
        "alerts": [
            {
                "id": a.id,
                "kind": a.kind,
                "severity": a.severity,
                "partner_id": a.partner_id,
                "period": a.period,
                "message": a.message,
                "raised_at": a.raised_at.isoformat(),
            }
            for a in found
        ]
    }


@api.get("/audit-log")
@admin_only
def audit_log() -> dict[str, Any]:
    """Entries in chain order after ``after_seq``, optionally about one subject (prefix, e.g. ``partner:cvs``)."""
    limit = _int_arg("limit", 200, low=1, high=MAX_PAGE)
    after_seq = _int_arg("after_seq", 0, low=0, high=2**62)
    subject = request.args.get("subject", "")
    if len(subject) > 200 or not subject.isprintable():  # NUL would reach the database as a text parameter
        raise InvalidRequest("subject must be at most 200 printable characters", code="QUERY_INVALID")
    found = audit.entries(hub().engine, subject_prefix=subject, limit=limit, after_seq=after_seq)
    return {
        "entries": [
            {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "before": e.before,
                "after": e.after,
                "prev_hash": e.prev_hash,
                "row_hash": e.row_hash,
            }
            for e in found
        ]
    }


@api.get("/audit-log/verify")
@admin_only
def audit_verify() -> dict[str, Any]:
    """Walk the hash chain; names the first entry that does not match."""
    report = audit.verify(hub().engine)
    return {"ok": report.ok, "rows": report.rows, "first_bad_seq": report.first_bad_seq, "problem": report.problem}
