"""Found: a budget declaration with an amount past a 64-bit integer or an issuer id holding NUL or a lone
surrogate answered 500 (SQLite overflow, PostgreSQL bigint / text). Bad input is a 4xx that changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_api_token
from tests.factories import CVS, Alliance
from tests.web.test_api_flow import API, assert_error, bearer, row_snapshot

GOOD = {"issuer_id": CVS, "period": "2028-01", "budget_fen": 1_000, "point_cost_fen_per_point": "0.5"}


def post(client: FlaskClient, token: str, body: dict[str, Any]) -> Any:
    # json.dumps escapes a lone surrogate as \ud800, as a client in any language may send it
    return client.post(
        API + "/budgets", headers={**bearer(token), "Content-Type": "application/json"}, data=json.dumps(body)
    )


@pytest.mark.parametrize(
    ("name", "value", "status", "code"),
    [
        ("budget_fen", 2**63, 422, "BUDGET_AMOUNT_INVALID"),
        ("budget_fen", 2**64, 422, "BUDGET_AMOUNT_INVALID"),
        ("budget_fen", 10**15 + 1, 422, "BUDGET_AMOUNT_INVALID"),
        ("issuer_id", "c\x00vs", 404, "PARTNER_NOT_FOUND"),
        ("issuer_id", "\ud800", 404, "PARTNER_NOT_FOUND"),
        ("issuer_id", "x" * 5000, 404, "PARTNER_NOT_FOUND"),
    ],
)
def test_bad_declarations_are_refused_and_change_nothing(
    client: FlaskClient, hub: Hub, name: str, value: Any, status: int, code: str
) -> None:
    Alliance.standard(hub)
    admin = issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder="alice")
    before = row_snapshot(hub)
    assert_error(post(client, admin, {**GOOD, name: value}), status, code)
    assert row_snapshot(hub) == before
    assert post(client, admin, {**GOOD, "budget_fen": 10**15}).status_code == 201  # the nearest that passes
