"""Registering partners, their public keys and their API credentials."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from clearinghouse import audit, catalog
from clearinghouse.db import read_connection, unit_of_work
from clearinghouse.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from clearinghouse.posting import db_time
from clearinghouse.queries import partner_from_row
from clearinghouse.tables import ApiCredentialRow, PartnerKeyRow, PartnerRow
from partners.keys import load_public_key
from partners.model import Partner, clean_owner, new_partner

ADMIN = "admin"
AUDITOR = "auditor"  # reads everything an admin reads, changes nothing (auditors, regulators)
STAFF = (ADMIN, AUDITOR)  # principals that are people of the alliance, named by a holder
_HOLDER = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")


@dataclass(frozen=True)
class RegisteredKey:
    partner_id: str
    key_id: str
    spki_pem: str
    valid_from: datetime
    valid_to: datetime | None


def _row_for(partner: Partner, now: datetime) -> PartnerRow:
    return PartnerRow(
        id=partner.partner_id,
        name=partner.name,
        roles=",".join(sorted(partner.roles)),
        category=partner.category,
        operates_online_platform=partner.operates_online_platform,
        licence_number=partner.licence.number if partner.licence else None,
        licence_expires_on=partner.licence.expires_on if partner.licence else None,
        beneficial_owner=partner.beneficial_owner,
        created_at=now,
    )


def register_partner(
    *,
    engine: Engine,
    now: datetime,
    partner_id: str,
    name: str,
    roles: list[str],
    category: str,
    operates_online_platform: bool = False,
    licence_number: str | None = None,
    licence_expires_on: date | None = None,
    actor: str = "cli",
    beneficial_owner: str | None = None,
) -> Partner:
    """Register a partner. Registering the same partner again answers the same; other data under the same
    id is a conflict (partners are amended deliberately, not by a retried call)."""
    partner = new_partner(
        partner_id=partner_id,
        name=name,
        roles=roles,
        category=category,
        operates_online_platform=operates_online_platform,
        licence_number=licence_number,
        licence_expires_on=licence_expires_on,
        beneficial_owner=beneficial_owner,
    )
    with unit_of_work(engine) as uow:
        existing = uow.session.get(PartnerRow, partner.partner_id)
        if existing is not None:
            return _same_or_conflict(partner_from_row(existing), partner)
        uow.session.add(_row_for(partner, now))
        audit.append(
            uow.connection,
            actor=actor,
            action="partner.register",
            subject=f"partner:{partner.partner_id}",
            now=now,
            after=partner_summary(partner),
        )
        try:
            uow.commit()
        except IntegrityError as exc:
            raise Conflict(f"partner {partner_id!r} was registered concurrently", code="PARTNER_EXISTS") from exc
    return partner


def partner_summary(partner: Partner) -> dict[str, object]:
    """What the audit trail keeps of a partner's registration data."""
    return {
        "name": partner.name,
        "roles": sorted(partner.roles),
        "category": partner.category,
        "operates_online_platform": partner.operates_online_platform,
        "licence_number": partner.licence.number if partner.licence else None,
        "licence_expires_on": partner.licence.expires_on.isoformat() if partner.licence else None,
        "beneficial_owner": partner.beneficial_owner,
    }


def set_beneficial_owner(
    *, engine: Engine, now: datetime, actor: str, partner_id: str, beneficial_owner: str | None
) -> Partner:
    """Record (or, with None, clear) a partner's registered owner; audited with before and after. Setting the
    value it already has changes nothing and appends nothing (a retry is harmless)."""
    owner = None if beneficial_owner is None else clean_owner(beneficial_owner)
    with unit_of_work(engine) as uow:
        row = uow.session.get(PartnerRow, partner_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
        before = row.beneficial_owner
        if before != owner:
            row.beneficial_owner = owner
            uow.session.add(row)
            uow.session.flush()
            audit.append(
                uow.connection,
                actor=actor,
                action="partner.owner",
                subject=f"partner:{partner_id}",
                before={"beneficial_owner": before},
                after={"beneficial_owner": owner},
                now=now,
            )
        partner = partner_from_row(row)
        uow.commit()
    return partner


def _same_or_conflict(existing: Partner, wanted: Partner) -> Partner:
    if existing != wanted:
        raise Conflict(f"partner {wanted.partner_id!r} exists with other data", code="PARTNER_EXISTS")
    return existing


def add_partner_key(
    *,
    engine: Engine,
    now: datetime,
    partner_id: str,
    key_text: str | bytes,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    actor: str = "cli",
) -> RegisteredKey:
    """Add an Ed25519 public key (SPKI PEM or ssh-ed25519 line). The same key again answers the same;
    a key already held by another partner is a conflict. A private key is refused and never stored."""
    key = load_public_key(key_text)
    start = (valid_from or now).astimezone(UTC)
    valid_to = valid_to.astimezone(UTC) if valid_to is not None else None
    if valid_to is not None and valid_to <= start:
        raise InvalidRequest("valid_to must be after valid_from", code="KEY_WINDOW_INVALID")
    with unit_of_work(engine) as uow:
        if uow.session.get(PartnerRow, partner_id) is None:
            raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
        row = uow.session.scalars(select(PartnerKeyRow).where(col(PartnerKeyRow.key_id) == key.key_id)).first()
        if row is None:
            row = PartnerKeyRow(
                partner_id=partner_id,
                key_id=key.key_id,
                public_key=key.raw,
                valid_from=start,
                valid_to=valid_to,
                created_at=now,
            )
            uow.session.add(row)
            audit.append(
                uow.connection,
                actor=actor,
                action="partner.key.add",
                subject=f"partner:{partner_id}",
                now=now,
                after={
                    "key_id": key.key_id,
                    "valid_from": start.isoformat(),
                    "valid_to": valid_to.isoformat() if valid_to else None,
                },
            )
            try:
                uow.commit()
            except IntegrityError as exc:
                raise Conflict("that key was registered concurrently", code="KEY_IN_USE") from exc
        elif row.partner_id != partner_id:
            raise Conflict("that key is registered to another partner", code="KEY_IN_USE")
        return RegisteredKey(partner_id, key.key_id, key.spki_pem(), row.valid_from, row.valid_to)


def list_partner_keys(*, engine: Engine, partner_id: str) -> list[RegisteredKey]:
    from partners.keys import PublicKey

    with unit_of_work(engine, read_only=True) as uow:
        if uow.session.get(PartnerRow, partner_id) is None:
            raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
        rows = uow.session.scalars(select(PartnerKeyRow).where(col(PartnerKeyRow.partner_id) == partner_id))
        return [
            RegisteredKey(partner_id, r.key_id, PublicKey(r.public_key).spki_pem(), r.valid_from, r.valid_to)
            for r in rows
        ]


def get_partner(*, engine: Engine, partner_id: str) -> Partner:
    with unit_of_work(engine, read_only=True) as uow:
        row = uow.session.get(PartnerRow, partner_id)
        if row is None:
            raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
        return partner_from_row(row)


def list_partners(*, engine: Engine) -> list[Partner]:
    with unit_of_work(engine, read_only=True) as uow:
        return [partner_from_row(row) for row in uow.session.scalars(select(PartnerRow).order_by(col(PartnerRow.id)))]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_api_token(
    *, engine: Engine, now: datetime, principal: str, holder: str | None = None, actor: str = "cli"
) -> str:
    """A new bearer token for ``admin`` or a partner; only its hash is stored, so it is shown once. An admin
    token names its holder (``alice``): actions are audited under ``admin:<holder>``, and an evidence-gated
    action needs a second, different holder to approve it."""
    token = "cht_" + secrets.token_urlsafe(32)
    if principal in STAFF:
        holder = holder or principal
        if not _HOLDER.fullmatch(holder):
            raise InvalidRequest("an admin's name is 1-32 of a-z, 0-9, '-', '_', '.'", code="ADMIN_NAME_INVALID")
    else:
        holder = None
    with unit_of_work(engine) as uow:
        if principal not in STAFF and uow.session.get(PartnerRow, principal) is None:
            raise NotFound(f"no partner {principal!r}", code="PARTNER_NOT_FOUND")
        uow.session.add(
            ApiCredentialRow(token_sha256=_digest(token), principal=principal, holder=holder, created_at=now)
        )
        audit.append(
            uow.connection,
            actor=actor,
            action="credential.issue",
            subject=f"credential:{principal}",
            now=now,
            after={"principal": principal, "holder": holder},
        )
        uow.commit()
    return token


@dataclass(frozen=True, slots=True)
class Credential:
    """Who a bearer token speaks for (``principal``: ``admin`` or a partner id) and, for the audit trail and
    the four-eyes rule, which person (``actor``: ``admin:<holder>`` or the partner id)."""

    principal: str
    actor: str


def actor_of(principal: str, holder: str | None) -> str:
    return f"{principal}:{holder or principal}" if principal in STAFF else principal


def issue_partner_token(*, engine: Engine, now: datetime, partner_id: str, actor: str = "cli") -> str:
    """A token for a registered partner; never an admin token, whatever the id asked for."""
    if partner_id in STAFF:
        raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
    return issue_api_token(engine=engine, now=now, principal=partner_id, actor=actor)


def revoke_tokens(
    *, engine: Engine, now: datetime, principal: str, holder: str | None = None, actor: str = "cli"
) -> int:
    """Revoke every live token of a partner (or of one admin/auditor, named by ``holder``); how many. A token
    counts as revoked from the next request in every worker (the catalog moves on with the change)."""
    with unit_of_work(engine) as uow:
        if principal not in STAFF and uow.session.get(PartnerRow, principal) is None:
            raise NotFound(f"no partner {principal!r}", code="PARTNER_NOT_FOUND")
        query = "UPDATE api_credential SET revoked_at = :now WHERE principal = :principal AND revoked_at IS NULL"
        params: dict[str, object] = {"now": db_time(uow.connection, now), "principal": principal}
        if principal in STAFF:
            query += " AND coalesce(holder, :role) = :holder"
            params.update(role=principal, holder=holder or principal)
        revoked = int(uow.connection.execute(text(query), params).rowcount)
        if revoked:
            audit.append(
                uow.connection,
                actor=actor,
                action="credential.revoke",
                subject=f"credential:{principal}",
                now=now,
                after={"principal": principal, "holder": holder, "revoked": revoked},
            )
        uow.commit()
    return revoked


def authenticate(*, engine: Engine, token: str) -> str:
    """The principal a bearer token belongs to."""
    return authenticate_credential(engine=engine, token=token).principal


def authenticate_credential(*, engine: Engine, token: str) -> Credential:
    """The principal and the person a bearer token belongs to. Tokens already seen come from this process's
    catalog, which is good only while nothing in it changed (``clearinghouse.catalog``): a revocation counts
    at once."""
    digest = _digest(token)
    found = catalog.cached_principal(engine, digest)
    if found is None:
        with read_connection(engine) as connection:
            found = catalog.principal_of(connection, digest)
    if found is None:
        raise Unauthorized("unknown or revoked API token", code="TOKEN_INVALID")
    principal, holder = found
    return Credential(principal, actor_of(principal, holder))
