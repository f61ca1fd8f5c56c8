"""Proposing, signing and countersigning alliance contracts.

A version's canonical bytes (RFC 8785) are stored once and never changed; each party signs them with
one of its registered keys; when the last party has signed, the hub verifies every signature again and
countersigns, and only then does the version clear records.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from clearinghouse import audit
from clearinghouse.db import unit_of_work
from clearinghouse.errors import Conflict, Forbidden, InvalidRequest, NotFound
from clearinghouse.hubkey import HubSigner
from clearinghouse.queries import HUB_SIGNER, keys_valid_at, terms_of
from clearinghouse.tables import ContractPartyRow, ContractRow, ContractSignatureRow, PartnerKeyRow, PartnerRow
from contracts.canonical import canonical_bytes, contract_hash
from contracts.errors import SignatureRejected
from contracts.lifecycle import ContractStatus, check_amendment, check_first_version, missing_signers, status_of
from contracts.terms import ContractTerms, terms_from_json, terms_to_json
from partners.keys import PublicKey
from partners.model import Role

MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class ContractView:
    contract_id: str
    version: int
    terms_hash: str
    canonical: bytes
    terms: ContractTerms
    status: ContractStatus
    signed_by: tuple[str, ...]
    missing: tuple[str, ...]
    hub_key_id: str | None
    signatures: tuple[dict[str, str], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "contract_id": self.contract_id,
            "version": self.version,
            "terms_hash": self.terms_hash,
            "status": self.status.value,
            "signed_by": list(self.signed_by),
            "missing_signatures": list(self.missing),
            "hub_key_id": self.hub_key_id,
            "signatures": list(self.signatures),
            "terms": terms_to_json(self.terms),
            "canonical": self.canonical.decode("utf-8"),
        }


def _view(session: Session, row: ContractRow) -> ContractView:
    terms = terms_of(row)
    signatures = list(
        session.scalars(select(ContractSignatureRow).where(col(ContractSignatureRow.contract_pk) == row.id))
    )
    parties = frozenset(s.signer_id for s in signatures if s.signer_id != HUB_SIGNER)
    hub = next((s for s in signatures if s.signer_id == HUB_SIGNER), None)
    status = status_of(terms=terms, party_signers=parties, hub_countersigned=hub is not None, terminated=False)
    ordered = tuple(p for p in terms.parties() if p in parties)
    return ContractView(
        row.contract_id,
        row.version,
        row.terms_hash,
        row.canonical,
        terms,
        status,
        ordered,
        missing_signers(terms, parties),
        hub.key_id if hub else None,
        tuple(
            {
                "signer_id": s.signer_id,
                "key_id": s.key_id,
                "signature": base64.b64encode(s.signature).decode(),
                "signed_at": s.signed_at.isoformat(),
            }
            for s in sorted(signatures, key=lambda s: (s.signer_id == HUB_SIGNER, s.signed_at, s.signer_id))
        ),
    )


def _find(session: Session, contract_id: str, version: int, *, for_update: bool = False) -> ContractRow | None:
    if not 1 <= version <= MAX_VERSION:
        return None  # no such version, and the column could not even hold the number
    query = select(ContractRow).where(col(ContractRow.contract_id) == contract_id, col(ContractRow.version) == version)
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).first()


def _check_parties(session: Session, terms: ContractTerms) -> None:
    wanted = [(terms.issuer_id, Role.ISSUER)] + [(f.fulfiller_id, Role.FULFILLER) for f in terms.fulfillers]
    for partner_id, role in wanted:
        row = session.get(PartnerRow, partner_id)
        if row is None:
            raise InvalidRequest(f"party {partner_id!r} is not a registered partner", code="CONTRACT_PARTY_UNKNOWN")
        if role.value not in row.roles.split(","):
            raise InvalidRequest(f"party {partner_id!r} is not registered as {role.value}", code="CONTRACT_PARTY_ROLE")


def _overlaps(a: ContractTerms, b: ContractTerms) -> bool:
    far = date.max
    shared = {f.fulfiller_id for f in a.fulfillers} & {f.fulfiller_id for f in b.fulfillers}
    return (
        a.issuer_id == b.issuer_id
        and bool(shared)
        and a.effective_from < (b.effective_to or far)
        and b.effective_from < (a.effective_to or far)
    )


def _check_no_overlap(session: Session, terms: ContractTerms) -> None:
    """Two contracts never govern the same issuer and fulfiller on the same day: money never follows a guess."""
    others = session.scalars(
        select(ContractRow).where(
            col(ContractRow.issuer_id) == terms.issuer_id, col(ContractRow.contract_id) != terms.contract_id
        )
    )
    for row in others:
        if _overlaps(terms, terms_of(row)):
            raise Conflict(
                f"overlaps contract {row.contract_id!r} v{row.version} for a shared fulfiller", code="CONTRACT_OVERLAP"
            )


def _check_chain(session: Session, terms: ContractTerms) -> None:
    if terms.version == 1:
        check_first_version(terms)
        return
    previous = _find(session, terms.contract_id, terms.version - 1)
    if previous is None:
        raise InvalidRequest(
            f"version {terms.version - 1} of {terms.contract_id!r} does not exist", code="CONTRACT_CHAIN_BROKEN"
        )
    check_amendment(terms_of(previous), terms)


def propose_contract(
    *, engine: Engine, now: datetime, terms_json: Mapping[str, object], hub_timezone: str, actor: str = "cli"
) -> ContractView:
    """Store a new contract version as a draft. The same terms again answer the same (idempotent);
    other terms under an existing (contract id, version) are a conflict."""
    terms = terms_from_json(terms_json)
    if terms.timezone != hub_timezone:
        raise InvalidRequest(
            f"contract time zone {terms.timezone} differs from the hub's {hub_timezone}",
            code="CONTRACT_TIMEZONE_MISMATCH",
        )
    canonical = canonical_bytes(terms)
    with unit_of_work(engine) as uow:
        existing = _find(uow.session, terms.contract_id, terms.version)
        if existing is not None:
            if existing.canonical != canonical:
                raise Conflict(
                    f"{terms.contract_id!r} v{terms.version} exists with other terms", code="CONTRACT_VERSION_EXISTS"
                )
            return _view(uow.session, existing)
        _check_parties(uow.session, terms)
        _check_chain(uow.session, terms)
        _check_no_overlap(uow.session, terms)
        row = ContractRow(
            contract_id=terms.contract_id,
            version=terms.version,
            issuer_id=terms.issuer_id,
            canonical=canonical,
            terms_hash=contract_hash(terms),
            previous_hash=terms.previous_hash,
            created_at=now,
        )
        uow.session.add(row)
        uow.session.flush()
        assert row.id is not None
        uow.session.add(ContractPartyRow(contract_pk=row.id, partner_id=terms.issuer_id, role=Role.ISSUER.value))
        for fulfiller in terms.fulfillers:
            uow.session.add(
                ContractPartyRow(contract_pk=row.id, partner_id=fulfiller.fulfiller_id, role=Role.FULFILLER.value)
            )
        view = _view(uow.session, row)
        audit.append(
            uow.connection,
            actor=actor,
            action="contract.propose",
            subject=f"contract:{terms.contract_id}:v{terms.version}",
            now=now,
            after={"terms_hash": row.terms_hash, "status": view.status.value, "terms": dict(terms_json)},
        )
        try:
            uow.commit()
        except IntegrityError as exc:
            raise Conflict("the contract version was stored concurrently", code="CONTRACT_VERSION_EXISTS") from exc
        return view


def _verifying_key(session: Session, signer_id: str, message: bytes, signature: bytes, now: datetime) -> str:
    for key_id, key in keys_valid_at(session, signer_id, now):
        if key.verify(signature, message):
            return key_id
    raise SignatureRejected(
        f"the signature of {signer_id!r} does not verify over the canonical bytes with any of its keys valid now"
    )


def sign_contract(
    *,
    engine: Engine,
    hub: HubSigner,
    now: datetime,
    contract_id: str,
    version: int,
    signer_id: str,
    signature: bytes,
    actor: str | None = None,
) -> ContractView:
    """Record a party's signature; once every party has signed, the hub countersigns and the version is
    active. The same signature again answers the same; another signature by the same party is a conflict."""
    with unit_of_work(engine) as uow:
        # One signer at a time per version: two last signatures at once must still see each other, or
        # neither would countersign (PostgreSQL's READ COMMITTED; SQLite serialises writers anyway).
        row = _find(uow.session, contract_id, version, for_update=True)
        if row is None or row.id is None:
            raise NotFound(f"no contract {contract_id!r} v{version}", code="CONTRACT_NOT_FOUND")
        terms = terms_of(row)
        if signer_id not in terms.parties():
            raise Forbidden(f"{signer_id!r} is not a party to {contract_id!r}", code="CONTRACT_NOT_A_PARTY")
        stored = uow.session.scalars(
            select(ContractSignatureRow).where(
                col(ContractSignatureRow.contract_pk) == row.id, col(ContractSignatureRow.signer_id) == signer_id
            )
        ).first()
        if stored is not None:
            if stored.signature != signature:
                raise Conflict(
                    f"{signer_id!r} already signed this version with another signature", code="CONTRACT_ALREADY_SIGNED"
                )
            if _view(uow.session, row).status is ContractStatus.AWAITING_HUB:  # a retry completes what was left
                _countersign(uow.session, hub, row, now)
                uow.session.flush()
                view = _view(uow.session, row)
                uow.commit()
                return view
            return _view(uow.session, row)
        key_id = _verifying_key(uow.session, signer_id, row.canonical, signature, now)
        before = _view(uow.session, row).status.value
        uow.session.add(
            ContractSignatureRow(
                contract_pk=row.id, signer_id=signer_id, key_id=key_id, signature=signature, signed_at=now
            )
        )
        uow.session.flush()
        if _view(uow.session, row).status is ContractStatus.AWAITING_HUB:
            _countersign(uow.session, hub, row, now)
            uow.session.flush()
        view = _view(uow.session, row)
        audit.append(
            uow.connection,
            actor=actor or signer_id,
            action="contract.sign",
            subject=f"contract:{contract_id}:v{version}",
            now=now,
            before={"status": before},
            after={"status": view.status.value, "signer_id": signer_id, "key_id": key_id},
        )
        try:
            uow.commit()
        except IntegrityError as exc:
            raise Conflict("a signature was recorded concurrently; retry", code="CONTRACT_ALREADY_SIGNED") from exc
        return view


def _countersign(session: Session, hub: HubSigner, row: ContractRow, now: datetime) -> None:
    """Verify every party's signature once more, with the key it was made with (valid when it signed, even
    if it has expired since), then sign the same canonical bytes as the hub."""
    assert row.id is not None
    for stored in session.scalars(select(ContractSignatureRow).where(col(ContractSignatureRow.contract_pk) == row.id)):
        key = session.scalars(select(PartnerKeyRow).where(col(PartnerKeyRow.key_id) == stored.key_id)).first()
        if (
            key is None
            or key.partner_id != stored.signer_id
            or not PublicKey(key.public_key).verify(stored.signature, row.canonical)
        ):
            raise SignatureRejected(f"the stored signature of {stored.signer_id!r} no longer verifies")
    session.add(
        ContractSignatureRow(
            contract_pk=row.id,
            signer_id=HUB_SIGNER,
            key_id=hub.key_id,
            signature=hub.sign(row.canonical),
            signed_at=now,
        )
    )


def get_contract(*, engine: Engine, contract_id: str, version: int) -> ContractView:
    with unit_of_work(engine, read_only=True) as uow:
        row = _find(uow.session, contract_id, version)
        if row is None:
            raise NotFound(f"no contract {contract_id!r} v{version}", code="CONTRACT_NOT_FOUND")
        return _view(uow.session, row)


def list_contracts(*, engine: Engine) -> list[ContractView]:
    with unit_of_work(engine, read_only=True) as uow:
        rows = uow.session.scalars(select(ContractRow).order_by(col(ContractRow.contract_id), col(ContractRow.version)))
        return [_view(uow.session, row) for row in rows]
