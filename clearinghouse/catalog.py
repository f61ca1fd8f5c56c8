"""What every real-time request reads and what changes rarely, cached per process: the partners, the active
contracts (their terms parsed), the closed periods, and the API tokens seen.

Every change to the tables these come from moves the one-row ``catalog_version`` on in the same transaction
(database triggers, ``db.create_schema``: no writer can forget it, whichever process or tool it is). A request
reads that version — one single-row read — and uses this process's cache only when the cache was made at that
very version; otherwise it reloads within the request's own transaction. So no worker answers from a state
older than the last committed change: a revoked token, a new contract version or a closed period counts from
the request after the commit that made it, in every worker process.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from clearinghouse.db import driver_execute
from clearinghouse.queries import active_contracts, all_partners, closed_periods
from contracts.terms import ContractTerms
from partners.model import Partner
from settlement.clearing import ActiveContract
from settlement.periods import Period


@dataclass(frozen=True)
class Catalog:
    version: int
    partners: dict[str, Partner]
    contracts: tuple[ActiveContract, ...]
    closed_periods: frozenset[Period]
    terms_by_pk: dict[int, ContractTerms]
    # token SHA-256 → (principal, holder), for tokens found valid at this version (filled as they are used)
    tokens: dict[str, tuple[str, str | None]] = field(default_factory=dict)


# One cache per connection pool (an engine and the engines derived from it share one), never across databases.
_CACHE: weakref.WeakKeyDictionary[Any, Catalog] = weakref.WeakKeyDictionary()


def version(connection: Connection) -> int | None:
    """The catalog's version as this connection sees it now (``None`` on a database without the counter)."""
    rows = driver_execute(connection, "SELECT version FROM catalog_version WHERE id = 1")
    return int(rows[0][0]) if rows else None


def current(connection: Connection) -> Catalog:
    """The catalog as of this connection's transaction: this process's copy if it was made at the version the
    database holds now, else read afresh (and kept for the next request)."""
    seen = version(connection)
    pool = connection.engine.pool
    cached = _CACHE.get(pool)
    if cached is not None and seen is not None and cached.version == seen:
        return cached
    fresh = _load(connection, -1 if seen is None else seen)
    if seen is not None:
        _CACHE[pool] = fresh
    return fresh


def _load(connection: Connection, at_version: int) -> Catalog:
    session = Session(bind=connection, autoflush=False)
    try:
        contracts = tuple(active_contracts(session))
        return Catalog(
            version=at_version,
            partners=all_partners(session),
            contracts=contracts,
            closed_periods=closed_periods(session),
            terms_by_pk={contract.pk: contract.terms for contract in contracts},
        )
    finally:
        session.close()


def cached_principal(engine: Engine, token_sha256: str) -> tuple[str, str | None] | None:
    """The (principal, holder) of a token this process has already found valid, if the catalog is unchanged
    since: the version is read straight through the driver (no transaction to begin on SQLite), nothing else."""
    cached = _CACHE.get(engine.pool)
    principal = cached.tokens.get(token_sha256) if cached is not None else None
    if cached is None or principal is None:
        return None
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT version FROM catalog_version WHERE id = 1")
        row = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()  # back to the pool, which rolls back whatever the driver began
    return principal if row is not None and int(row[0]) == cached.version else None


def principal_of(connection: Connection, token_sha256: str) -> tuple[str, str | None] | None:
    """Whose valid (unrevoked) API token has this SHA-256 — (principal, holder) — or ``None``."""
    catalog = current(connection)
    principal = catalog.tokens.get(token_sha256)
    if principal is not None:
        return principal
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    row = connection.exec_driver_sql(
        f"SELECT principal, holder, revoked_at FROM api_credential WHERE token_sha256 = {mark}", (token_sha256,)
    ).first()
    if row is None or row[2] is not None:
        return None
    principal = (str(row[0]), None if row[1] is None else str(row[1]))
    if catalog.version >= 0:
        catalog.tokens[token_sha256] = principal
    return principal
