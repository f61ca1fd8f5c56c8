"""Found: an admin creating a family group for an issuer id holding NUL or a lone surrogate answered 500
(PostgreSQL / the driver refused the lookup). An id no partner can have is an unknown partner: 404."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_api_token
from tests.factories import CVS, Alliance
from tests.web.test_api_flow import API, assert_error, bearer, row_snapshot


@pytest.mark.parametrize("issuer_id", ["c\x00vs", "\ud800", "x" * 300])
def test_an_impossible_issuer_id_is_an_unknown_partner(client: FlaskClient, hub: Hub, issuer_id: str) -> None:
    Alliance.standard(hub)
    headers = {
        **bearer(issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder="alice")),
        "Content-Type": "application/json",
    }
    before = row_snapshot(hub)
    refused = client.post(
        API + "/families", headers=headers, data=json.dumps({"group_id": "F1", "issuer_id": issuer_id})
    )
    assert_error(refused, 404, "PARTNER_NOT_FOUND")
    assert row_snapshot(hub) == before
    body = json.dumps({"group_id": "F1", "issuer_id": CVS})
    assert client.post(API + "/families", headers=headers, data=body).status_code == 201
