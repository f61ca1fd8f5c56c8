"""The whole main job over real HTTP (Flask test client), on SQLite and PostgreSQL.

Onboard an issuer and two fulfillers (keys as SPKI PEM and as an ``ssh-ed25519`` line), propose a contract,
let every party sign its canonical bytes, upload signed settlement files, verify the hub's signed
acknowledgements, close November 2026 and verify every partner's signed statement.

The helpers at the top (``Api``, ``row_snapshot``, ``assert_error`` ...) are shared with
``test_api_isolation.py`` and ``test_api_errors.py``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import inspect, text
from werkzeug.test import TestResponse

from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN, issue_api_token
from contracts.terms import ContractTerms, FulfillerTerms, terms_to_json
from partners.keys import PublicKey, load_public_key
from settlement.periods import Period
from tests.factories import CINEMA, CVS, EYEWEAR, PartyKey, declare_budgets, earn, file_bytes, redeem, terms

API = "/api/v1"
PERIOD = "2026-11"
NAMES = {CVS: "易达便利", CINEMA: "光影影院", EYEWEAR: "明眸眼镜"}

# The main tables; a refused request must leave each as it was. Every table of the schema is counted too (see
# ``_tables``), so one added later is watched without editing this list.
MAIN_TABLES = (
    "partner",
    "partner_key",
    "api_credential",
    "contract",
    "contract_party",
    "contract_signature",
    "settlement_file",
    "clearing_record",
    "account",
    "ledger_transfer",
    "period_close",
    "obligation",
    "statement",
)
_TABLES_BY_DATABASE: dict[str, tuple[str, ...]] = {}


# ------------------------------------------------------------------ shared helpers
def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tables(hub: Hub) -> tuple[str, ...]:
    url = hub.engine.url.render_as_string(hide_password=True)
    if url not in _TABLES_BY_DATABASE:
        present = set(inspect(hub.engine).get_table_names())
        missing = set(MAIN_TABLES) - present
        assert not missing, f"main tables missing from the schema: {sorted(missing)}"
        _TABLES_BY_DATABASE[url] = tuple(sorted(present))
    return _TABLES_BY_DATABASE[url]


def row_snapshot(hub: Hub) -> dict[str, int]:
    """Row count of every table, plus the ledger's running totals (a refused call moves none); one round
    trip, so it is cheap enough to take around every refused call."""
    names = _tables(hub)
    columns = [f"(SELECT count(*) FROM {name})" for name in names]
    columns += ["(SELECT coalesce(sum(debits), 0) FROM account)", "(SELECT coalesce(sum(credits), 0) FROM account)"]
    with hub.engine.connect() as connection:
        values = connection.execute(text("SELECT " + ", ".join(columns))).one()
    keys = (*names, "account.debits", "account.credits")
    return {key: int(value) for key, value in zip(keys, values, strict=True)}


@contextmanager
def unchanged(hub: Hub) -> Iterator[None]:
    """The block changes no row of any main table."""
    before = row_snapshot(hub)
    yield
    assert row_snapshot(hub) == before


def assert_error(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error answer ``{"code", "message"}`` with ``status`` (and ``code`` when given)."""
    assert response.status_code == status, (response.status_code, response.get_data()[:500])
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def ssh_line_from_raw(raw: bytes, comment: str = "") -> str:
    """``ssh-ed25519 <base64 of the SSH wire blob> [comment]``, built by hand (RFC 4253 strings)."""

    def ssh_string(value: bytes) -> bytes:
        return struct.pack(">I", len(value)) + value

    blob = ssh_string(b"ssh-ed25519") + ssh_string(raw)
    line = "ssh-ed25519 " + base64.b64encode(blob).decode("ascii")
    return f"{line} {comment}" if comment else line


def raw_public(key: PartyKey) -> bytes:
    return key.private.public_key().public_bytes_raw()


def upload_data(content: bytes, signature: bytes) -> dict[str, Any]:
    return {"file": (io.BytesIO(content), "f.csv"), "signature": (io.BytesIO(signature), "f.sig")}


def parse_ack(document: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(document.decode("utf-8"))))


@dataclass
class Api:
    """A caller of the HTTP API holding the admin's token and, per partner, its token and private key."""

    client: FlaskClient
    hub: Hub
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)
    keys: dict[str, PartyKey] = field(default_factory=dict)

    @classmethod
    def open(cls, client: FlaskClient, hub: Hub) -> Api:
        return cls(client, hub, issue_api_token(engine=hub.engine, now=hub.now(), principal=ADMIN))

    def auth(self, who: str) -> dict[str, str]:
        return bearer(self.admin_token if who == ADMIN else self.tokens[who])

    def get(self, path: str, who: str = ADMIN, **kwargs: Any) -> TestResponse:
        return self.client.get(API + path, headers=self.auth(who), **kwargs)

    def post(self, path: str, who: str = ADMIN, **kwargs: Any) -> TestResponse:
        return self.client.post(API + path, headers=self.auth(who), **kwargs)

    def hub_key(self) -> PublicKey:
        response = self.client.get(API + "/hub/public-key")
        assert response.status_code == 200
        key = load_public_key(response.get_data(as_text=True))
        assert key.key_id == response.headers["X-Key-Id"] == self.hub.signer.key_id
        return key

    # --- onboarding
    def register(self, partner_id: str, name: str, roles: list[str], category: str) -> dict[str, Any]:
        """Partner, a fresh PEM key and a token, all through the API."""
        response = self.post(
            "/partners", json={"partner_id": partner_id, "name": name, "roles": roles, "category": category}
        )
        assert response.status_code == 201, response.get_json()
        self.keys[partner_id] = PartyKey()
        added = self.post(f"/partners/{partner_id}/keys", json={"public_key": self.keys[partner_id].public_pem()})
        assert added.status_code == 201, added.get_json()
        self.issue_token(partner_id)
        body: dict[str, Any] = response.get_json()
        return body

    def issue_token(self, partner_id: str) -> str:
        response = self.post(f"/partners/{partner_id}/tokens")
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["principal"] == partner_id
        token: str = response.get_json()["token"]
        self.tokens[partner_id] = token
        return token

    # --- contracts
    def sign(self, party: str, contract_id: str, version: int = 1) -> TestResponse:
        path = f"/contracts/{contract_id}/versions/{version}"
        canonical = self.get(path + "/canonical", who=party)
        assert canonical.status_code == 200, canonical.get_json()
        signature = base64.b64encode(self.keys[party].sign(canonical.get_data())).decode("ascii")
        return self.post(path + "/signatures", who=party, json={"signature": signature})

    def contract(self, contract_terms: ContractTerms) -> dict[str, Any]:
        """Propose and have every party sign; the stored, active version."""
        proposed = self.post("/contracts", json=terms_to_json(contract_terms))
        assert proposed.status_code == 201, proposed.get_json()
        for party in contract_terms.parties():
            response = self.sign(party, contract_terms.contract_id, contract_terms.version)
            assert response.status_code == 201, response.get_json()
        stored = self.get(f"/contracts/{contract_terms.contract_id}/versions/{contract_terms.version}")
        body: dict[str, Any] = stored.get_json()
        assert body["status"] == "active", body
        return body

    # --- files
    def upload(self, who: str, content: bytes, signature: bytes | None = None) -> TestResponse:
        signature = self.keys[who].sign(content) if signature is None else signature
        return self.post("/files", who=who, data=upload_data(content, signature), content_type="multipart/form-data")

    def upload_rows(self, who: str, file_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.upload(who, file_bytes(who, file_id, rows))
        assert response.status_code == 201, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body


def cvs_terms() -> ContractTerms:
    return terms(
        CVS,
        [
            FulfillerTerms(fulfiller_id=CINEMA, rate_fen_per_point=Decimal("7.5"), categories=frozenset({"cinema"})),
            FulfillerTerms(fulfiller_id=EYEWEAR, rate_fen_per_point=Decimal("8.8"), categories=frozenset({"eyewear"})),
        ],
        contract_id="cvs-alliance",
    )


def standard_alliance(client: FlaskClient, hub: Hub) -> Api:
    """cvs (issuer), cinema and eyewear (fulfillers) with keys and tokens, and the signed cvs contract."""
    api = Api.open(client, hub)
    api.register(CVS, NAMES[CVS], ["issuer"], "convenience")
    api.register(CINEMA, NAMES[CINEMA], ["fulfiller"], "cinema")
    api.register(EYEWEAR, NAMES[EYEWEAR], ["fulfiller"], "eyewear")
    api.contract(cvs_terms())
    declare_budgets(hub, [CVS])  # RL3: cvs's EARNs are paid from a declared budget
    return api


def verify_ack(api: Api, who: str, body: dict[str, Any], content: bytes) -> list[list[str]]:
    """The inline acknowledgement, /ack and /ack.sig: the same bytes, each signed by the hub's key."""
    hub_key = api.hub_key()
    assert body["hub_key_id"] == hub_key.key_id
    inline = body["acknowledgement"].encode("utf-8")
    inline_signature = base64.b64decode(body["acknowledgement_signature"], validate=True)
    assert hub_key.verify(inline_signature, inline)
    assert body["acknowledgement_url"] == f"{API}/partners/{who}/files/{body['file_id']}/ack"

    ack = api.client.get(body["acknowledgement_url"], headers=api.auth(who))
    assert ack.status_code == 200 and ack.mimetype == "text/csv"
    assert ack.get_data() == inline
    assert ack.headers["X-Key-Id"] == hub_key.key_id
    assert hub_key.verify(base64.b64decode(ack.headers["X-Signature"], validate=True), ack.get_data())

    ack_sig = api.client.get(body["acknowledgement_url"] + ".sig", headers=api.auth(who))
    assert ack_sig.status_code == 200 and ack_sig.mimetype == "application/octet-stream"
    assert len(ack_sig.get_data()) == 64
    assert hub_key.verify(ack_sig.get_data(), ack.get_data())
    assert not hub_key.verify(ack_sig.get_data(), ack.get_data() + b"\n")

    lines = parse_ack(inline)
    head, *records, summary = lines
    assert head[:7] == [
        "A",
        "CHACK/1",
        who,
        body["file_id"],
        hashlib.sha256(content).hexdigest(),
        "2026-12-03T04:00:00Z",
        "PROCESSED",
    ]
    assert head[4] == body["sha256"]
    assert [r[0] for r in records] == ["R"] * body["record_count"]
    assert sum(r[2] == "ACCEPTED" for r in records) == body["accepted"]
    refused_codes: dict[str, int] = {}
    for record in records:
        if record[2] == "REFUSED":
            refused_codes[record[3]] = refused_codes.get(record[3], 0) + 1
    assert refused_codes == body["refused_by_code"]
    assert summary == [
        "S",
        str(body["record_count"]),
        str(body["accepted"]),
        str(body["refused"]),
        str(body["total_points"]),
        str(body["total_amount_fen"]),
        str(body["accepted_points"]),
        str(body["accepted_amount_fen"]),
        str(body["accepted_value_fen"]),
    ]
    return lines


def statement_summary(document: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    """CSV statement → (key/value summary, counterparty rows)."""
    rows = list(csv.reader(io.StringIO(document.decode("utf-8"))))
    blank = rows.index([])
    summary = {key: value for key, value in rows[:blank]}
    header, *lines = rows[blank + 1 :]
    return summary, [dict(zip(header, line, strict=True)) for line in lines]


# ------------------------------------------------------------------ the main job
def test_whole_main_job_over_the_api(client: FlaskClient, hub: Hub) -> None:
    api = Api.open(client, hub)
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get(API + "/healthz").get_json() == {"status": "ok"}
    hub_key = api.hub_key()

    # --- partners
    for partner_id, roles, category in (
        (CVS, ["issuer"], "convenience"),
        (CINEMA, ["fulfiller"], "cinema"),
        (EYEWEAR, ["fulfiller"], "eyewear"),
    ):
        response = api.post(
            "/partners",
            json={"partner_id": partner_id, "name": NAMES[partner_id], "roles": roles, "category": category},
        )
        assert response.status_code == 201, response.get_json()
        assert response.get_json() == {
            "partner_id": partner_id,
            "name": NAMES[partner_id],
            "roles": roles,
            "category": category,
            "operates_online_platform": False,
            "licence_number": None,
            "licence_expires_on": None,
            "beneficial_owner": None,
        }
    listed = api.get("/partners")
    assert listed.status_code == 200
    assert [p["partner_id"] for p in listed.get_json()["partners"]] == [CINEMA, CVS, EYEWEAR]

    # --- keys: cvs as SPKI PEM in JSON, cinema as an ssh-ed25519 line in text/plain, eyewear PEM with a window
    api.keys = {party: PartyKey() for party in (CVS, CINEMA, EYEWEAR)}
    response = api.post(f"/partners/{CVS}/keys", json={"public_key": api.keys[CVS].public_pem()})
    assert response.status_code == 201, response.get_json()
    cvs_key = response.get_json()
    assert cvs_key["key_id"] == hashlib.sha256(raw_public(api.keys[CVS])).hexdigest()
    assert cvs_key["public_key"] == api.keys[CVS].public_pem()
    assert cvs_key["valid_from"] == "2026-12-03T04:00:00+00:00" and cvs_key["valid_to"] is None

    cinema_raw = raw_public(api.keys[CINEMA])
    ssh_line = ssh_line_from_raw(cinema_raw, "cinema@光影")
    assert ssh_line.split(" ")[:2] == PublicKey(cinema_raw).ssh_line().split(" ")
    response = api.post(
        f"/partners/{CINEMA}/keys", data=ssh_line.encode("utf-8"), content_type="text/plain; charset=utf-8"
    )
    assert response.status_code == 201, response.get_json()
    cinema_key = response.get_json()
    assert cinema_key["partner_id"] == CINEMA
    assert cinema_key["key_id"] == hashlib.sha256(cinema_raw).hexdigest()
    assert cinema_key["public_key"] == api.keys[CINEMA].public_pem()

    response = api.post(
        f"/partners/{EYEWEAR}/keys",
        json={
            "public_key": api.keys[EYEWEAR].public_pem(),
            "valid_from": "2026-01-01T00:00:00+08:00",
            "valid_to": None,
        },
    )
    assert response.status_code == 201, response.get_json()
    assert datetime.fromisoformat(response.get_json()["valid_from"]) == datetime(2025, 12, 31, 16, tzinfo=UTC)

    keys = api.get(f"/partners/{CINEMA}/keys")
    assert keys.status_code == 200
    assert [k["key_id"] for k in keys.get_json()["keys"]] == [cinema_key["key_id"]]

    # --- tokens
    for partner_id in (CVS, CINEMA, EYEWEAR):
        api.issue_token(partner_id)
        own = api.get(f"/partners/{partner_id}", who=partner_id)
        assert own.status_code == 200 and own.get_json()["name"] == NAMES[partner_id]
    assert len(set(api.tokens.values())) == 3

    # --- contract: proposed by the admin, signed by each party as itself, countersigned by the hub
    contract_terms = cvs_terms()
    proposed = api.post("/contracts", json=terms_to_json(contract_terms))
    assert proposed.status_code == 201, proposed.get_json()
    view = proposed.get_json()
    assert view["status"] == "draft" and view["hub_key_id"] is None
    assert view["signed_by"] == [] and view["missing_signatures"] == [CVS, CINEMA, EYEWEAR]
    assert view["terms"] == terms_to_json(contract_terms)
    path = "/contracts/cvs-alliance/versions/1"
    for number, party in enumerate((CVS, CINEMA, EYEWEAR), start=1):
        canonical = api.get(path + "/canonical", who=party)
        assert canonical.status_code == 200 and canonical.mimetype == "application/json"
        assert canonical.get_data() == view["canonical"].encode("utf-8")
        assert canonical.headers["X-Terms-Hash"] == view["terms_hash"]
        assert hashlib.sha256(canonical.get_data()).hexdigest() == view["terms_hash"]
        signature = base64.b64encode(api.keys[party].sign(canonical.get_data())).decode("ascii")
        signed = api.post(path + "/signatures", who=party, json={"signature": signature})
        assert signed.status_code == 201, signed.get_json()
        after = signed.get_json()
        assert after["signed_by"] == [CVS, CINEMA, EYEWEAR][:number]
        if number < 3:
            assert after["status"] == "draft" and after["hub_key_id"] is None
    # the last signature makes the version active, countersigned by the hub, and its answer says so
    assert after["status"] == "active"
    assert after["hub_key_id"] == hub_key.key_id
    assert after["missing_signatures"] == []
    assert api.get(path).get_json() == after
    for party in (CVS, CINEMA, EYEWEAR):
        seen = api.get(path, who=party)
        assert seen.status_code == 200 and seen.get_json()["status"] == "active"
        listing = api.get("/contracts", who=party)
        assert [c["contract_id"] for c in listing.get_json()["contracts"]] == ["cvs-alliance"]

    # --- settlement files (cvs's EARNs are paid from its marketing budget for November, RL3)
    declare_budgets(hub, [CVS], periods=(Period(2026, 11),))
    cvs_content = file_bytes(
        CVS,
        "CVS-2026-11-01",
        [
            earn("m1", 500),
            earn("m2", 300, receipt="R-2"),
            earn("m3", 100, 0, receipt="R-3"),
            earn("", 100, receipt="R-4"),
        ],
    )
    response = api.upload(CVS, cvs_content)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["partner_id"], body["file_id"]) == (CVS, "CVS-2026-11-01")
    assert (body["record_count"], body["accepted"], body["refused"]) == (4, 2, 2)
    assert body["refused_by_code"] == {"RL1_SPEND_NOT_POSITIVE": 1, "RL1_MEMBER_MISSING": 1}
    assert (body["accepted_points"], body["accepted_amount_fen"]) == (800, 80000)
    assert body["received_at"] == "2026-12-03T04:00:00+00:00"
    lines = verify_ack(api, CVS, body, cvs_content)
    assert [line[:4] for line in lines[1:-1]] == [
        ["R", "1", "ACCEPTED", ""],
        ["R", "2", "ACCEPTED", ""],
        ["R", "3", "REFUSED", "RL1_SPEND_NOT_POSITIVE"],
        ["R", "4", "REFUSED", "RL1_MEMBER_MISSING"],
    ]

    cinema_content = file_bytes(CINEMA, "CIN-2026-11-01", [redeem("m1", 400), redeem("m1", 50, category="books")])
    body = api.upload(CINEMA, cinema_content).get_json()
    assert (body["accepted"], body["refused"], body["refused_by_code"]) == (1, 1, {"RL2_CATEGORY_NOT_ALLOWED": 1})
    assert body["accepted_value_fen"] == 3000  # 400 points × 7.5 fen
    verify_ack(api, CINEMA, body, cinema_content)

    eyewear_content = file_bytes(
        EYEWEAR,
        "EYE-2026-11-01",
        [
            redeem("m2", 200, fulfiller=EYEWEAR, category="eyewear"),
            redeem("m2", 500, fulfiller=EYEWEAR, category="eyewear"),
        ],
    )
    # a base64 signature (as `openssl pkeyutl -sign -rawin | base64` makes it) is accepted as well as raw bytes
    b64_signature = base64.b64encode(api.keys[EYEWEAR].sign(eyewear_content))
    response = api.upload(EYEWEAR, eyewear_content, b64_signature)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["accepted"], body["refused"], body["refused_by_code"]) == (1, 1, {"POINTS_INSUFFICIENT": 1})
    assert body["accepted_value_fen"] == 1760  # 200 points × 8.8 fen
    verify_ack(api, EYEWEAR, body, eyewear_content)

    # the admin reads any partner's acknowledgement; it is the same signed bytes every time
    first = api.get(f"/partners/{CVS}/files/CVS-2026-11-01/ack")
    again = api.get(f"/partners/{CVS}/files/CVS-2026-11-01/ack", who=CVS)
    assert first.status_code == again.status_code == 200 and first.get_data() == again.get_data()

    # --- period close
    assert api.get("/periods", who=CVS).get_json() == {"periods": []}
    closed = api.post(f"/periods/{PERIOD}/close")
    assert closed.status_code == 201, closed.get_json()
    result = closed.get_json()
    assert result["period"] == PERIOD
    assert result["positions"] == {CVS: -4760, CINEMA: 3000, EYEWEAR: 1760}
    assert sum(result["positions"].values()) == 0
    assert result["gross_fen"] == 4760 and result["net_fen"] == 4760 and result["records"] == 2
    assert Decimal(result["netting_efficiency"]) == 0

    with unchanged(hub):
        assert_error(api.post(f"/periods/{PERIOD}/close"), 409, "PERIOD_ALREADY_CLOSED")

    # --- statements: .csv/.json with their detached signatures, for each partner, read by itself
    nets = {}
    for partner_id in (CVS, CINEMA, EYEWEAR):
        base = f"/periods/{PERIOD}/statements/{partner_id}"
        csv_doc = api.get(base + ".csv", who=partner_id)
        assert csv_doc.status_code == 200 and csv_doc.mimetype == "text/csv"
        assert csv_doc.headers["X-Key-Id"] == hub_key.key_id
        csv_sig = api.get(base + ".csv.sig", who=partner_id)
        assert csv_sig.status_code == 200 and len(csv_sig.get_data()) == 64
        assert hub_key.verify(csv_sig.get_data(), csv_doc.get_data())
        json_doc = api.get(base + ".json", who=partner_id)
        assert json_doc.status_code == 200 and json_doc.mimetype == "application/json"
        json_sig = api.get(base + ".json.sig", who=partner_id)
        assert json_sig.status_code == 200
        assert hub_key.verify(json_sig.get_data(), json_doc.get_data())
        assert not hub_key.verify(json_sig.get_data(), csv_doc.get_data())
        assert api.get(base + ".csv").get_data() == csv_doc.get_data()  # the admin reads the same bytes

        summary, counterparties = statement_summary(csv_doc.get_data())
        document = json.loads(json_doc.get_data())
        assert summary["statement_format"] == document["statement_format"] == "CHST/1"
        assert summary["partner_id"] == document["partner_id"] == partner_id
        assert summary["partner_name"] == document["partner_name"] == NAMES[partner_id]
        assert summary["period"] == PERIOD and summary["hub_key_id"] == hub_key.key_id
        assert int(summary["net_fen"]) == document["net_fen"] == result["positions"][partner_id]
        assert [c["counterparty_id"] for c in counterparties] == [
            c["counterparty_id"] for c in document["counterparties"]
        ]
        nets[partner_id] = document["net_fen"]

    assert sum(nets.values()) == 0
    summary, counterparties = statement_summary(api.get(f"/periods/{PERIOD}/statements/{CVS}.csv").get_data())
    assert (summary["instruction"], summary["instruction_amount_fen"]) == ("PAY", "4760")
    assert summary["gross_payable_fen"] == "4760" and summary["gross_receivable_fen"] == "0"
    assert counterparties == [
        {
            "counterparty_id": CINEMA,
            "counterparty_name": NAMES[CINEMA],
            "records": "1",
            "payable_fen": "3000",
            "receivable_fen": "0",
            "net_fen": "-3000",
        },
        {
            "counterparty_id": EYEWEAR,
            "counterparty_name": NAMES[EYEWEAR],
            "records": "1",
            "payable_fen": "1760",
            "receivable_fen": "0",
            "net_fen": "-1760",
        },
    ]
    summary, _ = statement_summary(api.get(f"/periods/{PERIOD}/statements/{CINEMA}.csv").get_data())
    assert (summary["instruction"], summary["instruction_amount_fen"]) == ("RECEIVE", "3000")

    # --- the close is listed, for the admin and for a partner
    for who in (ADMIN, CINEMA):
        periods = api.get("/periods", who=who)
        assert periods.status_code == 200, periods.get_json()
        listed = periods.get_json()["periods"]
        assert [p["period"] for p in listed] == [PERIOD]
        assert (listed[0]["gross_fen"], listed[0]["net_fen"], listed[0]["records"]) == (4760, 4760, 2)
        assert Decimal(listed[0]["netting_efficiency"]) == 0
        assert datetime.fromisoformat(listed[0]["closed_at"]) == datetime(2026, 12, 3, 4, tzinfo=UTC)


def test_chinese_names_round_trip_unescaped(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    for partner_id, name in NAMES.items():
        response = api.get(f"/partners/{partner_id}", who=partner_id)
        raw = response.get_data()
        assert name.encode("utf-8") in raw  # UTF-8 in the body, not \uXXXX escapes
        assert b"\\u" not in raw
        assert response.get_json()["name"] == name
    listing = api.get("/partners").get_data()
    assert all(name.encode("utf-8") in listing for name in NAMES.values())

    # the contract title travels in the canonical bytes as UTF-8 (RFC 8785 escapes no non-ASCII)
    canonical = api.get("/contracts/cvs-alliance/versions/1/canonical", who=CVS).get_data()
    assert "cvs 联盟协议".encode() in canonical and b"\\u" not in canonical
    contract = api.get("/contracts/cvs-alliance/versions/1").get_data()
    assert "cvs 联盟协议".encode() in contract and b"\\u" not in contract

    api.upload_rows(CVS, "F1", [earn("m1", 500)])
    api.upload_rows(CINEMA, "F1", [redeem("m1", 400)])
    assert api.post(f"/periods/{PERIOD}/close").status_code == 201
    csv_doc = api.get(f"/periods/{PERIOD}/statements/{CINEMA}.csv", who=CINEMA).get_data()
    assert "partner_name,光影影院\n".encode() in csv_doc
    assert f"{CVS},易达便利,1,0,3000,3000\n".encode() in csv_doc
    json_doc = api.get(f"/periods/{PERIOD}/statements/{CVS}.json", who=CVS).get_data()
    assert "易达便利".encode() in json_doc and "光影影院".encode() in json_doc and b"\\u" not in json_doc
    assert json.loads(json_doc)["counterparties"][0]["counterparty_name"] == "光影影院"
