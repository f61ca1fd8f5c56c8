"""The monitoring case endpoints (RL8) over real HTTP, every answer checked against the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import Flask

from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN, issue_api_token
from tests.factories import CVS, Alliance, earn, submit
from tests.web.test_api_flow import API, bearer
from tests.web.test_openapi import SpecCheckedClient, SpecChecker


def checked(app: Flask) -> SpecCheckedClient:
    app.test_client_class = SpecCheckedClient
    client = app.test_client()
    assert isinstance(client, SpecCheckedClient)
    client.checker = SpecChecker(app)
    return client


def admin(hub: Hub, name: str = "alice") -> dict[str, str]:
    return bearer(issue_api_token(engine=hub.engine, now=hub.now(), principal=ADMIN, holder=name))


def post(
    client: SpecCheckedClient, path: str, body: dict[str, Any], headers: dict[str, str], key: str | None = None
) -> Any:
    more = {"Idempotency-Key": key} if key else {}
    return client.post(API + path, json=body, headers={**headers, **more})


def test_admin_opens_reads_adds_to_and_closes_a_case(app: Flask, hub: Hub) -> None:
    client = checked(app)
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "F1", [earn("M1", 100)])
    alice = admin(hub)
    opened = post(client, "/cases", {"summary": "tip-off", "record_ids": [1], "facts": ["a call"]}, alice, "k1")
    assert opened.status_code == 201, opened.get_json()
    case_id = opened.get_json()["case_id"]
    replayed = post(client, "/cases", {"summary": "tip-off", "record_ids": [1], "facts": ["a call"]}, alice, "k1")
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.get_json() == opened.get_json()
    same = post(client, "/cases", {"summary": "tip-off", "record_ids": [1], "facts": ["a call"]}, alice)
    assert same.status_code == 200 and same.get_json()["case_id"] == case_id

    listed = client.get(API + "/cases?status=open", headers=alice).get_json()["cases"]
    assert [c["case_id"] for c in listed] == [case_id]
    added = post(client, f"/cases/{case_id}/evidence", {"facts": ["a letter"]}, alice)
    assert [e["description"] for e in added.get_json()["evidence"]] == ["", "a call", "a letter"]
    closed = post(client, f"/cases/{case_id}/close", {"resolution": "no fraud"}, admin(hub, "bob"))
    assert closed.get_json()["status"] == "CLOSED" and closed.get_json()["closed_by"] == "admin:bob"
    assert client.get(API + "/cases?status=OPEN", headers=alice).get_json()["cases"] == []
    late = post(client, f"/cases/{case_id}/evidence", {"facts": ["late"]}, alice)
    assert (late.status_code, late.get_json()["code"]) == (409, "CASE_CLOSED")
    other = post(client, f"/cases/{case_id}/close", {"resolution": "fraud"}, alice)
    assert (other.status_code, other.get_json()["code"]) == (409, "CASE_CLOSED")
    assert client.get(API + f"/cases/{case_id}", headers=alice).get_json()["resolution"] == "no fraud"


def test_refusals_change_nothing(app: Flask, hub: Hub) -> None:
    client = checked(app)
    Alliance.standard(hub)
    alice = admin(hub)
    no_evidence = post(client, "/cases", {"summary": "x"}, alice)
    assert (no_evidence.status_code, no_evidence.get_json()["code"]) == (422, "CASE_EVIDENCE_REQUIRED")
    unknown = post(client, "/cases", {"summary": "x", "record_ids": [42]}, alice)
    assert (unknown.status_code, unknown.get_json()["code"]) == (422, "CASE_RECORD_UNKNOWN")
    bad_ids = post(client, "/cases", {"summary": "x", "record_ids": ["1"]}, alice)
    assert (bad_ids.status_code, bad_ids.get_json()["code"]) == (422, "REQUEST_FIELD_INVALID")
    assert client.get(API + "/cases/7", headers=alice).status_code == 404
    assert client.get(API + "/cases/x7", headers=alice).status_code == 404
    assert client.get(API + "/cases?status=maybe", headers=alice).status_code == 422
    assert client.get(API + "/cases", headers=alice).get_json()["cases"] == []
    partner = bearer(issue_api_token(engine=hub.engine, now=hub.now(), principal=CVS))
    assert client.get(API + "/cases", headers=partner).status_code == 403


def test_admin_records_a_partners_beneficial_owner(app: Flask, hub: Hub) -> None:
    client = checked(app)
    Alliance.standard(hub)
    alice = admin(hub)
    answer = post(client, f"/partners/{CVS}/owner", {"beneficial_owner": " 91310000ma1 "}, alice)
    assert answer.status_code == 200 and answer.get_json()["beneficial_owner"] == "91310000MA1"
    assert client.get(API + f"/partners/{CVS}", headers=alice).get_json()["beneficial_owner"] == "91310000MA1"
    bad = post(client, f"/partners/{CVS}/owner", {"beneficial_owner": "no spaces"}, alice)
    assert bad.status_code == 422
    missing = post(client, f"/partners/{CVS}/owner", {}, alice)
    assert missing.status_code == 422
    cleared = post(client, f"/partners/{CVS}/owner", {"beneficial_owner": None}, alice)
    assert cleared.get_json()["beneficial_owner"] is None
    registered = post(
        client,
        "/partners",
        {"partner_id": "tea", "name": "茶", "roles": ["fulfiller"], "category": "tea", "beneficial_owner": "X1"},
        alice,
    )
    assert registered.status_code == 201 and registered.get_json()["beneficial_owner"] == "X1"
