"""RL9 over HTTP (SQLite and PostgreSQL), every answer checked against the OpenAPI document: two named admins,
a partner refused, request → approve → member's balance and history → lift, idempotent retries."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_api_token
from tests.factories import CVS, Alliance, case_with_evidence, earn, submit
from tests.web.test_api_flow import API, assert_error, bearer, row_snapshot
from tests.web.test_openapi import SpecCheckedClient, checked_client  # noqa: F401  (the fixture)


class Admins:
    def __init__(self, client: FlaskClient, hub: Hub) -> None:
        self.client = client
        self.tokens = {
            name: issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder=name)
            for name in ("alice", "bob")
        }
        self.tokens[CVS] = issue_api_token(engine=hub.engine, now=hub.now(), principal=CVS)

    def post(self, who: str, path: str, key: str | None = None, **kwargs: Any) -> TestResponse:
        headers = {**bearer(self.tokens[who]), **({"Idempotency-Key": key} if key else {})}
        return self.client.post(API + path, headers=headers, **kwargs)

    def get(self, who: str, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(API + path, headers=bearer(self.tokens[who]), **kwargs)


def test_request_approve_lift_over_http(checked_client: SpecCheckedClient, hub: Hub) -> None:  # noqa: F811
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 100)])
    case_id = case_with_evidence(hub)
    api = Admins(checked_client, hub)
    body = {
        "kind": "FREEZE",
        "issuer_id": CVS,
        "member_token": "m1",
        "points": 60,
        "case_id": case_id,
        "reason": "velocity",
    }

    before = row_snapshot(hub)
    assert_error(api.post(CVS, "/member-actions", json=body), 403, "ADMIN_ONLY")
    assert_error(api.post("alice", "/member-actions", json={**body, "case_id": 999}), 422, "RL9_NO_CASE")
    assert_error(api.post("alice", "/member-actions", json={**body, "points": 101}), 422, "POINTS_INSUFFICIENT")
    assert_error(api.post("alice", "/member-actions", json={**body, "kind": "SEIZE"}), 422, "REQUEST_FIELD_INVALID")
    assert_error(api.post("alice", "/member-actions", json={**body, "case_id": 2**64}), 422, "REQUEST_FIELD_INVALID")
    assert_error(api.post("alice", "/member-actions", json={**body, "issuer_id": "c\x00"}), 422)
    assert_error(api.get("alice", "/member-actions/99"), 404, "ACTION_NOT_FOUND")
    assert_error(api.get("alice", f"/member-actions/{2**64}"), 404, "ACTION_NOT_FOUND")
    assert row_snapshot(hub) == before

    created = api.post("alice", "/member-actions", "req-1", json=body)
    assert created.status_code == 201, created.get_json()
    action = created.get_json()
    assert (action["status"], action["requested_by"], action["case_id"]) == ("REQUESTED", "admin:alice", case_id)
    replay = api.post("alice", "/member-actions", "req-1", json=body)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.get_json() == action
    path = f"/member-actions/{action['action_id']}"

    assert_error(api.post(CVS, path + "/approve"), 403, "ADMIN_ONLY")
    assert_error(api.post("alice", path + "/approve"), 403, "RL9_SAME_ADMIN")
    approved = api.post("bob", path + "/approve", "approve-1")
    assert approved.status_code == 200 and approved.get_json()["status"] == "APPLIED"
    assert api.post("bob", path + "/approve").get_json() == approved.get_json()  # a retry: no second movement

    points = api.get("alice", f"/partners/{CVS}/members/m1/points").get_json()
    assert (points["balance"], points["frozen"]) == (40, 60)
    freeze = points["history"][-1]
    assert (freeze["kind"], freeze["points"], freeze["case_id"], freeze["action_id"]) == (
        "FREEZE",
        -60,
        case_id,
        action["action_id"],
    )
    assert api.get(CVS, f"/partners/{CVS}/members/m1/points").get_json()["frozen"] == 60  # the issuer sees it too

    assert_error(api.post("alice", path + "/lift", json={}), 422, "REQUEST_FIELD_INVALID")
    assert_error(api.post("alice", path + "/lift", json={"reason": " "}), 422, "REQUEST_FIELD_INVALID")
    lifted = api.post("alice", path + "/lift", json={"reason": "appeal upheld"})
    assert lifted.status_code == 200 and lifted.get_json()["status"] == "LIFTED"
    assert api.get("bob", f"/partners/{CVS}/members/m1/points").get_json()["balance"] == 100
    assert_error(api.post("bob", path + "/reject", json={"reason": "late"}), 409, "ACTION_LIFTED")

    listed = api.get("bob", "/member-actions", query_string={"issuer": CVS, "member": "m1"}).get_json()
    assert [a["action_id"] for a in listed["actions"]] == [action["action_id"]]
    assert api.get("bob", "/member-actions", query_string={"member": "m2"}).get_json() == {"actions": []}
    assert api.get("bob", path).get_json() == lifted.get_json()
    assert_error(api.get(CVS, "/member-actions"), 403, "ADMIN_ONLY")


def test_reject_over_http(checked_client: SpecCheckedClient, hub: Hub) -> None:  # noqa: F811
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 100)])
    api = Admins(checked_client, hub)
    body = {
        "kind": "DEDUCT",
        "issuer_id": CVS,
        "member_token": "m1",
        "points": 10,
        "case_id": case_with_evidence(hub),
        "reason": "structuring",
    }
    action = api.post("alice", "/member-actions", json=body).get_json()
    path = f"/member-actions/{action['action_id']}"
    rejected = api.post("bob", path + "/reject", "rej-1", json={"reason": "evidence too thin"})
    assert rejected.status_code == 200 and rejected.get_json()["decision_reason"] == "evidence too thin"
    assert_error(api.post("bob", path + "/approve"), 409, "ACTION_REJECTED")
    assert_error(api.post("bob", path + "/lift", json={"reason": "x"}), 409, "ACTION_REJECTED")
    assert api.get("bob", f"/partners/{CVS}/members/m1/points").get_json()["balance"] == 100


def drive_member_actions(client: FlaskClient, hub: Hub, member: str = "m1") -> None:
    """Every member-action operation once to success, on a hub where ``member`` holds cvs points (for the
    whole-flow check of ``tests/web/test_openapi.py``)."""
    api = Admins(client, hub)
    body = {"kind": "FREEZE", "issuer_id": CVS, "member_token": member, "points": 1, "reason": "flow"}
    first = api.post("alice", "/member-actions", json={**body, "case_id": case_with_evidence(hub, member=member)})
    assert first.status_code == 201, first.get_json()
    path = f"/member-actions/{first.get_json()['action_id']}"
    assert api.post("bob", path + "/approve").status_code == 200
    assert api.post("bob", path + "/lift", json={"reason": "cleared"}).status_code == 200
    second = api.post(
        "alice", "/member-actions", json={**body, "case_id": case_with_evidence(hub, member=member, key="2")}
    )
    assert (
        api.post("bob", f"/member-actions/{second.get_json()['action_id']}/reject", json={"reason": "no"}).status_code
        == 200
    )
    assert api.get("bob", path).status_code == 200
    assert len(api.get("bob", "/member-actions", query_string={"member": member}).get_json()["actions"]) == 2
