"""Record kinds the hub refuses by a red line rather than as unknown: what a partner might send to pay a member
money (RL5), move points between members outside a family pool (RL6), or give points a financial attribute
(RL7). Pure; the file reader asks :func:`prohibited_kind` before calling a kind unknown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prohibition:
    code: str
    message: str


def _squeeze(kind: str) -> str:
    """``cash-out``, ``Cash_Out`` and ``CASHOUT`` are one kind."""
    return "".join(ch for ch in kind.upper() if ch.isalnum())


_CASH_OUT = frozenset(
    {"CASHOUT", "WITHDRAW", "WITHDRAWAL", "REFUNDTOCASH", "CASHREFUND", "CASHBACK", "PAYOUT", "REDEEMCASH"}
)
_TRANSFER = frozenset({"TRANSFER", "GIFT", "P2P", "SEND", "SHARE", "DONATE", "MEMBERTRANSFER", "POINTSTRANSFER"})
_INTEREST = frozenset({"INTEREST", "APPRECIATION", "DIVIDEND", "YIELD", "REVALUATION", "BONUSINTEREST"})
_PURCHASE = frozenset(
    {"TOPUP", "BUYPOINTS", "PURCHASEPOINTS", "POINTSPURCHASE", "POINTPURCHASE", "SELLPOINTS", "RECHARGE"}
)
_COLLATERAL = frozenset({"PLEDGE", "COLLATERAL", "LOAN", "LIEN", "MORTGAGE"})

_RULES: tuple[tuple[frozenset[str], str, str], ...] = (
    (_CASH_OUT, "RL5_CASH_OUT", "points are never paid out to a member as money"),
    (_TRANSFER, "RL6_TRANSFER_NOT_ALLOWED", "points move between members only as a FAMILY_POOL"),
    (_INTEREST, "RL7_INTEREST", "points carry no interest and never appreciate"),
    (_PURCHASE, "RL7_POINTS_PURCHASE", "points are never bought or sold for money"),
    (_COLLATERAL, "RL7_COLLATERAL", "points are never pledged as collateral"),
)


def prohibited_kind(kind: str) -> Prohibition | None:
    """The red line a record kind crosses, however it is spelt (``cash-out``, ``TOP_UP``), or None."""
    squeezed = _squeeze(kind)
    for kinds, code, why in _RULES:
        if squeezed in kinds:
            return Prohibition(code, f"record kind {kind[:20]!r} refused: {why}")
    return None
