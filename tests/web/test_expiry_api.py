"""GET /api/v1/expiry-notices over real HTTP, every answer checked against the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from clearinghouse.hub import Hub
from clearinghouse.services.expiry import run_expiry
from clearinghouse.services.partners import ADMIN, issue_api_token
from tests.factories import CINEMA, CVS, SHANGHAI, at, earn
from tests.integration.test_expiry import expiring_alliance, post
from tests.web.test_api_flow import API, assert_error, bearer
from tests.web.test_openapi import SpecCheckedClient, checked_client  # noqa: F401  (the fixture)


def _notices(hub: Hub) -> None:
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn(f"m{i}", 10 + i, when=at(20)) for i in range(3)],
         on=datetime(2026, 11, 21, tzinfo=SHANGHAI))  # fmt: skip
    run_expiry(engine=hub.engine, now=datetime(2027, 1, 1, tzinfo=SHANGHAI), zone_name="Asia/Shanghai",
               notice_days=30, actor="scheduler")  # fmt: skip


def test_the_issuer_pages_through_its_notices_and_others_see_none_of_them(checked_client, hub):  # noqa: F811
    _notices(hub)
    token = {who: issue_api_token(engine=hub.engine, now=hub.now(), principal=who) for who in (ADMIN, CVS, CINEMA)}
    first = checked_client.get(API + "/expiry-notices?limit=2", headers=bearer(token[CVS]))
    assert first.status_code == 200
    page = first.get_json()
    assert [(n["member_token"], n["points"], n["expires_on"]) for n in page["notices"]] == [
        ("m0", 10, "2027-01-20"),
        ("m1", 11, "2027-01-20"),
    ]
    rest = checked_client.get(
        API + f"/expiry-notices?after_id={page['next_after_id']}", headers=bearer(token[CVS])
    ).get_json()
    assert [n["member_token"] for n in rest["notices"]] == ["m2"]
    admin = checked_client.get(API + f"/expiry-notices?issuer={CVS}", headers=bearer(token[ADMIN])).get_json()
    assert len(admin["notices"]) == 3
    none = checked_client.get(API + "/expiry-notices", headers=bearer(token[CINEMA])).get_json()
    assert none == {"notices": [], "next_after_id": None}
    assert_error(
        checked_client.get(API + f"/expiry-notices?issuer={CVS}", headers=bearer(token[CINEMA])), 403, "NOT_YOUR_DATA"
    )
    for bad in ("limit=0", "limit=501", "after_id=-1", "after_id=x", "limit=1e3"):
        answer = checked_client.get(API + f"/expiry-notices?{bad}", headers=bearer(token[CVS]))
        assert_error(answer, 422, "REQUEST_FIELD_INVALID")


def test_the_member_history_shows_an_expiry_with_its_reason(checked_client, hub):  # noqa: F811
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 10, when=at(20))], on=datetime(2026, 11, 21, tzinfo=SHANGHAI))
    run_expiry(engine=hub.engine, now=datetime(2027, 1, 21, tzinfo=SHANGHAI), zone_name="Asia/Shanghai",
               notice_days=30, actor="scheduler")  # fmt: skip
    token = issue_api_token(engine=hub.engine, now=hub.now(), principal=CVS)
    answer = checked_client.get(API + f"/partners/{CVS}/members/m1/points", headers=bearer(token)).get_json()
    assert answer["balance"] == 0
    assert answer["history"][-1]["kind"] == "EXPIRY"
    assert (
        answer["history"][-1]["reason"]
        == "10 points earned on 2026-11-20 expired on 2027-01-20 (program expiry policy)"
    )
