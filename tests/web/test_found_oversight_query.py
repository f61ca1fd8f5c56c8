"""Found: ``GET /audit-log?limit=²`` (or ``/alerts``) answered 500 — ``str.isdigit`` says yes to superscript
digits that ``int`` cannot read — and ``/audit-log?subject=%00`` answered 500 on PostgreSQL (NUL in a text
parameter). A bad query is a 422 ``QUERY_INVALID``."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_api_token
from tests.web.test_api_flow import API, assert_error, bearer


@pytest.mark.parametrize(
    "query",
    [
        "/audit-log?limit=²",
        "/audit-log?after_seq=①",
        "/alerts?limit=³",
        "/audit-log?subject=%00",
        "/audit-log?subject=a%00",
    ],
)
def test_an_unreadable_query_is_refused(client: FlaskClient, hub: Hub, query: str) -> None:
    admin = bearer(issue_api_token(engine=hub.engine, now=hub.now(), principal="admin", holder="alice"))
    assert_error(client.get(API + query, headers=admin), 422, "QUERY_INVALID")
    assert client.get(API + "/audit-log?limit=2&subject=partner:", headers=admin).status_code == 200
