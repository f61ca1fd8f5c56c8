"""Found: an evidence-gated action's reason (request, reject, lift) holding a lone surrogate passed the check
(which looked for NUL only) and answered 500 when the driver could not encode it. It is a 422 that changes
nothing; the same reason in plain text passes."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_api_token
from tests.factories import CVS, Alliance, case_with_evidence, earn, submit
from tests.web.test_api_flow import API, assert_error, bearer, row_snapshot

BAD = "appeal \ud800"


def test_a_reason_with_a_lone_surrogate_is_refused_at_every_step(client: FlaskClient, hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 100)])
    case_id = case_with_evidence(hub)
    tokens = {n: issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder=n) for n in ("a", "b")}

    def post(who: str, path: str, body: dict[str, Any]) -> Any:
        headers = {**bearer(tokens[who]), "Content-Type": "application/json"}
        return client.post(API + path, headers=headers, data=json.dumps(body))

    body = {"kind": "FREEZE", "issuer_id": CVS, "member_token": "m1", "points": 10, "case_id": case_id}
    before = row_snapshot(hub)
    assert_error(post("a", "/member-actions", {**body, "reason": BAD}), 422, "REQUEST_FIELD_INVALID")
    assert row_snapshot(hub) == before
    first = post("a", "/member-actions", {**body, "reason": "velocity"}).get_json()["action_id"]
    before = row_snapshot(hub)
    assert_error(post("b", f"/member-actions/{first}/reject", {"reason": BAD}), 422, "REQUEST_FIELD_INVALID")
    assert row_snapshot(hub) == before
    assert post("b", f"/member-actions/{first}/approve", {}).status_code == 200
    before = row_snapshot(hub)
    assert_error(post("b", f"/member-actions/{first}/lift", {"reason": BAD}), 422, "REQUEST_FIELD_INVALID")
    assert row_snapshot(hub) == before
    assert post("b", f"/member-actions/{first}/lift", {"reason": "appeal upheld"}).get_json()["status"] == "LIFTED"
