"""Idempotency keys: a retried POST with the same ``Idempotency-Key`` gets the original answer, once.

The scope of a key is (principal, key): the principal is who the bearer token names (``admin`` or a
partner id), so two partners may use the same key independently. A request's fingerprint is a SHA-256 over
the method, the path with its query, the content type and the body (see :class:`Fingerprint`).

Every step is its own short unit of work, so no transaction stays open while the view runs:

1. :func:`claim` inserts a placeholder (``status_code`` NULL: in flight) and commits it *before* the view
   runs. The unique constraint on (principal, key) decides between two concurrent first requests: the loser's
   insert fails, it reads the winner's row and answers from it (409 ``IDEMPOTENCY_KEY_IN_FLIGHT`` while the
   winner runs, the stored answer after), so it never runs the view and never makes a second effect.
2. The view runs; its service commits its own unit of work as always.
3. :func:`complete` stores the answer (2xx or 4xx) in the placeholder; :func:`release` deletes the
   placeholder after a 5xx, so a retry runs again (the services refuse a second effect by their own
   unique keys: a file id, a period, a partner id, a signature).

No Flask here: the request plumbing is ``clearinghouse.api.common.idempotent``.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from clearinghouse.db import unit_of_work
from clearinghouse.errors import Conflict, InvalidRequest
from clearinghouse.tables import IdempotencyKeyRow

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
FINGERPRINT_VERSION = b"CHIDEM/1"
_CHUNK = 1 << 20
_CLAIM_ATTEMPTS = 3


class IdempotencyKeyInvalid(InvalidRequest):
    code = "IDEMPOTENCY_KEY_INVALID"


class IdempotencyKeyReused(Conflict):
    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyKeyInFlight(Conflict):
    code = "IDEMPOTENCY_KEY_IN_FLIGHT"


class IdempotencyReplayWithheld(Conflict):
    code = "IDEMPOTENCY_REPLAY_WITHHELD"


def parse_key(values: Sequence[str]) -> str | None:
    """The key from the header's values: None when absent; one value of 1–200 printable ASCII characters
    (space to ``~``) otherwise, or :class:`IdempotencyKeyInvalid`."""
    if not values:
        return None
    if len(values) > 1:
        raise IdempotencyKeyInvalid(f"send one {HEADER} header, not {len(values)}")
    key = values[0]
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise IdempotencyKeyInvalid(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return key


class Fingerprint:
    """SHA-256 over length-framed fields, so no two different sequences of fields hash alike.

    The request line and content type come first (:meth:`__init__`); then either the exact body bytes
    (:meth:`add`) or, for ``multipart/form-data``, each part as (kind, name, SHA-256 of its content) in
    a defined order (:meth:`add_part`), since the boundary (and so the raw body) changes on every retry.
    """

    def __init__(self, method: str, path: str, content_type: str) -> None:
        self._digest = hashlib.sha256()
        for value in (FINGERPRINT_VERSION, method.encode(), path.encode(), content_type.encode()):
            self.add(value)

    def add(self, value: bytes) -> None:
        self._digest.update(struct.pack(">Q", len(value)))
        self._digest.update(value)

    def add_part(self, kind: str, name: str, content: bytes | IO[bytes]) -> None:
        """One multipart part; a stream is read in 1 MiB chunks and put back where it was."""
        part = hashlib.sha256()
        if isinstance(content, bytes):
            part.update(content)
        else:
            start = content.tell()
            content.seek(0)
            while chunk := content.read(_CHUNK):
                part.update(chunk)
            content.seek(start)
        for value in (kind.encode(), name.encode("utf-8"), part.digest()):
            self.add(value)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    content_type: str
    body: bytes


def storable(status: int) -> bool:
    """2xx and 4xx answers are kept and replayed; anything else releases the key for another try."""
    return 200 <= status < 300 or 400 <= status < 500


def claim(
    engine: Engine, *, principal: str, key: str, fingerprint: str, method: str, path: str, now: datetime
) -> int | StoredAnswer:
    """The placeholder's id when this request is the first with (principal, key); the stored answer when
    the same request was answered before. Raises 409s: another request under the key
    (:class:`IdempotencyKeyReused`), the first one still running (:class:`IdempotencyKeyInFlight`), or
    an answer that is not kept (:class:`IdempotencyReplayWithheld`)."""
    for _ in range(_CLAIM_ATTEMPTS):
        with unit_of_work(engine) as uow:
            row = IdempotencyKeyRow(
                principal=principal, key=key, fingerprint=fingerprint, method=method, path=path, created_at=now
            )
            uow.session.add(row)
            try:
                uow.session.flush()
                row_id = row.id
                uow.commit()
            except IntegrityError:
                pass  # the unique constraint: someone holds the key; read what they left
            else:
                assert row_id is not None
                return row_id
        existing = _read(engine, principal, key)
        if existing is not None:
            return _answer_from(existing, fingerprint)
        # the holder failed with a 5xx and released the key in between: try to claim it again
    raise IdempotencyKeyInFlight(f"the request under this {HEADER} is being retried concurrently; retry later")


def _read(engine: Engine, principal: str, key: str) -> IdempotencyKeyRow | None:
    with unit_of_work(engine, read_only=True) as uow:
        return uow.session.exec(
            select(IdempotencyKeyRow).where(
                col(IdempotencyKeyRow.principal) == principal, col(IdempotencyKeyRow.key) == key
            )
        ).one_or_none()


def _answer_from(row: IdempotencyKeyRow, fingerprint: str) -> StoredAnswer:
    if row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"this {HEADER} was used for another request (method, path, content type or body differ); "
            "use a new key for a new request",
            details={"original_method": row.method, "original_path": row.path},
        )
    if row.status_code is None:
        raise IdempotencyKeyInFlight(
            f"the first request with this {HEADER} has not finished; retry later",
            details={"in_flight_since": row.created_at.isoformat()},
        )
    if row.response_body is None or row.content_type is None:
        raise IdempotencyReplayWithheld(
            f"the request with this {HEADER} was answered {row.status_code}, with a secret that is shown only "
            "once and is not kept; it is not repeated",
            details={"original_status": row.status_code},
        )
    return StoredAnswer(row.status_code, row.content_type, row.response_body)


def complete(engine: Engine, *, row_id: int, status: int, content_type: str, body: bytes | None, now: datetime) -> None:
    """Store the answer in the placeholder (``body`` None: answered, but the body is not kept)."""
    with unit_of_work(engine) as uow:
        result = uow.connection.execute(
            update(IdempotencyKeyRow)
            .where(col(IdempotencyKeyRow.id) == row_id, col(IdempotencyKeyRow.status_code).is_(None))
            .values(status_code=status, content_type=content_type, response_body=body, completed_at=now)
        )
        uow.commit()
    if result.rowcount != 1:
        log.warning("idempotency placeholder %s was gone when its answer came", row_id)


def release(engine: Engine, *, row_id: int) -> None:
    """Delete a placeholder whose request failed (5xx), so a retry with the key runs again."""
    with unit_of_work(engine) as uow:
        uow.connection.execute(
            delete(IdempotencyKeyRow).where(
                col(IdempotencyKeyRow.id) == row_id, col(IdempotencyKeyRow.status_code).is_(None)
            )
        )
        uow.commit()
