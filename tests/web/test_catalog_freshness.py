"""A multi-worker server caches partners, contracts, closed periods and API tokens per worker process
(``clearinghouse.catalog``); a change committed elsewhere is honoured by the very next request, whichever worker
takes it: here a token every worker has already accepted (and cached) is revoked outside the server."""

from __future__ import annotations

import http.client

from sqlalchemy import text

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_partner_token
from tests.factories import CINEMA, Alliance
from tests.web.serverkit import Server

REQUESTS = 24  # each on a new connection, so every worker takes some


def _status(port: int, token: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/api/v1/periods", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_token_revoked_outside_the_server_is_refused_by_the_next_request_in_every_worker(hub: Hub) -> None:
    Alliance.standard(hub)
    token = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)
    server = Server(hub.config.database_url, hub.config.hub_key_path, threads=2, workers=2)
    try:
        assert [_status(server.port, token) for _ in range(REQUESTS)] == [200] * REQUESTS
        with hub.engine.begin() as connection:
            connection.execute(text("UPDATE api_credential SET revoked_at = created_at"))
        assert [_status(server.port, token) for _ in range(REQUESTS)] == [401] * REQUESTS
    finally:
        server.stop()
