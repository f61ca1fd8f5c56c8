"""Integration check of scripts/pg-throwaway and the tests.postgres helpers.

Skipped (with the reason) when no PostgreSQL can be had, except under CI, where that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

import psycopg
import pytest

from tests.postgres import (
    PostgresUnavailableError,
    ThrowawayCluster,
    drop_database,
    fresh_database,
    libpq_conninfo,
    postgres_url_for_tests,
    running_in_ci,
    start_throwaway,
)

pytestmark = pytest.mark.postgres


def _unavailable(reason: str) -> NoReturn:
    if running_in_ci():
        pytest.fail(f"PostgreSQL is required under CI but is unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def cluster() -> Iterator[ThrowawayCluster]:
    try:
        started = start_throwaway()
    except PostgresUnavailableError as exc:
        _unavailable(exc.reason)
    try:
        yield started
    finally:
        started.stop()


def _database_exists(url: str, name: str) -> bool:
    with psycopg.connect(libpq_conninfo(url, "postgres")) as conn:
        row = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert row is not None
    return bool(row[0])


def _roundtrip_fresh_database(url: str) -> None:
    db_url = fresh_database(url)
    name = db_url.rsplit("/", 1)[-1]
    assert name.startswith("ct_")
    try:
        with psycopg.connect(libpq_conninfo(db_url)) as conn:
            row = conn.execute("SELECT current_database()").fetchone()
            assert row == (name,)
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (42)")
            assert conn.execute("SELECT x FROM t").fetchone() == (42,)
        # an open connection must not stop the drop
        lingering = psycopg.connect(libpq_conninfo(db_url))
        try:
            drop_database(db_url)
        finally:
            lingering.close()
    finally:
        drop_database(db_url)  # idempotent
    assert not _database_exists(url, name)


def test_throwaway_cluster_start_connect_stop(cluster: ThrowawayCluster) -> None:
    assert cluster.url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    assert cluster.url.endswith("/clearinghouse_test")
    assert cluster.directory.is_dir()

    with psycopg.connect(libpq_conninfo(cluster.url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        row = conn.execute(
            "SELECT current_user, current_database(), pg_get_userbyid(datdba) "
            "FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert row == ("postgres", "clearinghouse_test", "postgres")
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()
            for name in ("fsync", "synchronous_commit", "full_page_writes", "listen_addresses")
        }
        assert settings == {
            "fsync": ("off",),
            "synchronous_commit": ("off",),
            "full_page_writes": ("off",),
            "listen_addresses": ("127.0.0.1",),
        }

    _roundtrip_fresh_database(cluster.url)

    cluster.stop()
    assert not cluster.directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq_conninfo(cluster.url), connect_timeout=3)


def test_server_for_the_suite_accepts_fresh_databases() -> None:
    url, reason = postgres_url_for_tests()
    if url is None:
        _unavailable(reason)
    with psycopg.connect(libpq_conninfo(url)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    _roundtrip_fresh_database(url)
