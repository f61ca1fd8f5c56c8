"""Registering partners, their public keys and their API credentials."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from clearinghouse import catalog
from clearinghouse.db import read_connection, unit_of_work
from clearinghouse.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from clearinghouse.queries import partner_from_row
from clearinghouse.tables import ApiCredentialRow, PartnerKeyRow, PartnerRow
from partners.keys import load_public_key
from partners.model import Partner, new_partner

ADMIN = "admin"


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
    )
    with unit_of_work(engine) as uow:
        existing = uow.session.get(PartnerRow, partner.partner_id)
        if existing is not None:
            return _same_or_conflict(partner_from_row(existing), partner)
        uow.session.add(_row_for(partner, now))
        try:
            uow.commit()
        except IntegrityError as exc:
            raise Conflict(f"partner {partner_id!r} was registered concurrently", code="PARTNER_EXISTS") from exc
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


def issue_api_token(*, engine: Engine, now: datetime, principal: str) -> str:
    """A new bearer token for ``admin`` or a partner; only its hash is stored, so it is shown once."""
    token = "cht_" + secrets.token_urlsafe(32)
    with unit_of_work(engine) as uow:
        if principal != ADMIN and uow.session.get(PartnerRow, principal) is None:
            raise NotFound(f"no partner {principal!r}", code="PARTNER_NOT_FOUND")
        uow.session.add(ApiCredentialRow(token_sha256=_digest(token), principal=principal, created_at=now))
        uow.commit()
    return token


def issue_partner_token(*, engine: Engine, now: datetime, partner_id: str) -> str:
    """A token for a registered partner; never an admin token, whatever the id asked for."""
    if partner_id == ADMIN:
        raise NotFound(f"no partner {partner_id!r}", code="PARTNER_NOT_FOUND")
    return issue_api_token(engine=engine, now=now, principal=partner_id)


def authenticate(*, engine: Engine, token: str) -> str:
    """The principal a bearer token belongs to. Tokens already seen come from this process's catalog, which
    is good only while nothing in it changed (``clearinghouse.catalog``): a revocation counts at once."""
    digest = _digest(token)
    principal = catalog.cached_principal(engine, digest)
    if principal is None:
        with read_connection(engine) as connection:
            principal = catalog.principal_of(connection, digest)
    if principal is None:
        raise Unauthorized("unknown or revoked API token", code="TOKEN_INVALID")
    return principal
