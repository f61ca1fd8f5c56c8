"""Licences of online platforms (RL4): suspending the issuing of a partner whose licence expired, and
recording a new licence, which lifts the suspension.

A suspension belongs to one licence on record (number and expiry): it holds while that licence is the one
on record, so issuing resumes only when a new licence is recorded — and clearing still checks that the
licence is in date on the record's day and today (``Partner.may_issue_on``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select, text
from sqlmodel import col

from clearinghouse import audit
from clearinghouse.alerts import raise_alert
from clearinghouse.budget_book import licence_key
from clearinghouse.db import unit_of_work
from clearinghouse.errors import InvalidRequest, NotFound
from clearinghouse.locks import lock_clearing
from clearinghouse.posting import db_time
from clearinghouse.queries import partner_from_row
from clearinghouse.tables import PartnerRow
from partners.errors import InvalidPartner
from partners.model import Licence, Partner


@dataclass(frozen=True, slots=True)
class LicenceStatus:
    partner: Partner
    issuing_suspended: bool
    suspended_since: date | None


def _suspended_on(connection: Connection, partner: Partner) -> date | None:
    value = connection.execute(
        text("SELECT suspended_on FROM licence_suspension WHERE partner_id = :p AND licence_key = :k"),
        {"p": partner.partner_id, "k": licence_key(partner.licence)},
    ).scalar()
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def status_of(connection: Connection, partner: Partner) -> LicenceStatus:
    since = _suspended_on(connection, partner)
    return LicenceStatus(partner, since is not None, since)


def licence_status(*, engine: Engine, partner_id: str) -> LicenceStatus:
    with unit_of_work(engine, read_only=True) as uow:
        row = uow.session.get(PartnerRow, partner_id)
        if row is None:
            raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
        return status_of(uow.connection, partner_from_row(row))


def suspend_expired_licences(*, engine: Engine, now: datetime, zone_name: str, actor: str = "scheduler") -> list[str]:
    """Suspend the issuing of every online-platform partner whose licence on record is out of date today
    (hub zone), or that has none; raise an alert for each. Idempotent: a licence is suspended once."""
    today = now.astimezone(ZoneInfo(zone_name)).date()
    suspended: list[str] = []
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        rows = uow.session.scalars(
            select(PartnerRow).where(col(PartnerRow.operates_online_platform)).order_by(col(PartnerRow.id))
        ).all()
        for partner in (partner_from_row(row) for row in rows):
            if partner.licence is not None and partner.licence.in_date_on(today):
                continue
            if _suspend(uow.connection, partner, today, now, actor):
                suspended.append(partner.partner_id)
        uow.commit()
    return suspended


def _suspend(connection: Connection, partner: Partner, today: date, now: datetime, actor: str) -> bool:
    licence = partner.licence
    inserted = connection.execute(
        text(
            "INSERT INTO licence_suspension (partner_id, licence_key, licence_number, licence_expires_on,"
            " suspended_on, suspended_at) VALUES (:p, :k, :n, :e, :d, :at)"
            " ON CONFLICT (partner_id, licence_key) DO NOTHING"
        ),
        {
            "p": partner.partner_id,
            "k": licence_key(licence),
            "n": licence.number if licence else None,
            "e": licence.expires_on if licence else None,
            "d": today,
            "at": db_time(connection, now),
        },
    ).rowcount
    if not inserted:
        return False
    what = f"licence {licence.number} expired on {licence.expires_on}" if licence else "no licence on record"
    audit.append(
        connection,
        actor=actor,
        action="licences.suspend",
        subject=f"partner:{partner.partner_id}",
        before={"issuing_suspended": False},
        after={"issuing_suspended": True, "licence_key": licence_key(licence), "suspended_on": today.isoformat()},
        now=now,
    )
    raise_alert(
        connection,
        kind="RL4_LICENCE_EXPIRED",
        severity="critical",
        dedupe_key=f"licence:{partner.partner_id}:{licence_key(licence)}",
        message=f"{partner.partner_id} operates an online platform with {what}: issuing suspended (RL4)",
        now=now,
        partner_id=partner.partner_id,
    )
    return True


def record_licence(
    *, engine: Engine, now: datetime, zone_name: str, actor: str, partner_id: str, number: str, expires_on: date
) -> LicenceStatus:
    """Record a new licence for ``partner_id`` (an admin's act, audited with before and after). A licence
    already out of date is refused; recording the licence already on record changes nothing."""
    try:
        licence = Licence(number.strip(), expires_on)
    except InvalidPartner as exc:
        raise InvalidRequest(exc.message, code="LICENCE_INVALID") from exc
    if not licence.in_date_on(now.astimezone(ZoneInfo(zone_name)).date()):
        raise InvalidRequest(f"the licence expired on {expires_on}; record one in date", code="LICENCE_NOT_IN_DATE")
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        row = uow.session.get(PartnerRow, partner_id)
        if row is None:
            raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
        before = status_of(uow.connection, partner_from_row(row))
        if before.partner.licence == licence:
            return before
        row.licence_number, row.licence_expires_on = licence.number, licence.expires_on
        uow.session.add(row)
        uow.session.flush()
        after = status_of(uow.connection, partner_from_row(row))
        audit.append(
            uow.connection,
            actor=actor,
            action="licences.record",
            subject=f"partner:{partner_id}",
            before=_audit_state(before),
            after=_audit_state(after),
            now=now,
        )
        uow.commit()
    return after


def _audit_state(status: LicenceStatus) -> dict[str, object]:
    licence = status.partner.licence
    return {
        "licence_number": licence.number if licence else None,
        "licence_expires_on": licence.expires_on.isoformat() if licence else None,
        "issuing_suspended": status.issuing_suspended,
    }
