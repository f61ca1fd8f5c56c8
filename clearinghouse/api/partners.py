"""Partners, their keys and their API tokens."""

from __future__ import annotations

from typing import Any

from flask import request

from clearinghouse.api import api
from clearinghouse.api.common import (
    actor,
    admin_only,
    authenticated,
    date_field,
    field,
    hub,
    idempotent,
    idempotent_secret,
    json_body,
    require_self_or_admin,
    time_field,
)
from clearinghouse.errors import InvalidRequest
from clearinghouse.services import partners as service
from clearinghouse.services.licences import LicenceStatus, licence_status
from partners.model import Partner


def partner_json(partner: Partner) -> dict[str, Any]:
    return {
        "partner_id": partner.partner_id,
        "name": partner.name,
        "roles": sorted(partner.roles),
        "category": partner.category,
        "operates_online_platform": partner.operates_online_platform,
        "licence_number": partner.licence.number if partner.licence else None,
        "licence_expires_on": partner.licence.expires_on.isoformat() if partner.licence else None,
        "beneficial_owner": partner.beneficial_owner,
    }


def licence_json(status: LicenceStatus) -> dict[str, Any]:
    """A partner with its RL4 state: whether its issuing is suspended (since which day)."""
    return {
        **partner_json(status.partner),
        "issuing_suspended": status.issuing_suspended,
        "suspended_since": status.suspended_since.isoformat() if status.suspended_since else None,
    }


def key_json(key: service.RegisteredKey) -> dict[str, Any]:
    return {
        "partner_id": key.partner_id,
        "key_id": key.key_id,
        "public_key": key.spki_pem,
        "valid_from": key.valid_from.isoformat(),
        "valid_to": key.valid_to.isoformat() if key.valid_to else None,
    }


@api.post("/partners")
@admin_only
@idempotent
def register_partner() -> tuple[dict[str, Any], int]:
    body = json_body()
    roles = field(body, "roles", list)
    partner = service.register_partner(
        engine=hub().engine,
        now=hub().now(),
        partner_id=field(body, "partner_id", str),
        name=field(body, "name", str),
        roles=[str(role) for role in roles],
        category=field(body, "category", str),
        operates_online_platform=bool(field(body, "operates_online_platform", bool, required=False)),
        licence_number=field(body, "licence_number", str, required=False),
        licence_expires_on=date_field(body, "licence_expires_on"),
        actor=actor(),
        beneficial_owner=field(body, "beneficial_owner", str, required=False),
    )
    return partner_json(partner), 201


@api.post("/partners/<partner_id>/owner")
@admin_only
@idempotent
def set_partner_owner(partner_id: str) -> dict[str, Any]:
    """Record (or clear, with null) the partner's registered beneficial owner (RL8 self-dealing)."""
    body = json_body()
    if "beneficial_owner" not in body:
        raise InvalidRequest("beneficial_owner is required (null clears it)", code="REQUEST_FIELD_INVALID")
    partner = service.set_beneficial_owner(
        engine=hub().engine,
        now=hub().now(),
        actor=actor(),
        partner_id=partner_id,
        beneficial_owner=field(body, "beneficial_owner", str, required=False),
    )
    return partner_json(partner)


@api.get("/partners")
@admin_only
def list_partners() -> dict[str, Any]:
    return {"partners": [partner_json(p) for p in service.list_partners(engine=hub().engine)]}


@api.get("/partners/<partner_id>")
@authenticated
def get_partner(partner_id: str) -> dict[str, Any]:
    require_self_or_admin(partner_id)
    return licence_json(licence_status(engine=hub().engine, partner_id=partner_id))


@api.post("/partners/<partner_id>/keys")
@admin_only
@idempotent
def add_key(partner_id: str) -> tuple[dict[str, Any], int]:
    if request.mimetype == "application/json":
        body = json_body()
        key_text = field(body, "public_key", str)
        valid_from, valid_to = time_field(body, "valid_from"), time_field(body, "valid_to")
    else:
        key_text, valid_from, valid_to = request.get_data(cache=False), None, None
    key = service.add_partner_key(
        engine=hub().engine,
        now=hub().now(),
        partner_id=partner_id,
        key_text=key_text,
        valid_from=valid_from,
        valid_to=valid_to,
        actor=actor(),
    )
    return key_json(key), 201


@api.get("/partners/<partner_id>/keys")
@authenticated
def list_keys(partner_id: str) -> dict[str, Any]:
    require_self_or_admin(partner_id)
    return {"keys": [key_json(k) for k in service.list_partner_keys(engine=hub().engine, partner_id=partner_id)]}


@api.post("/partners/<partner_id>/tokens")
@admin_only
@idempotent_secret
def issue_token(partner_id: str) -> tuple[dict[str, Any], int]:
    token = service.issue_partner_token(engine=hub().engine, now=hub().now(), partner_id=partner_id, actor=actor())
    return {"principal": partner_id, "token": token}, 201


@api.post("/partners/<partner_id>/tokens/revoke")
@admin_only
@idempotent
def revoke_tokens(partner_id: str) -> dict[str, Any]:
    """Revoke every live token of the partner (a leaked token): the next request with any of them is a 401."""
    revoked = service.revoke_tokens(engine=hub().engine, now=hub().now(), principal=partner_id, actor=actor())
    return {"principal": partner_id, "revoked": revoked}


@api.get("/hub/public-key")
def hub_public_key() -> tuple[str, int, dict[str, str]]:
    signer = hub().signer
    return signer.public_key.spki_pem(), 200, {"Content-Type": "application/x-pem-file", "X-Key-Id": signer.key_id}


@api.get("/healthz")
def api_healthz() -> dict[str, str]:
    return {"status": "ok"}
