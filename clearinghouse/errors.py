"""The hub's own errors, and the one place where every package's errors become HTTP answers."""

from __future__ import annotations

from typing import Any

from contracts.errors import ContractError
from partners.errors import PartnerError
from settlement.errors import SettlementError


class ClearinghouseError(Exception):
    code = "CLEARINGHOUSE_ERROR"
    kind = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code


class NotFound(ClearinghouseError):
    code = "NOT_FOUND"
    kind = "not_found"


class Conflict(ClearinghouseError):
    code = "CONFLICT"
    kind = "conflict"


class Unauthorized(ClearinghouseError):
    code = "UNAUTHORIZED"
    kind = "unauthorized"


class Forbidden(ClearinghouseError):
    code = "FORBIDDEN"
    kind = "forbidden"


class InvalidRequest(ClearinghouseError):
    code = "REQUEST_INVALID"


DomainError = ClearinghouseError | PartnerError | ContractError | SettlementError
DOMAIN_ERRORS = (ClearinghouseError, PartnerError, ContractError, SettlementError)

STATUS_BY_KIND = {
    "invalid": 422,
    "not_found": 404,
    "conflict": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "too_large": 413,
    "internal": 500,
}


def http_status(error: DomainError) -> int:
    return STATUS_BY_KIND.get(error.kind, 422)


def error_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    details = getattr(error, "details", None)
    if details:
        body.update(details)
    return body
