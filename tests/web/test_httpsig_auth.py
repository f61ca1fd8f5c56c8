"""Partners authenticate with RFC 9421 signatures by their Ed25519 key (no bearer token), on SQLite and PostgreSQL.

Every refusal is a 401 with its code and changes no row of any table (the nonce table included); a replayed
nonce is refused; both documented clients (Python and openssl + curl) work against a real server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from werkzeug.test import TestResponse

from clearinghouse import httpsig
from clearinghouse.hub import Hub, utc_now
from clearinghouse.services.nonces import purge_nonces
from clearinghouse.services.partners import add_partner_key, register_partner
from tests.conftest import NOW
from tests.factories import CINEMA, CVS, EYEWEAR, PartyKey, earn, file_bytes
from tests.web.serverkit import Server
from tests.web.test_api_flow import API, Api, assert_error, standard_alliance, unchanged

ROOT = "http://localhost"
CREATED = int(NOW.timestamp())
DOC = Path(__file__).resolve().parents[2] / "docs" / "http-signatures.md"
LENS: dict[str, Any] = {
    "offer_ref": "LENS",
    "title_zh": "200元镜片",
    "title_en": "200-yuan lens",
    "category": "eyewear",
    "points_price": 2000,
    "face_value_fen": 20000,
    "stock": 5,
    "valid_from": "2026-01-01T00:00:00+08:00",
    "valid_to": None,
    "promotions": [],
}


def key_id(key: Ed25519PrivateKey) -> str:
    import hashlib

    return hashlib.sha256(key.public_key().public_bytes_raw()).hexdigest()


def multipart(content: bytes, signature: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n".encode()
        + content
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="signature"\r\n\r\n'.encode()
        + base64.b64encode(signature)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Signer:
    """Sends requests signed as a partner through the Flask test client, and lets a test tamper with them."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def headers(
        self,
        who: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        key: Ed25519PrivateKey | None = None,
        keyid: str | None = None,
        created: int = CREATED,
        nonce: str | None = None,
        components: list[str] | None = None,
        expires: int | None = None,
    ) -> dict[str, str]:
        key = key or self.api.keys[who].private
        base_headers = {"Content-Type": content_type} if content_type else {}
        signed = httpsig.sign(
            key,
            method=method,
            url=ROOT + API + path,
            headers=base_headers,
            body=body,
            created=created,
            nonce=nonce or uuid.uuid4().hex,
            key_id=keyid,
            components=components,
            expires=expires,
        )
        return {**base_headers, **signed}

    def send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        extra: dict[str, str] | None = None,
    ) -> TestResponse:
        return self.api.client.open(API + path, method=method, data=body or None, headers={**headers, **(extra or {})})

    def request(self, who: str, method: str, path: str, *, body: bytes = b"", **kwargs: Any) -> TestResponse:
        return self.send(method, path, self.headers(who, method, path, body=body, **kwargs), body)


@pytest.fixture
def api(client: FlaskClient, hub: Hub) -> Api:
    return standard_alliance(client, hub)


@pytest.fixture
def signer(api: Api) -> Signer:
    return Signer(api)


def nonce_count(hub: Hub) -> int:
    with hub.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM signature_nonce")).scalar_one())


def json_post(signer: Signer, who: str, path: str, document: dict[str, Any], **kwargs: Any) -> TestResponse:
    body = json.dumps(document, ensure_ascii=False).encode()
    return signer.request(who, "POST", path, body=body, content_type="application/json", **kwargs)


# ------------------------------------------------------------------ accepted
def test_signed_get_and_posts_without_a_token(api: Api, signer: Signer, hub: Hub) -> None:
    own = signer.request(CVS, "GET", f"/partners/{CVS}")
    assert own.status_code == 200, own.get_json()
    assert own.get_json()["partner_id"] == CVS
    # the principal is the key's partner: another partner's data stays closed
    assert_error(signer.request(CVS, "GET", f"/periods/2026-11/statements/{CINEMA}.csv"), 403, "NOT_YOUR_DATA")

    # a query, signed as @target-uri and as @authority + @path + @query
    listed = signer.request(CINEMA, "GET", "/offers?issuer=cvs")
    assert listed.status_code == 200, listed.get_json()
    split = ["@method", "@authority", "@path", "@query"]
    assert signer.request(CINEMA, "GET", "/offers?issuer=cvs", components=split).status_code == 200

    # a JSON POST
    published = json_post(signer, EYEWEAR, "/offers", LENS)
    assert published.status_code == 201, published.get_json()
    assert published.get_json()["fulfiller_id"] == EYEWEAR

    # a settlement file, multipart
    content = file_bytes(CVS, "F1", [earn("m1", 500)])
    body, content_type = multipart(content, api.keys[CVS].sign(content))
    uploaded = signer.request(CVS, "POST", "/files", body=body, content_type=content_type)
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["accepted"] == 1
    assert api.get(f"/partners/{CVS}/files/F1/ack", who=CVS).status_code == 200

    # a POST without a body needs no digest
    assert signer.request(CVS, "POST", "/periods/2026-11/close").status_code == 403  # authenticated, not admin
    assert nonce_count(hub) == 7


def test_token_and_signature_together(api: Api, signer: Signer, hub: Hub) -> None:
    path = f"/partners/{CVS}"
    same = signer.send("GET", path, signer.headers(CVS, "GET", path), extra=api.auth(CVS))
    assert same.status_code == 200
    with unchanged(hub):
        other = signer.send("GET", path, signer.headers(CVS, "GET", path), extra=api.auth(CINEMA))
        assert_error(other, 401, "PRINCIPAL_MISMATCH")
        admin = signer.send("GET", path, signer.headers(CVS, "GET", path), extra=api.auth("admin"))
        assert_error(admin, 401, "PRINCIPAL_MISMATCH")
        bad_token = signer.send("GET", path, signer.headers(CVS, "GET", path), extra={"Authorization": "Bearer x"})
        assert_error(bad_token, 401, "TOKEN_INVALID")
        assert_error(api.client.get(API + path), 401, "TOKEN_MISSING")


def test_idempotent_retry_is_signed_afresh(api: Api, signer: Signer) -> None:
    first = json_post(signer, EYEWEAR, "/offers", LENS)
    body = json.dumps(LENS, ensure_ascii=False).encode()
    headers = signer.headers(EYEWEAR, "POST", "/offers", body=body, content_type="application/json")
    retry_key = {"Idempotency-Key": "offer-lens-1"}
    assert signer.send("POST", "/offers", headers, body, extra=retry_key).status_code == 201
    assert_error(signer.send("POST", "/offers", headers, body, extra=retry_key), 401, "SIGNATURE_REPLAYED")
    again = signer.headers(EYEWEAR, "POST", "/offers", body=body, content_type="application/json")
    replayed = signer.send("POST", "/offers", again, body, extra=retry_key)
    assert replayed.status_code == 201 and replayed.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == replayed.get_json()


# ------------------------------------------------------------------ refused
def test_tampered_requests_are_refused(api: Api, signer: Signer, hub: Hub) -> None:
    body = json.dumps(LENS, ensure_ascii=False).encode()
    content_type = "application/json"

    def post_headers(**kwargs: Any) -> dict[str, str]:
        return signer.headers(EYEWEAR, "POST", "/offers", body=body, content_type=content_type, **kwargs)

    with unchanged(hub):
        # method: signed as PUT, sent as POST
        headers = signer.headers(EYEWEAR, "PUT", "/offers", body=body, content_type=content_type)
        assert_error(signer.send("POST", "/offers", headers, body), 401, "SIGNATURE_INVALID")
        # path and query
        headers = signer.headers(CVS, "GET", f"/partners/{CINEMA}")
        assert_error(signer.send("GET", f"/partners/{CVS}", headers), 401, "SIGNATURE_INVALID")
        headers = signer.headers(CINEMA, "GET", "/offers?issuer=cvs")
        assert_error(signer.send("GET", "/offers?issuer=eyewear", headers), 401, "SIGNATURE_INVALID")
        assert_error(signer.send("GET", "/offers?issuer=cvs&x=1", headers), 401, "SIGNATURE_INVALID")
        # host
        headers = signer.headers(CVS, "GET", f"/partners/{CVS}")
        assert_error(signer.send("GET", f"/partners/{CVS}", headers, extra={"Host": "evil"}), 401, "SIGNATURE_INVALID")
        # body changed, digest kept
        tampered = body.replace(b"2000", b"0020")
        assert_error(signer.send("POST", "/offers", post_headers(), tampered), 401, "CONTENT_DIGEST_MISMATCH")
        # body and digest changed together: the digest is signed
        forged = {**post_headers(), "Content-Digest": httpsig.content_digest(tampered)}
        assert_error(signer.send("POST", "/offers", forged, tampered), 401, "SIGNATURE_INVALID")
        # content type changed
        retyped = {**post_headers(), "Content-Type": "text/plain"}
        assert_error(signer.send("POST", "/offers", retyped, body), 401, "SIGNATURE_INVALID")
        # a multipart file changed in flight
        content = file_bytes(CVS, "F1", [earn("m1", 500)])
        upload, upload_type = multipart(content, api.keys[CVS].sign(content))
        headers = signer.headers(CVS, "POST", "/files", body=upload, content_type=upload_type)
        changed = upload.replace(b"500", b"900", 1)
        assert changed != upload
        assert_error(signer.send("POST", "/files", headers, changed), 401, "CONTENT_DIGEST_MISMATCH")
        # a body the signature does not cover
        headers = signer.headers(EYEWEAR, "POST", "/offers", components=["@method", "@target-uri"])
        assert_error(
            signer.send("POST", "/offers", {**headers, "Content-Type": content_type}, body),
            401,
            "SIGNATURE_MISSING_COMPONENT",
        )


def test_keys_and_times_are_checked(api: Api, signer: Signer, hub: Hub, app: Flask) -> None:
    path = f"/partners/{CVS}"
    stranger = Ed25519PrivateKey.generate()
    cinema_key = key_id(api.keys[CINEMA].private)
    cases = [
        ({"key": stranger, "keyid": key_id(api.keys[CVS].private)}, "SIGNATURE_INVALID"),  # wrong key
        ({"key": stranger}, "SIGNATURE_KEY_UNKNOWN"),  # a key the hub does not hold
        ({"keyid": cinema_key}, "SIGNATURE_INVALID"),  # cvs signs, naming cinema's key
        ({"keyid": "test-key-ed25519"}, "SIGNATURE_KEY_UNKNOWN"),
        ({"created": CREATED - 301}, "SIGNATURE_EXPIRED"),
        ({"created": CREATED + 301}, "SIGNATURE_NOT_YET_VALID"),
        ({"expires": CREATED}, "SIGNATURE_EXPIRED"),
        ({"components": ["@target-uri"]}, "SIGNATURE_MISSING_COMPONENT"),
        ({"components": ["@method"]}, "SIGNATURE_MISSING_COMPONENT"),
    ]
    with unchanged(hub):
        for kwargs, code in cases:
            assert_error(signer.request(CVS, "GET", path, **kwargs), 401, code)
        # a covered field left out of the request
        dated = httpsig.sign(
            api.keys[CVS].private,
            method="GET",
            url=ROOT + API + path,
            headers={"Date": "Thu, 03 Dec 2026 04:00:00 GMT"},
            created=CREATED,
            nonce="dated",
            components=["@method", "@target-uri", "date"],
        )
        assert_error(signer.send("GET", path, dated), 401, "SIGNATURE_INVALID")
        assert signer.send("GET", path, {**dated, "Date": "Thu, 03 Dec 2026 04:00:01 GMT"}).status_code == 401
    # cinema's key signing for cinema, sent to read cvs: authenticated as cinema (its nonce is used), forbidden
    assert_error(signer.request(CINEMA, "GET", path), 403, "NOT_YOUR_DATA")
    assert nonce_count(hub) == 1
    # the window's edges are accepted
    assert signer.request(CVS, "GET", path, created=CREATED - 300).status_code == 200
    assert signer.request(CVS, "GET", path, created=CREATED + 300).status_code == 200
    # a configured window
    app.config["SIGNATURE_WINDOW_SECONDS"] = 60
    with unchanged(hub):
        assert_error(signer.request(CVS, "GET", path, created=CREATED - 61), 401, "SIGNATURE_EXPIRED")
    assert signer.request(CVS, "GET", path, created=CREATED - 60).status_code == 200


def test_key_validity_window(api: Api, signer: Signer, hub: Hub) -> None:
    later = PartyKey()
    add_partner_key(
        engine=hub.engine,
        now=NOW,
        partner_id=CVS,
        key_text=later.public_pem(),
        valid_from=NOW + timedelta(days=1),
    )
    with unchanged(hub):
        assert_error(signer.request(CVS, "GET", f"/partners/{CVS}", key=later.private), 401, "SIGNATURE_KEY_UNKNOWN")
    hub.clock = lambda: NOW + timedelta(days=2)
    created = CREATED + 2 * 86400
    assert signer.request(CVS, "GET", f"/partners/{CVS}", key=later.private, created=created).status_code == 200


def test_missing_parameters_and_malformed_fields(api: Api, signer: Signer, hub: Hub) -> None:
    path = f"/partners/{CVS}"
    good = signer.headers(CVS, "GET", path)
    no_nonce = good["Signature-Input"].replace(re.search(r';nonce="[^"]*"', good["Signature-Input"]).group(0), "")  # type: ignore[union-attr]
    no_created = re.sub(r";created=\d+", "", good["Signature-Input"])
    with unchanged(hub):
        assert_error(
            signer.send("GET", path, {**good, "Signature-Input": no_nonce}), 401, "SIGNATURE_MISSING_COMPONENT"
        )
        assert_error(
            signer.send("GET", path, {**good, "Signature-Input": no_created}), 401, "SIGNATURE_MISSING_COMPONENT"
        )
        assert_error(signer.send("GET", path, {"Signature": good["Signature"]}), 401, "SIGNATURE_MALFORMED")
        assert_error(signer.send("GET", path, {"Signature-Input": good["Signature-Input"]}), 401, "SIGNATURE_MALFORMED")
        for broken in ("sig1=", "sig1=(", "(", "sig1=:abc:", "sig1=:" + "A" * 84 + ":"):
            assert_error(signer.send("GET", path, {**good, "Signature": broken}), 401, "SIGNATURE_MALFORMED")
            assert_error(signer.send("GET", path, {**good, "Signature-Input": broken}), 401, "SIGNATURE_MALFORMED")
        rsa = good["Signature-Input"].replace('alg="ed25519"', 'alg="rsa-pss-sha512"')
        assert_error(signer.send("GET", path, {**good, "Signature-Input": rsa}), 401, "SIGNATURE_INVALID")
    assert signer.send("GET", path, good).status_code == 200


def test_replayed_nonce_is_refused(api: Api, signer: Signer, hub: Hub) -> None:
    content = file_bytes(CVS, "F1", [earn("m1", 500)])
    body, content_type = multipart(content, api.keys[CVS].sign(content))
    headers = signer.headers(CVS, "POST", "/files", body=body, content_type=content_type)
    assert signer.send("POST", "/files", headers, body).status_code == 201
    with unchanged(hub):
        assert_error(signer.send("POST", "/files", headers, body), 401, "SIGNATURE_REPLAYED")
        # the same nonce with the same key under another request is a replay too
        again = signer.request(
            CVS, "GET", f"/partners/{CVS}", nonce=re.search(r'nonce="([^"]*)"', headers["Signature-Input"]).group(1)
        )  # type: ignore[union-attr]
        assert_error(again, 401, "SIGNATURE_REPLAYED")
    # the same nonce under another key is another pair
    assert signer.request(CINEMA, "GET", f"/partners/{CINEMA}", nonce="shared-nonce").status_code == 200
    assert signer.request(EYEWEAR, "GET", f"/partners/{EYEWEAR}", nonce="shared-nonce").status_code == 200


def test_purge_forgets_only_nonces_past_their_window(api: Api, signer: Signer, hub: Hub) -> None:
    assert signer.request(CVS, "GET", f"/partners/{CVS}", nonce="old", created=CREATED - 200).status_code == 200
    assert signer.request(CVS, "GET", f"/partners/{CVS}", nonce="new").status_code == 200
    assert purge_nonces(engine=hub.engine, now=NOW) == 0
    assert purge_nonces(engine=hub.engine, now=NOW + timedelta(seconds=101)) == 1
    assert nonce_count(hub) == 1
    # a replay of the purged one is refused by its time anyway
    hub.clock = lambda: NOW + timedelta(seconds=101)
    refused = signer.request(CVS, "GET", f"/partners/{CVS}", nonce="old", created=CREATED - 200)
    assert_error(refused, 401, "SIGNATURE_EXPIRED")


_HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=200)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_header_value_makes_a_500(api: Api, signer: Signer, hub: Hub, data: st.DataObject) -> None:
    body = json.dumps(LENS).encode()
    headers = signer.headers(EYEWEAR, "POST", "/offers", body=body, content_type="application/json")
    for name in data.draw(st.sets(st.sampled_from(["Signature-Input", "Signature", "Content-Digest"]), min_size=1)):
        if data.draw(st.booleans()):
            headers[name] = data.draw(_HEADER_TEXT)
        else:  # a mutation of the real value
            value = headers[name]
            at = data.draw(st.integers(0, len(value)))
            headers[name] = value[:at] + data.draw(_HEADER_TEXT.filter(bool)) + value[at + 1 :]
    before = nonce_count(hub)
    response = signer.send("POST", "/offers", headers, body)
    assert response.status_code in (201, 401), (response.status_code, response.get_data()[:300])
    if response.status_code == 401:
        assert response.get_json()["code"].startswith(("SIGNATURE_", "CONTENT_DIGEST_")), response.get_json()
        assert nonce_count(hub) == before


# ------------------------------------------------------------------ the documented clients, against a real server
def _doc_block(pattern: str) -> str:
    found = re.search(pattern, DOC.read_text(encoding="utf-8"), re.S)
    assert found is not None, pattern
    return found.group(1)


@pytest.fixture
def real_hub(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """A real `clearinghouse serve` on SQLite (real clock) with eyewear-mingmou and its key; the key file."""
    from clearinghouse.config import load_config
    from clearinghouse.hub import open_hub

    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    key_path = str(tmp_path / "hub-key.pem")
    opened = open_hub(load_config({"database_url": database_url, "hub_key_path": key_path}, environ={}))
    partner = PartyKey()
    now = utc_now() - timedelta(minutes=1)
    register_partner(
        engine=opened.engine,
        now=now,
        partner_id="eyewear-mingmou",
        name="明眸眼镜",
        roles=["fulfiller"],
        category="eyewear",
    )
    add_partner_key(engine=opened.engine, now=now, partner_id="eyewear-mingmou", key_text=partner.public_pem())
    opened.engine.dispose()
    key_file = tmp_path / "eyewear.key"
    key_file.write_bytes(partner.private_pem())
    server = Server(database_url, key_path, threads=2)
    try:
        yield server, key_file
    finally:
        server.stop()


def _client_env(server: Server, key_file: Path) -> dict[str, str]:
    return dict(
        os.environ,
        HUB=f"http://127.0.0.1:{server.port}/api/v1",
        PARTNER="eyewear-mingmou",
        PARTNER_KEY=str(key_file),
    )


def test_documented_python_client_works(real_hub: tuple[Server, Path], tmp_path: Path) -> None:
    server, key_file = real_hub
    script = tmp_path / "sign_requests.py"
    script.write_text(_doc_block(r"```python\n(# sign_requests\.py.*?)```"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], env=_client_env(server, key_file), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("GET 200 ") and json.loads(lines[0][8:])["partner_id"] == "eyewear-mingmou"
    assert lines[1].startswith("POST 201 ") and json.loads(lines[1][9:])["offer_ref"] == "WATER", done.stdout


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("curl") is None, reason="needs openssl and curl")
def test_documented_openssl_curl_client_works(real_hub: tuple[Server, Path], tmp_path: Path) -> None:
    server, key_file = real_hub
    script = tmp_path / "signed-curl.sh"
    script.write_text(_doc_block(r"```sh\n(# signed-curl\.sh.*?)```"), encoding="utf-8")
    done = subprocess.run(
        ["sh", str(script)],
        env=_client_env(server, key_file),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert answers[0]["partner_id"] == "eyewear-mingmou", answers
    assert answers[1]["offer_ref"] == "WATER" and answers[1]["fulfiller_id"] == "eyewear-mingmou", answers
