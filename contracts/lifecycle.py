"""Lifecycle of alliance contracts: the amendment chain, signatures, status, and which version governs a day.

The status of one version follows from its signatures and termination only:

=============  ===========================================================================
DRAFT          some party has not yet signed the version's canonical bytes
AWAITING_HUB   every party signed; the hub has not countersigned
ACTIVE         every party signed and the hub countersigned: records clear under it
TERMINATED     a signed termination act has been recorded (whatever the status before)
=============  ===========================================================================

There is deliberately no SUPERSEDED status: an amendment replaces an earlier version only from its own
``effective_from``, so the earlier version still governs the days before. Which version governs a day is
computed by :func:`applicable_terms`, never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from contracts.canonical import contract_hash
from contracts.errors import AmendmentChainBroken, OverlappingContracts, SignatureRejected
from contracts.terms import ContractTerms, FulfillerTerms

__all__ = [
    "ContractStatus",
    "SignatureCheck",
    "applicable_terms",
    "check_amendment",
    "check_first_version",
    "ed25519_check",
    "missing_signers",
    "require_signature",
    "status_of",
    "verify_signature",
]

ED25519_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64

SignatureCheck = Callable[[bytes, bytes], bool]
"""``check(signature, message) -> bool``, the shape of ``partners.keys.PublicKey.verify``."""


# --- the amendment chain


def check_first_version(terms: ContractTerms) -> None:
    """A new contract starts at version 1 (which, by the terms' invariants, has no ``previous_hash``)."""
    if terms.version != 1:
        raise AmendmentChainBroken(
            f"contract {terms.contract_id!r} has no earlier version, so it starts at version 1, not {terms.version}"
        )


def check_amendment(previous: ContractTerms, amended: ContractTerms) -> None:
    """``amended`` is the next link after ``previous``: same contract and issuer, the next version number, and
    ``previous_hash`` equal to :func:`~contracts.canonical.contract_hash` of ``previous``.

    Raises :class:`~contracts.errors.AmendmentChainBroken` naming the first broken rule.
    """
    name = f"contract {previous.contract_id!r}"
    if amended.contract_id != previous.contract_id:
        raise AmendmentChainBroken(f"an amendment of {name} must keep its id, not {amended.contract_id!r}")
    if amended.issuer_id != previous.issuer_id:
        raise AmendmentChainBroken(
            f"an amendment of {name} must keep issuer {previous.issuer_id!r}, not {amended.issuer_id!r}"
        )
    if amended.version != previous.version + 1:
        raise AmendmentChainBroken(
            f"version {previous.version} of {name} is amended by version {previous.version + 1}, not {amended.version}"
        )
    expected = contract_hash(previous)
    if amended.previous_hash != expected:
        raise AmendmentChainBroken(
            f"previous_hash of version {amended.version} of {name} must be {expected} "
            f"(the hash of version {previous.version}), not {amended.previous_hash}"
        )


# --- signatures


def verify_signature(*, message: bytes, signature: bytes, public_key_raw: bytes) -> bool:
    """Whether ``signature`` is an Ed25519 signature of exactly ``message`` by the raw 32-byte public key.

    A signature of the wrong length is simply ``False``; a key that is not 32 bytes is a ``ValueError``
    (a stored key is wrong, which is not the signer's fault).
    """
    if len(public_key_raw) != ED25519_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {ED25519_KEY_BYTES} raw bytes, not {len(public_key_raw)}")
    if len(signature) != ED25519_SIGNATURE_BYTES:
        return False
    key = Ed25519PublicKey.from_public_bytes(bytes(public_key_raw))
    try:
        key.verify(bytes(signature), bytes(message))
    except InvalidSignature:
        return False
    return True


def ed25519_check(public_key_raw: bytes) -> SignatureCheck:
    """A :data:`SignatureCheck` for one raw Ed25519 public key (see :func:`verify_signature`)."""
    if len(public_key_raw) != ED25519_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {ED25519_KEY_BYTES} raw bytes, not {len(public_key_raw)}")

    def check(signature: bytes, message: bytes) -> bool:
        return verify_signature(message=message, signature=signature, public_key_raw=public_key_raw)

    return check


def require_signature(*, signer: str, message: bytes, signature: bytes, check: SignatureCheck) -> None:
    """Raise :class:`~contracts.errors.SignatureRejected` unless ``check(signature, message)`` holds."""
    if not check(signature, message):
        raise SignatureRejected(
            f"the signature of {signer!r} does not verify over the {len(message)} canonical bytes "
            "(sign the exact JCS bytes, not a reformatted JSON)"
        )


# --- status


class ContractStatus(StrEnum):
    """Status of one contract version (see the module docstring)."""

    DRAFT = "draft"
    AWAITING_HUB = "awaiting_hub"
    ACTIVE = "active"
    TERMINATED = "terminated"


def missing_signers(terms: ContractTerms, party_signers: frozenset[str]) -> tuple[str, ...]:
    """The parties (in :meth:`ContractTerms.parties` order) whose verified signature is not yet recorded."""
    return tuple(party for party in terms.parties() if party not in party_signers)


def status_of(
    *, terms: ContractTerms, party_signers: frozenset[str], hub_countersigned: bool, terminated: bool
) -> ContractStatus:
    """The status of ``terms`` given who has signed it (verified signatures only).

    ``terminated`` wins over everything. Signers that are not parties are ignored. The hub's countersignature
    counts only over a fully signed version: with a party missing the version stays a DRAFT.
    """
    if terminated:
        return ContractStatus.TERMINATED
    if missing_signers(terms, party_signers):
        return ContractStatus.DRAFT
    return ContractStatus.ACTIVE if hub_countersigned else ContractStatus.AWAITING_HUB


# --- which version governs a day


def applicable_terms(
    candidates: Iterable[ContractTerms],
    *,
    issuer_id: str,
    fulfiller_id: str,
    day: date,
    terminated_on: Mapping[str, date] | None = None,
) -> tuple[ContractTerms, FulfillerTerms] | None:
    """The terms under which a redemption by ``issuer_id`` points at ``fulfiller_id`` on local ``day`` clears.

    ``candidates`` are ACTIVE versions only (the caller filters by status). Per contract, the governing
    version on ``day`` is the highest version whose ``effective_from <= day``: a newer version replaces the
    older ones from its start, so one that drops a fulfiller or ends earlier also ends the older versions'
    effect. The governing version applies when it covers ``day`` and names ``fulfiller_id``;
    ``terminated_on`` (contract id → local day a signed termination takes effect) ends a contract from that
    day on.

    Returns ``None`` when no contract applies. Raises :class:`~contracts.errors.OverlappingContracts` when two
    different contracts (or two different texts of one version) would apply: money never follows a guess.
    """
    if isinstance(day, datetime):
        raise TypeError("applicable_terms() takes a local date; convert the business time first")
    ends = terminated_on or {}
    matches = [
        (terms, fulfiller)
        for terms in _governing_versions(candidates, issuer_id=issuer_id, day=day)
        if terms.covers(day)
        and (terms.contract_id not in ends or day < ends[terms.contract_id])
        and (fulfiller := terms.fulfiller(fulfiller_id)) is not None
    ]
    if len(matches) > 1:
        names = ", ".join(f"{terms.contract_id!r} v{terms.version}" for terms, _ in matches)
        raise OverlappingContracts(
            f"{names} all govern issuer {issuer_id!r} and fulfiller {fulfiller_id!r} on {day.isoformat()}"
        )
    return matches[0] if matches else None


def _governing_versions(candidates: Iterable[ContractTerms], *, issuer_id: str, day: date) -> list[ContractTerms]:
    """Per contract of ``issuer_id``, its highest version started by ``day``, sorted by contract id."""
    versions: dict[tuple[str, int], ContractTerms] = {}
    for terms in candidates:
        if terms.issuer_id != issuer_id or terms.effective_from > day:
            continue
        known = versions.setdefault((terms.contract_id, terms.version), terms)
        if known != terms:
            raise OverlappingContracts(
                f"two different texts of version {terms.version} of contract {terms.contract_id!r}"
            )
    latest: dict[str, ContractTerms] = {}
    for (contract_id, version), terms in sorted(versions.items()):
        if contract_id not in latest or version > latest[contract_id].version:
            latest[contract_id] = terms
    return [latest[contract_id] for contract_id in sorted(latest)]
