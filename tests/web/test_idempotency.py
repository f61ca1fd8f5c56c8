"""``Idempotency-Key`` on every POST, over real HTTP (Flask test client), on SQLite and PostgreSQL.

Same key and same request → the first answer, byte for byte, and no second effect; same key and another
request → 409 ``IDEMPOTENCY_KEY_REUSED`` and nothing changes; keys are scoped per principal; a 4xx is kept
and replayed, a 5xx releases the key; a key whose first request is still running is 409
``IDEMPOTENCY_KEY_IN_FLIGHT``; the unique constraint on (principal, key) is the database's own.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from clearinghouse import idempotency
from clearinghouse.hub import Hub
from clearinghouse.services import partners as partner_service
from clearinghouse.services.partners import ADMIN, issue_api_token
from contracts.terms import terms_to_json
from tests.factories import CINEMA, CVS, EYEWEAR, PartyKey, earn, file_bytes, redeem
from tests.web.test_api_flow import (
    API,
    NAMES,
    Api,
    assert_error,
    bearer,
    cvs_terms,
    row_snapshot,
    standard_alliance,
    unchanged,
    upload_data,
)

TEAHOUSE = {"partner_id": "teahouse", "name": "茶语", "roles": ["fulfiller"], "category": "tea"}
KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


ADMIN_ACTOR = "admin:admin"  # keys are scoped per person: an admin token without a name is "admin:admin"


def post(api: Api, path: str, key: str | None, who: str = ADMIN, **kwargs: Any) -> TestResponse:
    headers = {**api.auth(who), **({KEY: key} if key is not None else {})}
    return api.client.post(API + path, headers=headers, **kwargs)


def upload(api: Api, who: str, content: bytes, key: str | None, signature: bytes | None = None) -> TestResponse:
    signature = api.keys[who].sign(content) if signature is None else signature
    return post(api, "/files", key, who, data=upload_data(content, signature), content_type="multipart/form-data")


def count(hub: Hub, table: str) -> int:
    with hub.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def key_rows(hub: Hub) -> list[tuple[Any, ...]]:
    with hub.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT principal, key, status_code, response_body FROM idempotency_key ORDER BY principal, key, id")
        )
        return [tuple(row) for row in rows]


def assert_replay(first: TestResponse, again: TestResponse) -> None:
    """The retry got the first answer: status, content type and every body byte."""
    assert REPLAYED not in first.headers
    assert again.headers.get(REPLAYED) == "true"
    assert again.status_code == first.status_code, (again.status_code, again.get_data()[:300])
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert again.get_data() == first.get_data()


# ------------------------------------------------------------------ coverage
def test_every_post_route_under_the_api_honours_the_key(app: Flask) -> None:
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith(API) and "POST" in (r.methods or ())]
    assert len(routes) >= 7
    for rule in routes:
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "idempotency", None) in ("replay", "withheld"), (
            f"POST {rule.rule} does not honour Idempotency-Key: add @idempotent below its auth decorator"
        )


# ------------------------------------------------------------------ replay, no second effect
def test_partner_registration_and_key_replayed(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    first = post(api, "/partners", "reg-1", json=TEAHOUSE)
    assert first.status_code == 201, first.get_json()
    with unchanged(hub):
        assert_replay(first, post(api, "/partners", "reg-1", json=TEAHOUSE))

    pem = PartyKey().public_pem()
    added = post(api, "/partners/teahouse/keys", "key-1", data=pem.encode(), content_type="text/plain")
    assert added.status_code == 201, added.get_json()
    with unchanged(hub):
        assert_replay(
            added, post(api, "/partners/teahouse/keys", "key-1", data=pem.encode(), content_type="text/plain")
        )
    assert count(hub, "partner") == 1 and count(hub, "partner_key") == 1
    assert [row[:3] for row in key_rows(hub)] == [(ADMIN_ACTOR, "key-1", 201), (ADMIN_ACTOR, "reg-1", 201)]


def test_same_key_other_request_is_409_and_changes_nothing(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    assert post(api, "/partners", "k", json=TEAHOUSE).status_code == 201
    other = {**TEAHOUSE, "partner_id": "teahouse-2"}
    with unchanged(hub):
        body = assert_error(post(api, "/partners", "k", json=other), 409, "IDEMPOTENCY_KEY_REUSED")
        assert (body["original_method"], body["original_path"]) == ("POST", f"{API}/partners")
        # the exact bytes count: the same JSON spaced differently is another request
        spaced = json.dumps(TEAHOUSE, indent=1).encode()
        assert_error(post(api, "/partners", "k", data=spaced, content_type="application/json"), 409)
        # another path or content type under the key is another request too
        assert_error(post(api, "/partners/teahouse/tokens", "k"), 409, "IDEMPOTENCY_KEY_REUSED")
    assert api.get("/partners/teahouse-2").status_code == 404


def test_contract_signature_replays_the_original_answer(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    for partner_id, roles, category in ((CVS, ["issuer"], "convenience"), (CINEMA, ["fulfiller"], "cinema")):
        api.register(partner_id, NAMES[partner_id], roles, category)
    api.register(EYEWEAR, NAMES[EYEWEAR], ["fulfiller"], "eyewear")
    proposed = post(api, "/contracts", "propose", json=terms_to_json(cvs_terms()))
    assert proposed.status_code == 201, proposed.get_json()
    with unchanged(hub):
        assert_replay(proposed, post(api, "/contracts", "propose", json=terms_to_json(cvs_terms())))

    path = "/contracts/cvs-alliance/versions/1"
    canonical = api.get(path + "/canonical", who=CVS).get_data()
    payload = {"signature": base64.b64encode(api.keys[CVS].sign(canonical)).decode()}
    signed = post(api, path + "/signatures", "sign-1", CVS, json=payload)
    assert signed.status_code == 201 and signed.get_json()["signed_by"] == [CVS]
    with unchanged(hub):
        assert_replay(signed, post(api, path + "/signatures", "sign-1", CVS, json=payload))
    assert count(hub, "contract_signature") == 1

    for party in (CINEMA, EYEWEAR):
        assert api.sign(party, "cvs-alliance").status_code == 201
    # the replay is the answer given then (a draft signed by cvs), not the state now (active)
    assert api.get(path).get_json()["status"] == "active"
    again = post(api, path + "/signatures", "sign-1", CVS, json=payload)
    assert_replay(signed, again)
    assert again.get_json()["status"] == "draft"
    assert count(hub, "contract_signature") == 4  # three parties and the hub


def test_a_retried_upload_answers_the_original_acknowledgement_not_a_duplicate(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    content = file_bytes(CVS, "CVS-1", [earn("m1", 500), earn("", 100, receipt="R-2")])
    first = upload(api, CVS, content, "upload-1")
    assert first.status_code == 201, first.get_json()
    with unchanged(hub):
        # the test client draws a new multipart boundary for every request, as curl does
        assert_replay(first, upload(api, CVS, content, "upload-1"))
        # the same parts under explicit, different boundaries and file names: the same request
        signature = api.keys[CVS].sign(content)
        for boundary in ("b-one", "b-two"):
            _, body = encode_multipart(
                {
                    "signature": FileStorage(io.BytesIO(signature), "x.sig"),
                    "file": FileStorage(io.BytesIO(content), f"{boundary}.csv"),
                },
                boundary=boundary,
            )
            again = post(
                api, "/files", "upload-1", CVS, data=body, content_type=f"multipart/form-data; boundary={boundary}"
            )
            assert_replay(first, again)
        # without a key the same upload is refused as a duplicate, as before
        assert_error(upload(api, CVS, content, None), 409, "FILE_DUPLICATE")
        # other bytes under the key: refused, nothing posted
        changed = file_bytes(CVS, "CVS-2", [earn("m1", 501)])
        assert_error(upload(api, CVS, changed, "upload-1"), 409, "IDEMPOTENCY_KEY_REUSED")
    assert count(hub, "settlement_file") == 1 and count(hub, "clearing_record") == 2


def test_a_large_upload_spooled_to_disk_is_fingerprinted_and_still_verifies(client: FlaskClient, hub: Hub) -> None:
    """Over 500 KiB the form parser spools a part to a temporary file; hashing it must hand the view the
    stream rewound (the file and the signature part), so the signature still verifies over the exact bytes."""
    api = standard_alliance(client, hub)
    rows = [earn(f"member-{n:05d}-{'x' * 100}", 1 + n % 9, receipt=f"R-{n:06d}") for n in range(3600)]
    content = file_bytes(CVS, "CVS-BIG", rows)
    assert len(content) > 600 * 1024
    first = upload(api, CVS, content, "big")
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["accepted"] == 3600
    with unchanged(hub):
        assert_replay(first, upload(api, CVS, content, "big"))


def test_a_period_close_is_replayed(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    api.upload_rows(CVS, "F1", [earn("m1", 500)])
    closed = post(api, "/periods/2026-11/close", "close-nov")
    assert closed.status_code == 201, closed.get_json()
    with unchanged(hub):
        assert_replay(closed, post(api, "/periods/2026-11/close", "close-nov"))
        assert_error(post(api, "/periods/2026-11/close", None), 409, "PERIOD_ALREADY_CLOSED")


# ------------------------------------------------------------------ scope
def test_principals_use_the_same_key_independently(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    assert post(api, "/partners", "shared", json=TEAHOUSE).status_code == 201
    cvs = upload(api, CVS, file_bytes(CVS, "CVS-1", [earn("m1", 500)]), "shared")
    cinema = upload(api, CINEMA, file_bytes(CINEMA, "CIN-1", [redeem("m1", 100)]), "shared")
    assert cvs.status_code == 201, cvs.get_json()
    assert cinema.status_code == 201 and REPLAYED not in cinema.headers, cinema.get_json()
    assert cinema.get_json()["accepted"] == 1
    assert {row[0] for row in key_rows(hub)} == {ADMIN_ACTOR, CVS, CINEMA}
    # each principal's retry replays its own answer
    assert_replay(cvs, upload(api, CVS, file_bytes(CVS, "CVS-1", [earn("m1", 500)]), "shared"))


def test_all_admin_tokens_are_one_principal(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    first = post(api, "/partners", "admin-key", json=TEAHOUSE)
    other_admin = Api.open(client, hub)
    assert_replay(first, post(other_admin, "/partners", "admin-key", json=TEAHOUSE))


# ------------------------------------------------------------------ 4xx kept, 5xx released
def test_a_4xx_is_kept_and_replayed(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    bad = {**TEAHOUSE, "roles": ["baker"]}
    refused = post(api, "/partners", "bad-1", json=bad)
    body = assert_error(refused, 422)
    with unchanged(hub):
        again = post(api, "/partners", "bad-1", json=bad)
        assert_replay(refused, again)
        assert again.get_json() == body
        # a corrected request needs a new key
        assert_error(post(api, "/partners", "bad-1", json=TEAHOUSE), 409, "IDEMPOTENCY_KEY_REUSED")
    assert post(api, "/partners", "bad-2", json=TEAHOUSE).status_code == 201

    # a refused file: the signed refusal acknowledgement comes back the same, not a fresh one
    api = standard_alliance(client, hub)
    content = file_bytes(CVS, "CVS-1", [earn("m1", 500)])
    rejected = upload(api, CVS, content, "bad-file", signature=b"\x00" * 64)
    assert assert_error(rejected, 422, "FILE_SIGNATURE_INVALID")["acknowledgement"]
    with unchanged(hub):
        assert_replay(rejected, upload(api, CVS, content, "bad-file", signature=b"\x00" * 64))
    # authentication and authorisation come first and are never kept under the key
    assert_error(post(api, "/partners", "bad-file", CVS, json=TEAHOUSE), 403, "ADMIN_ONLY")
    assert (CVS, "bad-file", 422) in [row[:3] for row in key_rows(hub)]


def test_a_5xx_releases_the_key_so_a_retry_runs(client: FlaskClient, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api.open(client, hub)
    real = partner_service.register_partner
    calls: list[int] = []

    def failing_once(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real(**kwargs)

    monkeypatch.setattr(partner_service, "register_partner", failing_once)
    assert_error(post(api, "/partners", "flaky", json=TEAHOUSE), 500, "INTERNAL")
    assert key_rows(hub) == []
    retried = post(api, "/partners", "flaky", json=TEAHOUSE)
    assert retried.status_code == 201 and REPLAYED not in retried.headers
    assert len(calls) == 2 and count(hub, "partner") == 1
    assert_replay(retried, post(api, "/partners", "flaky", json=TEAHOUSE))
    assert len(calls) == 2


# ------------------------------------------------------------------ the key header
@pytest.mark.parametrize(
    "value",
    ["", "x" * 201, "tab\there", "nul\x00", "é-latin-1", "\x7f"],
    ids=["empty", "201-chars", "tab", "nul", "non-ascii", "del"],
)
def test_an_invalid_key_is_422_and_changes_nothing(client: FlaskClient, hub: Hub, value: str) -> None:
    api = Api.open(client, hub)
    with unchanged(hub):
        assert_error(post(api, "/partners", value, json=TEAHOUSE), 422, "IDEMPOTENCY_KEY_INVALID")


def test_the_longest_key_is_fine(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    longest = "~ !" + "k" * 197
    assert post(api, "/partners", longest, json=TEAHOUSE).status_code == 201
    assert key_rows(hub)[0][1] == longest


def test_a_key_on_a_get_is_ignored(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    response = client.get(API + "/partners", headers={**api.auth(ADMIN), KEY: "\x01 not even valid"})
    assert response.status_code == 200 and key_rows(hub) == []


# ------------------------------------------------------------------ secrets
def test_a_token_is_issued_once_and_never_kept(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    assert post(api, "/partners", None, json=TEAHOUSE).status_code == 201
    issued = post(api, "/partners/teahouse/tokens", "token-1")
    assert issued.status_code == 201
    token = issued.get_json()["token"]
    with unchanged(hub):
        body = assert_error(post(api, "/partners/teahouse/tokens", "token-1"), 409, "IDEMPOTENCY_REPLAY_WITHHELD")
        assert body["original_status"] == 201 and token not in str(body)
    assert key_rows(hub) == [(ADMIN_ACTOR, "token-1", 201, None)]
    with hub.engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM idempotency_key")).one()
    assert token not in repr(tuple(stored))


# ------------------------------------------------------------------ in flight
def test_a_second_request_while_the_first_runs_is_409_in_flight(
    app: Flask, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request holds the key (its placeholder is committed) while its view runs; the same request
    meanwhile gets 409 IN_FLIGHT and runs nothing; after the first answers, the retry replays it."""
    api = Api.open(app.test_client(), hub)
    assert post(api, "/partners", None, json=TEAHOUSE).status_code == 201
    real = partner_service.issue_partner_token
    entered, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(**kwargs: Any) -> str:
        calls.append(kwargs["partner_id"])
        entered.set()
        assert release.wait(30)
        return real(**kwargs)

    monkeypatch.setattr(partner_service, "issue_partner_token", slow)
    tokens_before = count(hub, "api_credential")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(
            lambda: post(Api(app.test_client(), hub, api.admin_token), "/partners/teahouse/tokens", "t")
        )
        assert entered.wait(30)
        body = assert_error(post(api, "/partners/teahouse/tokens", "t"), 409, "IDEMPOTENCY_KEY_IN_FLIGHT")
        assert datetime.fromisoformat(body["in_flight_since"]) == hub.now()
        release.set()
        assert first.result(30).status_code == 201
    assert calls == ["teahouse"] and count(hub, "api_credential") == tokens_before + 1
    assert_error(post(api, "/partners/teahouse/tokens", "t"), 409, "IDEMPOTENCY_REPLAY_WITHHELD")


def test_concurrent_first_requests_make_one_effect(app: Flask, hub: Hub) -> None:
    """Eight identical first requests at once, on an endpoint that is not idempotent by itself (each call
    issues a new token): the unique constraint lets exactly one run."""
    api = Api.open(app.test_client(), hub)
    assert post(api, "/partners", None, json=TEAHOUSE).status_code == 201
    tokens_before = count(hub, "api_credential")
    start = threading.Barrier(8)

    def attempt(_: int) -> tuple[int, str]:
        caller = Api(app.test_client(), hub, api.admin_token)
        start.wait(30)
        response = post(caller, "/partners/teahouse/tokens", "race")
        return response.status_code, response.get_json().get("code", "")

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sorted(outcomes).count((201, "")) == 1, outcomes
    assert {code for status, code in outcomes if status != 201} <= {
        "IDEMPOTENCY_KEY_IN_FLIGHT",
        "IDEMPOTENCY_REPLAY_WITHHELD",
    }, outcomes
    assert count(hub, "api_credential") == tokens_before + 1
    assert [row[:3] for row in key_rows(hub)] == [(ADMIN_ACTOR, "race", 201)]


def test_concurrent_uploads_with_one_key_post_the_file_once(app: Flask, hub: Hub) -> None:
    api = standard_alliance(app.test_client(), hub)
    content = file_bytes(CVS, "CVS-1", [earn(f"m{n}", 10 + n, receipt=f"R-{n}") for n in range(50)])
    start = threading.Barrier(6)

    def attempt(_: int) -> TestResponse:
        caller = Api(app.test_client(), hub, api.admin_token, dict(api.tokens), dict(api.keys))
        start.wait(30)
        return upload(caller, CVS, content, "race")

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(attempt, range(6)))
    won = [r for r in responses if r.status_code == 201]
    assert won, [r.get_json() for r in responses]
    assert len({r.get_data() for r in won}) == 1  # the winner's answer, and replays of it
    assert sum(REPLAYED not in r.headers for r in won) == 1
    for response in responses:
        if response.status_code != 201:
            assert_error(response, 409, "IDEMPOTENCY_KEY_IN_FLIGHT")
    assert count(hub, "settlement_file") == 1 and count(hub, "clearing_record") == 50


def test_an_answer_that_could_not_be_stored_leaves_the_key_in_flight(
    client: FlaskClient, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If storing the answer fails after the service committed, the client still gets the real answer and
    the key stays in flight: a retry is refused (409) rather than run a second time."""
    api = Api.open(client, hub)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("lost the database between the view and the store")

    monkeypatch.setattr(idempotency, "complete", broken)
    first = post(api, "/partners", "lost", json=TEAHOUSE)
    assert first.status_code == 201, first.get_json()
    monkeypatch.undo()
    with unchanged(hub):
        assert_error(post(api, "/partners", "lost", json=TEAHOUSE), 409, "IDEMPOTENCY_KEY_IN_FLIGHT")
        assert_error(post(api, "/partners", "lost", json={**TEAHOUSE, "name": "x"}), 409, "IDEMPOTENCY_KEY_REUSED")
    assert key_rows(hub) == [(ADMIN_ACTOR, "lost", None, None)]


# ------------------------------------------------------------------ the database's constraint
def test_the_database_refuses_a_second_row_for_a_principal_and_key(hub: Hub) -> None:
    insert = text(
        "INSERT INTO idempotency_key (principal, key, fingerprint, method, path, created_at) "
        "VALUES (:principal, :key, :fingerprint, 'POST', '/api/v1/partners', :now)"
    )
    now = datetime(2026, 12, 3, 4, tzinfo=UTC).replace(tzinfo=None)
    with hub.engine.begin() as connection:
        connection.execute(insert, {"principal": CVS, "key": "k", "fingerprint": "a" * 64, "now": now})
        connection.execute(insert, {"principal": CINEMA, "key": "k", "fingerprint": "a" * 64, "now": now})
    for fingerprint in ("a" * 64, "b" * 64):
        with pytest.raises(IntegrityError), hub.engine.begin() as connection:
            connection.execute(insert, {"principal": CVS, "key": "k", "fingerprint": fingerprint, "now": now})
    assert count(hub, "idempotency_key") == 2
    # an answer needs its status in range and a content type
    with pytest.raises(IntegrityError), hub.engine.begin() as connection:
        connection.execute(text("UPDATE idempotency_key SET status_code = 500 WHERE principal = :p"), {"p": CVS})


def test_row_snapshot_watches_the_key_table(client: FlaskClient, hub: Hub) -> None:
    """The shared ``unchanged`` helper counts every table, so the assertions above see key rows too."""
    api = Api.open(client, hub)
    before = row_snapshot(hub)
    assert post(api, "/partners", "watched", json=TEAHOUSE).status_code == 201
    after = row_snapshot(hub)
    assert after["idempotency_key"] == before["idempotency_key"] + 1


def test_two_admins_never_share_an_idempotency_key(client: FlaskClient, hub: Hub) -> None:
    """Keys are scoped to the person: bob reusing alice's key runs his own request, never gets her answer."""
    alice = issue_api_token(engine=hub.engine, now=hub.now(), principal=ADMIN, holder="alice")
    bob = issue_api_token(engine=hub.engine, now=hub.now(), principal=ADMIN, holder="bob")
    body = {"partner_id": "cvs", "name": "易达便利", "roles": ["issuer"], "category": "convenience"}
    first = client.post("/api/v1/partners", json=body, headers={**bearer(alice), "Idempotency-Key": "k"})
    assert first.status_code == 201
    other = client.post(
        "/api/v1/partners", json={**body, "partner_id": "tea"}, headers={**bearer(bob), "Idempotency-Key": "k"}
    )
    assert other.status_code == 201 and other.get_json()["partner_id"] == "tea"
    assert "Idempotent-Replayed" not in other.headers
