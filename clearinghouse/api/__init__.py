"""JSON API under /api/v1. Routes turn a request into one service call; they never commit."""

from flask import Blueprint, request

from clearinghouse.errors import NotFound

api = Blueprint("api", __name__)


@api.before_request
def _no_nul_in_path() -> None:
    """No id holds a NUL; PostgreSQL text cannot even be asked about one."""
    if any("\x00" in str(value) for value in (request.view_args or {}).values()):
        raise NotFound("no such resource", code="NOT_FOUND")


from clearinghouse.api import (  # noqa: E402, F401
    authorizations,
    budgets,
    cases,
    contracts,
    expiry,
    families,
    files,
    mall,
    member_actions,
    oversight,
    partners,
    periods,
    spec,
)
