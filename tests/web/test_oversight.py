"""Every admin and partner action lands in the hash-chained audit trail, with who, what, before and after;
alerts are read by admins (all) and partners (their own)."""

from __future__ import annotations

from flask.testing import FlaskClient

from clearinghouse import alerts
from clearinghouse.db import unit_of_work
from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN, issue_api_token
from tests.factories import CINEMA, CVS, earn
from tests.web.test_api_flow import PERIOD, Api, assert_error, bearer, standard_alliance, unchanged


def _entries(api: Api, **query: str) -> list[dict[str, object]]:
    response = api.get("/audit-log", query_string={"limit": "500", **query})
    assert response.status_code == 200, response.get_json()
    entries: list[dict[str, object]] = response.get_json()["entries"]
    return entries


def test_actions_are_audited_under_the_admins_name_and_the_partner(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    alice = issue_api_token(engine=hub.engine, now=hub.now(), principal=ADMIN, holder="alice")
    api.admin_token = alice
    api.register("bookshop", "书香书店", ["fulfiller"], "books")
    api.upload_rows(CVS, "f-1", [earn("m-1", 100)])

    registered = _entries(api, subject="partner:bookshop")
    assert [(e["action"], e["actor"]) for e in registered] == [
        ("partner.register", "admin:alice"),
        ("partner.key.add", "admin:alice"),
    ]
    assert registered[0]["before"] is None
    assert registered[0]["after"]["name"] == "书香书店"  # type: ignore[index]
    signed = _entries(api, subject="contract:cvs-alliance")
    assert [e["action"] for e in signed] == ["contract.propose"] + ["contract.sign"] * 3
    assert [e["after"]["status"] for e in signed[1:]][-1] == "active"  # type: ignore[index]
    assert all(e["before"]["status"] != "active" for e in signed[1:])  # type: ignore[index]
    (upload,) = _entries(api, subject=f"file:{CVS}:f-1")
    assert (upload["actor"], upload["after"]["accepted"]) == (CVS, 1)  # type: ignore[index]

    closed = api.post(f"/periods/{PERIOD}/close")
    assert closed.status_code == 201, closed.get_json()
    (close,) = _entries(api, subject=f"period:{PERIOD}")
    assert (close["actor"], close["before"], close["after"]["status"]) == ("admin:alice", {"status": "open"}, "closed")  # type: ignore[index]

    verified = api.get("/audit-log/verify").get_json()
    assert verified["ok"] is True and verified["rows"] == len(_entries(api)) and verified["first_bad_seq"] is None
    seqs = [e["seq"] for e in _entries(api)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_refused_action_leaves_no_audit_entry(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    with unchanged(hub):
        assert_error(
            api.post("/partners", json={"partner_id": "Bad Id", "name": "x", "roles": [], "category": "x"}), 422
        )
        assert_error(api.post("/partners", who=CVS, json={"partner_id": "x"}), 403)


def test_partners_cannot_read_the_audit_trail(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    assert_error(api.get("/audit-log", who=CVS), 403)
    assert_error(api.get("/audit-log/verify", who=CVS), 403)
    assert_error(api.get("/audit-log", query_string={"limit": "0"}), 422, "QUERY_INVALID")


def test_alerts_admin_sees_all_a_partner_its_own(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    with unit_of_work(hub.engine) as uow:
        for partner, key in ((CVS, "a"), (CINEMA, "b"), (CVS, "a")):
            alerts.raise_alert(
                uow.connection,
                kind="TEST",
                severity="warning",
                dedupe_key=f"test:{key}",
                message=f"about {partner}",
                now=hub.now(),
                partner_id=partner,
                period=PERIOD,
            )
        uow.commit()
    every = api.get("/alerts").get_json()["alerts"]
    assert sorted(a["partner_id"] for a in every) == [CINEMA, CVS]  # the repeated condition raised one alert
    own = client.get("/api/v1/alerts", headers=bearer(api.tokens[CVS])).get_json()["alerts"]
    assert [a["partner_id"] for a in own] == [CVS]
    assert alerts.count_alerts(hub.engine) == 2


def test_an_auditor_reads_everything_and_changes_nothing(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    api.upload_rows(CVS, "f-1", [earn("m-1", 100)])
    carol = bearer(issue_api_token(engine=hub.engine, now=hub.now(), principal="auditor", holder="carol"))
    for path in (
        "/partners",
        "/audit-log",
        "/audit-log/verify",
        "/alerts",
        "/contracts",
        f"/partners/{CVS}/files/f-1/ack",
        "/periods",
    ):
        assert client.get("/api/v1" + path, headers=carol).status_code == 200, path
    assert client.get("/api/v1/alerts", headers=carol).get_json() == api.get("/alerts").get_json()
    body = {"partner_id": "tea", "name": "茶语", "roles": ["fulfiller"], "category": "tea"}
    with unchanged(hub):
        assert_error(client.post("/api/v1/partners", json=body, headers=carol), 403, "AUDITOR_READ_ONLY")
        assert_error(client.post(f"/api/v1/periods/{PERIOD}/close", headers=carol), 403, "AUDITOR_READ_ONLY")
    (issued,) = [e for e in _entries(api, subject="credential:auditor")]
    assert issued["after"] == {"principal": "auditor", "holder": "carol"}


def test_auditor_is_a_reserved_partner_id(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    body = {"partner_id": "auditor", "name": "x", "roles": ["issuer"], "category": "x"}
    assert_error(api.post("/partners", json=body), 422)


def test_real_time_calls_are_audited_under_the_till(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    api.upload_rows(CVS, "f-1", [earn("m-1", 100)])
    hold = {"reference": "T1", "issuer_id": CVS, "member_token": "m-1", "points": 40, "category": "cinema"}
    assert api.post("/authorizations", who=CINEMA, json=hold).status_code == 201
    assert api.post("/authorizations/T1/capture", who=CINEMA, json={"points": 30}).status_code == 200
    assert api.post("/authorizations/T1/refunds", who=CINEMA, json={"reference": "R1", "points": 5}).status_code == 201
    trail = _entries(api, subject=f"authorization:{CINEMA}:T1")
    assert [(e["actor"], e["action"]) for e in trail] == [
        (CINEMA, "authorization.hold"),
        (CINEMA, "authorization.capture"),
        (CINEMA, "authorization.refund"),
    ]
    assert trail[1]["before"] == {"status": "HELD"}
    assert (trail[1]["after"]["status"], trail[1]["after"]["captured_points"]) == ("CAPTURED", 30)  # type: ignore[index]
    assert api.get("/audit-log/verify").get_json()["ok"] is True


def test_an_admin_revokes_a_partners_tokens_and_they_stop_working(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    leaked = api.tokens[CVS]
    assert client.get(f"/api/v1/partners/{CVS}", headers=bearer(leaked)).status_code == 200
    assert_error(api.post(f"/partners/{CVS}/tokens/revoke", who=CINEMA), 403, "ADMIN_ONLY")
    assert_error(api.post("/partners/nobody/tokens/revoke"), 404, "PARTNER_NOT_FOUND")
    answer = api.post(f"/partners/{CVS}/tokens/revoke")
    assert answer.status_code == 200 and answer.get_json() == {"principal": CVS, "revoked": 1}
    assert_error(client.get(f"/api/v1/partners/{CVS}", headers=bearer(leaked)), 401, "TOKEN_INVALID")
    assert client.get(f"/api/v1/partners/{CINEMA}", headers=bearer(api.tokens[CINEMA])).status_code == 200
    assert api.post(f"/partners/{CVS}/tokens/revoke").get_json()["revoked"] == 0
    (entry,) = _entries(api, subject=f"credential:{CVS}")[-1:]
    assert (entry["action"], entry["after"]["revoked"]) == ("credential.revoke", 1)  # type: ignore[index]


def test_huge_or_missing_numbers_are_a_422_never_a_500(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    hold = {"reference": "T1", "issuer_id": CVS, "member_token": "m-1", "category": "cinema"}
    with unchanged(hub):
        for points in (2**63, -(2**64), 10**30):
            answer = api.post("/authorizations", who=CINEMA, json={**hold, "points": points})
            assert_error(answer, 422, "REQUEST_FIELD_INVALID")
        missing = assert_error(api.post("/authorizations", who=CINEMA, json=hold), 422, "REQUEST_FIELD_INVALID")
        assert missing["message"] == "points is required (an integer)"
        wrong = assert_error(api.post("/authorizations", who=CINEMA, json={**hold, "points": "5"}), 422)
        assert wrong["message"] == "points must be an integer"
