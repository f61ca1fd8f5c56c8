"""Notices of points that will expire: the issuer reads its own (to tell its members), the admin any."""

from __future__ import annotations

from typing import Any

from flask import request

from clearinghouse.api import api
from clearinghouse.api.common import authenticated, caller, hub
from clearinghouse.errors import InvalidRequest
from clearinghouse.services import expiry


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidRequest(f"{name} must be a whole number, got {raw[:40]!r}", code="REQUEST_FIELD_INVALID")
    return int(raw)


@api.get("/expiry-notices")
@authenticated
def list_expiry_notices() -> dict[str, Any]:
    """Notices by id: ``?issuer=`` (the admin; a partner sees its own), ``after_id`` and ``limit`` to page."""
    notices = expiry.list_notices(
        engine=hub().engine,
        caller=caller(),
        issuer_id=request.args.get("issuer") or None,
        after_id=_int_arg("after_id", 0),
        limit=_int_arg("limit", 100),
    )
    return {
        "notices": [
            {
                "id": n.id,
                "issuer_id": n.issuer_id,
                "member_token": n.member_token,
                "points": n.points,
                "expires_on": n.expires_on.isoformat(),
                "expires_at": n.expires_at.isoformat(),
                "created_at": n.created_at.isoformat(),
            }
            for n in notices
        ],
        "next_after_id": notices[-1].id if notices else None,
    }
