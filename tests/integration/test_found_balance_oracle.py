"""A fulfiller reads an issuer's member balances without redeeming anything: a REDEEM of more points than
any member could hold is refused with "member holds N points", in the API answer's acknowledgement."""

from __future__ import annotations

import base64
import io

from clearinghouse.services.partners import issue_partner_token
from tests.factories import CINEMA, CVS, Alliance, earn, file_bytes, redeem, submit


def test_refusal_does_not_disclose_the_issuers_member_balance(hub, client):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("vip-4711", 12345, spend_fen=1234500)])
    token = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)
    probe = file_bytes(CINEMA, "PROBE", [redeem("vip-4711", 999999999999)])
    answer = client.post(
        "/api/v1/files",
        headers={"Authorization": f"Bearer {token}"},
        data={
            "file": (io.BytesIO(probe), "p.csv"),
            "signature": base64.b64encode(alliance.keys[CINEMA].sign(probe)).decode(),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["accepted"] == 0  # nothing redeemed, nothing posted ...
    assert "12345" not in body["acknowledgement"], body["acknowledgement"]  # ... yet the balance is disclosed
