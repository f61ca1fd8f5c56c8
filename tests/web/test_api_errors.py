"""Bad input over HTTP never gets a 500 and changes nothing: every refusal is a JSON ``{"code", "message"}``
with a 4xx status, and the main tables' row counts (and ledger totals) are the same after it as before.

Also idempotency (a retried call answers the same; a different call under the same identity is a conflict)
and a small hypothesis fuzz of every POST endpoint.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN
from contracts.terms import FulfillerTerms, terms_to_json
from partners.keys import PublicKey
from tests.factories import CINEMA, CVS, EYEWEAR, PartyKey, earn, file_bytes, redeem, terms
from tests.web.test_api_flow import (
    API,
    NAMES,
    Api,
    assert_error,
    cvs_terms,
    parse_ack,
    raw_public,
    row_snapshot,
    standard_alliance,
    unchanged,
    upload_data,
)

TEAHOUSE = {"partner_id": "teahouse", "name": "茶语", "roles": ["fulfiller"], "category": "tea"}
JSON = "application/json"


def refuse(
    api: Api, method: str, path: str, status: int, code: str | None = None, *, who: str = ADMIN, **kwargs: Any
) -> dict[str, Any]:
    """Make the call, check it is refused as ``status``/``code`` and changed nothing; the error body."""
    with unchanged(api.hub):
        response = api.client.open(API + path, method=method, headers=api.auth(who), **kwargs)
        return assert_error(response, status, code)


def with_field(body: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed[name] = value
    return changed


def without(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != name}


def onboarded(client: FlaskClient, hub: Hub) -> Api:
    """cvs (issuer), cinema and eyewear (fulfillers) with keys and tokens; no contract yet."""
    api = Api.open(client, hub)
    api.register(CVS, NAMES[CVS], ["issuer"], "convenience")
    api.register(CINEMA, NAMES[CINEMA], ["fulfiller"], "cinema")
    api.register(EYEWEAR, NAMES[EYEWEAR], ["fulfiller"], "eyewear")
    return api


def on_postgresql(hub: Hub) -> bool:
    return hub.engine.dialect.name == "postgresql"


# ------------------------------------------------------------------ malformed bodies
MALFORMED_JSON = [
    b'{"partner_id": ',
    b"{'partner_id': 'x'}",
    b"",
    b"\xff\xfe{}",
    b"{} {}",
    b"[1, 2",
    b"nul",
    b'{"partner_id": ' + b"1" * 5000 + b"}",  # beyond Python's int-string limit: ValueError, not a 500
]
NOT_AN_OBJECT = [b"[]", b'[{"partner_id": "teahouse"}]', b'"teahouse"', b"42", b"true", b"null", b"1.5"]


def test_malformed_json_and_non_objects_are_refused(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    endpoints = [
        (ADMIN, "/partners"),
        (ADMIN, f"/partners/{CVS}/keys"),
        (ADMIN, "/contracts"),
        (CVS, "/contracts/cvs-alliance/versions/1/signatures"),
    ]
    for who, path in endpoints:
        for body in MALFORMED_JSON + NOT_AN_OBJECT:
            error = refuse(api, "POST", path, 422, "REQUEST_JSON_INVALID", who=who, data=body, content_type=JSON)
            assert "JSON object" in error["message"]
    # a JSON object sent without the JSON media type is not read as JSON
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        refuse(
            api, "POST", "/partners", 422, "REQUEST_JSON_INVALID", data=json.dumps(TEAHOUSE), content_type=content_type
        )
        refuse(
            api,
            "POST",
            "/contracts",
            422,
            "REQUEST_JSON_INVALID",
            data=json.dumps(terms_to_json(cvs_terms())),
            content_type=content_type,
        )


def test_deeply_nested_json_is_refused_not_a_500(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    refuse(api, "POST", "/partners", 422, "REQUEST_JSON_INVALID", data=b"[" * 100_000, content_type=JSON)


# ------------------------------------------------------------------ partners
PARTNER_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("int for string id", with_field(TEAHOUSE, "partner_id", 1), "REQUEST_FIELD_INVALID"),
    ("int for string name", with_field(TEAHOUSE, "name", 5), "REQUEST_FIELD_INVALID"),
    ("list for name", with_field(TEAHOUSE, "name", ["茶语"]), "REQUEST_FIELD_INVALID"),
    ("string for roles", with_field(TEAHOUSE, "roles", "fulfiller"), "REQUEST_FIELD_INVALID"),
    ("object for roles", with_field(TEAHOUSE, "roles", {"fulfiller": True}), "REQUEST_FIELD_INVALID"),
    ("no roles", with_field(TEAHOUSE, "roles", []), "PARTNER_INVALID"),
    ("unknown role", with_field(TEAHOUSE, "roles", ["owner"]), "PARTNER_INVALID"),
    ("int role", with_field(TEAHOUSE, "roles", [1]), "PARTNER_INVALID"),
    ("null category", with_field(TEAHOUSE, "category", None), "REQUEST_FIELD_INVALID"),
    ("int for bool", with_field(TEAHOUSE, "operates_online_platform", 1), "REQUEST_FIELD_INVALID"),
    ("string for bool", with_field(TEAHOUSE, "operates_online_platform", "true"), "REQUEST_FIELD_INVALID"),
    (
        "int licence number",
        {**TEAHOUSE, "licence_number": 123, "licence_expires_on": "2030-01-01"},
        "REQUEST_FIELD_INVALID",
    ),
    (
        "int licence date",
        {**TEAHOUSE, "licence_number": "京B2-1", "licence_expires_on": 20301231},
        "REQUEST_FIELD_INVALID",
    ),
    (
        "impossible licence date",
        {**TEAHOUSE, "licence_number": "京B2-1", "licence_expires_on": "2030-02-30"},
        "REQUEST_FIELD_INVALID",
    ),
    ("licence number without date", {**TEAHOUSE, "licence_number": "京B2-1"}, "PARTNER_INVALID"),
    ("upper-case id", with_field(TEAHOUSE, "partner_id", "TEA"), "PARTNER_INVALID"),
    ("reserved id", with_field(TEAHOUSE, "partner_id", "hub"), "PARTNER_INVALID"),
    ("one-letter id", with_field(TEAHOUSE, "partner_id", "t"), "PARTNER_INVALID"),
    ("41-letter id", with_field(TEAHOUSE, "partner_id", "t" * 41), "PARTNER_INVALID"),
    ("id with a space", with_field(TEAHOUSE, "partner_id", "tea house"), "PARTNER_INVALID"),
    ("blank name", with_field(TEAHOUSE, "name", "  "), "PARTNER_INVALID"),
    ("101-letter name", with_field(TEAHOUSE, "name", "茶" * 101), "PARTNER_INVALID"),
    ("name with a line break", with_field(TEAHOUSE, "name", "茶\n语"), "PARTNER_INVALID"),
    ("name with a bidi override", with_field(TEAHOUSE, "name", "茶\u202e语"), "PARTNER_INVALID"),
    ("name with a lone surrogate", with_field(TEAHOUSE, "name", "茶\ud800"), "PARTNER_INVALID"),
    *[(f"missing {name}", without(TEAHOUSE, name), "REQUEST_FIELD_INVALID") for name in TEAHOUSE],
]


def test_bad_partner_registrations_are_refused_and_retries_answer_the_same(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    for label, body, code in PARTNER_CASES:
        # ensure_ascii: a lone surrogate must travel as the JSON escape \ud800, as a real client would send it
        data = json.dumps(body, ensure_ascii=True)
        error = refuse(api, "POST", "/partners", 422, code, data=data, content_type=JSON)
        assert error["message"], label
    assert api.get("/partners").get_json() == {"partners": []}

    # idempotency: the same partner again answers the same (normalised input included); other data conflicts
    first = api.post("/partners", json=TEAHOUSE)
    assert first.status_code == 201
    with unchanged(hub):
        for same in (
            TEAHOUSE,
            with_field(TEAHOUSE, "name", " 茶语 "),
            with_field(TEAHOUSE, "roles", ["fulfiller"] * 2),
        ):
            again = api.post("/partners", json=same)
            assert again.status_code == 201 and again.get_json() == first.get_json()
    for other in (
        with_field(TEAHOUSE, "name", "茶语二"),
        with_field(TEAHOUSE, "roles", ["issuer", "fulfiller"]),
        with_field(TEAHOUSE, "category", "books"),
        with_field(TEAHOUSE, "operates_online_platform", True),
    ):
        refuse(api, "POST", "/partners", 409, "PARTNER_EXISTS", json=other)
    suspension = {"issuing_suspended": False, "suspended_since": None}  # RL4 state, shown on a partner's GET
    assert api.get("/partners/teahouse").get_json() == {**first.get_json(), **suspension}


def test_unknown_partners_contracts_periods_and_statements(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    key = PartyKey()
    refuse(api, "POST", "/partners/nobody/keys", 404, "PARTNER_NOT_FOUND", json={"public_key": key.public_pem()})
    refuse(
        api,
        "POST",
        "/partners/nobody/keys",
        404,
        "PARTNER_NOT_FOUND",
        data=PublicKey(raw_public(key)).ssh_line(),
        content_type="text/plain",
    )
    refuse(api, "POST", "/partners/nobody/tokens", 404, "PARTNER_NOT_FOUND")
    refuse(api, "GET", "/partners/nobody", 404, "PARTNER_NOT_FOUND")
    refuse(api, "GET", "/partners/nobody/keys", 404, "PARTNER_NOT_FOUND")
    refuse(api, "GET", "/partners/nobody/files/F1/ack", 404, "FILE_NOT_FOUND")
    refuse(api, "GET", f"/partners/{CVS}/files/F1/ack.sig", 404, "FILE_NOT_FOUND")
    for path in (
        "/contracts/nothing/versions/1",
        "/contracts/nothing/versions/1/canonical",
        "/contracts/cvs-alliance/versions/2",
        "/contracts/cvs-alliance/versions/0",
    ):
        refuse(api, "GET", path, 404, "CONTRACT_NOT_FOUND")
    signature = base64.b64encode(api.keys[CVS].sign(b"x")).decode()
    refuse(
        api,
        "POST",
        "/contracts/nothing/versions/1/signatures",
        404,
        "CONTRACT_NOT_FOUND",
        who=CVS,
        json={"signature": signature},
    )

    # periods and statement names
    for period in ("2026-13", "2026-00", "2026-1", "26-11", "2026_11", "abcd-ef", "2026-11-01", "%202026-1"):
        refuse(api, "POST", f"/periods/{period}/close", 422, "PERIOD_MALFORMED")
        refuse(api, "GET", f"/periods/{period}/statements/{CVS}.csv", 422, "PERIOD_MALFORMED")
    error = refuse(api, "POST", "/periods/2026-12/close", 422, "PERIOD_NOT_ENDED")
    assert "2026-12" in error["message"]
    refuse(api, "POST", "/periods/2027-01/close", 422, "PERIOD_NOT_ENDED")
    for period in ("9999-12", "0000-01", "0001-01"):  # beyond what the calendar holds: refused, not a 500
        refuse(api, "POST", f"/periods/{period}/close", 422, "PERIOD_MALFORMED")
    for name in (f"{CVS}.pdf", CVS, f"{CVS}.csv.gz", f"{CVS}.sig", f"{CVS}.", f".{CVS}.csv"):
        refuse(api, "GET", f"/periods/2026-11/statements/{name}", 404, "STATEMENT_NOT_FOUND")
    refuse(api, "GET", f"/periods/2026-11/statements/{CVS}.csv", 404, "STATEMENT_NOT_FOUND")  # not closed yet


def test_a_huge_contract_version_in_the_url_is_404(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    api.register(CVS, NAMES[CVS], ["issuer"], "convenience")
    for version in (2**31, 2**64):
        refuse(api, "GET", f"/contracts/cvs-alliance/versions/{version}", 404, "CONTRACT_NOT_FOUND")
        signature = base64.b64encode(api.keys[CVS].sign(b"x")).decode()
        refuse(
            api,
            "POST",
            f"/contracts/cvs-alliance/versions/{version}/signatures",
            404,
            "CONTRACT_NOT_FOUND",
            who=CVS,
            json={"signature": signature},
        )


def test_a_nul_character_in_a_path_is_not_a_500(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    for path, code in (
        ("/partners/%00", "NOT_FOUND"),
        ("/partners/%00/keys", "NOT_FOUND"),
        (f"/partners/{CVS}/files/%00/ack", "NOT_FOUND"),
        ("/contracts/%00/versions/1", "NOT_FOUND"),
        ("/periods/2026-11/statements/%00.csv", "NOT_FOUND"),
    ):
        refuse(api, "GET", path, 404, code)
    refuse(api, "POST", "/partners/%00/tokens", 404, "NOT_FOUND")
    refuse(api, "POST", "/partners/%00/keys", 404, "NOT_FOUND", json={"public_key": PartyKey().public_pem()})


# ------------------------------------------------------------------ keys
def private_key_texts(key: PartyKey) -> dict[str, str]:
    pkcs8 = key.private_pem().decode()
    openssh = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    encrypted = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret")
    ).decode()
    bare = "".join(line for line in pkcs8.splitlines() if "-----" not in line)
    return {"pkcs8": pkcs8, "openssh": openssh, "encrypted": encrypted, "bare base64": bare}


def secret_fragments(text: str) -> list[str]:
    """Pieces of a private key's text that must never be echoed: every base64 line, and 16-char windows."""
    body = "".join(line for line in text.splitlines() if "-----" not in line)
    return [line for line in text.splitlines() if "-----" not in line and line] + [
        body[i : i + 16] for i in range(0, max(len(body) - 16, 1), 8)
    ]


def test_a_pasted_private_key_is_refused_never_stored_never_echoed(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    before = api.get(f"/partners/{CVS}/keys").get_json()
    key = PartyKey()
    raw_private = key.private.private_bytes_raw()
    for label, secret in private_key_texts(key).items():
        for kwargs in ({"json": {"public_key": secret}}, {"data": secret, "content_type": "text/plain"}):
            with unchanged(hub):
                response = api.post(f"/partners/{CVS}/keys", **kwargs)
            error = assert_error(response, 422, "KEY_IS_PRIVATE")
            assert "private key" in error["message"], label
            answer = response.get_data(as_text=True)
            for fragment in secret_fragments(secret):
                assert fragment not in answer, (label, fragment)
            assert base64.b64encode(raw_private).decode() not in answer
            assert raw_private.hex() not in answer
    assert api.get(f"/partners/{CVS}/keys").get_json() == before
    # and its public half is still a stranger to the hub
    listed = [k["key_id"] for k in api.get(f"/partners/{CVS}/keys").get_json()["keys"]]
    assert PublicKey(raw_public(key)).key_id not in listed


def test_other_algorithms_unreadable_keys_and_bad_key_fields_are_refused(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    texts = {
        "RSA PEM": rsa_key.public_bytes(serialization.Encoding.PEM, spki).decode(),
        "RSA ssh": rsa_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode(),
        "ECDSA PEM": ec_key.public_bytes(serialization.Encoding.PEM, spki).decode(),
    }
    for label, key_text in texts.items():
        for kwargs in ({"json": {"public_key": key_text}}, {"data": key_text, "content_type": "text/plain"}):
            error = refuse(api, "POST", f"/partners/{CVS}/keys", 422, "KEY_NOT_ED25519", **kwargs)
            assert "Ed25519" in error["message"] and "required" in error["message"], (label, error)
    assert (
        "RSA"
        in refuse(api, "POST", f"/partners/{CVS}/keys", 422, "KEY_NOT_ED25519", json={"public_key": texts["RSA PEM"]})[
            "message"
        ]
    )

    # unreadable keys and bad key fields
    good = PartyKey().public_pem()
    path = f"/partners/{CVS}/keys"
    for key_text in (
        "",
        "   ",
        "hello",
        good[:-30],
        good + good,
        "ssh-ed25519 AAAA",
        "-----BEGIN PUBLIC KEY-----",
        "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x05short").decode(),
        "x" * 20_000,
    ):
        refuse(api, "POST", path, 422, "KEY_UNREADABLE", json={"public_key": key_text})
        refuse(api, "POST", path, 422, "KEY_UNREADABLE", data=key_text, content_type="text/plain")
    refuse(api, "POST", path, 422, "KEY_UNREADABLE", data=b"\xff\xfe\x00garbage", content_type="application/x-pem-file")
    for body in (
        {"public_key": 1},
        {"public_key": [good]},
        {"public_key": None},
        {},
        {"public_key": good, "valid_from": "2026-01-01T00:00:00"},  # no offset
        {"public_key": good, "valid_from": "yesterday"},
        {"public_key": good, "valid_from": 20260101},
        {"public_key": good, "valid_to": True},
    ):
        refuse(api, "POST", path, 422, "REQUEST_FIELD_INVALID", json=body)
    error = refuse(
        api,
        "POST",
        path,
        422,
        "KEY_WINDOW_INVALID",
        json={"public_key": good, "valid_from": "2026-12-01T00:00:00Z", "valid_to": "2026-11-01T00:00:00Z"},
    )
    assert "valid_to" in error["message"]


def test_a_key_window_beyond_the_calendar_is_refused(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    good = PartyKey().public_pem()
    for window in ({"valid_from": "0001-01-01T00:00:00+01:00"}, {"valid_to": "9999-12-31T23:59:59-01:00"}):
        refuse(api, "POST", f"/partners/{CVS}/keys", 422, "REQUEST_FIELD_INVALID", json={"public_key": good, **window})


# ------------------------------------------------------------------ contracts and signatures
def contract_cases() -> list[tuple[str, dict[str, Any], str]]:
    base = terms_to_json(cvs_terms())
    fulfiller = base["fulfillers"][0]  # type: ignore[index]

    def with_fulfiller(name: str, value: Any) -> dict[str, Any]:
        return with_field(base, "fulfillers", [with_field(fulfiller, name, value)])

    invalid = "CONTRACT_TERMS_INVALID"
    return [
        ("float rate", with_fulfiller("rate_fen_per_point", 7.5), invalid),
        ("int rate", with_fulfiller("rate_fen_per_point", 7), invalid),
        ("non-canonical rate", with_fulfiller("rate_fen_per_point", "7.50"), invalid),
        ("negative rate", with_fulfiller("rate_fen_per_point", "-7.5"), invalid),
        ("five decimal places", with_fulfiller("rate_fen_per_point", "7.00001"), invalid),
        ("float earn cap", with_field(base, "earn_cap_points_per_yuan", 1.0), invalid),
        ("bool for int version", with_field(base, "version", True), invalid),
        ("string version", with_field(base, "version", "1"), invalid),
        ("float version", with_field(base, "version", 1.0), invalid),
        ("zero version", with_field(base, "version", 0), invalid),
        ("bool for int cap", with_fulfiller("cap_points_per_period", True), invalid),
        ("float cap", with_fulfiller("cap_points_per_period", 100.0), invalid),
        ("cap beyond 2**53", with_fulfiller("cap_points_per_period", 2**53), invalid),
        ("int for string title", with_field(base, "title", 1), invalid),
        ("int for string issuer", with_field(base, "issuer_id", 1), invalid),
        ("string for bool", with_field(base, "family_pooling", "false"), invalid),
        ("unsorted categories", with_fulfiller("categories", ["film", "cinema"]), invalid),
        ("cash category", with_fulfiller("categories", ["cash"]), invalid),
        ("no fulfillers", with_field(base, "fulfillers", []), invalid),
        ("fulfillers not a list", with_field(base, "fulfillers", fulfiller), invalid),
        ("impossible date", with_field(base, "effective_from", "2026-02-30"), invalid),
        ("ends before it starts", with_field(base, "effective_to", "2025-01-01"), invalid),
        ("unknown zone", with_field(base, "timezone", "Mars/Olympus"), invalid),
        ("missing field", without(base, "rounding"), invalid),
        ("unknown field", with_field(base, "discount", "none"), invalid),
        ("previous hash on v1", with_field(base, "previous_hash", "a" * 64), invalid),
        ("issuer is hub", with_field(base, "issuer_id", "hub"), invalid),
        ("unknown issuer", with_field(base, "issuer_id", "nobody"), "CONTRACT_PARTY_UNKNOWN"),
        ("unknown fulfiller", with_fulfiller("fulfiller_id", "nobody"), "CONTRACT_PARTY_UNKNOWN"),
        (
            "fulfiller as issuer",
            with_field(base, "issuer_id", CINEMA) | {"fulfillers": [with_field(fulfiller, "fulfiller_id", EYEWEAR)]},
            "CONTRACT_PARTY_ROLE",
        ),
        ("issuer as fulfiller", with_fulfiller("fulfiller_id", CVS), invalid),
        ("another time zone", with_field(base, "timezone", "Europe/Paris"), "CONTRACT_TIMEZONE_MISMATCH"),
        (
            "amends a missing version",
            with_field(base, "version", 2) | {"previous_hash": "a" * 64},
            "CONTRACT_CHAIN_BROKEN",
        ),
    ]


def test_bad_contract_terms_are_refused(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    for label, body, code in contract_cases():
        error = refuse(api, "POST", "/contracts", 422, code, json=body)
        assert error["message"], label
    message = refuse(api, "POST", "/contracts", 422, json=contract_cases()[0][1])["message"]
    assert message.startswith("fulfillers[0].rate_fen_per_point:") and "decimal string" in message
    assert api.get("/contracts").get_json() == {"contracts": []}


def test_garbage_signatures_are_refused_and_a_retry_answers_the_same(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    draft = api.post("/contracts", json=terms_to_json(cvs_terms()))
    assert draft.status_code == 201
    canonical = draft.get_json()["canonical"].encode()
    path = "/contracts/cvs-alliance/versions/1/signatures"
    good = base64.b64encode(api.keys[CVS].sign(canonical)).decode()
    for text in ("!!!not base64!!!", "签名", good[:-4], "A" * 64):
        refuse(api, "POST", path, 422, "SIGNATURE_MALFORMED", who=CVS, json={"signature": text})
    for body in (
        {"signature": 1},
        {"signature": [good]},
        {"signature": None},
        {"signature": True},
        {},
        {"sig": good},
    ):
        refuse(api, "POST", path, 422, "REQUEST_FIELD_INVALID", who=CVS, json=body)
    for signature in (
        b"\x00" * 64,
        api.keys[CVS].sign(canonical + b" "),
        api.keys[CINEMA].sign(canonical),
    ):
        error = refuse(
            api,
            "POST",
            path,
            422,
            "CONTRACT_SIGNATURE_INVALID",
            who=CVS,
            json={"signature": base64.b64encode(signature).decode()},
        )
        assert CVS in error["message"]
    for wrong_length in (b"", b"\x01" * 63, b"\x01" * 65):
        refuse(
            api,
            "POST",
            path,
            422,
            "SIGNATURE_MALFORMED",
            who=CVS,
            json={"signature": base64.b64encode(wrong_length).decode()},
        )
    # a key of the party that is not valid now signs nothing: one not yet valid, one expired
    for window in (
        {"valid_from": "2027-01-01T00:00:00+08:00"},
        {"valid_from": "2025-01-01T00:00:00Z", "valid_to": "2026-12-01T00:00:00Z"},
    ):
        other_key = PartyKey()
        added = api.post(f"/partners/{CVS}/keys", json={"public_key": other_key.public_pem(), **window})
        assert added.status_code == 201, added.get_json()
        refuse(
            api,
            "POST",
            path,
            422,
            "CONTRACT_SIGNATURE_INVALID",
            who=CVS,
            json={"signature": base64.b64encode(other_key.sign(canonical)).decode()},
        )
    assert api.get("/contracts/cvs-alliance/versions/1").get_json()["signed_by"] == []

    # the good signature; the same again answers the same and stores nothing
    first = api.post(path, who=CVS, json={"signature": good})
    assert first.status_code == 201 and first.get_json()["signed_by"] == [CVS]
    with unchanged(hub):
        again = api.post(path, who=CVS, json={"signature": good})
    assert again.status_code == 201 and again.get_json() == first.get_json()
    # another valid signature by the same party (its second key) is a conflict, not a second signature
    second_key = PartyKey()
    assert api.post(f"/partners/{CVS}/keys", json={"public_key": second_key.public_pem()}).status_code == 201
    refuse(
        api,
        "POST",
        path,
        409,
        "CONTRACT_ALREADY_SIGNED",
        who=CVS,
        json={"signature": base64.b64encode(second_key.sign(canonical)).decode()},
    )


# ------------------------------------------------------------------ uploads
def test_bad_uploads_post_nothing(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    hub_key = api.hub_key()
    key = api.keys[CVS]
    good = file_bytes(CVS, "F1", [earn("m1", 500), earn("m2", 300, receipt="R-2")])
    lines = good.split(b"\n")
    totals_off = b"\n".join([*lines[:3], lines[3].replace(b"800", b"801"), b""])
    huge = lines[0] + b"\n" + b"x" * 600_000 + b"\n"
    cases: list[tuple[str, bytes, bytes, str]] = [
        ("signature not base64", good, b"not a signature", "FILE_SIGNATURE_MALFORMED"),
        ("signature too short", good, key.sign(good)[:63], "FILE_SIGNATURE_MALFORMED"),
        ("empty signature", good, b"", "FILE_SIGNATURE_MALFORMED"),
        ("zero signature", good, b"\x00" * 64, "FILE_SIGNATURE_INVALID"),
        ("a changed byte", good.replace(b"m1", b"m9"), key.sign(good), "FILE_SIGNATURE_INVALID"),
        ("CRLF line endings", good.replace(b"\n", b"\r\n"), key.sign(good), "FILE_SIGNATURE_INVALID"),
        ("signed by another partner", good, api.keys[CINEMA].sign(good), "FILE_SIGNATURE_INVALID"),
        ("empty file", b"", key.sign(b""), "FILE_STRUCTURE_INVALID"),
        ("not a settlement file", b"hello\n", key.sign(b"hello\n"), "FILE_STRUCTURE_INVALID"),
        ("not UTF-8", b"\xff\xfe" + good, key.sign(b"\xff\xfe" + good), "FILE_ENCODING_INVALID"),
        ("totals off", totals_off, key.sign(totals_off), "FILE_TOTALS_MISMATCH"),
        # large enough for the upload to be spooled to disk (verified through mmap), then refused
        ("a huge line", huge, key.sign(huge), "FILE_STRUCTURE_INVALID"),
        (
            "no trailer",
            b"\n".join(lines[:3]) + b"\n",
            key.sign(b"\n".join(lines[:3]) + b"\n"),
            "FILE_STRUCTURE_INVALID",
        ),
    ]
    for label, content, signature, code in cases:
        body = refuse(api, "POST", "/files", 422, code, who=CVS, data=upload_data(content, signature))
        ack = body["acknowledgement"].encode()
        assert hub_key.verify(base64.b64decode(body["acknowledgement_signature"]), ack), label
        assert parse_ack(ack)[0][6:8] == ["REFUSED", code], label
    assert_error(api.get(f"/partners/{CVS}/files/F1/ack", who=CVS), 404, "FILE_NOT_FOUND")

    # multipart uploads missing a part
    content, signature = good, key.sign(good)
    bad = [
        {"data": {"file": (io.BytesIO(content), "f.csv")}},
        {"data": {"signature": (io.BytesIO(signature), "f.sig")}},
        {"data": {"file": content.decode(), "signature": base64.b64encode(signature).decode()}},  # fields, not files
        {"data": {"upload": (io.BytesIO(content), "f.csv"), "sig": (io.BytesIO(signature), "f.sig")}},
        {"data": {}, "content_type": "multipart/form-data"},
        {"data": content, "content_type": "text/csv"},
        {"json": {"file": content.decode(), "signature": base64.b64encode(signature).decode()}},
        {"data": b"--x\r\nnot really multipart", "content_type": "multipart/form-data; boundary=x"},
        {"data": b"garbage", "content_type": "multipart/form-data"},  # no boundary
    ]
    for kwargs in bad:
        refuse(api, "POST", "/files", 422, "REQUEST_PARTS_MISSING", who=CVS, **kwargs)

    # the file itself, correctly signed, is fine; sent again (same id, any bytes) it is a duplicate
    assert api.upload(CVS, good).status_code == 201
    other = file_bytes(CVS, "F1", [earn("m3", 100)])
    for content in (good, other):
        body = refuse(
            api, "POST", "/files", 409, "FILE_DUPLICATE", who=CVS, data=upload_data(content, key.sign(content))
        )
        assert body["file_id"] == "F1"


def test_times_at_the_edge_of_the_calendar_are_refused_not_a_500(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))  # 0000-12-31 in UTC
    late = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))  # year 10000 in UTC
    # a record's business time: that record is refused, the file is processed
    for number, (who, row) in enumerate(
        ((CVS, earn("m1", 1, when=early)), (CINEMA, redeem("m1", 1, when=early)), (CINEMA, redeem("m1", 1, when=late)))
    ):
        response = api.upload(who, file_bytes(who, f"EDGE-{number}", [row]))
        assert response.status_code == 201, response.get_data()[:200]
        assert response.get_json()["refused_by_code"] == {"RECORD_TIME_INVALID": 1}
    # the header's creation time: the file is refused
    for number, created in enumerate((early, late)):
        content = file_bytes(CVS, f"HEAD-{number}", [earn("m1", 1)], created_at=created)
        refuse(
            api,
            "POST",
            "/files",
            422,
            "FILE_STRUCTURE_INVALID",
            who=CVS,
            data=upload_data(content, api.keys[CVS].sign(content)),
        )


def test_an_oversized_request_is_413_json(app: Flask, client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    app.config["MAX_CONTENT_LENGTH"] = 4096
    content = file_bytes(CVS, "BIG", [earn(f"m{i}", 1, receipt=f"R-{i}") for i in range(1, 80)])
    assert len(content) > 4096
    body = refuse(
        api, "POST", "/files", 413, "FILE_TOO_LARGE", who=CVS, data=upload_data(content, api.keys[CVS].sign(content))
    )
    assert "size" in body["message"]
    refuse(api, "POST", "/partners", 413, "FILE_TOO_LARGE", json=with_field(TEAHOUSE, "name", "茶" * 3000))
    refuse(api, "POST", f"/partners/{CVS}/keys", 413, "FILE_TOO_LARGE", data="x" * 5000, content_type="text/plain")
    # below the limit, all is well again
    small = file_bytes(CVS, "SMALL", [earn("m1", 1)])
    assert api.upload(CVS, small).status_code == 201

    # the hub's own file limit (max_file_bytes, below the request limit): refused as 413 with a signed refusal
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    hub.config = replace(hub.config, max_file_bytes=2048)
    body = refuse(
        api, "POST", "/files", 413, "FILE_TOO_LARGE", who=CVS, data=upload_data(content, api.keys[CVS].sign(content))
    )
    ack = body["acknowledgement"].encode()
    assert api.hub_key().verify(base64.b64decode(body["acknowledgement_signature"]), ack)
    assert parse_ack(ack)[0][6:8] == ["REFUSED", "FILE_TOO_LARGE"]


# ------------------------------------------------------------------ routes and methods
def test_unknown_routes_and_wrong_methods_answer_json(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    with unchanged(hub):
        for path in (
            "/api/v1/nothing",
            "/nothing",
            "/api/v2/partners",
            "/api/v1/partners/cvs/secrets",
            "/api/v1/contracts/cvs-alliance/versions/one",
            "/api/v1/contracts/cvs-alliance/versions/-1",
            "/api/v1/periods/2026-11/statements",
            "/api/v1/files/F1",
        ):
            for headers in ({}, api.auth(ADMIN)):
                error = assert_error(client.get(path, headers=headers), 404, "HTTP_404")
                assert "not found" in error["message"].lower()
        for method, path in (
            ("PUT", "/partners"),
            ("DELETE", "/partners/cvs"),
            ("PATCH", "/contracts"),
            ("GET", "/files"),
            ("GET", "/periods/2026-11/close"),
            ("POST", "/periods"),
            ("DELETE", "/partners/cvs/keys"),
            ("POST", "/hub/public-key"),
            ("PUT", "/healthz"),
        ):
            assert_error(client.open(API + path, method=method, headers=api.auth(ADMIN)), 405, "HTTP_405")
        assert_error(client.post("/healthz"), 405, "HTTP_405")
    # a 405 says which methods are allowed (RFC 9110 requires Allow)
    response = client.put(API + "/partners", headers=api.auth(ADMIN))
    assert_error(response, 405, "HTTP_405")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers.get("Allow", "").split(",")}


# ------------------------------------------------------------------ periods
# ------------------------------------------------------------------ idempotency
def test_registering_a_key_again(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    key = api.keys[CVS]
    first = api.post(f"/partners/{CVS}/keys", json={"public_key": key.public_pem()}).get_json()
    with unchanged(hub):
        for kwargs in (
            {"json": {"public_key": key.public_pem()}},
            {"data": PublicKey(raw_public(key)).ssh_line("again"), "content_type": "text/plain"},
            {"data": "\ufeff" + key.public_pem().replace("\n", "\r\n"), "content_type": "text/plain"},
        ):
            again = api.post(f"/partners/{CVS}/keys", **kwargs)
            assert again.status_code == 201 and again.get_json()["key_id"] == first["key_id"]
    for partner_id in (CINEMA, EYEWEAR):
        refuse(api, "POST", f"/partners/{partner_id}/keys", 409, "KEY_IN_USE", json={"public_key": key.public_pem()})
        refuse(
            api,
            "POST",
            f"/partners/{partner_id}/keys",
            409,
            "KEY_IN_USE",
            data=PublicKey(raw_public(key)).ssh_line(),
            content_type="text/plain",
        )
    assert len(api.get(f"/partners/{CVS}/keys").get_json()["keys"]) == 1

    # a retry answers the very same JSON, even when valid_from was given in another offset than UTC
    body = {"public_key": PartyKey().public_pem(), "valid_from": "2026-01-01T00:00:00+08:00"}
    first = api.post(f"/partners/{CVS}/keys", json=body)
    again = api.post(f"/partners/{CVS}/keys", json=body)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert datetime.fromisoformat(first.get_json()["valid_from"]) == datetime(2025, 12, 31, 16, tzinfo=UTC)


def test_proposing_a_contract_again(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    body = terms_to_json(cvs_terms())
    first = api.post("/contracts", json=body)
    assert first.status_code == 201
    with unchanged(hub):
        again = api.post("/contracts", json=copy.deepcopy(body))
    assert again.status_code == 201 and again.get_json() == first.get_json()
    for name, value in (("title", "另一个协议"), ("rounding", "down"), ("effective_from", "2026-02-01")):
        error = refuse(api, "POST", "/contracts", 409, "CONTRACT_VERSION_EXISTS", json=with_field(body, name, value))
        assert "cvs-alliance" in error["message"]
    rates = copy.deepcopy(body)
    rates["fulfillers"][0]["rate_fen_per_point"] = "8"  # type: ignore[index]
    refuse(api, "POST", "/contracts", 409, "CONTRACT_VERSION_EXISTS", json=rates)
    # another contract id over the same issuer, fulfiller and days: a conflict as well
    overlapping = terms(
        CVS,
        [FulfillerTerms(fulfiller_id=CINEMA, rate_fen_per_point=Decimal("9"), categories=frozenset({"cinema"}))],
        contract_id="cvs-cinema-2",
    )
    refuse(api, "POST", "/contracts", 409, "CONTRACT_OVERLAP", json=terms_to_json(overlapping))


# ------------------------------------------------------------------ fuzz
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=24)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
FIELD_NAMES = sorted(
    {
        *TEAHOUSE,
        "operates_online_platform",
        "licence_number",
        "licence_expires_on",
        "public_key",
        "valid_from",
        "valid_to",
        "signature",
        *terms_to_json(cvs_terms()),
    }
)
CONTENT_TYPES = [
    JSON,
    "text/plain",
    "application/octet-stream",
    "multipart/form-data; boundary=b",
    "application/x-www-form-urlencoded",
    "application/json; charset=latin-1",
]


def mutated(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body with one field replaced by any JSON value, or removed."""
    return st.tuples(st.sampled_from(sorted(valid)), JSON_VALUES | st.just(...)).map(
        lambda pair: without(valid, pair[0]) if pair[1] is ... else with_field(valid, pair[0], pair[1])
    )


def json_bodies(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    known = st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_VALUES, max_size=6)
    return JSON_VALUES | known | mutated(valid) if valid else JSON_VALUES | known


class Watch:
    """Checks each fuzzed answer: never a 500, always a JSON object, an error has ``code`` and ``message``
    and changed no row. One snapshot per call: the one taken after a call is the next call's "before"."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.last = row_snapshot(hub)

    def check(self, response: TestResponse) -> None:
        assert response.status_code < 500, response.get_data()[:300]
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert isinstance(body, dict)
        now = row_snapshot(self.hub)
        if response.status_code >= 400:
            assert isinstance(body.get("code"), str) and isinstance(body.get("message"), str), body
            assert now == self.last, body
        self.last = now


FUZZ = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fuzz_endpoint(api: Api, watch: Watch, who: str, path: str, valid: dict[str, Any]) -> None:
    """Random JSON values (free, with known field names, or a valid body with one field changed), then
    random bytes under various media types."""

    @FUZZ
    @given(payload=json_bodies(valid))
    def post_json(payload: Any) -> None:
        watch.check(api.post(path, who=who, data=json.dumps(payload), content_type=JSON))

    @FUZZ
    @given(payload=st.binary(max_size=300), content_type=st.sampled_from(CONTENT_TYPES))
    def post_bytes(payload: bytes, content_type: str) -> None:
        watch.check(api.post(path, who=who, data=payload, content_type=content_type))

    post_json()
    post_bytes()


def signed_mutations(sample: bytes) -> st.SearchStrategy[bytes]:
    """A sound file with a random slice replaced by random bytes."""
    return st.tuples(st.integers(0, len(sample)), st.integers(0, 40), st.binary(max_size=40)).map(
        lambda cut: sample[: cut[0]] + cut[2] + sample[cut[0] + cut[1] :]
    )


def test_fuzz_every_post_endpoint(client: FlaskClient, hub: Hub) -> None:
    api = onboarded(client, hub)
    assert api.post("/contracts", json=terms_to_json(cvs_terms())).status_code == 201  # a draft to sign
    canonical = api.get("/contracts/cvs-alliance/versions/1/canonical", who=CVS).get_data()
    sample_file = file_bytes(CVS, "FZ", [earn("m1", 500), earn("m2", 300, receipt="R-2")])
    endpoints: list[tuple[str, str, dict[str, Any]]] = [
        (ADMIN, "/partners", TEAHOUSE),
        (ADMIN, f"/partners/{CINEMA}/keys", {"public_key": PartyKey().public_pem(), "valid_from": None}),
        (ADMIN, "/contracts", terms_to_json(cvs_terms())),
        (
            CINEMA,
            "/contracts/cvs-alliance/versions/1/signatures",
            {"signature": base64.b64encode(api.keys[CINEMA].sign(canonical + b"x")).decode()},
        ),
        (CVS, "/files", {}),
        (ADMIN, f"/partners/{EYEWEAR}/tokens", {}),
        (ADMIN, "/periods/2026-10/close", {}),
    ]
    watch = Watch(hub)
    for who, path, valid in endpoints:
        fuzz_endpoint(api, watch, who, path, valid)

    # uploads: random bytes, and signed mutations of a sound file (so they get past the signature check)
    @FUZZ
    @given(
        content=st.binary(max_size=400) | signed_mutations(sample_file),
        how=st.sampled_from(["raw", "base64", "garbage"]),
        garbage=st.binary(max_size=100),
    )
    def upload(content: bytes, how: str, garbage: bytes) -> None:
        signature = {
            "raw": api.keys[CVS].sign(content),
            "base64": base64.b64encode(api.keys[CVS].sign(content)),
            "garbage": garbage,
        }[how]
        watch.check(api.upload(CVS, content, signature))

    upload()
