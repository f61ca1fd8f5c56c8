"""Read helpers shared by services. They run inside a caller's unit of work and never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from clearinghouse.tables import ContractRow, ContractSignatureRow, PartnerKeyRow, PartnerRow, PeriodCloseRow
from contracts.terms import ContractTerms, terms_from_json
from partners.keys import PublicKey
from partners.model import Licence, Partner, Role
from settlement.clearing import ActiveContract
from settlement.periods import Period

HUB_SIGNER = "hub"


def partner_from_row(row: PartnerRow) -> Partner:
    licence = None
    if row.licence_number and row.licence_expires_on:
        licence = Licence(row.licence_number, row.licence_expires_on)
    return Partner(
        partner_id=row.id,
        name=row.name,
        roles=frozenset(Role(r) for r in row.roles.split(",") if r),
        category=row.category,
        operates_online_platform=row.operates_online_platform,
        licence=licence,
        beneficial_owner=row.beneficial_owner,
    )


def all_partners(session: Session) -> dict[str, Partner]:
    return {row.id: partner_from_row(row) for row in session.scalars(select(PartnerRow))}


def partner_names(session: Session) -> dict[str, str]:
    return {row.id: row.name for row in session.scalars(select(PartnerRow))}


def keys_valid_at(session: Session, partner_id: str, moment: datetime) -> list[tuple[str, PublicKey]]:
    rows = session.scalars(select(PartnerKeyRow).where(col(PartnerKeyRow.partner_id) == partner_id))
    return [
        (row.key_id, PublicKey(row.public_key))
        for row in rows
        if row.valid_from <= moment and (row.valid_to is None or moment < row.valid_to)
    ]


def terms_of(row: ContractRow) -> ContractTerms:
    import json

    return terms_from_json(json.loads(row.canonical.decode("utf-8")))


def active_contracts(session: Session) -> list[ActiveContract]:
    """Every contract version the hub has countersigned (it does so only once every party has signed)."""
    hub_signed = select(col(ContractSignatureRow.contract_pk)).where(col(ContractSignatureRow.signer_id) == HUB_SIGNER)
    rows = session.scalars(select(ContractRow).where(col(ContractRow.id).in_(hub_signed)))
    return [ActiveContract(pk=row.id, terms=terms_of(row)) for row in rows if row.id is not None]


def closed_periods(session: Session) -> frozenset[Period]:
    return frozenset(Period.parse(value) for value in session.scalars(select(col(PeriodCloseRow.period))))
