"""Engine, schema and the unit of work.

SQLite: WAL, foreign keys on, a busy timeout, and ``BEGIN IMMEDIATE`` for every writing transaction so
two writers queue instead of failing half-way. Before ``BEGIN IMMEDIATE`` a writer takes an exclusive
``flock`` on ``<database>-writer.lock`` (one open file per connection, so threads of one process queue too):
waiting writers sleep in the kernel and wake as soon as the lock is free, instead of in sqlite3's busy
handler, which polls in growing sleeps (1 ms … 100 ms) and made the tail of every contended write.
PostgreSQL through psycopg 3. Only services open a unit
of work; it rolls back unless the service commits, and it commits at most once.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

import clearinghouse.nonce_table  # noqa: F401  (its table, for create_all)
from clearinghouse import (
    tables,
    tables_actions,
    tables_budgets,
    tables_expiry,
    tables_families,
    tables_monitoring,
)
from clearinghouse.config import Config, ensure_parent

_READ_ONLY = "clearinghouse_read_only"


def make_engine(config: Config) -> Engine:
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(config)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, pool_pre_ping=True)


_WRITERS = threading.local()


class _WriterLock:
    """An exclusive ``flock`` on the database's lock file, through this connection's own open file.

    A thread that already holds the lock through another connection does not wait for it again (it would
    wait for itself): that connection's ``BEGIN IMMEDIATE`` then meets the busy timeout, as without the lock.
    """

    # Waiting polls in short steps (never sqlite3's growing sleeps, which made the tail latency) and gives up
    # after the busy timeout, as sqlite3 would: a transaction left open elsewhere never blocks a writer forever.
    _FIRST_STEP_S = 0.0002
    _MAX_STEP_S = 0.002

    def __init__(self, path: str, timeout_s: float) -> None:
        self._path = path
        self._timeout_s = timeout_s
        self._fd: int | None = None
        self._held = False

    def acquire(self) -> None:
        holder: _WriterLock | None = getattr(_WRITERS, "holder", None)
        if holder is not None and holder._held:
            return
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        self._wait(self._fd)
        self._held = True
        _WRITERS.holder = self

    def _wait(self, fd: int) -> None:
        deadline = time.monotonic() + self._timeout_s
        step = self._FIRST_STEP_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked (another writer held it too long)") from None
                time.sleep(step)
                step = min(step * 2, self._MAX_STEP_S)

    def release(self) -> None:
        if self._held and self._fd is not None:
            self._held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _SQLiteConnection(sqlite3.Connection):
    """sqlite3's connection that lets go of the writer lock once its transaction is over."""

    writer_lock: _WriterLock | None = None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction and self.writer_lock is not None:
                self.writer_lock.release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            if not self.in_transaction and self.writer_lock is not None:
                self.writer_lock.release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.writer_lock is not None:
                self.writer_lock.close()


def _sqlite_engine(config: Config) -> Engine:
    url = make_url(config.database_url)
    lock_path = None
    if url.database and url.database != ":memory:":
        ensure_parent(url.database)
        if not url.database.startswith("file:"):
            lock_path = os.path.abspath(url.database) + "-writer.lock"
    # Connections are pooled: opening one (and its PRAGMAs, and the WAL checkpoint on close) cost more than
    # the work of a real-time request.
    engine = create_engine(
        url,
        connect_args={
            "check_same_thread": False,
            "timeout": config.sqlite_busy_timeout_ms / 1000,
            "factory": _SQLiteConnection,
        },
    )
    busy = int(config.sqlite_busy_timeout_ms)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        if lock_path is not None:
            dbapi_connection.writer_lock = _WriterLock(lock_path, config.sqlite_busy_timeout_ms / 1000)
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            f"busy_timeout={busy}",
            "synchronous=NORMAL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_READ_ONLY, False):
            _on_driver(connection, "BEGIN", ())
            return
        lock: _WriterLock | None = getattr(connection.connection.dbapi_connection, "writer_lock", None)
        if lock is not None:
            lock.acquire()
        try:
            _on_driver(connection, "BEGIN IMMEDIATE", ())
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    return engine


_SQLITE_APPEND_ONLY = """
CREATE TRIGGER IF NOT EXISTS {table}_append_only_update BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, 'append-only table {table}: corrections are reversals'); END;
CREATE TRIGGER IF NOT EXISTS {table}_append_only_delete BEFORE DELETE ON {table}
BEGIN SELECT RAISE(ABORT, 'append-only table {table}: corrections are reversals'); END;
"""

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION clearinghouse_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'append-only table %%: corrections are reversals', TG_TABLE_NAME; END $$;
"""
_PG_APPEND_ONLY = """
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
FOR EACH ROW EXECUTE FUNCTION clearinghouse_append_only();
"""


APPEND_ONLY_TABLES = (
    tables.APPEND_ONLY_TABLES
    + tables_budgets.APPEND_ONLY
    + tables_expiry.APPEND_ONLY
    + tables_families.APPEND_ONLY
    + tables_monitoring.APPEND_ONLY
    + tables_actions.APPEND_ONLY
)
_SQLITE_CATALOG = """
CREATE TRIGGER IF NOT EXISTS {table}_catalog_{name} AFTER {op} ON {table}
BEGIN UPDATE catalog_version SET version = version + 1 WHERE id = 1; END
"""

_PG_CATALOG_FUNCTION = """
CREATE OR REPLACE FUNCTION clearinghouse_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE catalog_version SET version = version + 1 WHERE id = 1; RETURN NULL; END $$;
"""
_PG_CATALOG = """
DROP TRIGGER IF EXISTS {table}_catalog ON {table};
CREATE TRIGGER {table}_catalog AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION clearinghouse_catalog_changed();
"""


def create_schema(engine: Engine) -> None:
    """Create tables, append-only triggers and the catalog's change counter with its triggers (idempotent).

    The counter starts at a random value, so a cache made on one database never matches another's."""
    SQLModel.metadata.create_all(engine)
    start = secrets.randbelow(1 << 40) * 1_000_000
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO catalog_version (id, version) VALUES (1, :v) ON CONFLICT (id) DO NOTHING"), {"v": start}
        )
        if engine.dialect.name == "sqlite":
            for table in APPEND_ONLY_TABLES:
                for statement in _SQLITE_APPEND_ONLY.format(table=table).split(";\n"):
                    if statement.strip():
                        connection.exec_driver_sql(statement)
            for table in tables.CATALOG_TABLES:
                for op in ("INSERT", "UPDATE", "DELETE"):
                    connection.exec_driver_sql(_SQLITE_CATALOG.format(table=table, name=op.lower(), op=op))
        else:
            connection.exec_driver_sql(_PG_FUNCTION)
            for table in APPEND_ONLY_TABLES:
                connection.exec_driver_sql(_PG_APPEND_ONLY.format(table=table))
            connection.exec_driver_sql(_PG_CATALOG_FUNCTION)
            for table in tables.CATALOG_TABLES:
                connection.exec_driver_sql(_PG_CATALOG.format(table=table))


class UnitOfWork:
    """One database transaction. Rolls back unless :meth:`commit` is called; commits at most once."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        bind = engine.execution_options(**{_READ_ONLY: True}) if read_only else engine
        self.session = Session(bind, expire_on_commit=False, autoflush=False)
        self._committed = False

    @property
    def connection(self) -> Connection:
        return self.session.connection()

    def commit(self) -> None:
        if self._committed:
            raise RuntimeError("a unit of work commits once")
        self.session.commit()
        self._committed = True

    def close(self) -> None:
        if not self._committed:
            # Detach what was read first, so values handed out survive the rollback's expiry.
            self.session.expunge_all()
            self.session.rollback()
        self.session.close()


@contextmanager
def unit_of_work(engine: Engine, *, read_only: bool = False) -> Iterator[UnitOfWork]:
    uow = UnitOfWork(engine, read_only=read_only)
    try:
        yield uow
    finally:
        uow.close()


def driver_execute(
    connection: Connection, sql: str, params: Sequence[Any] = (), *, many: bool = False
) -> list[tuple[Any, ...]]:
    """Run one statement straight on the driver's cursor, inside ``connection``'s transaction (begun first if
    it is not yet), and return its rows (none for a statement without a result). None of SQLAlchemy's
    per-statement work, for the real-time path's short statements; a driver error comes back as SQLAlchemy's
    (``IntegrityError``, ``OperationalError`` ...), as through ``exec_driver_sql``. ``many``: executemany."""
    if not connection.in_transaction():
        connection.begin()
    return _on_driver(connection, sql, params, many=many)


def _on_driver(connection: Connection, sql: str, params: Sequence[Any], *, many: bool = False) -> list[tuple[Any, ...]]:
    cursor = connection.connection.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    except connection.dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            sql, params, error, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect
        ) from error
    finally:
        cursor.close()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only (no write lock on SQLite), rolled back when done."""
    with engine.execution_options(**{_READ_ONLY: True}).connect() as connection:
        yield connection


def allocate_ids(connection: Connection, table: str, count: int) -> list[int]:
    """Reserve ``count`` ids for ``table`` in one round trip, for bulk inserts without RETURNING.

    SQLite: the writer holds the database lock (BEGIN IMMEDIATE), so max(id) + 1 ... is safe.
    PostgreSQL: values drawn from the table's own sequence, safe under any concurrency.
    """
    if count <= 0:
        return []
    if connection.dialect.name == "sqlite":
        start = int(driver_execute(connection, f"SELECT coalesce(max(id), 0) + 1 FROM {table}")[0][0])
        return list(range(start, start + count))
    rows = connection.execute(
        text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
        {"t": table, "n": count},
    )
    return [int(value) for (value,) in rows]
