"""Found: a manual case whose summary, fact or resolution held NUL or a lone surrogate, or whose issuer /
member / partner was over-long or unprintable, answered 500 (PostgreSQL refuses NUL and over-long varchar,
the driver cannot encode a surrogate). Bad input is a 422 with its code that changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_api_token
from tests.factories import CVS, Alliance, case_with_evidence
from tests.web.test_api_flow import API, assert_error, bearer, row_snapshot

CASE = {"summary": "odd pattern", "facts": ["seen at the till"], "issuer_id": CVS, "member_token": "m1"}


def post(client: FlaskClient, token: str, path: str, body: dict[str, Any]) -> Any:
    # json.dumps escapes a lone surrogate as \ud800, as a client in any language may send it
    headers = {**bearer(token), "Content-Type": "application/json"}
    return client.post(API + path, headers=headers, data=json.dumps(body))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"summary": "a\x00b"}, "CASE_SUMMARY_INVALID"),
        ({"summary": "\ud800"}, "CASE_SUMMARY_INVALID"),
        ({"facts": ["a\x00b"]}, "CASE_FACT_INVALID"),
        ({"facts": ["\udfff"]}, "CASE_FACT_INVALID"),
        ({"issuer_id": "c\x00"}, "REQUEST_FIELD_INVALID"),
        ({"issuer_id": "x" * 41}, "REQUEST_FIELD_INVALID"),
        ({"member_token": "m" * 129}, "REQUEST_FIELD_INVALID"),
        ({"member_token": "\ud800"}, "REQUEST_FIELD_INVALID"),
        ({"partner_id": "p\x00"}, "REQUEST_FIELD_INVALID"),
    ],
)
def test_a_case_with_text_no_database_stores_is_refused(
    client: FlaskClient, hub: Hub, change: dict[str, Any], code: str
) -> None:
    Alliance.standard(hub)
    admin = issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder="alice")
    before = row_snapshot(hub)
    assert_error(post(client, admin, "/cases", {**CASE, **change}), 422, code)
    assert row_snapshot(hub) == before
    nearest = {**CASE, "summary": "a\tb 积分", "member_token": "m" * 128, "issuer_id": "x" * 40}
    assert post(client, admin, "/cases", nearest).status_code == 201


def test_a_resolution_with_nul_is_refused_and_the_case_stays_open(client: FlaskClient, hub: Hub) -> None:
    Alliance.standard(hub)
    case_id = case_with_evidence(hub)
    admin = issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder="alice")
    for bad in ("cleared\x00", "\ud800"):
        assert_error(
            post(client, admin, f"/cases/{case_id}/close", {"resolution": bad}), 422, "CASE_RESOLUTION_INVALID"
        )
        assert_error(post(client, admin, f"/cases/{case_id}/evidence", {"facts": [bad]}), 422, "CASE_FACT_INVALID")
    assert post(client, admin, f"/cases/{case_id}/close", {"resolution": "cleared"}).get_json()["status"] == "CLOSED"
