"""Monitoring cases (RL8): admins list and read them, open manual ones, add evidence and close them."""

from __future__ import annotations

from typing import Any

from flask import request

from clearinghouse.api import api
from clearinghouse.api.common import MAX_JSON_INT, actor, admin_only, field, hub, idempotent, json_body
from clearinghouse.errors import InvalidRequest, NotFound
from clearinghouse.services import monitoring as service


def evidence_json(item: service.Evidence) -> dict[str, Any]:
    return {
        "id": item.id,
        "record_id": item.record_id,
        "description": item.description,
        "added_by": item.added_by,
        "added_at": item.added_at.isoformat(),
        "record": item.record,
    }


def case_json(case: service.Case, *, with_evidence: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": case.id,
        "rule": case.rule,
        "status": case.status,
        "issuer_id": case.issuer_id,
        "member_token": case.member_token,
        "partner_id": case.partner_id,
        "summary": case.summary,
        "opened_by": case.opened_by,
        "opened_at": case.opened_at.isoformat(),
        "closed_by": case.closed_by,
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "resolution": case.resolution,
    }
    if with_evidence:
        body["evidence"] = [evidence_json(item) for item in case.evidence]
    return body


def _record_ids(body: dict[str, Any]) -> list[int]:
    values = field(body, "record_ids", list, required=False) or []
    if any(not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= MAX_JSON_INT for v in values):
        raise InvalidRequest("record_ids must be positive integers", code="REQUEST_FIELD_INVALID")
    return list(values)


def _facts(body: dict[str, Any]) -> list[str]:
    values = field(body, "facts", list, required=False) or []
    if any(not isinstance(v, str) for v in values):
        raise InvalidRequest("facts must be strings", code="REQUEST_FIELD_INVALID")
    return list(values)


def _case_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"no case {raw[:20]!r}", code="CASE_NOT_FOUND")
    return int(raw)


@api.get("/cases")
@admin_only
def list_cases() -> dict[str, Any]:
    status = request.args.get("status")
    cases = service.list_cases(engine=hub().engine, status=status.upper() if status else None)
    return {"cases": [case_json(case, with_evidence=False) for case in cases]}


@api.get("/cases/<case_id>")
@admin_only
def get_case(case_id: str) -> dict[str, Any]:
    return case_json(service.get_case(engine=hub().engine, case_id=_case_id(case_id)))


@api.post("/cases")
@admin_only
@idempotent
def open_case() -> tuple[dict[str, Any], int]:
    body = json_body()
    case, new = service.open_case(
        engine=hub().engine,
        now=hub().now(),
        actor=actor(),
        summary=field(body, "summary", str),
        record_ids=_record_ids(body),
        facts=_facts(body),
        issuer_id=field(body, "issuer_id", str, required=False),
        member_token=field(body, "member_token", str, required=False),
        partner_id=field(body, "partner_id", str, required=False),
    )
    return case_json(case), 201 if new else 200


@api.post("/cases/<case_id>/evidence")
@admin_only
@idempotent
def add_case_evidence(case_id: str) -> dict[str, Any]:
    body = json_body()
    case = service.add_evidence(
        engine=hub().engine,
        now=hub().now(),
        actor=actor(),
        case_id=_case_id(case_id),
        record_ids=_record_ids(body),
        facts=_facts(body),
    )
    return case_json(case)


@api.post("/cases/<case_id>/close")
@admin_only
@idempotent
def close_case(case_id: str) -> dict[str, Any]:
    body = json_body()
    case = service.close_case(
        engine=hub().engine,
        now=hub().now(),
        actor=actor(),
        case_id=_case_id(case_id),
        resolution=field(body, "resolution", str),
    )
    return case_json(case)
