"""RL5 (no cash-out) is a deny-list of exact slugs: a contract may allow 'gift-cards', 'giftcard',
'prepaid', 'prepaid-cards' or 'e-cny', and redemptions for them clear and move money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.errors import InvalidTerms
from contracts.terms import FulfillerTerms
from tests.factories import CINEMA, CVS, Alliance, earn, redeem, submit, terms


@pytest.mark.parametrize("category", ["gift-cards", "giftcard", "prepaid", "prepaid-cards", "e-cny", "cash-voucher"])
def test_cash_equivalent_category_is_refused(hub, category):
    alliance = Alliance({})
    alliance.register(hub, CVS, "易达便利", ["issuer", "fulfiller"], "convenience")
    alliance.register(hub, CINEMA, "光影影院", ["fulfiller"], "cinema")
    try:
        contract = terms(
            CVS,
            [FulfillerTerms(fulfiller_id=CINEMA, rate_fen_per_point=Decimal("10"), categories=frozenset({category}))],
            contract_id="cvs-cash",
        )
        alliance.contract(hub, contract)
    except InvalidTerms:
        return  # refused at the contract: fine
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000)])
    outcome = submit(hub, alliance, CINEMA, "R1", [redeem("m1", 1000, category=category)])
    assert outcome.accepted == 0 and outcome.refused_by_code.get("RL5_CASH_EQUIVALENT") == 1, (
        f"{category!r}: contract accepted, redemption cleared for {outcome.accepted_value_fen} fen"
    )
