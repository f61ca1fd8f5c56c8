"""The OpenAPI description of /api/v1 (``clearinghouse/openapi.json``) checked against the implementation.

* the document is a valid OpenAPI 3.1 document, served as is at ``GET /api/v1/openapi.json`` without a token,
  and shipped as package data;
* its (method, path) pairs are exactly the app's routes under /api/v1, with the same path parameters and
  an ``operationId`` equal to the view's name, so a route added without documenting it fails here;
* a whole flow over the real API (Flask test client, SQLite and PostgreSQL) in which EVERY answer is checked
  against the spec: the status must be documented for that path and method, the content type must be one
  documented for that status, a JSON body must match the documented schema (``jsonschema``, with the spec's
  components resolved) and documented headers must be there and match; a call that succeeded must have sent
  a body of a documented content type that matches the documented request schema.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from werkzeug.exceptions import HTTPException
from werkzeug.test import TestResponse

from clearinghouse.api.spec import openapi_bytes
from clearinghouse.app import create_app
from clearinghouse.config import load_config
from clearinghouse.hub import Hub
from clearinghouse.services.partners import ADMIN
from contracts.terms import terms_to_json
from tests.factories import CINEMA, CVS, EYEWEAR, PartyKey, earn, file_bytes, redeem
from tests.web.test_api_flow import (
    API,
    NAMES,
    PERIOD,
    Api,
    assert_error,
    bearer,
    cvs_terms,
    ssh_line_from_raw,
    upload_data,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_BYTES = openapi_bytes()
SPEC: dict[str, Any] = json.loads(SPEC_BYTES)
SPEC_URI = "urn:clearinghouse:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
RIDE = "ride"
RIDE_PARTNER = {
    "partner_id": RIDE,
    "name": "快行出行",
    "roles": ["fulfiller"],
    "category": "ride",
    "operates_online_platform": True,
    "licence_number": "沪B2-20260001",
    "licence_expires_on": "2029-12-31",
}


# ------------------------------------------------------------------ reading the spec
def flask_template(rule: str) -> str:
    """``/contracts/<contract_id>/versions/<int:version>`` → ``/contracts/{contract_id}/versions/{version}``."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def escape(part: str) -> str:
    """One JSON-pointer segment."""
    return part.replace("~", "~0").replace("/", "~1")


def lookup(pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = SPEC
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def resolve(node: Any, pointer: str) -> tuple[Any, str]:
    """Follow OpenAPI ``$ref`` objects (responses, parameters, headers ...) to the node and its pointer."""
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"]
        node = lookup(pointer)
    return node, pointer


def schema_errors(instance: Any, pointer: str) -> list[str]:
    """Validate against the schema at ``pointer`` of the spec (its ``$ref``s resolved in the spec)."""
    validator = Draft202012Validator(
        {"$ref": SPEC_URI + pointer}, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(instance)]


def spec_operations() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in SPEC["paths"].items() for method in HTTP_METHODS if method in item}


def app_operations(app: Flask) -> dict[tuple[str, str], Any]:
    """(method, path template under /api/v1) → the Flask rule."""
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found[(method, flask_template(rule.rule)[len(API) :])] = rule
    return found


def operation_parameters(path: str, method: str) -> dict[tuple[str, str], tuple[Any, str]]:
    """(in, name) → (parameter, its pointer), path-level and operation-level, resolved."""
    item_pointer = f"#/paths/{escape(path)}"
    out = {}
    for owner_pointer in (item_pointer, f"{item_pointer}/{method.lower()}"):
        for index, parameter in enumerate(lookup(owner_pointer).get("parameters", [])):
            resolved, pointer = resolve(parameter, f"{owner_pointer}/parameters/{index}")
            out[(resolved["in"], resolved["name"])] = (resolved, pointer)
    return out


# ------------------------------------------------------------------ checking every answer
@dataclass
class SpecChecker:
    """Checks each answer of the test client against the spec and remembers what it saw."""

    app: Flask
    seen: set[tuple[str, str, int]] = field(default_factory=set)

    def check(self, response: TestResponse, sent_json: Any) -> None:
        request = response.request
        method, status = request.method, response.status_code
        where = f"{method} {request.path} → {status} {response.get_data()[:300]!r}"
        assert status < 500, where
        try:
            rule, args = self.app.url_map.bind("localhost").match(request.path, method=method, return_rule=True)
        except HTTPException:  # no route: the generic error shape, nothing per operation
            assert status in (404, 405), where
            assert response.mimetype == "application/json", where
            assert not schema_errors(response.get_json(), "#/components/schemas/Error"), where
            return
        if not rule.rule.startswith(API + "/"):
            return  # outside /api/v1 (the app's own /healthz)
        path = flask_template(rule.rule)[len(API) :]
        assert path in SPEC["paths"] and method.lower() in SPEC["paths"][path], f"undocumented operation: {where}"
        operation_pointer = f"#/paths/{escape(path)}/{method.lower()}"
        operation = lookup(operation_pointer)
        self.seen.add((method, path, status))

        # --- the answer
        responses = operation["responses"]
        assert str(status) in responses, f"undocumented status (documented: {sorted(responses)}): {where}"
        documented, pointer = resolve(responses[str(status)], f"{operation_pointer}/responses/{status}")
        content = documented.get("content", {})
        assert response.mimetype in content, (
            f"undocumented content type {response.mimetype!r} {sorted(content)}: {where}"
        )
        if response.mimetype.startswith("text/") or response.mimetype == "application/json":
            assert response.mimetype_params.get("charset", "utf-8").lower() == "utf-8", where
            text = response.get_data().decode("utf-8")
        media_pointer = f"{pointer}/content/{escape(response.mimetype)}"
        if response.mimetype == "application/json":
            problems = schema_errors(json.loads(text), f"{media_pointer}/schema")
            assert not problems, f"{where}\n" + "\n".join(problems)
        for name, header in documented.get("headers", {}).items():
            header, header_pointer = resolve(header, f"{pointer}/headers/{escape(name)}")
            value = response.headers.get(name)
            if header.get("required"):
                assert value is not None, f"header {name} missing: {where}"
            if value is not None:
                assert not schema_errors(value, f"{header_pointer}/schema"), f"header {name}={value!r}: {where}"

        if not 200 <= status < 300:
            return
        # --- a call that succeeded sent what the spec documents
        parameters = operation_parameters(path, method)
        for name, value in args.items():
            parameter, parameter_pointer = parameters[("path", name)]
            assert not schema_errors(value, f"{parameter_pointer}/schema"), f"path parameter {name}={value!r}: {where}"
        for (place, name), (parameter, parameter_pointer) in parameters.items():
            if place != "header":
                continue
            if parameter.get("required"):
                assert name in request.headers, f"required header {name} not sent: {where}"
            if name in request.headers:
                value = request.headers[name]
                assert not schema_errors(value, f"{parameter_pointer}/schema"), f"header {name}={value!r}: {where}"
        if "requestBody" in operation:
            body, body_pointer = resolve(operation["requestBody"], f"{operation_pointer}/requestBody")
            assert request.mimetype in body["content"], f"undocumented request type {request.mimetype!r}: {where}"
            if sent_json is not None:
                problems = schema_errors(sent_json, f"{body_pointer}/content/{escape(request.mimetype)}/schema")
                assert not problems, f"request body of {where}\n" + "\n".join(problems)
        else:
            assert sent_json is None, f"a body sent to an operation documented without one: {where}"


class SpecCheckedClient(FlaskClient):
    checker: SpecChecker

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        self.checker.check(response, kwargs.get("json"))
        return response


@pytest.fixture
def checked_client(app: Flask) -> SpecCheckedClient:
    app.test_client_class = SpecCheckedClient
    client = app.test_client()
    assert isinstance(client, SpecCheckedClient)
    client.checker = SpecChecker(app)
    return client


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """One app on SQLite, for the checks that only read the routing table."""
    config = load_config(
        {"database_url": f"sqlite:///{tmp_path / 'hub.db'}", "hub_key_path": str(tmp_path / "hub-key.pem")},
        environ={},
    )
    app = create_app(config)
    yield app
    app.extensions["clearinghouse"].engine.dispose()


# ------------------------------------------------------------------ the document itself
def test_the_document_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    validate_openapi(SPEC)
    for name in SPEC["components"]["schemas"]:
        Draft202012Validator.check_schema(SPEC["components"]["schemas"][name])


def test_every_example_matches_its_schema() -> None:
    """Examples of media types and of named schemas do not lie."""
    checked = 0
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            pointer = f"#/paths/{escape(path)}/{method}"
            bodies = [(operation["requestBody"], f"{pointer}/requestBody")] if "requestBody" in operation else []
            bodies += [(r, f"{pointer}/responses/{status}") for status, r in operation["responses"].items()]
            for node, node_pointer in bodies:
                resolved, resolved_pointer = resolve(node, node_pointer)
                for media_type, media in resolved.get("content", {}).items():
                    if "example" in media and media_type == "application/json":
                        media_pointer = f"{resolved_pointer}/content/{escape(media_type)}/schema"
                        assert not schema_errors(media["example"], media_pointer), (path, method, media_type)
                        checked += 1
    for name, schema in SPEC["components"]["schemas"].items():
        for example in schema.get("examples", []):
            assert not schema_errors(example, f"#/components/schemas/{escape(name)}"), (name, example)
            checked += 1
    assert checked >= 10


def test_the_document_is_served_without_a_token_and_shipped_as_package_data(checked_client: SpecCheckedClient) -> None:
    response = checked_client.get(API + "/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.get_data() == SPEC_BYTES
    assert "联盟积分清算中心".encode() in response.get_data()  # UTF-8, not \u escapes
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["clearinghouse"]
    assert "openapi.json" in patterns


def test_the_spec_documents_exactly_the_routes_of_the_app(sqlite_app: Flask) -> None:
    routes = app_operations(sqlite_app)
    documented = spec_operations()
    assert set(routes) - documented == set(), "routes under /api/v1 missing from clearinghouse/openapi.json"
    assert documented - set(routes) == set(), "operations in clearinghouse/openapi.json that the app lacks"
    assert [server["url"] for server in SPEC["servers"]] == [API]

    for (method, path), rule in sorted(routes.items()):
        operation = SPEC["paths"][path][method.lower()]
        where = f"{method} {path}"
        assert operation["operationId"] == rule.endpoint.removeprefix("api."), where
        parameters = operation_parameters(path, method)
        declared = {name for place, name in parameters if place == "path"}
        assert declared == set(rule.arguments), where
        for converter, name in re.findall(r"<(?:([^<>:]+):)?([^<>]+)>", rule.rule):
            parameter, _ = parameters[("path", name)]
            parameter_schema, _ = resolve(parameter["schema"], "")
            wanted = "integer" if converter == "int" else "string"
            assert parameter_schema["type"] == wanted, (where, name)
        statuses = set(operation["responses"])
        assert any(s.startswith("2") for s in statuses), where
        assert "default" not in statuses, f"{where}: every status is listed, no default"
        if operation.get("security", SPEC["security"]):
            assert "401" in statuses, where
        if method == "POST":
            idempotency = parameters.get(("header", "Idempotency-Key"))
            assert idempotency is not None and not idempotency[0].get("required", False), where


# ------------------------------------------------------------------ against the running app
def test_each_operation_asks_for_a_token_exactly_as_documented(checked_client: SpecCheckedClient) -> None:
    sample = {
        "partner_id": CVS,
        "issuer_id": CVS,
        "contract_id": "cvs-alliance",
        "version": "1",
        "file_id": "F1",
        "period": PERIOD,
        "name": f"{CVS}.csv",
        "member_token": "m1",
        "reference": "A1",
        "action_id": "1",
        "case_id": "1",
        "group_id": "F",
    }
    for method, path in sorted(spec_operations()):
        response = checked_client.open(API + path.format(**sample), method=method)
        if SPEC["paths"][path][method.lower()].get("security", SPEC["security"]):
            assert_error(response, 401, "TOKEN_MISSING")
        else:
            assert response.status_code == 200, (method, path)


def test_a_whole_flow_answers_as_documented(checked_client: SpecCheckedClient, hub: Hub) -> None:
    client = checked_client
    api = Api.open(client, hub)

    def post(path: str, key: str, who: str = ADMIN, **kwargs: Any) -> TestResponse:
        """A POST with an ``Idempotency-Key`` (optional everywhere; sent on some calls)."""
        return client.post(API + path, headers={**api.auth(who), "Idempotency-Key": key}, **kwargs)

    # --- public
    assert client.get(API + "/openapi.json").status_code == 200
    assert client.get(API + "/healthz").get_json() == {"status": "ok"}
    hub_key = api.hub_key()
    assert_error(client.get(API + "/partners"), 401, "TOKEN_MISSING")
    assert_error(client.get(API + "/periods", headers=bearer("no-such-token")), 401, "TOKEN_INVALID")

    # --- partners
    for partner_id, roles, category in (
        (CVS, ["issuer"], "convenience"),
        (CINEMA, ["fulfiller"], "cinema"),
        (EYEWEAR, ["fulfiller"], "eyewear"),
    ):
        body = {"partner_id": partner_id, "name": NAMES[partner_id], "roles": roles, "category": category}
        assert post("/partners", f"partner-{partner_id}", json=body).status_code == 201
    assert api.post("/partners", json=RIDE_PARTNER).get_json()["licence_expires_on"] == "2029-12-31"
    again = {"partner_id": CVS, "name": NAMES[CVS], "roles": ["issuer"], "category": "convenience"}
    assert api.post("/partners", json=again).status_code == 201  # the same data again answers the same
    assert post("/partners", f"partner-{CVS}", json=again).status_code == 201  # a retry under its key
    assert_error(post("/partners", f"partner-{CVS}", json={**again, "name": "别的名字"}), 409)  # the key reused
    assert_error(api.post("/partners", json={**again, "name": "别的名字"}), 409, "PARTNER_EXISTS")
    assert_error(api.post("/partners", json={**again, "roles": "issuer"}), 422, "REQUEST_FIELD_INVALID")
    assert_error(api.post("/partners", data="not json", content_type="text/plain"), 422, "REQUEST_JSON_INVALID")
    assert_error(api.post("/partners", json={**again, "partner_id": "Not_An_Id"}), 422)
    assert [p["partner_id"] for p in api.get("/partners").get_json()["partners"]] == [CINEMA, CVS, EYEWEAR, RIDE]
    assert api.get(f"/partners/{CINEMA}").get_json()["name"] == "光影影院"
    assert_error(api.get("/partners/nobody"), 404, "PARTNER_NOT_FOUND")

    # --- keys: PEM in JSON, an ssh-ed25519 line as text/plain, raw PEM as application/x-pem-file, a window
    api.keys = {party: PartyKey() for party in (CVS, CINEMA, EYEWEAR, RIDE)}
    assert post(f"/partners/{CVS}/keys", "key-cvs", json={"public_key": api.keys[CVS].public_pem()}).status_code == 201
    cinema_line = ssh_line_from_raw(api.keys[CINEMA].private.public_key().public_bytes_raw(), "cinema@光影")
    response = api.post(f"/partners/{CINEMA}/keys", data=cinema_line.encode(), content_type="text/plain; charset=utf-8")
    assert response.status_code == 201
    response = api.post(
        f"/partners/{EYEWEAR}/keys", data=api.keys[EYEWEAR].public_pem(), content_type="application/x-pem-file"
    )
    assert response.status_code == 201
    window = {
        "public_key": api.keys[RIDE].public_pem(),
        "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_to": "2030-01-01T00:00:00+08:00",
    }
    assert api.post(f"/partners/{RIDE}/keys", json=window).status_code == 201
    private = api.keys[CVS].private_pem()
    assert_error(api.post(f"/partners/{CVS}/keys", data=private, content_type="text/plain"), 422, "KEY_IS_PRIVATE")
    in_use = {"public_key": api.keys[CVS].public_pem()}
    assert_error(api.post(f"/partners/{EYEWEAR}/keys", json=in_use), 409, "KEY_IN_USE")
    assert_error(api.post("/partners/nobody/keys", json={"public_key": PartyKey().public_pem()}), 404)
    assert len(api.get(f"/partners/{CINEMA}/keys").get_json()["keys"]) == 1

    # --- tokens
    for partner_id in (CVS, CINEMA, EYEWEAR, RIDE):
        api.issue_token(partner_id)
    assert post(f"/partners/{CVS}/tokens", "token-cvs-2").status_code == 201
    assert_error(api.post("/partners/nobody/tokens"), 404, "PARTNER_NOT_FOUND")
    assert_error(api.post(f"/partners/{CVS}/tokens", who=CVS), 403, "ADMIN_ONLY")
    assert api.get(f"/partners/{CVS}", who=CVS).status_code == 200
    assert api.get(f"/partners/{CVS}/keys", who=CVS).status_code == 200
    assert_error(api.get(f"/partners/{CINEMA}", who=CVS), 403, "NOT_YOUR_DATA")
    assert_error(api.get("/partners", who=CVS), 403, "ADMIN_ONLY")

    # --- contract: propose (twice: the same answer), refusals, every party signs, the hub countersigns
    terms = terms_to_json(cvs_terms()) | {"family_pooling": True}  # for the family section (RL6)
    assert post("/contracts", "contract-1", json=terms).status_code == 201
    assert api.post("/contracts", json=terms).status_code == 201
    assert_error(api.post("/contracts", json={**terms, "title": "另一个标题"}), 409, "CONTRACT_VERSION_EXISTS")
    floats = {**terms, "fulfillers": [{**terms["fulfillers"][0], "rate_fen_per_point": 7.5}]}
    assert_error(api.post("/contracts", json=floats), 422, "CONTRACT_TERMS_INVALID")
    assert_error(api.post("/contracts", json={**terms, "interest_rate": "0.01"}), 422, "RL7_FINANCIAL_TERMS")
    assert_error(api.post("/contracts", json=[terms]), 422, "REQUEST_JSON_INVALID")
    assert_error(api.post("/contracts", who=CVS, json=terms), 403, "ADMIN_ONLY")
    path = "/contracts/cvs-alliance/versions/1"
    assert api.get(path + "/canonical").headers["X-Terms-Hash"] == api.get(path).get_json()["terms_hash"]
    assert api.sign(CVS, "cvs-alliance").status_code == 201
    assert api.sign(CINEMA, "cvs-alliance").status_code == 201
    assert_error(api.get(path, who=RIDE), 403, "CONTRACT_NOT_A_PARTY")
    assert_error(api.get(path + "/canonical", who=RIDE), 403, "CONTRACT_NOT_A_PARTY")
    canonical = api.get(path + "/canonical", who=EYEWEAR).get_data()
    stranger = base64.b64encode(PartyKey().sign(canonical)).decode()
    assert_error(api.post(path + "/signatures", json={"signature": stranger}), 403, "CONTRACT_NOT_A_PARTY")
    assert_error(api.post(path + "/signatures", who=EYEWEAR, json={"signature": "abc"}), 422, "SIGNATURE_MALFORMED")
    signed_by_stranger = api.post(path + "/signatures", who=EYEWEAR, json={"signature": stranger})
    assert_error(signed_by_stranger, 422, "CONTRACT_SIGNATURE_INVALID")
    assert_error(api.post(path + "/signatures", who=CVS, json={"signature": stranger}), 409, "CONTRACT_ALREADY_SIGNED")
    own = base64.b64encode(api.keys[EYEWEAR].sign(canonical)).decode()
    signed = post(path + "/signatures", "sign-eyewear", who=EYEWEAR, json={"signature": own})
    assert signed.status_code == 201 and signed.get_json()["status"] == "active"
    assert signed.get_json()["hub_key_id"] == hub_key.key_id
    assert_error(api.get("/contracts/no-such-contract/versions/1"), 404, "CONTRACT_NOT_FOUND")
    assert_error(api.get("/contracts/cvs-alliance/versions/0/canonical", who=CVS), 404, "CONTRACT_NOT_FOUND")
    assert_error(api.post("/contracts/no-such-contract/versions/1/signatures", who=CVS, json={"signature": own}), 404)
    assert_error(api.get("/contracts/cvs-alliance/versions/one"), 404, "HTTP_404")  # no route: not an integer
    assert len(api.get("/contracts").get_json()["contracts"]) == 1
    assert len(api.get("/contracts", who=CINEMA).get_json()["contracts"]) == 1
    assert api.get("/contracts", who=RIDE).get_json() == {"contracts": []}

    # --- marketing budgets (RL3): the issuer declares its own; licences (RL4): an admin records a new one
    budget = {"issuer_id": CVS, "period": "2026-11", "budget_fen": 10**9, "point_cost_fen_per_point": "0.5"}
    assert_error(api.post("/budgets", who=CINEMA, json=budget), 403, "NOT_YOUR_DATA")
    declared = post("/budgets", "budget-cvs", who=CVS, json=budget)
    assert declared.status_code == 201 and declared.get_json()["utilization"] == "0.0000"
    assert api.post("/budgets", json=budget).status_code == 200  # the same declaration again: unchanged
    floats = {**budget, "point_cost_fen_per_point": 0.5}
    assert_error(api.post("/budgets", json=floats), 422, "BUDGET_POINT_COST_INVALID")
    assert_error(api.get(f"/budgets/{CVS}/2026-10"), 404, "BUDGET_NOT_FOUND")
    assert_error(api.get(f"/budgets/{CVS}/2026-11", who=CINEMA), 403, "NOT_YOUR_DATA")
    licence = {"licence_number": "沪B2-20270001", "licence_expires_on": "2031-12-31"}
    recorded = post(f"/partners/{RIDE}/licence", "licence-ride", json=licence)
    assert recorded.status_code == 200 and recorded.get_json()["issuing_suspended"] is False
    expired = {**licence, "licence_expires_on": "2026-01-01"}
    assert_error(api.post(f"/partners/{RIDE}/licence", json=expired), 422, "LICENCE_NOT_IN_DATE")
    assert_error(api.post(f"/partners/{RIDE}/licence", who=RIDE, json=licence), 403, "ADMIN_ONLY")

    # --- settlement files: accepted and refused records, the signature as raw bytes, base64 file or text field
    cvs_rows = [earn("m1", 500), earn("m2", 300, receipt="R-2"), earn("", 10, receipt="R-3")]
    cvs_content = file_bytes(CVS, "CVS-2026-11-01", cvs_rows)
    body = api.upload_rows(CVS, "CVS-2026-11-01", cvs_rows)
    assert (body["accepted"], body["refused_by_code"]) == (2, {"RL1_MEMBER_MISSING": 1})
    assert api.get(f"/budgets/{CVS}/2026-11", who=CVS).get_json()["used_fen"] == 400  # 800 points at 0.5 fen
    cinema_content = file_bytes(CINEMA, "CIN-2026-11-01", [redeem("m1", 400), redeem("m1", 50, category="books")])
    text_signature = base64.b64encode(api.keys[CINEMA].sign(cinema_content)).decode()
    response = post(
        "/files",
        "file-cinema",
        who=CINEMA,
        data={"file": (io.BytesIO(cinema_content), "CIN-2026-11-01.csv"), "signature": text_signature},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201 and response.get_json()["accepted_value_fen"] == 3000
    eyewear_content = file_bytes(EYEWEAR, "EYE-2026-11-01", [redeem("m2", 200, fulfiller=EYEWEAR, category="eyewear")])
    response = api.upload(EYEWEAR, eyewear_content, base64.b64encode(api.keys[EYEWEAR].sign(eyewear_content)))
    assert response.status_code == 201

    refused = assert_error(api.upload(CVS, cvs_content), 409, "FILE_DUPLICATE")
    assert refused["original_acknowledgement_url"] == f"{API}/partners/{CVS}/files/CVS-2026-11-01/ack"
    other = file_bytes(CVS, "CVS-2026-11-02", [earn("m1", 100)])
    refused = assert_error(api.upload(CVS, other, PartyKey().sign(other)), 422, "FILE_SIGNATURE_INVALID")
    assert refused["acknowledgement"].startswith(f"A,CHACK/1,{CVS},CVS-2026-11-02,")
    parts = {"file": (io.BytesIO(other), "f.csv")}
    missing = api.post("/files", who=CVS, data=parts, content_type="multipart/form-data")
    assert_error(missing, 422, "REQUEST_PARTS_MISSING")
    as_admin = api.post(
        "/files", data=upload_data(other, api.keys[CVS].sign(other)), content_type="multipart/form-data"
    )
    assert_error(as_admin, 403, "PARTNER_ONLY")
    config = hub.config
    hub.config = replace(config, max_file_bytes=len(other) - 1)  # the hub's limit: a signed refusal
    try:
        assert_error(api.upload(CVS, other), 413, "FILE_TOO_LARGE")["acknowledgement"]
    finally:
        hub.config = config
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    client.application.config["MAX_CONTENT_LENGTH"] = 64  # the request's limit, before the hub reads anything
    try:
        assert_error(api.upload(CVS, other), 413, "FILE_TOO_LARGE")
    finally:
        client.application.config["MAX_CONTENT_LENGTH"] = limit

    ack_path = f"/partners/{CVS}/files/CVS-2026-11-01/ack"
    ack = api.get(ack_path, who=CVS)
    assert ack.status_code == 200 and ack.get_data() == api.get(ack_path).get_data()
    signature = api.get(ack_path + ".sig", who=CVS).get_data()
    assert len(signature) == 64 and hub_key.verify(signature, ack.get_data())
    assert_error(api.get(f"/partners/{CVS}/files/NO-SUCH-FILE/ack", who=CVS), 404, "FILE_NOT_FOUND")
    assert_error(api.get(f"/partners/{CVS}/files/NO-SUCH-FILE/ack.sig"), 404, "FILE_NOT_FOUND")
    assert_error(api.get(ack_path, who=CINEMA), 403, "NOT_YOUR_DATA")
    assert_error(api.get(ack_path + ".sig", who=CINEMA), 403, "NOT_YOUR_DATA")

    # --- periods and statements
    assert api.get("/periods", who=CINEMA).get_json() == {"periods": []}
    assert_error(api.post("/periods/2026-13/close"), 422, "PERIOD_MALFORMED")
    assert_error(api.post("/periods/2026-12/close"), 422, "PERIOD_NOT_ENDED")
    assert_error(api.post(f"/periods/{PERIOD}/close", who=CVS), 403, "ADMIN_ONLY")
    closed = post(f"/periods/{PERIOD}/close", "close-2026-11")
    assert closed.status_code == 201
    assert closed.get_json()["positions"] == {CVS: -4760, CINEMA: 3000, EYEWEAR: 1760, RIDE: 0}
    assert_error(api.post(f"/periods/{PERIOD}/close"), 409, "PERIOD_ALREADY_CLOSED")
    assert_error(api.post("/periods/2026-10/close"), 409, "PERIOD_OUT_OF_ORDER")
    for partner_id in (CVS, CINEMA, EYEWEAR, RIDE):
        base = f"/periods/{PERIOD}/statements/{partner_id}"
        for suffix in (".csv", ".json"):
            document = api.get(base + suffix, who=partner_id)
            assert document.status_code == 200
            signature = api.get(base + suffix + ".sig", who=partner_id).get_data()
            assert hub_key.verify(signature, document.get_data())
    assert api.get(f"/periods/{PERIOD}/statements/{CINEMA}.json").get_json()["partner_name"] == "光影影院"
    assert_error(api.get(f"/periods/{PERIOD}/statements/{CVS}.xml", who=CVS), 404, "STATEMENT_NOT_FOUND")
    assert_error(api.get(f"/periods/{PERIOD}/statements/{CINEMA}.csv", who=CVS), 403, "NOT_YOUR_DATA")
    assert_error(api.get(f"/periods/2026-10/statements/{CVS}.csv", who=CVS), 404, "STATEMENT_NOT_FOUND")
    assert_error(api.get(f"/periods/11-2026/statements/{CVS}.json", who=CVS), 422, "PERIOD_MALFORMED")
    assert [p["period"] for p in api.get("/periods").get_json()["periods"]] == [PERIOD]

    # --- points mall and members' points
    lens = {
        "offer_ref": "LENS",
        "title_zh": "200元镜片",
        "title_en": "200-yuan lens",
        "category": "eyewear",
        "points_price": 2000,
        "face_value_fen": 20000,
        "stock": 5,
        "valid_from": "2026-01-01T00:00:00+08:00",
        "valid_to": None,
        "promotions": [
            {"points_price": 1500, "starts_at": "2026-06-06T00:00:00+08:00", "ends_at": "2026-06-07T00:00:00+08:00"}
        ],
    }
    assert post("/offers", "offer-lens", who=EYEWEAR, json=lens).status_code == 201
    assert_error(api.post("/offers", who=EYEWEAR, json={**lens, "category": "gift-cards"}), 422, "OFFER_INVALID")
    assert_error(api.post("/offers", json=lens), 403, "PARTNER_ONLY")
    listed = api.get("/offers?issuer=cvs&at=2026-06-06T12:00:00%2B08:00", who=CINEMA).get_json()
    assert [(o["offer_ref"], o["price_now"]) for o in listed["offers"]] == [("LENS", 1500)]
    assert_error(api.get("/offers?issuer=cvs&at=yesterday", who=CINEMA), 422, "REQUEST_FIELD_INVALID")
    assert_error(api.get("/offers?issuer=nobody", who=CINEMA), 404, "PARTNER_NOT_FOUND")
    points = api.get(f"/partners/{CVS}/members/m1/points", who=CVS).get_json()
    assert points["balance"] == sum(change["points"] for change in points["history"])
    assert_error(api.get(f"/partners/{CVS}/members/m1/points", who=CINEMA), 403, "NOT_YOUR_DATA")
    assert_error(api.get(f"/partners/{CVS}/members/nobody/points", who=CVS), 404, "MEMBER_NOT_FOUND")

    # --- real-time redemption at the till
    hold = {"reference": "TILL-1", "issuer_id": CVS, "member_token": "m1", "points": 100, "category": "cinema"}
    held = post("/authorizations", "auth-1", who=CINEMA, json=hold)
    assert held.status_code == 201 and held.get_json()["status"] == "HELD"
    assert_error(
        api.post("/authorizations", who=CINEMA, json={**hold, "reference": "TILL-2", "points": 10**6}),
        422,
        "POINTS_INSUFFICIENT",
    )
    assert api.get("/authorizations/TILL-1", who=CINEMA).get_json()["points"] == 100
    captured = api.post("/authorizations/TILL-1/capture", who=CINEMA, json={"points": 60})
    assert captured.status_code == 200 and captured.get_json()["value_fen"] == 450
    assert_error(api.post("/authorizations/TILL-1/void", who=CINEMA), 409, "AUTH_CAPTURED")
    refunded = api.post("/authorizations/TILL-1/refunds", who=CINEMA, json={"reference": "R-1", "points": 20})
    assert refunded.status_code == 201 and refunded.get_json()["value_fen"] == -150
    assert_error(
        api.post("/authorizations/TILL-1/refunds", who=CINEMA, json={"reference": "R-2", "points": 41}),
        422,
        "REV_EXCEEDS_ORIGINAL",
    )
    assert api.post("/authorizations", who=CINEMA, json={**hold, "reference": "TILL-3", "points": 1}).status_code == 201
    assert api.post("/authorizations/TILL-3/void", who=CINEMA).get_json()["status"] == "VOIDED"
    assert_error(api.get("/authorizations/NONE", who=CINEMA), 404, "AUTH_NOT_FOUND")
    assert_error(api.post("/authorizations", json=hold), 403, "PARTNER_ONLY")

    # --- oversight: alerts and the audit trail
    assert api.get("/alerts", who=CVS).status_code == 200
    trail = api.get("/audit-log?subject=partner:").get_json()["entries"]
    assert trail and trail[0]["action"] == "partner.register"
    assert api.get("/audit-log/verify").get_json()["ok"] is True
    assert_error(api.get("/audit-log", who=CVS), 403, "ADMIN_ONLY")
    spare = api.issue_token(CINEMA)  # a second token of the cinema's, revoked with the first
    revoked = api.post(f"/partners/{CINEMA}/tokens/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["revoked"] == 2
    assert_error(client.get(API + f"/partners/{CINEMA}", headers=bearer(spare)), 401, "TOKEN_INVALID")
    api.issue_token(CINEMA)
    # --- evidence-gated actions (RL9)
    from tests.web.test_member_actions_api import drive_member_actions

    drive_member_actions(client, hub)
    # monitoring cases (RL8)
    assert api.post(f"/partners/{CVS}/owner", json={"beneficial_owner": "91310000MA1"}).status_code == 200
    case = api.post("/cases", json={"summary": "tip-off", "facts": ["a call"]})
    assert case.status_code == 201
    case_path = f"/cases/{case.get_json()['case_id']}"
    assert api.get("/cases").status_code == 200 and api.get(case_path).status_code == 200
    assert api.post(case_path + "/evidence", json={"facts": ["a letter"]}).status_code == 200
    assert api.post(case_path + "/close", json={"resolution": "no fraud"}).status_code == 200
    assert api.get("/expiry-notices", who=CVS).get_json() == {"notices": [], "next_after_id": None}
    # --- families (RL6): a group, two consented members, a pool move (and its replay), a member leaving
    assert post("/families", "family-1", who=CVS, json={"group_id": "F"}).status_code == 201
    assert api.post("/families", who=CVS, json={"group_id": "F"}).status_code == 200
    consent = {"consent_ref": "C-1", "consented_at": "2026-12-01T09:30:00+08:00"}
    for member in ("m1", "m2"):
        joined = api.post(f"/families/{CVS}/F/members", who=CVS, json={"member_token": member, **consent})
        assert joined.status_code == 201, joined.get_json()
    move = {"reference": "POOL-1", "from_member": "m1", "to_member": "m2", "points": 1}
    assert post("/family-pool-moves", "pool-1", who=CVS, json=move).status_code == 201
    assert api.post("/family-pool-moves", who=CVS, json=move).status_code == 200
    assert_error(
        api.post("/family-pool-moves", who=CVS, json={**move, "reference": "POOL-2", "to_member": "m9"}),
        422,
        "RL6_NO_CONSENT",
    )
    assert api.get(f"/families/{CVS}/F", who=CVS).get_json()["members"][1]["member_token"] == "m2"
    assert api.post(f"/families/{CVS}/F/members/m2/leave", who=CVS, json={}).status_code == 200

    # every documented operation answered with success at least once, and every error status was seen
    succeeded = {(method, path) for method, path, status in client.checker.seen if 200 <= status < 300}
    assert spec_operations() - succeeded == set(), "operations the flow never drove to success"
    statuses = {status for _, _, status in client.checker.seen}
    assert {401, 403, 404, 409, 413, 422} <= statuses
