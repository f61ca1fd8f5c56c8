"""Found: ``GET /expiry-notices?issuer=%00`` (admin) and ``GET /offers?issuer=%00`` answered 500 on PostgreSQL:
the NUL reached the database as a text parameter. An issuer filter no partner id can be is a 422."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_api_token
from tests.factories import CVS, Alliance
from tests.web.test_api_flow import API, assert_error, bearer


@pytest.mark.parametrize("path", ["/expiry-notices", "/offers"])
@pytest.mark.parametrize("issuer", ["%00", "c%00vs", "x" * 41])
def test_an_issuer_filter_with_nul_is_refused(client: FlaskClient, hub: Hub, path: str, issuer: str) -> None:
    Alliance.standard(hub)
    admin = bearer(issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder="alice"))
    assert_error(client.get(f"{API}{path}?issuer={issuer}", headers=admin), 422, "REQUEST_FIELD_INVALID")
    assert client.get(f"{API}{path}?issuer={CVS}", headers=admin).status_code == 200
