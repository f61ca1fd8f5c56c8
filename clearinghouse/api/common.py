"""Request plumbing shared by the API routes: the hub, the caller, JSON bodies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from clearinghouse.errors import Forbidden, InvalidRequest, Unauthorized
from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN, authenticate
from partners.keys import SIGNATURE_LENGTH, parse_signature

F = TypeVar("F", bound=Callable[..., Any])


def hub() -> Hub:
    value: Hub = current_app.extensions["clearinghouse"]
    return value


def caller() -> str:
    principal: str = g.principal
    return principal


def authenticated(view: F) -> F:
    """Bearer token → ``g.principal`` (``admin`` or a partner id)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token>", code="TOKEN_MISSING")
        g.principal = authenticate(engine=hub().engine, token=token.strip())
        return view(*args, **kwargs)

    return cast(F, wrapper)


def admin_only(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if caller() != ADMIN:
            raise Forbidden("alliance admins only", code="ADMIN_ONLY")
        return view(*args, **kwargs)

    return authenticated(cast(F, wrapper))


def require_self_or_admin(partner_id: str) -> None:
    """A partner never reads another partner's files or statements."""
    if caller() not in (ADMIN, partner_id):
        raise Forbidden("a partner sees only its own data", code="NOT_YOUR_DATA")


def json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nesting deep enough to exhaust the parser is not a JSON object we accept
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", code="REQUEST_JSON_INVALID")
    return body


def field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequest(f"{name} must be a {kind.__name__}", code="REQUEST_FIELD_INVALID")
    return value


def date_field(body: dict[str, Any], name: str) -> date | None:
    value = field(body, name, str, required=False)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be YYYY-MM-DD", code="REQUEST_FIELD_INVALID") from exc


def time_field(body: dict[str, Any], name: str) -> datetime | None:
    value = field(body, name, str, required=False)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be RFC 3339", code="REQUEST_FIELD_INVALID") from exc
    if moment.tzinfo is None:
        raise InvalidRequest(f"{name} needs an offset", code="REQUEST_FIELD_INVALID")
    if not 1970 <= moment.year <= 9998:
        raise InvalidRequest(f"{name} is out of range", code="REQUEST_FIELD_INVALID")
    return moment


def signature_field(body: dict[str, Any], name: str) -> bytes:
    """A detached Ed25519 signature in base64 (standard or URL-safe, wrapped lines tolerated)."""
    text = field(body, name, str).strip()
    if len(text) == SIGNATURE_LENGTH or not text.isascii():  # in JSON a signature is always base64 text
        raise InvalidRequest(f"{name} must be the base64 of a 64-byte signature", code="SIGNATURE_MALFORMED")
    return parse_signature(text.encode("ascii"))
