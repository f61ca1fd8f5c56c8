"""Building blocks for scenarios: partners with real Ed25519 keys, signed contracts, signed files.

A scenario reads like a table: ``alliance = Alliance.standard(hub)`` then ``submit(hub, alliance, "cvs", [earn(...)])``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearinghouse.hub import Hub
from clearinghouse.services import budgets as budget_service
from clearinghouse.services import contracts as contract_service
from clearinghouse.services import partners as partner_service
from clearinghouse.services.files import FileOutcome, submit_settlement_file
from contracts.terms import ContractTerms, FulfillerTerms, Rounding, terms_to_json
from settlement.fileformat import write_file
from settlement.periods import Period
from settlement.records import RecordKind, RecordRef, SettlementRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
CVS, CINEMA, EYEWEAR, RIDE = "cvs", "cinema", "eyewear", "ride"
# RL3: every EARN needs a declared marketing budget; tests' issuers get a generous one for every month of
# 2025-2027 (point cost 1 fen a point) unless a test asks for less.
GENEROUS_BUDGET_FEN = 10**12
BUDGET_PERIODS: tuple[Period, ...] = tuple(Period(year, month) for year in (2025, 2026, 2027) for month in range(1, 13))


def declare_budgets(
    hub: Hub,
    issuers: list[str],
    *,
    periods: tuple[Period, ...] = BUDGET_PERIODS,
    budget_fen: int = GENEROUS_BUDGET_FEN,
    point_cost: str = "1",
    carry_over_unused: bool = False,
) -> None:
    """Declare (as an admin) the same budget for each issuer and period, in one transaction."""
    budget_service.declare_budgets(
        engine=hub.engine,
        now=hub.now(),
        actor="admin:tests",
        caller="admin",
        declarations=[
            budget_service.Declaration(issuer, period, budget_fen, Decimal(point_cost), carry_over_unused)
            for issuer in issuers
            for period in periods
        ],
    )


def at(day: int, hour: int = 12, month: int = 11, year: int = 2026) -> datetime:
    """A business time in Shanghai (default November 2026)."""
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


@dataclass
class PartyKey:
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


@dataclass
class Alliance:
    keys: dict[str, PartyKey]

    @classmethod
    def standard(
        cls,
        hub: Hub,
        *,
        cinema_cap: int | None = None,
        rounding: Rounding = Rounding.HALF_UP,
        ride_licence: date | None = date(2029, 12, 31),
        family_pooling: bool = False,
        budget_fen: int = GENEROUS_BUDGET_FEN,
        budget_periods: tuple[Period, ...] = BUDGET_PERIODS,
    ) -> Alliance:
        """cvs (issuer + fulfiller) and eyewear (issuer + fulfiller), cinema and ride (fulfillers); contract
        cvs → cinema/eyewear/ride from 2026-01-01 and eyewear → cvs from 2026-01-01, all signed; every
        issuer (cvs, eyewear, ride) with a marketing budget of ``budget_fen`` for each of ``budget_periods``
        (point cost 1 fen a point). ``family_pooling`` allows it in cvs's contract."""
        alliance = cls({})
        alliance.register(hub, CVS, "易达便利", ["issuer", "fulfiller"], "convenience")
        alliance.register(hub, CINEMA, "光影影院", ["fulfiller"], "cinema")
        alliance.register(hub, EYEWEAR, "明眸眼镜", ["issuer", "fulfiller"], "eyewear")
        alliance.register(
            hub,
            RIDE,
            "快行出行",
            ["issuer", "fulfiller"],
            "ride",
            online=True,
            licence=("京B2-20260417", ride_licence) if ride_licence else None,
        )
        alliance.contract(
            hub,
            terms(
                CVS,
                [
                    FulfillerTerms(
                        fulfiller_id=CINEMA,
                        rate_fen_per_point=Decimal("7.5"),
                        categories=frozenset({"cinema"}),
                        cap_points_per_period=cinema_cap,
                    ),
                    FulfillerTerms(
                        fulfiller_id=EYEWEAR, rate_fen_per_point=Decimal("8.8"), categories=frozenset({"eyewear"})
                    ),
                    FulfillerTerms(
                        fulfiller_id=RIDE, rate_fen_per_point=Decimal("0.35"), categories=frozenset({"ride"})
                    ),
                ],
                contract_id="cvs-alliance",
                rounding=rounding,
                family_pooling=family_pooling,
            ),
        )
        alliance.contract(
            hub,
            terms(
                EYEWEAR,
                [
                    FulfillerTerms(
                        fulfiller_id=CVS, rate_fen_per_point=Decimal("9"), categories=frozenset({"groceries"})
                    ),
                ],
                contract_id="eyewear-alliance",
            ),
        )
        alliance.contract(
            hub,
            terms(
                RIDE,
                [
                    FulfillerTerms(
                        fulfiller_id=CINEMA, rate_fen_per_point=Decimal("5"), categories=frozenset({"cinema"})
                    ),
                ],
                contract_id="ride-alliance",
            ),
        )
        declare_budgets(hub, [CVS, EYEWEAR, RIDE], periods=budget_periods, budget_fen=budget_fen)
        return alliance

    def register(
        self,
        hub: Hub,
        partner_id: str,
        name: str,
        roles: list[str],
        category: str,
        *,
        online: bool = False,
        licence: tuple[str, date | None] | None = None,
    ) -> None:
        partner_service.register_partner(
            engine=hub.engine,
            now=hub.now(),
            partner_id=partner_id,
            name=name,
            roles=roles,
            category=category,
            operates_online_platform=online,
            licence_number=licence[0] if licence else None,
            licence_expires_on=licence[1] if licence else None,
        )
        self.keys[partner_id] = PartyKey()
        partner_service.add_partner_key(
            engine=hub.engine,
            now=datetime(2025, 1, 1, tzinfo=UTC),
            partner_id=partner_id,
            key_text=self.keys[partner_id].public_pem(),
        )

    def contract(self, hub: Hub, contract_terms: ContractTerms, signers: list[str] | None = None) -> None:
        view = contract_service.propose_contract(
            engine=hub.engine, now=hub.now(), terms_json=terms_to_json(contract_terms), hub_timezone=hub.config.timezone
        )
        for party in contract_terms.parties() if signers is None else signers:
            contract_service.sign_contract(
                engine=hub.engine,
                hub=hub.signer,
                now=hub.now(),
                contract_id=view.contract_id,
                version=view.version,
                signer_id=party,
                signature=self.keys[party].sign(view.canonical),
            )


def terms(
    issuer: str,
    fulfillers: list[FulfillerTerms],
    *,
    contract_id: str,
    version: int = 1,
    previous_hash: str | None = None,
    effective_from: date = date(2026, 1, 1),
    effective_to: date | None = None,
    rounding: Rounding = Rounding.HALF_UP,
    family_pooling: bool = False,
) -> ContractTerms:
    return ContractTerms(
        contract_id=contract_id,
        version=version,
        previous_hash=previous_hash,
        title=f"{issuer} 联盟协议",
        issuer_id=issuer,
        earn_cap_points_per_yuan=Decimal("1"),
        fulfillers=tuple(fulfillers),
        effective_from=effective_from,
        effective_to=effective_to,
        rounding=rounding,
        family_pooling=family_pooling,
    )


def earn(
    member: str,
    points: int,
    spend_fen: int | None = None,
    *,
    issuer: str = CVS,
    when: datetime | None = None,
    receipt: str = "R-1",
) -> dict[str, Any]:
    return {
        "kind": RecordKind.EARN,
        "issuer_id": issuer,
        "fulfiller_id": "",
        "member_token": member,
        "points": points,
        "amount_fen": spend_fen if spend_fen is not None else points * 100,
        "receipt_ref": receipt,
        "business_time": when or at(5),
    }


def redeem(
    member: str,
    points: int,
    *,
    issuer: str = CVS,
    fulfiller: str = CINEMA,
    category: str = "cinema",
    when: datetime | None = None,
    face_fen: int = 0,
) -> dict[str, Any]:
    return {
        "kind": RecordKind.REDEEM,
        "issuer_id": issuer,
        "fulfiller_id": fulfiller,
        "member_token": member,
        "points": points,
        "amount_fen": face_fen,
        "category": category,
        "offer_ref": "OFFER",
        "business_time": when or at(6),
    }


def reversal(
    original: str,
    member: str,
    points: int,
    spend_fen: int = 0,
    *,
    issuer: str = CVS,
    fulfiller: str = "",
    when: datetime | None = None,
) -> dict[str, Any]:
    file_id, _, seq = original.partition("#")
    return {
        "kind": RecordKind.REVERSAL,
        "issuer_id": issuer,
        "fulfiller_id": fulfiller,
        "member_token": member,
        "points": points,
        "amount_fen": spend_fen,
        "original": RecordRef(file_id, int(seq)),
        "business_time": when or at(7),
    }


def family_pool(
    giver: str, receiver: str, points: int, *, issuer: str = CVS, when: datetime | None = None
) -> dict[str, Any]:
    """A FAMILY_POOL line: ``giver`` gives ``points`` of ``issuer`` to ``receiver`` (reported by the issuer)."""
    return {
        "kind": RecordKind.FAMILY_POOL,
        "issuer_id": issuer,
        "fulfiller_id": "",
        "member_token": giver,
        "to_member_token": receiver,
        "points": points,
        "amount_fen": 0,
        "business_time": when or at(3, 12, month=12),  # a membership counts from its recording (the hub's now)
    }


def records(rows: list[dict[str, Any]]) -> list[SettlementRecord]:
    out = []
    for seq, row in enumerate(rows, start=1):
        out.append(SettlementRecord(seq=seq, **row))
    return out


def file_bytes(
    partner_id: str,
    file_id: str,
    rows: list[dict[str, Any]],
    created_at: datetime = datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
) -> bytes:
    out = io.BytesIO()
    write_file(out, partner_id=partner_id, file_id=file_id, created_at=created_at, records=records(rows))
    return out.getvalue()


def submit_bytes(hub: Hub, partner_id: str, content: bytes, signature: bytes) -> FileOutcome:
    return submit_settlement_file(
        engine=hub.engine,
        hub=hub.signer,
        now=hub.now(),
        zone_name=hub.config.timezone,
        partner_id=partner_id,
        content=io.BytesIO(content),
        signature_blob=signature,
        max_bytes=hub.config.max_file_bytes,
        batch_size=hub.config.batch_size,
    )


def submit(hub: Hub, alliance: Alliance, partner_id: str, file_id: str, rows: list[dict[str, Any]]) -> FileOutcome:
    content = file_bytes(partner_id, file_id, rows)
    return submit_bytes(hub, partner_id, content, alliance.keys[partner_id].sign(content))


def case_with_evidence(
    hub: Hub,
    *,
    issuer: str | None = CVS,
    member: str | None = "m1",
    described: int = 1,
    record_ids: tuple[int, ...] = (),
    status: str = "OPEN",
    key: str | None = None,
) -> int:
    """A monitoring case written straight to its tables (RL9's ground), naming ``issuer``/``member`` (None:
    naming nobody), with ``described`` described facts and evidence naming ``record_ids``; its id."""
    from clearinghouse.db import unit_of_work
    from clearinghouse.tables_monitoring import CaseEvidenceRow, CaseRow

    with unit_of_work(hub.engine) as uow:
        case = CaseRow(
            rule="MANUAL",
            status=status,
            issuer_id=issuer,
            member_token=member,
            summary="test case",
            dedupe_key=key or f"test:{issuer}:{member}:{described}:{record_ids}:{status}",
            opened_by="admin:alice",
            opened_at=hub.now(),
            closed_by="admin:alice" if status == "CLOSED" else None,
            closed_at=hub.now() if status == "CLOSED" else None,
        )
        uow.session.add(case)
        uow.session.flush()
        assert case.id is not None
        for number in range(described):
            uow.session.add(
                CaseEvidenceRow(
                    case_id=case.id, description=f"fact {number + 1}", added_by="admin:alice", added_at=hub.now()
                )
            )
        for record_id in record_ids:
            uow.session.add(
                CaseEvidenceRow(case_id=case.id, record_id=record_id, added_by="monitor", added_at=hub.now())
            )
        uow.commit()
        return case.id
