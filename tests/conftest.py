"""Fixtures: a fresh hub per test on real SQLite and real PostgreSQL, and the Flask test client."""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from clearinghouse.app import create_app
from clearinghouse.config import load_config
from clearinghouse.db import create_schema, make_engine
from clearinghouse.hub import Hub, open_hub
from tests.postgres import drop_database, fresh_database, postgres_url_for_tests, running_in_ci

NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)  # 12:00 on 3 December 2026 in Shanghai


def _postgres_server() -> str:
    url, reason = postgres_url_for_tests()
    if url is None:
        if running_in_ci():
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(f"no PostgreSQL: {reason}")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    server = _postgres_server()
    url = fresh_database(server, template=_schema_template(server))
    try:
        yield url
    finally:
        drop_database(url)


_SCHEMA_TEMPLATES: dict[str, str] = {}


def _schema_template(server: str) -> str:
    """A database holding the hub's schema, made once per test process: each test's database is a copy of it
    (PostgreSQL copies a template far faster than it runs the DDL of every table and trigger again). The hub
    still runs its own idempotent schema step on the copy, as it does on every start."""
    if server not in _SCHEMA_TEMPLATES:
        url = fresh_database(server)
        engine = make_engine(load_config({"database_url": url}, environ={}))
        try:
            create_schema(engine)
        finally:
            engine.dispose()
        atexit.register(drop_database, url)
        _SCHEMA_TEMPLATES[server] = str(make_url(url).database)
    return _SCHEMA_TEMPLATES[server]


@pytest.fixture
def database_url_pg() -> Iterator[str]:
    """A fresh PostgreSQL database (for tests that choose their backend themselves)."""
    url = fresh_database(_postgres_server())
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def hub(database_url: str, tmp_path: Path) -> Iterator[Hub]:
    config = load_config(
        {"database_url": database_url, "hub_key_path": str(tmp_path / "hub-key.pem"), "batch_size": 7}, environ={}
    )
    opened = open_hub(config)
    opened.clock = lambda: NOW
    try:
        yield opened
    finally:
        opened.engine.dispose()


@pytest.fixture
def odd_host_zone() -> Iterator[str]:
    """Run the test with the host's zone set far from Shanghai, and put the real one back afterwards."""
    import os
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    try:
        yield os.environ["TZ"]
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture
def app(hub: Hub) -> Flask:
    flask_app = create_app(hub.config, hub=hub)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
