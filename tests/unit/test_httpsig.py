"""RFC 9421 signature bases, RFC 8941 parsing and the hub's policy (``clearinghouse.httpsig``), pure."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse import httpsig
from clearinghouse.httpsig import InnerList, Item, RequestParts, SfError, SignatureRejected, Token

DOC = Path(__file__).resolve().parents[2] / "docs" / "http-signatures.md"

# RFC 9421 Appendix B.1.4 (test-key-ed25519)
RFC_PRIVATE = b"""-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----
"""
RFC_PUBLIC = b"""-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----
"""
RFC_KEY_ID = "b16c2d1bead1262639764fdb0ee4d3774599336bd493404cda4b1136c59f2062"
CREATED = 1796270400  # 2026-12-03T04:00:00Z, the tests' hub clock


def rfc_private() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(RFC_PRIVATE, None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def rfc_public() -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(RFC_PUBLIC)
    assert isinstance(key, Ed25519PublicKey)
    return key


# ------------------------------------------------------------------ RFC test vectors
def test_rfc9421_b26_ed25519_example() -> None:
    """Appendix B.2.6: the signature base we build from the test request verifies with the RFC's signature."""
    signed = httpsig.parse_signed_request(
        'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"',
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
    )
    request = RequestParts(
        method="POST",
        scheme="https",
        authority="example.com",
        path="/foo",
        query="param=Value&Pet=dog",
        fields={
            "host": ["example.com"],
            "date": ["Tue, 20 Apr 2021 02:07:55 GMT"],
            "content-type": ["application/json"],
            "content-digest": [
                "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
            ],
            "content-length": ["18"],
        },
    )
    base = httpsig.signature_base(signed, request)
    assert base == (
        b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
        b'"@method": POST\n'
        b'"@path": /foo\n'
        b'"@authority": example.com\n'
        b'"content-type": application/json\n'
        b'"content-length": 18\n'
        b'"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
        b';created=1618884473;keyid="test-key-ed25519"'
    )
    rfc_public().verify(signed.signature, base)  # raises if not
    assert rfc_private().sign(base) == signed.signature  # Ed25519 is deterministic
    assert rfc_private().public_key().public_bytes_raw() == rfc_public().public_bytes_raw()


def test_rfc9530_content_digest_examples() -> None:
    body = b'{"hello": "world"}'
    assert httpsig.content_digest(body) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert httpsig.content_digest(body, "sha-512") == (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
    )


# ------------------------------------------------------------------ the worked example of the docs
GET_BASE = (
    '"@method": GET\n'
    '"@target-uri": https://hub.example.com/api/v1/offers?issuer=cvs-yida\n'
    '"@signature-params": ("@method" "@target-uri");created=1796270400;nonce="7mH0q2xXkR9cJb4vT1sLpA"'
    f';keyid="{RFC_KEY_ID}";alg="ed25519"'
)
GET_SIGNATURE = "hmoDareSsncRCIzO2IuRAR/M/xApMhI7LkXxIeLLZylmoFWK19bd6NT0moZSH90c9wILmXCGYONn4QImdcz6Aw=="
POST_BODY = b'{"offer_ref": "WATER", "points_price": 20}'
POST_BASE = (
    '"@method": POST\n'
    '"@target-uri": https://hub.example.com/api/v1/offers\n'
    '"content-digest": sha-256=:yBLvw9D3/dXWo2nOSuNbZvxxVeitI0O7EPVkcG5g9NY=:\n'
    '"content-type": application/json\n'
    '"@signature-params": ("@method" "@target-uri" "content-digest" "content-type");created=1796270400'
    f';nonce="Q9v3Zr8wYcN2fLk5tB6sHw";keyid="{RFC_KEY_ID}";alg="ed25519"'
)
POST_SIGNATURE = "oaUQTRwPvcF7DbOss2Ixyu7Xxc4SMyqW65thQn6dgZT5ZXHB9iBQIP2/31Nm2ycgPtLBsEXvGFx1OkXW0VIZCA=="


def test_worked_example_get() -> None:
    headers = httpsig.sign(
        rfc_private(),
        method="GET",
        url="https://hub.example.com/api/v1/offers?issuer=cvs-yida",
        created=CREATED,
        nonce="7mH0q2xXkR9cJb4vT1sLpA",
    )
    assert headers == {
        "Signature-Input": "sig1=" + GET_BASE.rsplit('"@signature-params": ', 1)[1],
        "Signature": f"sig1=:{GET_SIGNATURE}:",
    }
    signed = httpsig.parse_signed_request(headers["Signature-Input"], headers["Signature"])
    parts = RequestParts("GET", "https", "hub.example.com", "/api/v1/offers", "issuer=cvs-yida", {})
    assert httpsig.signature_base(signed, parts).decode() == GET_BASE
    assert signed.key_id == RFC_KEY_ID
    rfc_public().verify(base64.b64decode(GET_SIGNATURE), GET_BASE.encode())
    # the same request seen through @authority + @path + @query
    split = httpsig.parse_signed_request(
        f'sig1=("@method" "@authority" "@path" "@query");created={CREATED};nonce="n";keyid="{RFC_KEY_ID}"',
        f"sig1=:{GET_SIGNATURE}:",
    )
    assert httpsig.signature_base(split, parts).decode().splitlines()[:4] == [
        '"@method": GET',
        '"@authority": hub.example.com',
        '"@path": /api/v1/offers',
        '"@query": ?issuer=cvs-yida',
    ]


def test_worked_example_post() -> None:
    headers = httpsig.sign(
        rfc_private(),
        method="POST",
        url="https://hub.example.com/api/v1/offers",
        headers={"Content-Type": "application/json"},
        body=POST_BODY,
        created=CREATED,
        nonce="Q9v3Zr8wYcN2fLk5tB6sHw",
    )
    assert headers["Content-Digest"] == "sha-256=:yBLvw9D3/dXWo2nOSuNbZvxxVeitI0O7EPVkcG5g9NY=:"
    assert headers["Signature"] == f"sig1=:{POST_SIGNATURE}:"
    rfc_public().verify(base64.b64decode(POST_SIGNATURE), POST_BASE.encode())
    assert len(POST_BODY) == 42


def test_docs_show_the_worked_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    for expected in (GET_BASE, POST_BASE, GET_SIGNATURE, POST_SIGNATURE, RFC_KEY_ID, POST_BODY.decode()):
        assert expected in text, expected


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl CLI")
def test_openssl_signs_the_worked_example_alike(tmp_path: Path) -> None:
    """The openssl CLI, given the key and the base, makes the same signature as the hub's code (deterministic)."""
    (tmp_path / "key.pem").write_bytes(RFC_PRIVATE)
    for base, signature in ((GET_BASE, GET_SIGNATURE), (POST_BASE, POST_SIGNATURE)):
        (tmp_path / "base.txt").write_bytes(base.encode())
        made = subprocess.run(
            ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", "key.pem", "-in", "base.txt"],
            cwd=tmp_path,
            capture_output=True,
            check=True,
        ).stdout
        assert base64.b64encode(made).decode() == signature


# ------------------------------------------------------------------ RFC 8941
def test_structured_field_dictionary() -> None:
    parsed = httpsig.parse_dictionary(
        'a=1, b="x\\"y", c=:AQID:, d=?0, e=tok/en:1, f=(1 "two" three);p=-2.5, g;q=?1, h=4.125'
    )
    assert parsed == {
        "a": Item(1),
        "b": Item('x"y'),
        "c": Item(b"\x01\x02\x03"),
        "d": Item(False),
        "e": Item(Token("tok/en:1")),
        "f": InnerList((Item(1), Item("two"), Item(Token("three"))), {"p": Decimal("-2.5")}),
        "g": Item(True, {"q": True}),
        "h": Item(Decimal("4.125")),
    }
    assert httpsig.parse_dictionary("a=1, b=2, a=3") == {"b": Item(2), "a": Item(3)}
    assert httpsig.parse_dictionary("") == {}
    assert httpsig.parse_dictionary("x=:AQI:") == {"x": Item(b"\x01\x02")}  # padding may be left out


@pytest.mark.parametrize(
    "text",
    [
        "a=",
        "A=1",
        "a=1,",
        "a=1 b=2",
        'a="unterminated',
        'a="bad\\escape"',
        "a=:not base64!:",
        "a=:AQID",
        "a=?2",
        "a=1234567890123456",
        "a=1.2345",
        "a=(1 2",
        "a=(1,2)",
        "a=1;",
        "a=é",
        "a=1.",
        "a=--1",
        'a="tab\tin"',
        "a=:A=B=:",
    ],
)
def test_structured_field_refusals(text: str) -> None:
    with pytest.raises(SfError):
        httpsig.parse_dictionary(text)


def test_inner_list_serialization_round_trips() -> None:
    text = f'("@method" "@target-uri");created={CREATED};nonce="a\\"b";keyid="k";alg="ed25519"'
    member = httpsig.parse_dictionary("sig1=" + text)["sig1"]
    assert isinstance(member, InnerList)
    names = [str(item.value) for item in member.items]
    assert httpsig.serialize_inner_list(names, member.params) == text


def test_non_canonical_signature_input_is_reserialized() -> None:
    """Extra spaces are allowed in the field but not in @signature-params (RFC 9421 §2.3)."""
    signed = httpsig.parse_signed_request(
        f'sig1=(  "@method"   "@target-uri" );created={CREATED};nonce="n";keyid="{RFC_KEY_ID}"',
        f"sig1=:{GET_SIGNATURE}:",
    )
    assert signed.signature_params == f'("@method" "@target-uri");created={CREATED};nonce="n";keyid="{RFC_KEY_ID}"'


# ------------------------------------------------------------------ parsing a signature
SIG = f"sig1=:{GET_SIGNATURE}:"
GOOD_INPUT = f'sig1=("@method" "@target-uri");created={CREATED};nonce="n1";keyid="{RFC_KEY_ID}";alg="ed25519"'


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        ("sig1=(", SIG),
        (GOOD_INPUT, "sig1=:AAAA:"),  # not 64 bytes
        (GOOD_INPUT, 'sig1="text"'),
        (GOOD_INPUT, "sig2=:" + GET_SIGNATURE + ":"),  # no signature under the label
        (GOOD_INPUT + ", sig2=()", SIG + ", sig2=:" + GET_SIGNATURE + ":"),  # two signatures
        ("sig1=1", SIG),  # not an inner list
        ('sig1=("@METHOD");created=1;nonce="n";keyid="k"', SIG),
        ('sig1=("@method" "@method");created=1;nonce="n";keyid="k"', SIG),
        ('sig1=("@method";req);created=1;nonce="n";keyid="k"', SIG),
        ('sig1=("content-type";sf);created=1;nonce="n";keyid="k"', SIG),
        ('sig1=("@status");created=1;nonce="n";keyid="k"', SIG),
        ('sig1=("@query-param";name="a");created=1;nonce="n";keyid="k"', SIG),
        ('sig1=(@method);created=1;nonce="n";keyid="k"', SIG),
        ('sig1=("@method");created="1";nonce="n";keyid="k"', SIG),
        ('sig1=("@method");created=1.5;nonce="n";keyid="k"', SIG),
        ('sig1=("@method");created=?1;nonce="n";keyid="k"', SIG),
        ('sig1=("@method");created=1;nonce=abc;keyid="k"', SIG),
        ('sig1=("@method");created=1;nonce="n";keyid=:AAAA:', SIG),
        ('sig1=("a b");created=1;nonce="n";keyid="k"', SIG),
        ("", SIG),
    ],
)
def test_malformed_signatures(signature_input: str, signature: str) -> None:
    with pytest.raises(SignatureRejected) as refused:
        httpsig.parse_signed_request(signature_input, signature)
    assert refused.value.code == "SIGNATURE_MALFORMED"
    assert refused.value.kind == "unauthorized"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300), st.text(max_size=200))
def test_parsing_any_text_raises_only_refusals(signature_input: str, signature: str) -> None:
    try:
        signed = httpsig.parse_signed_request(signature_input, signature)
    except SignatureRejected as refused:
        assert refused.code == "SIGNATURE_MALFORMED"
        return
    try:
        httpsig.check_policy(signed, now=CREATED, has_body=False)
        httpsig.signature_base(signed, RequestParts("GET", "http", "h", "/", None, {}))
    except SignatureRejected:
        pass


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_signature_input_raises_only_refusals(data: st.DataObject) -> None:
    """Single-character edits of a good field: parsed or refused, never another exception."""
    text = GOOD_INPUT
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        char = data.draw(st.sampled_from(list('()";=:, ?*-.\\@abc019\x00\x7fé')))
        mode = data.draw(st.sampled_from(["insert", "replace", "delete"]))
        text = text[:at] + (char if mode != "delete" else "") + text[at + (mode != "insert") :]
    try:
        signed = httpsig.parse_signed_request(text, SIG)
        httpsig.check_policy(signed, now=CREATED, has_body=True)
        httpsig.signature_base(signed, RequestParts("GET", "http", "h", "/", None, {}))
    except SignatureRejected:
        pass


# ------------------------------------------------------------------ the hub's policy
def policy(signature_input: str, *, now: int = CREATED, has_body: bool = False, window: int = 300) -> str | None:
    try:
        httpsig.check_policy(
            httpsig.parse_signed_request(signature_input, SIG), now=now, has_body=has_body, window=window
        )
    except SignatureRejected as refused:
        return refused.code
    return None


def params(created: int = CREATED, extra: str = "") -> str:
    return f';created={created};nonce="n1";keyid="{RFC_KEY_ID}"{extra}'


def test_policy() -> None:
    both = '"@method" "@target-uri"'
    assert policy(f"sig1=({both}){params()}") is None
    assert policy(f'sig1=("@method" "@authority" "@path" "@query"){params()}') is None
    assert policy(f'sig1=("@method" "@authority" "@path"){params()}') == "SIGNATURE_MISSING_COMPONENT"
    assert policy(f'sig1=("@target-uri"){params()}') == "SIGNATURE_MISSING_COMPONENT"
    assert policy(f'sig1=("@method"){params()}') == "SIGNATURE_MISSING_COMPONENT"
    assert policy(f"sig1=({both}){params()}", has_body=True) == "SIGNATURE_MISSING_COMPONENT"
    assert policy(f'sig1=({both} "content-digest"){params()}', has_body=True) == "SIGNATURE_MISSING_COMPONENT"
    assert policy(f'sig1=({both} "content-digest" "content-type"){params()}', has_body=True) is None
    assert policy(f'sig1=({both});created={CREATED};keyid="{RFC_KEY_ID}"') == "SIGNATURE_MISSING_COMPONENT"
    assert policy(f'sig1=({both});nonce="n";keyid="{RFC_KEY_ID}"') == "SIGNATURE_MISSING_COMPONENT"
    assert policy(f'sig1=({both});created={CREATED};nonce="n"') == "SIGNATURE_MISSING_COMPONENT"
    rsa = ';alg="rsa-pss-sha512"'
    assert policy(f"sig1=({both}){params(extra=rsa)}") == "SIGNATURE_INVALID"
    assert policy(f'sig1=({both});created={CREATED};nonce="n";keyid="test-key"') == "SIGNATURE_KEY_UNKNOWN"
    assert policy(f'sig1=({both});created={CREATED};nonce="{"x" * 129}";keyid="{RFC_KEY_ID}"') == "SIGNATURE_MALFORMED"
    assert policy(f'sig1=({both});created={CREATED};nonce="";keyid="{RFC_KEY_ID}"') == "SIGNATURE_MALFORMED"
    # the window, inclusive at both ends
    assert policy(f"sig1=({both}){params(CREATED - 300)}") is None
    assert policy(f"sig1=({both}){params(CREATED + 300)}") is None
    assert policy(f"sig1=({both}){params(CREATED - 301)}") == "SIGNATURE_EXPIRED"
    assert policy(f"sig1=({both}){params(CREATED + 301)}") == "SIGNATURE_NOT_YET_VALID"
    assert policy(f"sig1=({both}){params(CREATED - 100)}", window=60) == "SIGNATURE_EXPIRED"
    assert policy(f"sig1=({both}){params(extra=f';expires={CREATED}')}") == "SIGNATURE_EXPIRED"
    assert policy(f"sig1=({both}){params(extra=f';expires={CREATED + 1}')}") is None


def test_nonce_is_kept_until_the_signature_would_be_refused_anyway() -> None:
    plain = httpsig.parse_signed_request(f'sig1=("@method" "@target-uri"){params()}', SIG)
    assert httpsig.usable_until(plain, window=300) == CREATED + 300
    short = httpsig.parse_signed_request(f'sig1=("@method" "@target-uri"){params(extra=";expires=1796270460")}', SIG)
    assert httpsig.usable_until(short, window=300) == CREATED + 59
    for now in (CREATED + 59, CREATED + 300):
        httpsig.check_policy(plain, now=now, has_body=False)
    with pytest.raises(SignatureRejected):
        httpsig.check_policy(plain, now=CREATED + 301, has_body=False)
    with pytest.raises(SignatureRejected):
        httpsig.check_policy(short, now=CREATED + 60, has_body=False)


# ------------------------------------------------------------------ components and digests
def test_components() -> None:
    parts = RequestParts(
        "POST",
        "HTTPS",
        "Hub.Example.COM:443",
        "/api/v1/a%2Fb",
        "",
        {"content-type": ["text/plain "], "x-many": [" a", "b "], "x-empty": [""]},
    )
    assert parts.component("@authority") == "hub.example.com"
    assert parts.component("@scheme") == "https"
    assert parts.component("@target-uri") == "https://hub.example.com/api/v1/a%2Fb?"
    assert parts.component("@query") == "?"
    assert parts.component("@request-target") == "/api/v1/a%2Fb?"
    assert parts.component("content-type") == "text/plain"
    assert parts.component("x-many") == "a, b"
    assert parts.component("x-empty") == ""
    with pytest.raises(SignatureRejected) as refused:
        parts.component("date")
    assert refused.value.code == "SIGNATURE_INVALID"
    no_query = RequestParts("GET", "http", "h:8080", "", None, {})
    assert no_query.component("@target-uri") == "http://h:8080/"
    assert no_query.component("@query") == "?"


def test_request_path() -> None:
    assert httpsig.request_path("/api/v1/x?y=1", "", "/api/v1/x") == "/api/v1/x"
    assert httpsig.request_path("/api/v1/a%2Cb", "", "/api/v1/a,b") == "/api/v1/a%2Cb"  # as sent
    assert httpsig.request_path("http://h/api/v1/x", "", "/api/v1/x") == "/api/v1/x"  # absolute form
    # a raw target that does not decode to the routed path is not trusted
    assert httpsig.request_path("/other", "", "/api/v1/x") == "/api/v1/x"
    assert httpsig.request_path(None, "/root", "/a b") == "/root/a%20b"
    assert httpsig.request_path("http://[::1", "", "/x") == "/x"


def test_content_digest_checks() -> None:
    body = json.dumps({"a": 1}).encode()
    digests = {"sha-256": __import__("hashlib").sha256(body).digest()}
    httpsig.check_content_digest(httpsig.content_digest(body), digests)
    httpsig.check_content_digest(httpsig.content_digest(body) + ", md5=:AAAA:", digests)  # unknown ignored
    cases = {
        None: "CONTENT_DIGEST_MISMATCH",
        httpsig.content_digest(b"other"): "CONTENT_DIGEST_MISMATCH",
        "md5=:AAAA:": "CONTENT_DIGEST_MISMATCH",
        "sha-256=abc": "CONTENT_DIGEST_MISMATCH",
        "sha-256": "CONTENT_DIGEST_MISMATCH",
        "sha-256=:%%%:": "SIGNATURE_MALFORMED",
    }
    for header, code in cases.items():
        with pytest.raises(SignatureRejected) as refused:
            httpsig.check_content_digest(header, digests)
        assert refused.value.code == code, header


def test_non_ascii_values_cannot_be_signed() -> None:
    signed = httpsig.parse_signed_request(f'sig1=("@method" "x-name"){params()}', SIG)
    with pytest.raises(SignatureRejected) as refused:
        httpsig.signature_base(signed, RequestParts("GET", "http", "h", "/", None, {"x-name": ["caf\xe9"]}))
    assert refused.value.code == "SIGNATURE_INVALID"


def test_doc_python_example_is_valid_python() -> None:
    code = re.search(r"```python\n(# sign_requests\.py.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert code is not None
    compile(code.group(1), "sign_requests.py", "exec")
