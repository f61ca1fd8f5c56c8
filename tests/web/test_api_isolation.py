"""Who may see and do what over the API: partners are isolated from each other, admins from partners' acts.

Every refusal is checked to change nothing (row counts of the main tables, ledger totals).
"""

from __future__ import annotations

import base64
import itertools
from decimal import Decimal

from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN
from contracts.terms import FulfillerTerms, terms_to_json
from tests.factories import CINEMA, CVS, EYEWEAR, PartyKey, earn, file_bytes, redeem, terms
from tests.web.test_api_flow import (
    API,
    PERIOD,
    Api,
    assert_error,
    bearer,
    parse_ack,
    standard_alliance,
    unchanged,
    upload_data,
)

BOOKS = "bookshop"
PARTNERS = (CVS, CINEMA, EYEWEAR, BOOKS)


def closed_alliance(client: FlaskClient, hub: Hub) -> Api:
    """The standard alliance plus a bookshop (party to no contract); a file "F1" of cvs, cinema and eyewear
    each; November closed, so every partner has acknowledgements and statements to protect."""
    api = standard_alliance(client, hub)
    api.register(BOOKS, "书香书店", ["fulfiller"], "books")
    api.upload_rows(CVS, "F1", [earn("m1", 500), earn("m2", 300, receipt="R-2")])
    api.upload_rows(CINEMA, "F1", [redeem("m1", 400)])
    api.upload_rows(EYEWEAR, "F1", [redeem("m2", 100, fulfiller=EYEWEAR, category="eyewear")])
    assert api.post(f"/periods/{PERIOD}/close").status_code == 201
    return api


def private_paths(owner: str) -> list[str]:
    return [
        f"/partners/{owner}",
        f"/partners/{owner}/keys",
        f"/partners/{owner}/files/F1/ack",
        f"/partners/{owner}/files/F1/ack.sig",
        f"/partners/{owner}/files/NO-SUCH-FILE/ack",  # 403 before 404: no oracle for what exists
        f"/periods/{PERIOD}/statements/{owner}.csv",
        f"/periods/{PERIOD}/statements/{owner}.json",
        f"/periods/{PERIOD}/statements/{owner}.csv.sig",
        f"/periods/{PERIOD}/statements/{owner}.json.sig",
        f"/periods/2026-10/statements/{owner}.csv",
    ]


def test_a_partner_never_reads_another_partners_data(client: FlaskClient, hub: Hub) -> None:
    api = closed_alliance(client, hub)
    with unchanged(hub):
        for reader, owner in itertools.product(PARTNERS, (CVS, CINEMA, EYEWEAR)):
            if reader == owner:
                continue
            for path in private_paths(owner):
                assert_error(api.get(path, who=reader), 403, "NOT_YOUR_DATA")
        for path in private_paths("no-such-partner"):
            assert_error(api.get(path, who=CINEMA), 403, "NOT_YOUR_DATA")
        # each reads its own, and the admin reads everyone's
        for owner in (CVS, CINEMA, EYEWEAR):
            for who in (owner, ADMIN):
                for path in private_paths(owner)[:4] + private_paths(owner)[5:9]:
                    assert api.get(path, who=who).status_code == 200, (who, path)

    # the same file id of two partners is two files: each reads its own
    cvs_ack = parse_ack(api.get(f"/partners/{CVS}/files/F1/ack", who=CVS).get_data())
    cinema_ack = parse_ack(api.get(f"/partners/{CINEMA}/files/F1/ack", who=CINEMA).get_data())
    assert cvs_ack[0][2] == CVS and len(cvs_ack) == 4
    assert cinema_ack[0][2] == CINEMA and len(cinema_ack) == 3
    with unchanged(hub):
        # the bookshop has no file F1: its own read says "not found", never someone else's data
        assert_error(api.get(f"/partners/{BOOKS}/files/F1/ack", who=BOOKS), 404, "FILE_NOT_FOUND")
        # its statement is its own, with nothing to pay or receive, and names nobody else's business
        statement = api.get(f"/periods/{PERIOD}/statements/{BOOKS}.json", who=BOOKS).get_json()
        assert (statement["partner_id"], statement["net_fen"], statement["instruction"]) == (BOOKS, 0, "NONE")
        assert statement["counterparties"] == []
        assert_error(api.get(f"/periods/2026-10/statements/{BOOKS}.csv", who=BOOKS), 404, "STATEMENT_NOT_FOUND")

        # contracts: a partner lists and reads only those it is party to
        assert api.get("/contracts", who=BOOKS).get_json() == {"contracts": []}
        assert [c["contract_id"] for c in api.get("/contracts", who=CINEMA).get_json()["contracts"]] == ["cvs-alliance"]
        for suffix in ("", "/canonical"):
            assert_error(api.get("/contracts/cvs-alliance/versions/1" + suffix, who=BOOKS), 403, "CONTRACT_NOT_A_PARTY")


def test_a_partner_cannot_sign_a_contract_it_is_not_party_to(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    api.register(BOOKS, "书香书店", ["fulfiller"], "books")
    books_terms = terms(
        CVS,
        [FulfillerTerms(fulfiller_id=BOOKS, rate_fen_per_point=Decimal("6"), categories=frozenset({"books"}))],
        contract_id="cvs-books",
    )
    draft = api.post("/contracts", json=terms_to_json(books_terms))
    assert draft.status_code == 201
    canonical = draft.get_json()["canonical"].encode("utf-8")
    path = "/contracts/cvs-books/versions/1/signatures"
    with unchanged(hub):
        # a non-party, with a perfectly good signature by its own key
        for outsider in (CINEMA, EYEWEAR):
            signature = base64.b64encode(api.keys[outsider].sign(canonical)).decode()
            assert_error(api.post(path, who=outsider, json={"signature": signature}), 403, "CONTRACT_NOT_A_PARTY")
        # the admin cannot sign for a party, not even with the party's own signature
        signature = base64.b64encode(api.keys[CVS].sign(canonical)).decode()
        assert_error(api.post(path, who=ADMIN, json={"signature": signature}), 403, "CONTRACT_NOT_A_PARTY")
        # a party cannot sign with another partner's key (the signature is checked against its own keys)
        signature = base64.b64encode(api.keys[BOOKS].sign(canonical)).decode()
        assert_error(api.post(path, who=CVS, json={"signature": signature}), 422, "CONTRACT_SIGNATURE_INVALID")
    assert api.get("/contracts/cvs-books/versions/1").get_json()["signed_by"] == []


def test_a_partner_cannot_call_admin_endpoints(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    partner = {"partner_id": "newcomer", "name": "新人", "roles": ["issuer"], "category": "tea"}
    new_key = PartyKey()
    calls = [
        ("POST", "/partners", {"json": partner}),
        ("GET", "/partners", {}),
        ("POST", f"/partners/{CINEMA}/keys", {"json": {"public_key": new_key.public_pem()}}),  # not even its own
        ("POST", f"/partners/{CINEMA}/tokens", {}),
        ("POST", f"/partners/{CVS}/tokens", {}),
        (
            "POST",
            "/contracts",
            {
                "json": terms_to_json(
                    terms(
                        CINEMA,
                        [
                            FulfillerTerms(
                                fulfiller_id=EYEWEAR, rate_fen_per_point=Decimal("1"), categories=frozenset({"eyewear"})
                            )
                        ],
                        contract_id="cinema-eyewear",
                    )
                )
            },
        ),
        ("POST", "/periods/2026-10/close", {}),
        ("POST", f"/periods/{PERIOD}/close", {}),
    ]
    with unchanged(hub):
        for who in (CVS, CINEMA):
            for method, path, kwargs in calls:
                response = api.client.open(API + path, method=method, headers=api.auth(who), **kwargs)
                assert_error(response, 403, "ADMIN_ONLY")


ROUTES = [
    ("POST", "/partners"),
    ("GET", "/partners"),
    ("GET", f"/partners/{CVS}"),
    ("POST", f"/partners/{CVS}/keys"),
    ("GET", f"/partners/{CVS}/keys"),
    ("POST", f"/partners/{CVS}/tokens"),
    ("POST", "/contracts"),
    ("GET", "/contracts"),
    ("GET", "/contracts/cvs-alliance/versions/1"),
    ("GET", "/contracts/cvs-alliance/versions/1/canonical"),
    ("POST", "/contracts/cvs-alliance/versions/1/signatures"),
    ("POST", "/files"),
    ("GET", f"/partners/{CVS}/files/F1/ack"),
    ("GET", f"/partners/{CVS}/files/F1/ack.sig"),
    ("POST", f"/periods/{PERIOD}/close"),
    ("GET", "/periods"),
    ("GET", f"/periods/{PERIOD}/statements/{CVS}.csv"),
    ("GET", f"/periods/{PERIOD}/statements/{CVS}.json.sig"),
]


def test_no_token_or_a_bad_token_is_refused_everywhere(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    content = file_bytes(CVS, "F9", [earn("m1", 100)])
    missing = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": f"Basic {api.tokens[CVS]}"},
        {"Authorization": api.tokens[CVS]},
    ]
    invalid = [
        bearer("cht_not-a-token"),
        bearer(api.tokens[CVS] + "x"),
        bearer(api.tokens[CVS][:-1]),
        bearer("é" * 10),
        bearer("\x7f"),
    ]
    with unchanged(hub):
        for method, path in ROUTES:
            for headers in missing:
                data = upload_data(content, api.keys[CVS].sign(content)) if path == "/files" else None
                response = client.open(API + path, method=method, headers=headers, data=data)
                assert_error(response, 401, "TOKEN_MISSING")
            for headers in invalid:
                data = upload_data(content, api.keys[CVS].sign(content)) if path == "/files" else None
                response = client.open(API + path, method=method, headers=headers, data=data)
                assert_error(response, 401, "TOKEN_INVALID")
    # public: liveness and the hub's public key
    assert client.get("/healthz").status_code == 200
    assert client.get(API + "/healthz").status_code == 200
    assert client.get(API + "/hub/public-key").status_code == 200
    # the scheme is case-insensitive
    assert (
        client.get(API + f"/partners/{CVS}", headers={"Authorization": f"bearer {api.tokens[CVS]}"}).status_code == 200
    )


def test_the_uploader_is_the_token_never_the_file_header(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    hub_key = api.hub_key()
    cvs_file = file_bytes(CVS, "F1", [earn("m1", 500)])
    with unchanged(hub):
        # an admin cannot upload, not even a file the partner signed
        response = api.post("/files", who=ADMIN, data=upload_data(cvs_file, api.keys[CVS].sign(cvs_file)))
        assert_error(response, 403, "PARTNER_ONLY")
        # cinema signs a file whose header names cvs with its own key: refused, header ≠ token
        response = api.upload(CINEMA, cvs_file)
        body = assert_error(response, 422, "FILE_PARTNER_MISMATCH")
        ack = body["acknowledgement"].encode("utf-8")
        assert hub_key.verify(base64.b64decode(body["acknowledgement_signature"]), ack)
        head = parse_ack(ack)[0]
        assert head[1:4] == ["CHACK/1", CINEMA, "F1"] and head[6:8] == ["REFUSED", "FILE_PARTNER_MISMATCH"]
        # cinema replays a file cvs signed: cvs's signature does not verify with any key of cinema
        response = api.upload(CINEMA, cvs_file, api.keys[CVS].sign(cvs_file))
        assert_error(response, 422, "FILE_SIGNATURE_INVALID")
        assert_error(api.get(f"/partners/{CINEMA}/files/F1/ack", who=CINEMA), 404, "FILE_NOT_FOUND")
    # the very file the admin could not upload goes through for cvs itself
    assert api.upload(CVS, cvs_file).status_code == 201
    # inside its own file, cinema cannot issue cvs points either: the record is refused
    body = api.upload_rows(CINEMA, "F1", [earn("m1", 500)])
    assert (body["accepted"], body["refused_by_code"]) == (0, {"RECORD_REPORTER_MISMATCH": 1})


def test_the_admin_principal_cannot_be_had_through_partner_routes(client: FlaskClient, hub: Hub) -> None:
    """A partner registered as "admin" would authenticate as the admin; the partner-token route must not mint
    admin tokens either."""
    api = Api.open(client, hub)
    body = {"partner_id": ADMIN, "name": "假管理员", "roles": ["fulfiller"], "category": "cinema"}
    with unchanged(hub):
        assert_error(api.post("/partners", json=body), 422, "PARTNER_INVALID")
        assert_error(api.post(f"/partners/{ADMIN}/tokens"), 404, "PARTNER_NOT_FOUND")
