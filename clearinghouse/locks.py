"""Serialising the writers that must not interleave: posting files and closing periods.

SQLite already serialises writers (BEGIN IMMEDIATE). On PostgreSQL a transaction-scoped advisory lock
keeps a close from netting while a file is half-posted, and two files from spending one balance twice.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

CLEARING_LOCK = 0x43484C52  # "CHLR"


def lock_clearing(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLEARING_LOCK})
