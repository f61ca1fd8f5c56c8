"""Double-entry ledger as transfers: every row moves a positive amount of one unit from a debit account
to a credit account, so every transaction balances per unit by construction (the TigerBeetle model).

Units: ``CNY`` (integer fen) and ``PTS:<issuer id>`` (that issuer's points; points of two issuers are
different assets and never meet in one transfer). The database enforces the same rules (positive
amount, two different accounts, both of the transfer's unit) and refuses updates and deletes.

Accounts (the code says whose and what):

* ``pts:<issuer>:issued``              points the issuer has put out (debit-normal)
* ``pts:<issuer>:m:<member token>``    a member's points of that issuer (credit-normal, never below 0)
* ``pts:<issuer>:redeemed:<fulfiller>`` points burnt at a fulfiller
* ``pts:<issuer>:held:<fulfiller>``    points held by a real-time authorization, until capture or release
* ``pts:<issuer>:frozen:<member>``     a member's points frozen by an evidence-gated action (RL9), until lifted
                                      (credit-normal, never below 0; out of the member's account, so unspendable)
* ``pts:<issuer>:expired``             members' points that expired under the issuer's program (ledger events)
* ``cny:<partner>:position``          receivable − payable of the partner in open periods (debit-normal)
* ``cny:hub:settlement``              the alliance settlement account; zero after every close
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from settlement.errors import UnbalancedTransaction

CNY = "CNY"
HUB_SETTLEMENT = "cny:hub:settlement"


class AccountKind(StrEnum):
    ISSUED = "issued"
    MEMBER = "member"
    HELD = "held"
    FROZEN = "frozen"
    EXPIRED = "expired"
    REDEEMED = "redeemed"
    POSITION = "position"
    SETTLEMENT = "settlement"


@dataclass(frozen=True, slots=True)
class Account:
    code: str
    unit: str
    kind: AccountKind
    partner_id: str


def points_unit(issuer_id: str) -> str:
    return f"PTS:{issuer_id}"


def issued_account(issuer_id: str) -> Account:
    return Account(f"pts:{issuer_id}:issued", points_unit(issuer_id), AccountKind.ISSUED, issuer_id)


def member_account(issuer_id: str, member_token: str) -> Account:
    return Account(f"pts:{issuer_id}:m:{member_token}", points_unit(issuer_id), AccountKind.MEMBER, issuer_id)


def redeemed_account(issuer_id: str, fulfiller_id: str) -> Account:
    return Account(
        f"pts:{issuer_id}:redeemed:{fulfiller_id}", points_unit(issuer_id), AccountKind.REDEEMED, fulfiller_id
    )


def held_account(issuer_id: str, fulfiller_id: str) -> Account:
    """Points a fulfiller's till holds for a real-time redemption, between authorization and capture."""
    return Account(f"pts:{issuer_id}:held:{fulfiller_id}", points_unit(issuer_id), AccountKind.HELD, fulfiller_id)


def frozen_account(issuer_id: str, member_token: str) -> Account:
    """A member's points an admin froze under a case (RL9): still the member's, but not spendable until lifted."""
    return Account(f"pts:{issuer_id}:frozen:{member_token}", points_unit(issuer_id), AccountKind.FROZEN, issuer_id)


def expired_account(issuer_id: str) -> Account:
    """Where members' points go when they expire; the issuer no longer owes them."""
    return Account(f"pts:{issuer_id}:expired", points_unit(issuer_id), AccountKind.EXPIRED, issuer_id)


def position_account(partner_id: str) -> Account:
    return Account(f"cny:{partner_id}:position", CNY, AccountKind.POSITION, partner_id)


def hub_settlement_account() -> Account:
    return Account(HUB_SETTLEMENT, CNY, AccountKind.SETTLEMENT, "hub")


@dataclass(frozen=True, slots=True)
class Transfer:
    """Debits ``debit`` and credits ``credit`` with ``amount`` (> 0) of one unit.

    A credit-normal account (a member's points) grows with credits; a debit-normal one (a partner's
    position, an issuer's issued points) grows with debits.
    """

    debit: Account
    credit: Account
    amount: int

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount <= 0:
            raise UnbalancedTransaction(f"a transfer moves a positive integer amount, got {self.amount!r}")
        if self.debit.code == self.credit.code:
            raise UnbalancedTransaction(f"a transfer needs two accounts, got {self.debit.code} twice")
        if self.debit.unit != self.credit.unit:
            raise UnbalancedTransaction(f"{self.debit.code} and {self.credit.code} hold different units")

    @property
    def unit(self) -> str:
        return self.debit.unit


def transfer(debit: Account, credit: Account, amount: int) -> tuple[Transfer, ...]:
    """A transfer, or none when the amount is zero (a zero-value line moves nothing)."""
    return (Transfer(debit, credit, amount),) if amount else ()


def legs(transfers: Iterable[Transfer]) -> list[tuple[Account, int]]:
    """The classic two-legs-per-line view: (account, +amount) for debits, (account, -amount) for credits."""
    out: list[tuple[Account, int]] = []
    for item in transfers:
        out.append((item.debit, item.amount))
        out.append((item.credit, -item.amount))
    return out


def balance_deltas(transfers: Iterable[Transfer]) -> dict[Account, tuple[int, int]]:
    """Per account, (debits, credits) added by the transfers; what the account table's totals move by."""
    deltas: dict[Account, tuple[int, int]] = {}
    for item in transfers:
        debits, credits = deltas.get(item.debit, (0, 0))
        deltas[item.debit] = (debits + item.amount, credits)
        debits, credits = deltas.get(item.credit, (0, 0))
        deltas[item.credit] = (debits, credits + item.amount)
    return deltas
