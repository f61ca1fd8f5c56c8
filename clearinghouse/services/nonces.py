"""Signed requests (RFC 9421): the key a ``keyid`` names, and each nonce used once.

Each function is its own short unit of work. :func:`record_nonce` commits the (key id, nonce) pair *before*
the view runs, so the view's own transaction never holds it; the unique constraint on the pair decides between
two concurrent uses, and the loser is refused with ``SIGNATURE_REPLAYED``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from clearinghouse.db import unit_of_work
from clearinghouse.httpsig import SignatureRejected
from clearinghouse.nonce_table import SignatureNonceRow
from clearinghouse.queries import keys_valid_at
from clearinghouse.tables import PartnerKeyRow
from partners.keys import PublicKey

log = logging.getLogger(__name__)

PURGE_ONE_IN = 500  # a recorded nonce purges the stale ones about once in this many requests


@dataclass(frozen=True)
class SigningKey:
    partner_id: str
    key_id: str
    key: PublicKey


def signing_key(*, engine: Engine, key_id: str, now: datetime) -> SigningKey:
    """The partner key with this id, valid at ``now``; ``SIGNATURE_KEY_UNKNOWN`` otherwise (unknown, not yet
    valid and retired keys are not told apart)."""
    with unit_of_work(engine, read_only=True) as uow:
        partner_id = uow.session.scalars(
            select(col(PartnerKeyRow.partner_id)).where(col(PartnerKeyRow.key_id) == key_id)
        ).first()
        if partner_id is not None:
            for found_id, key in keys_valid_at(uow.session, partner_id, now):
                if found_id == key_id:
                    return SigningKey(partner_id, key_id, key)
    raise SignatureRejected("SIGNATURE_KEY_UNKNOWN", "keyid names no partner key valid now")


def record_nonce(
    *,
    engine: Engine,
    key_id: str,
    nonce: str,
    partner_id: str,
    signed_at: datetime,
    now: datetime,
    usable_until: datetime,
) -> None:
    """Remember (key id, nonce) for good, or refuse the second use with ``SIGNATURE_REPLAYED``."""
    with unit_of_work(engine) as uow:
        uow.session.add(
            SignatureNonceRow(
                key_id=key_id,
                nonce=nonce,
                partner_id=partner_id,
                signed_at=signed_at,
                seen_at=now,
                usable_until=usable_until,
            )
        )
        try:
            uow.commit()
        except IntegrityError:
            raise SignatureRejected(
                "SIGNATURE_REPLAYED", "this nonce was already used with this key; sign every request afresh"
            ) from None
    if secrets.randbelow(PURGE_ONE_IN) == 0:
        try:
            purge_nonces(engine=engine, now=now)
        except Exception:
            log.exception("could not purge stale signature nonces")


def purge_nonces(*, engine: Engine, now: datetime) -> int:
    """Forget the nonces of signatures that are refused by their time anyway; the number forgotten."""
    with unit_of_work(engine) as uow:
        result = uow.connection.execute(delete(SignatureNonceRow).where(col(SignatureNonceRow.usable_until) < now))
        uow.commit()
    return int(result.rowcount or 0)
