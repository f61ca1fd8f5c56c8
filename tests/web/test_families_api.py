"""Family groups and pool moves over HTTP (red line RL6): who may call, the answers as documented (every answer
checked against the OpenAPI document), idempotency, and refusals as JSON with their codes, never a 500."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from clearinghouse import audit
from clearinghouse.services.partners import ADMIN, issue_api_token
from tests.factories import CINEMA, CVS, declare_budgets, earn
from tests.web.test_api_flow import API, Api, assert_error, bearer, cvs_terms, standard_alliance
from tests.web.test_openapi import checked_client  # noqa: F401  (the fixture: every answer checked against the spec)


def pooling_alliance(client: Any, hub: Any) -> Api:
    """cvs (issuer) and cinema over HTTP, cvs's program allowing family pooling; m1 holds 100 cvs points."""
    api = Api.open(client, hub)
    api.register(CVS, "易达便利", ["issuer"], "convenience")
    api.register(CINEMA, "光影影院", ["fulfiller"], "cinema")
    api.contract(replace(cvs_terms(), fulfillers=cvs_terms().fulfillers[:1], family_pooling=True))
    declare_budgets(hub, [CVS])  # RL3: cvs's EARNs are paid from a declared budget
    api.upload_rows(CVS, "E1", [earn("m1", 100)])
    return api


def family_of(api: Api, *members: str, group: str = "F", who: str = CVS) -> None:
    body: dict[str, Any] = {"group_id": group} | ({"issuer_id": CVS} if who == ADMIN else {})
    assert api.post("/families", who=who, json=body).status_code == 201
    for member in members:
        joined = api.post(
            f"/families/{CVS}/{group}/members",
            who=who,
            json={"member_token": member, "consent_ref": f"C-{member}", "consented_at": "2026-12-01T09:30:00+08:00"},
        )
        assert joined.status_code == 201, joined.get_json()


MOVE = {"reference": "P1", "from_member": "m1", "to_member": "m2", "points": 30}


def test_an_issuer_registers_a_family_and_moves_points_within_it(checked_client, hub):  # noqa: F811
    api = pooling_alliance(checked_client, hub)
    family_of(api, "m1", "m2")
    moved = api.post("/family-pool-moves", who=CVS, json=MOVE)
    assert moved.status_code == 201, moved.get_json()
    assert moved.get_json() | {"created_at": ""} == {
        "issuer_id": CVS, "reference": "P1", "group_id": "F", "from_member": "m1", "to_member": "m2", "points": 30,
        "created_at": "",
    }  # fmt: skip
    again = api.post("/family-pool-moves", who=CVS, json=MOVE)
    assert again.status_code == 200 and again.get_json() == moved.get_json()
    assert_error(
        api.post("/family-pool-moves", who=CVS, json=MOVE | {"points": 31}), 409, "FAMILY_MOVE_REFERENCE_REUSED"
    )
    group = api.get(f"/families/{CVS}/F", who=CVS).get_json()
    assert [m["member_token"] for m in group["members"]] == ["m1", "m2"]
    assert group["members"][0]["recorded_by"] == CVS and group["members"][0]["consent_ref"] == "C-m1"
    left = api.post(f"/families/{CVS}/F/members/m2/leave", who=CVS, json={"reason": "moved out"})
    assert left.status_code == 200 and left.get_json()["left_by"] == CVS
    assert_error(api.post("/family-pool-moves", who=CVS, json=MOVE | {"reference": "P2"}), 422, "RL6_NO_CONSENT")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"to_member": "m3"}, "RL6_NOT_SAME_FAMILY"),
        ({"to_member": "m9"}, "RL6_NO_CONSENT"),
        ({"points": 101}, "POINTS_INSUFFICIENT"),
        ({"amount_fen": 500}, "RL7_POINTS_PURCHASE"),
        ({"reference": "a b"}, "FAMILY_FIELD_INVALID"),
        ({"points": "30"}, "REQUEST_FIELD_INVALID"),
    ],
)
def test_a_refused_move_answers_422_with_its_code(client, hub, change, code):
    api = pooling_alliance(client, hub)
    family_of(api, "m1", "m2")
    family_of(api, "m3", group="G")
    assert_error(api.post("/family-pool-moves", who=CVS, json=MOVE | change), 422, code)
    assert api.post("/family-pool-moves", who=CVS, json=MOVE).status_code == 201  # the nearest move passes


def test_pooling_needs_a_program_that_allows_it(client, hub):
    api = standard_alliance(client, hub)  # cvs's program: family_pooling false
    api.upload_rows(CVS, "E1", [earn("m1", 100)])
    family_of(api, "m1", "m2")
    assert_error(api.post("/family-pool-moves", who=CVS, json=MOVE), 422, "RL6_POOLING_NOT_ALLOWED")


def test_who_may_call(client, hub):
    api = pooling_alliance(client, hub)
    family_of(api, "m1", "m2", who=ADMIN)  # an admin for the issuer it names
    assert_error(api.post("/families", who=CINEMA, json={"group_id": "X", "issuer_id": CVS}), 403, "NOT_YOUR_DATA")
    assert_error(api.post("/families", who=ADMIN, json={"group_id": "X"}), 422, "REQUEST_FIELD_INVALID")
    assert_error(api.get(f"/families/{CVS}/F", who=CINEMA), 403, "NOT_YOUR_DATA")
    assert_error(api.post("/family-pool-moves", who=ADMIN, json=MOVE), 403, "PARTNER_ONLY")
    assert_error(api.get(f"/families/{CVS}/NOPE", who=CVS), 404, "FAMILY_GROUP_NOT_FOUND")
    response = client.post(API + "/family-pool-moves", json=MOVE, headers=bearer("nope"))
    assert response.status_code == 401


def test_an_admin_action_is_audited_under_the_admins_name(client, hub):
    pooling_alliance(client, hub)
    token = issue_api_token(engine=hub.engine, now=hub.now(), principal=ADMIN, holder="alice")
    response = client.post(API + "/families", json={"group_id": "F", "issuer_id": CVS}, headers=bearer(token))
    assert response.status_code == 201 and response.get_json()["created_by"] == "admin:alice"
    (entry,) = audit.entries(hub.engine, subject_prefix="family:")
    assert (entry.actor, entry.action, entry.subject) == ("admin:alice", "families.create_group", f"family:{CVS}/F")


def test_both_members_histories_show_the_move_with_its_reason(client, hub):
    api = pooling_alliance(client, hub)
    family_of(api, "m1", "m2")
    assert api.post("/family-pool-moves", who=CVS, json=MOVE).status_code == 201
    giver = api.get(f"/partners/{CVS}/members/m1/points", who=CVS).get_json()
    receiver = api.get(f"/partners/{CVS}/members/m2/points", who=CVS).get_json()
    assert (giver["balance"], receiver["balance"]) == (70, 30)
    assert giver["history"][-1]["kind"] == receiver["history"][-1]["kind"] == "FAMILY_POOL"
    assert (giver["history"][-1]["points"], receiver["history"][-1]["points"]) == (-30, 30)
    assert "m1 → m2 in group F" in receiver["history"][-1]["reason"]


@pytest.mark.parametrize(("category", "code"), [("pledge", "RL7_FINANCIAL_OFFER"), ("gift-card", "OFFER_INVALID")])
def test_an_offer_with_a_financial_or_cash_category_is_refused_and_an_ordinary_one_published(
    client, hub, category, code
):
    api = pooling_alliance(client, hub)
    lens = {
        "offer_ref": "LENS", "title_zh": "200元镜片", "title_en": "200-yuan lens", "category": "cinema",
        "points_price": 2000, "face_value_fen": 20000, "stock": 5, "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_to": None, "promotions": [],
    }  # fmt: skip
    assert_error(api.post("/offers", who=CINEMA, json=lens | {"category": category}), 422, code)
    assert api.post("/offers", who=CINEMA, json=lens).status_code == 201
