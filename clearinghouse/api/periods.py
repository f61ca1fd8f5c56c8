"""Periods: close one, list closes, fetch a partner's signed statement."""

from __future__ import annotations

from typing import Any

from flask import Response

from clearinghouse.api import api
from clearinghouse.api.common import actor, admin_only, authenticated, hub, idempotent, require_self_or_admin
from clearinghouse.errors import NotFound
from clearinghouse.services import periods as service
from settlement.periods import Period


def close_json(result: service.CloseResult) -> dict[str, Any]:
    return {
        "period": str(result.period),
        "gross_fen": result.gross_fen,
        "net_fen": result.net_fen,
        "netting_efficiency": str(result.efficiency),
        "positions": result.positions,
        "records": result.record_count,
    }


@api.post("/periods/<period>/close")
@admin_only
@idempotent
def close_period(period: str) -> tuple[dict[str, Any], int]:
    result = service.close_period(
        engine=hub().engine,
        hub=hub().signer,
        now=hub().now(),
        period=Period.parse(period),
        zone_name=hub().config.timezone,
        trigger="api",
        actor=actor(),
    )
    return close_json(result), 201


@api.get("/periods")
@authenticated
def list_periods() -> dict[str, Any]:
    closes = service.list_closes(engine=hub().engine)
    return {
        "periods": [
            {
                "period": c.period,
                "closed_at": c.closed_at.isoformat(),
                "gross_fen": c.gross_fen,
                "net_fen": c.net_fen,
                "netting_efficiency": c.efficiency,
                "records": c.record_count,
            }
            for c in closes
        ]
    }


_FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json; charset=utf-8"}


@api.get("/periods/<period>/statements/<name>")
@authenticated
def get_statement(period: str, name: str) -> Response:
    """``<partner id>.csv``, ``.json``, ``.csv.sig`` or ``.json.sig`` (partner ids hold no dots)."""
    partner_id, _, fmt = name.partition(".")
    require_self_or_admin(partner_id)
    wanted, _, signature = fmt.partition(".")
    if wanted not in _FORMATS or signature not in ("", "sig"):
        raise NotFound("statements are .csv, .json, .csv.sig or .json.sig", code="STATEMENT_NOT_FOUND")
    document = service.get_statement(
        engine=hub().engine, period=Period.parse(period), partner_id=partner_id, fmt=wanted
    )
    if signature:
        return Response(document.signature, mimetype="application/octet-stream")
    return Response(document.body, content_type=_FORMATS[wanted], headers={"X-Key-Id": hub().signer.key_id})
