"""What the clearing of a batch needs of RL3 and RL4, read and written on the clearing transaction's
connection: issuers' budgets and their usage (loaded into the :class:`ClearingBook`, written back after the
batch, with the 80 % / 100 % alerts), and which issuers are suspended for an expired licence."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from clearinghouse.alerts import raise_alert
from partners.model import Licence, Partner
from settlement.budgets import Budget, levels_reached
from settlement.clearing import ClearingBook, original_budget_keys
from settlement.periods import Period

BudgetKey = tuple[str, Period]


def load_budgets(
    connection: Connection, book: ClearingBook, keys: frozenset[BudgetKey], zone: ZoneInfo
) -> dict[BudgetKey, int]:
    """Put into ``book`` the budgets and usage of ``keys`` and of the periods of the EARNs the batch's
    reversals name; returns the usage as loaded (to write back only what the batch changed)."""
    wanted = set(keys) | original_budget_keys(book.originals.values(), zone)
    query = text("SELECT budget_fen, point_cost, used_fen FROM marketing_budget WHERE issuer_id = :i AND period = :p")
    loaded: dict[BudgetKey, int] = {}
    for issuer_id, period in wanted:
        row = connection.execute(query, {"i": issuer_id, "p": str(period)}).first()
        key = (issuer_id, period)
        book.budgets[key] = Budget(int(row.budget_fen), Decimal(row.point_cost)) if row is not None else None
        book.issued_in_period[key] = loaded[key] = int(row.used_fen) if row is not None else 0
    return loaded


def save_budget_usage(
    connection: Connection, book: ClearingBook, loaded: Mapping[BudgetKey, int], now: datetime
) -> None:
    """Write back the usage the batch changed and raise the budget alerts it reached (once each: the alert's
    dedupe key); an issuance refused for passing the budget counts as reaching 100 %."""
    update = text("UPDATE marketing_budget SET used_fen = used_fen + :d WHERE issuer_id = :i AND period = :p")
    for key, used in sorted(book.issued_in_period.items()):
        budget = book.budgets.get(key)
        if budget is None:
            continue
        delta = used - loaded.get(key, 0)
        if delta:
            connection.execute(update, {"d": delta, "i": key[0], "p": str(key[1])})
        reached = set(levels_reached(used, budget.budget_fen))
        refused = key in book.budget_refusals and 100 not in reached
        for level in sorted(reached | ({100} if refused else set())):
            raise_budget_alert(
                connection,
                key,
                level,
                used=used,
                budget_fen=budget.budget_fen,
                now=now,
                refused=refused and level == 100,
            )


def raise_budget_alert(
    connection: Connection,
    key: BudgetKey,
    level: int,
    *,
    used: int,
    budget_fen: int,
    now: datetime,
    refused: bool = False,
) -> bool:
    """``refused``: the 100 % alert raised because an issuance was refused for passing the budget, before the
    usage itself reached 100 % (what is left is smaller than that issuance)."""
    issuer_id, period = key
    why = "an issuance was refused: it would exceed the budget" if refused else f"alert at {level} %"
    return raise_alert(
        connection,
        kind=f"RL3_BUDGET_{level}",
        severity="critical" if level >= 100 else "warning",
        dedupe_key=budget_alert_key(issuer_id, str(period), level),
        message=f"{issuer_id} has used {used} of its {budget_fen} fen marketing budget for {period} ({why})",
        now=now,
        partner_id=issuer_id,
        period=str(period),
    )


def budget_alert_key(issuer_id: str, period: str, level: int) -> str:
    return f"budget:{level}:{issuer_id}:{period}"


# ------------------------------------------------------------------ RL4
def licence_key(licence: Licence | None) -> str:
    """One licence on record (number and expiry) as the key a suspension is unique by."""
    return "none" if licence is None else f"{licence.number}|{licence.expires_on.isoformat()}"


def licence_key_of(number: str | None, expires_on: date | None) -> str:
    return "none" if number is None or expires_on is None else f"{number}|{expires_on.isoformat()}"


def suspended_issuers(connection: Connection, partners: Mapping[str, Partner]) -> frozenset[str]:
    """Partners whose licence now on record is the one a suspension was recorded for."""
    rows = connection.execute(text("SELECT partner_id, licence_key FROM licence_suspension")).all()
    return frozenset(
        row.partner_id
        for row in rows
        if row.partner_id in partners and licence_key(partners[row.partner_id].licence) == row.licence_key
    )
