"""Serialising the writers that must not interleave.

SQLite already serialises writers (BEGIN IMMEDIATE). On PostgreSQL, transaction-scoped advisory locks:

- ``lock_clearing`` (exclusive): posting a file, closing a period, voids, refunds, expiring holds — nothing else
  that moves points or debts runs meanwhile, so a close never nets while a file is half-posted and two files
  never spend one balance twice;
- ``lock_member`` (the clearing lock shared, plus exclusive locks on the member's account of that issuer and,
  for a new hold, on the till's reference): real-time authorizations and captures. Holds on different members
  proceed side by side; two on the same member queue, so exactly one of two that together overdraw wins, and
  two under one reference queue, so the second answers as a retry. When the issuer's contract caps what the
  fulfiller may redeem per period, ``lock_cap`` locks the (issuer, fulfiller) pair too, so the cap is read
  and used by one hold at a time. Every transaction takes these in this order (clearing, member, reference,
  cap), so they never wait on each other in a circle.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

CLEARING_LOCK = 0x43484C52  # "CHLR"
MEMBER_SPACE = 0x43484D42  # "CHMB" (the two-key advisory space, apart from the one-key CLEARING_LOCK)
CAP_SPACE = 0x43484350  # "CHCP"
REFERENCE_SPACE = 0x43485246  # "CHRF"


def takes_locks(connection: Connection) -> bool:
    """Whether this backend needs these locks (SQLite's writers are serialised already)."""
    return connection.dialect.name == "postgresql"


def lock_clearing(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLEARING_LOCK})


def lock_member(
    connection: Connection, issuer_id: str, member_token: str, *, fulfiller_id: str = "", reference: str = ""
) -> None:
    if connection.dialect.name != "postgresql":
        return
    sql = (
        "SELECT pg_advisory_xact_lock_shared(:clearing),"
        " pg_advisory_xact_lock(:members, hashtext(:issuer || chr(31) || :member))"
    )
    if reference:
        sql += ", pg_advisory_xact_lock(:references, hashtext(:fulfiller || chr(31) || :reference))"
    connection.execute(
        text(sql),
        {
            "clearing": CLEARING_LOCK,
            "members": MEMBER_SPACE,
            "issuer": issuer_id,
            "member": member_token,
            "references": REFERENCE_SPACE,
            "fulfiller": fulfiller_id,
            "reference": reference,
        },
    )


def lock_cap(connection: Connection, issuer_id: str, fulfiller_id: str) -> None:
    """Taken after :func:`lock_member` when a per-period cap applies to (issuer, fulfiller)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:issuer || chr(31) || :fulfiller))"),
            {"space": CAP_SPACE, "issuer": issuer_id, "fulfiller": fulfiller_id},
        )
