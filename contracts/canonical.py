"""Canonical bytes of contract acts: what every party and the hub sign.

The bytes are the RFC 8785 JSON Canonicalization Scheme (JCS) of a JSON object: keys sorted by their UTF-16
code units, no insignificant whitespace, strings as UTF-8 (non-ASCII is not escaped). The objects hold only
strings, integers within ``±(2**53 - 1)``, booleans, null and arrays (rates are decimal *strings*), so JCS is
exact: the same terms always give the same bytes, on any platform.

Termination object (a separately signed act)::

    {"act": "terminate", "contract_id": "optika-teahouse", "version": 2,
     "contract_hash": "<64 lowercase hex: hash of the terminated version>",
     "effective_on": "YYYY-MM-DD", "reason": "<text>"}
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any, cast

import rfc8785

from contracts.terms import (
    ContractTerms,
    check_contract_id,
    check_local_date,
    check_sha256_hex,
    check_text,
    check_version,
    terms_to_json,
)

__all__ = ["MAX_REASON_CHARS", "canonical_bytes", "contract_hash", "termination_bytes"]

MAX_REASON_CHARS = 500


def _jcs(obj: dict[str, object]) -> bytes:
    """RFC 8785 bytes of a JSON object built from str/int/bool/None/list only."""
    return rfc8785.dumps(cast(Any, obj))


def canonical_bytes(terms: ContractTerms) -> bytes:
    """The exact bytes each party and the hub sign for ``terms``: the JCS of ``terms_to_json(terms)``."""
    return _jcs(terms_to_json(terms))


def contract_hash(terms: ContractTerms) -> str:
    """Lowercase hex SHA-256 of :func:`canonical_bytes`; the next version's ``previous_hash`` equals it."""
    return hashlib.sha256(canonical_bytes(terms)).hexdigest()


def termination_bytes(*, contract_id: str, version: int, contract_hash: str, effective_on: date, reason: str) -> bytes:
    """The bytes signed to terminate the version ``version`` (hash ``contract_hash``) of ``contract_id``.

    ``effective_on`` is the local day from which the contract no longer applies; ``reason`` is human text (any
    script, at most 500 characters). The ``"act": "terminate"`` member keeps these bytes from ever being
    mistaken for contract terms. Raises :class:`~contracts.errors.InvalidTerms` naming a malformed argument.
    """
    return _jcs(
        {
            "act": "terminate",
            "contract_id": check_contract_id(contract_id),
            "version": check_version(version),
            "contract_hash": check_sha256_hex(contract_hash, "contract_hash"),
            "effective_on": check_local_date(effective_on, "effective_on").isoformat(),
            "reason": check_text(reason, "reason", max_chars=MAX_REASON_CHARS),
        }
    )
