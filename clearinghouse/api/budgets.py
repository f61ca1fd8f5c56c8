"""Marketing budgets (RL3) and licences (RL4)."""

from __future__ import annotations

from typing import Any

from clearinghouse.api import api
from clearinghouse.api.common import (
    actor,
    admin_only,
    authenticated,
    caller,
    date_field,
    field,
    hub,
    idempotent,
    json_body,
    require_self_or_admin,
)
from clearinghouse.api.partners import licence_json
from clearinghouse.errors import InvalidRequest
from clearinghouse.services import budgets as service
from clearinghouse.services import licences
from settlement.budgets import BudgetError, parse_point_cost
from settlement.periods import Period


def budget_json(view: service.BudgetView) -> dict[str, Any]:
    return {
        "issuer_id": view.issuer_id,
        "period": view.period,
        "budget_fen": view.budget_fen,
        "used_fen": view.used_fen,
        "remaining_fen": view.remaining_fen,
        "utilization": str(view.utilization),
        "point_cost_fen_per_point": view.point_cost,
        "carry_over_unused": view.carry_over_unused,
        "source": view.source,
        "alerts_raised": [str(level) for level in view.alerts],
    }


@api.post("/budgets")
@authenticated
@idempotent
def declare_budget() -> tuple[dict[str, Any], int]:
    body = json_body()
    try:
        cost = parse_point_cost(body.get("point_cost_fen_per_point"))
    except BudgetError as exc:
        raise InvalidRequest(exc.message, code=exc.code) from exc
    declaration = service.Declaration(
        issuer_id=field(body, "issuer_id", str),
        period=Period.parse(field(body, "period", str)),
        budget_fen=field(body, "budget_fen", int, range_code="BUDGET_AMOUNT_INVALID"),
        point_cost=cost,
        carry_over_unused=bool(field(body, "carry_over_unused", bool, required=False)),
    )
    view, created = service.declare_budget(
        engine=hub().engine, now=hub().now(), actor=actor(), caller=caller(), declaration=declaration
    )
    return budget_json(view), 201 if created else 200


@api.get("/budgets/<issuer_id>/<period>")
@authenticated
def get_budget(issuer_id: str, period: str) -> dict[str, Any]:
    require_self_or_admin(issuer_id)
    view = service.get_budget(engine=hub().engine, caller=caller(), issuer_id=issuer_id, period=Period.parse(period))
    return budget_json(view)


@api.post("/partners/<partner_id>/licence")
@admin_only
@idempotent
def record_licence(partner_id: str) -> dict[str, Any]:
    body = json_body()
    expires_on = date_field(body, "licence_expires_on")
    if expires_on is None:
        raise InvalidRequest("licence_expires_on is required (YYYY-MM-DD)", code="REQUEST_FIELD_INVALID")
    status = licences.record_licence(
        engine=hub().engine,
        now=hub().now(),
        zone_name=hub().config.timezone,
        actor=actor(),
        partner_id=partner_id,
        number=field(body, "licence_number", str),
        expires_on=expires_on,
    )
    return licence_json(status)
