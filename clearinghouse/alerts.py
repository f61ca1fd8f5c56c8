"""Alerts: conditions an alliance admin must look at (a budget at 80 % or 100 %, an expired licence...).

Raised inside the transaction that notices the condition; the same condition (its ``dedupe_key``) raises
one alert however many requests or job runs notice it — the database's unique key decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from clearinghouse.db import unit_of_work
from clearinghouse.posting import db_time


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: str
    severity: str
    partner_id: str | None
    period: str | None
    message: str
    raised_at: datetime


def raise_alert(
    connection: Connection,
    *,
    kind: str,
    severity: str,
    dedupe_key: str,
    message: str,
    now: datetime,
    partner_id: str | None = None,
    period: str | None = None,
) -> bool:
    """Record the alert unless the same condition was alerted already; True when this call raised it."""
    result = connection.execute(
        text(
            "INSERT INTO alert (kind, severity, partner_id, period, message, dedupe_key, raised_at)"
            " VALUES (:kind, :severity, :partner, :period, :message, :key, :at) ON CONFLICT (dedupe_key) DO NOTHING"
        ),
        {
            "kind": kind,
            "severity": severity,
            "partner": partner_id,
            "period": period,
            "message": message,
            "key": dedupe_key[:200],
            "at": db_time(connection, now),
        },
    )
    return bool(result.rowcount)


def list_alerts(engine: Engine, *, partner_id: str | None = None, limit: int = 500) -> list[Alert]:
    """Newest first; only one partner's when ``partner_id`` is given."""
    query = "SELECT id, kind, severity, partner_id, period, message, raised_at FROM alert"
    params: dict[str, object] = {"n": limit}
    if partner_id is not None:
        query += " WHERE partner_id = :partner"
        params["partner"] = partner_id
    with unit_of_work(engine, read_only=True) as uow:
        rows = uow.connection.execute(text(query + " ORDER BY id DESC LIMIT :n"), params).all()
    return [Alert(int(r.id), r.kind, r.severity, r.partner_id, r.period, r.message, _utc(r.raised_at)) for r in rows]


def count_alerts(engine: Engine) -> int:
    with unit_of_work(engine, read_only=True) as uow:
        return int(uow.connection.execute(text("SELECT count(*) FROM alert")).scalar_one())


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
