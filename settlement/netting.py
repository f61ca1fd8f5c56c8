"""Multilateral netting of a period's bilateral obligations.

Each partner's net position = receivable − payable; the positions sum to exactly zero. Gross is the sum
of the bilateral obligations, net volume the sum of the positive positions, efficiency = 1 − net / gross.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from settlement import ledger
from settlement.errors import UnbalancedTransaction
from settlement.ledger import Transfer


@dataclass(frozen=True, slots=True)
class PairSum:
    """The signed sum of settlement values between an issuer and a fulfiller in one period."""

    issuer_id: str
    fulfiller_id: str
    value_fen: int
    records: int


@dataclass(frozen=True, slots=True)
class Obligation:
    payer_id: str
    payee_id: str
    amount_fen: int
    records: int


@dataclass(frozen=True, slots=True)
class NettingResult:
    obligations: tuple[Obligation, ...]
    positions: Mapping[str, int]
    gross_fen: int
    net_fen: int
    efficiency: Decimal


def obligations_from(pair_sums: Iterable[PairSum]) -> tuple[Obligation, ...]:
    """Issuer owes fulfiller; a pair whose reversals outweigh its redemptions owes the other way."""
    out = []
    for pair in pair_sums:
        if pair.value_fen > 0:
            out.append(Obligation(pair.issuer_id, pair.fulfiller_id, pair.value_fen, pair.records))
        elif pair.value_fen < 0:
            out.append(Obligation(pair.fulfiller_id, pair.issuer_id, -pair.value_fen, pair.records))
    return tuple(sorted(out, key=lambda o: (o.payer_id, o.payee_id)))


def efficiency(gross_fen: int, net_fen: int) -> Decimal:
    """1 − net / gross to four places (banker's rounding); 0 when nothing was owed."""
    if gross_fen == 0:
        return Decimal("0.0000")
    return (1 - Decimal(net_fen) / Decimal(gross_fen)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


def net(obligations: Iterable[Obligation], partners: Iterable[str] = ()) -> NettingResult:
    """Net positions of every partner named by an obligation (and of ``partners``, at zero)."""
    items = tuple(obligations)
    positions: dict[str, int] = defaultdict(int)
    for partner in partners:
        positions[partner] += 0
    for item in items:
        positions[item.payee_id] += item.amount_fen
        positions[item.payer_id] -= item.amount_fen
    if sum(positions.values()) != 0:
        raise UnbalancedTransaction(f"net positions sum to {sum(positions.values())}, not 0")
    gross = sum(item.amount_fen for item in items)
    net_volume = sum(value for value in positions.values() if value > 0)
    ordered = dict(sorted(positions.items()))
    return NettingResult(items, ordered, gross, net_volume, efficiency(gross, net_volume))


def close_transfers(positions: Mapping[str, int]) -> tuple[Transfer, ...]:
    """Move each partner's period position onto the hub settlement account, which ends at zero."""
    hub = ledger.hub_settlement_account()
    transfers: list[Transfer] = []
    for partner_id, amount in positions.items():
        account = ledger.position_account(partner_id)
        if amount > 0:
            transfers.extend(ledger.transfer(hub, account, amount))
        elif amount < 0:
            transfers.extend(ledger.transfer(account, hub, -amount))
    return tuple(transfers)
