"""Smaller promises of the API: a signature as a text field, contract signatures an auditor can check,
statement media types."""

from __future__ import annotations

import base64
import io

from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from partners.keys import load_public_key
from tests.factories import CINEMA, CVS, earn, file_bytes, redeem
from tests.web.test_api_flow import standard_alliance


def test_a_base64_signature_may_come_as_a_text_field(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    content = file_bytes(CVS, "F1", [earn("m1", 500)])
    signature = base64.b64encode(api.keys[CVS].sign(content)).decode()
    answer = api.post(
        "/files",
        who=CVS,
        data={"file": (io.BytesIO(content), "F1.csv"), "signature": signature},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["accepted"] == 1


def test_every_contract_signature_can_be_checked_by_an_auditor(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    contract = api.get("/contracts/cvs-alliance/versions/1").get_json()
    canonical = api.get("/contracts/cvs-alliance/versions/1/canonical").data
    signers = [s["signer_id"] for s in contract["signatures"]]
    assert signers[-1] == "hub" and set(signers[:-1]) == set(contract["signed_by"])
    hub_key = load_public_key(api.get("/hub/public-key").data)
    for signature in contract["signatures"]:
        owner = hub_key if signature["signer_id"] == "hub" else api.keys[signature["signer_id"]]
        raw = base64.b64decode(signature["signature"])
        if owner is hub_key:
            assert hub_key.verify(raw, canonical)
        else:
            assert load_public_key(owner.public_pem()).verify(raw, canonical)


def test_statements_carry_one_charset(client: FlaskClient, hub: Hub) -> None:
    api = standard_alliance(client, hub)
    api.upload_rows(CVS, "E1", [earn("m1", 500)])
    api.upload_rows(CINEMA, "R1", [redeem("m1", 400)])
    assert api.post("/periods/2026-11/close").status_code == 201
    csv = api.get(f"/periods/2026-11/statements/{CVS}.csv")
    assert csv.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert api.get(f"/periods/2026-11/statements/{CVS}.json").headers["Content-Type"] == (
        "application/json; charset=utf-8"
    )
