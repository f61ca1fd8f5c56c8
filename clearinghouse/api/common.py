"""Request plumbing shared by the API routes: the hub, the caller, idempotency keys, JSON bodies."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import wraps
from typing import IO, Any, TypeVar, cast

from flask import Response, current_app, g, request

from clearinghouse import httpsig, idempotency
from clearinghouse.errors import Forbidden, InvalidRequest, Unauthorized
from clearinghouse.hub import Hub
from clearinghouse.services.nonces import SigningKey, record_nonce, signing_key
from clearinghouse.services.partners import ADMIN, AUDITOR, authenticate_credential
from partners.keys import SIGNATURE_LENGTH, parse_signature

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)


def hub() -> Hub:
    value: Hub = current_app.extensions["clearinghouse"]
    return value


def caller() -> str:
    principal: str = g.principal
    return principal


def actor() -> str:
    """Who acts, for the audit trail: ``admin:<holder>`` for an admin token, else the partner id."""
    name: str = g.get("actor") or g.principal
    return name


def authenticated(view: F) -> F:
    """The caller → ``g.principal`` (``admin`` or a partner id): a bearer token, or an HTTP message signature
    (RFC 9421, ``docs/http-signatures.md``) by a partner's key valid now, or both if they name the same
    principal. A signature's nonce is committed as used before the view runs."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        signed = any(name in request.headers for name in ("Signature-Input", "Signature"))
        token_principal = None
        if header or not signed:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized(
                    "send Authorization: Bearer <token>, or sign the request (Signature-Input and Signature)",
                    code="TOKEN_MISSING",
                )
            credential = authenticate_credential(engine=hub().engine, token=token.strip())
            token_principal, g.actor = _read_only_auditor(credential.principal), credential.actor
        if not signed:
            g.principal = token_principal
            return view(*args, **kwargs)
        verified = _verify_signature()
        if token_principal is not None and token_principal != verified.key.partner_id:
            raise Unauthorized("the bearer token and the signature name different callers", code="PRINCIPAL_MISMATCH")
        record_nonce(
            engine=hub().engine,
            key_id=verified.key.key_id,
            nonce=verified.signed.nonce,
            partner_id=verified.key.partner_id,
            signed_at=datetime.fromtimestamp(verified.signed.created, UTC),
            now=hub().now(),
            usable_until=datetime.fromtimestamp(httpsig.usable_until(verified.signed, window=verified.window), UTC),
        )
        g.principal = g.actor = verified.key.partner_id
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _read_only_auditor(principal: str) -> str:
    """An auditor reads what an admin reads and changes nothing: it passes as the admin on reads only."""
    if principal != AUDITOR:
        return principal
    if request.method not in ("GET", "HEAD"):
        raise Forbidden("auditors read; they change nothing", code="AUDITOR_READ_ONLY")
    return ADMIN


@dataclass(frozen=True)
class _Verified:
    signed: httpsig.SignedRequest
    key: SigningKey
    window: int


def signature_window() -> int:
    """Seconds ``created`` may be off the hub's clock: ``SIGNATURE_WINDOW_SECONDS`` in the Flask config, else
    ``CLEARINGHOUSE_SIGNATURE_WINDOW_S`` in the environment, else 300."""
    value = current_app.config.get("SIGNATURE_WINDOW_SECONDS") or os.environ.get("CLEARINGHOUSE_SIGNATURE_WINDOW_S")
    return int(value) if value else httpsig.DEFAULT_WINDOW_SECONDS


def _joined_field(name: str) -> str | None:
    values = request.headers.getlist(name)
    return ", ".join(values) if values else None


def _verify_signature() -> _Verified:
    """Check the request's signature without writing anything; every refusal is a 401 with its code."""
    signature_input, signature = _joined_field("Signature-Input"), _joined_field("Signature")
    if signature_input is None or signature is None:
        raise httpsig.SignatureRejected("SIGNATURE_MALFORMED", "send both Signature-Input and Signature")
    signed = httpsig.parse_signed_request(signature_input, signature)
    declared_body = request.headers.get("Content-Length", "").strip() not in ("", "0") or (
        "Transfer-Encoding" in request.headers
    )
    now = hub().now()
    window = signature_window()
    httpsig.check_policy(signed, now=int(now.timestamp()), has_body=declared_body, window=window)
    key = signing_key(engine=hub().engine, key_id=signed.key_id, now=now)
    if not key.key.verify(signed.signature, httpsig.signature_base(signed, _request_parts(signed))):
        raise httpsig.SignatureRejected(
            "SIGNATURE_INVALID", "the signature does not verify with that key over this request's signature base"
        )
    digest_field = _joined_field("Content-Digest")
    digests, size = _read_body_digests(digest_field or "")
    if size and "content-digest" not in signed.components:
        raise httpsig.SignatureRejected("SIGNATURE_MISSING_COMPONENT", "the request has a body: cover content-digest")
    if size or "content-digest" in signed.components:
        httpsig.check_content_digest(digest_field, digests)
    return _Verified(signed, key, window)


def _request_parts(signed: httpsig.SignedRequest) -> httpsig.RequestParts:
    environ = request.environ
    raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    query = environ.get("QUERY_STRING", "")
    return httpsig.RequestParts(
        method=request.method,
        scheme=request.scheme,
        authority=request.host,
        path=httpsig.request_path(raw_uri, environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", "")),
        query=query if query or (raw_uri and "?" in raw_uri) else None,
        fields={name: request.headers.getlist(name) for name in signed.components if not name.startswith("@")},
    )


_SPOOL_IN_MEMORY = 1 << 20


def _read_body_digests(digest_field: str) -> tuple[dict[str, bytes], int]:
    """The body's digests (sha-256, and sha-512 when the field names it) and its size. The body is read once
    into a spooled file (memory up to 1 MiB, then disk) that becomes the request's stream for the view."""
    hashers = {name: httpsig.DIGESTS[name]() for name in httpsig.DIGESTS if name == "sha-256" or name in digest_field}
    cached: bytes | None = getattr(request, "_cached_data", None)
    size = 0
    if cached is not None:
        for hasher in hashers.values():
            hasher.update(cached)
        size = len(cached)
    else:
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 (it outlives this call)
        while chunk := request.stream.read(_SPOOL_IN_MEMORY):
            for hasher in hashers.values():
                hasher.update(chunk)
            spool.write(chunk)
            size += len(chunk)
        spool.seek(0)
        request.stream = cast(IO[bytes], spool)
    return {name: hasher.digest() for name, hasher in hashers.items()}, size


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


def request_fingerprint() -> str:
    """SHA-256 over method, path (and query), content type and body; see ``idempotency.Fingerprint``.

    ``multipart/form-data``: the content type without its parameters (the boundary is new on every
    retry), then every part sorted by name (parts of one name in the order received), as (kind, name,
    SHA-256 of its bytes); file names and part headers are left out. File parts are hashed from the
    parser's spooled files in 1 MiB chunks and put back where they were. Any other body: the exact bytes,
    read once and cached for the view (as ``get_json`` does anyway).
    """
    path = request.path
    if request.query_string:
        path += "?" + request.query_string.decode("latin-1")
    if request.mimetype == "multipart/form-data":
        fingerprint = idempotency.Fingerprint(request.method, path, request.mimetype)
        for name, text in sorted(request.form.items(multi=True), key=lambda item: item[0]):
            fingerprint.add_part("field", name, text.encode("utf-8"))
        for name, upload in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            fingerprint.add_part("file", name, upload.stream)
        return fingerprint.hexdigest()
    fingerprint = idempotency.Fingerprint(request.method, path, request.headers.get("Content-Type", ""))
    fingerprint.add(request.get_data(cache=True))
    return fingerprint.hexdigest()


def _idempotent(view: F, *, keep_body: bool) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = idempotency.parse_key(request.headers.getlist(idempotency.HEADER))
        if key is None:
            return view(*args, **kwargs)
        engine = hub().engine
        claimed = idempotency.claim(
            engine,
            principal=actor(),  # each admin has their own keys: one cannot replay another's answer
            key=key,
            fingerprint=request_fingerprint(),
            method=request.method,
            path=request.path,
            now=hub().now(),
        )
        if isinstance(claimed, idempotency.StoredAnswer):
            return Response(
                claimed.body,
                status=claimed.status,
                content_type=claimed.content_type,
                headers={idempotency.REPLAYED_HEADER: "true"},
            )
        try:
            response = _answer(view, args, kwargs)
        except BaseException:
            _release_quietly(claimed)
            raise
        if not idempotency.storable(response.status_code):
            _release_quietly(claimed)
            return response
        try:
            idempotency.complete(
                engine,
                row_id=claimed,
                status=response.status_code,
                content_type=response.content_type or "application/octet-stream",
                body=response.get_data() if keep_body else None,
                now=hub().now(),
            )
        except Exception:
            # The view's effect is committed and this is its answer; the key stays in flight (409 to a retry)
            # rather than being released to run the request a second time.
            log.exception("could not store the answer under idempotency key row %s", claimed)
        return response

    wrapper.idempotency = "replay" if keep_body else "withheld"  # type: ignore[attr-defined]
    return cast(F, wrapper)


def _answer(view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Response:
    """The view's answer as the client will get it, errors mapped to their JSON answers as Flask would."""
    try:
        value = view(*args, **kwargs)
    except Exception as exc:
        value = current_app.handle_user_exception(exc)
    return current_app.make_response(value)


def _release_quietly(row_id: int) -> None:
    try:
        idempotency.release(hub().engine, row_id=row_id)
    except Exception:
        log.exception("could not release idempotency key row %s", row_id)


def idempotent(view: F) -> F:
    """Honour an ``Idempotency-Key`` header (under the authenticated caller): the first request runs and its
    2xx/4xx answer is kept; the same request again gets that answer byte for byte (``Idempotent-Replayed:
    true``); another request under the key is a 409. Goes below ``@authenticated``/``@admin_only``."""
    return _idempotent(view, keep_body=True)


def idempotent_secret(view: F) -> F:
    """As :func:`idempotent`, for answers that hold a secret shown once (an API token): the answer's body is
    not kept, so the same request again is a 409 ``IDEMPOTENCY_REPLAY_WITHHELD``, never a second effect."""
    return _idempotent(view, keep_body=False)


def json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nesting deep enough to exhaust the parser is not a JSON object we accept
        body = None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", code="REQUEST_JSON_INVALID")
    return body


_KIND_NAMES = {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "an object"}
MAX_JSON_INT = 2**53 - 1  # the largest integer every JSON reader (and our BIGINT columns) carries exactly


def field(
    body: dict[str, Any], name: str, kind: type, *, required: bool = True, range_code: str = "REQUEST_FIELD_INVALID"
) -> Any:
    """``body[name]`` if it is of ``kind`` (an integer also within what JSON carries exactly, else ``range_code``)."""
    value = body.get(name)
    if value is None and not required:
        return None
    wanted = _KIND_NAMES.get(kind, kind.__name__)
    if value is None:
        raise InvalidRequest(f"{name} is required ({wanted})", code="REQUEST_FIELD_INVALID")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidRequest(f"{name} must be {wanted}", code="REQUEST_FIELD_INVALID")
    if isinstance(value, int) and abs(value) > MAX_JSON_INT:
        raise InvalidRequest(f"{name} is out of range (at most {MAX_JSON_INT} in size)", code=range_code)
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
