"""Bad till input to the real-time calls is refused with a code on every backend, never a 500."""

from __future__ import annotations

import pytest

from tests.factories import CINEMA, CVS, earn
from tests.web.test_api_flow import assert_error, standard_alliance


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reference", "R" * 65),
        ("reference", "a\x00b"),
        ("reference", ""),
        ("member_token", "m" * 129),
        ("category", "c" * 129),
        ("offer_ref", "\x00"),
    ],
)
def test_malformed_authorization_fields_are_refused(client, hub, field, value):
    api = standard_alliance(client, hub)
    api.upload_rows(CVS, "E1", [earn("m1", 500)])
    body = {"reference": "T1", "issuer_id": CVS, "member_token": "m1", "points": 10, "category": "cinema", field: value}
    assert_error(api.post("/authorizations", who=CINEMA, json=body), 422, "AUTH_FIELD_INVALID")


@pytest.mark.parametrize("reference", ["R" * 65, "a\x00b", ""])
def test_malformed_refund_references_are_refused(client, hub, reference):
    api = standard_alliance(client, hub)
    api.upload_rows(CVS, "E1", [earn("m1", 500)])
    hold = {"reference": "T1", "issuer_id": CVS, "member_token": "m1", "points": 10, "category": "cinema"}
    assert api.post("/authorizations", who=CINEMA, json=hold).status_code == 201
    assert api.post("/authorizations/T1/capture", who=CINEMA).status_code == 200
    refund = {"reference": reference, "points": 1}
    assert_error(api.post("/authorizations/T1/refunds", who=CINEMA, json=refund), 422, "AUTH_FIELD_INVALID")
