"""The last two parties of a contract sign at the same moment: each transaction sees only its own new
signature, neither sees 'every party signed', so the hub never countersigns; a retry of either signature
answers "the same" without countersigning. The contract stays AWAITING_HUB for ever and RL2 refuses every
redemption under it."""

from __future__ import annotations

import contextlib
import threading
from decimal import Decimal

from clearinghouse.services import contracts as contract_service
from contracts.terms import FulfillerTerms, terms_to_json
from tests.factories import CINEMA, CVS, EYEWEAR, Alliance, terms


def test_simultaneous_last_signatures_still_activate_the_contract(hub):
    if hub.engine.dialect.name == "sqlite":
        import pytest

        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; the race is on PostgreSQL")
    alliance = Alliance({})
    alliance.register(hub, CVS, "易达便利", ["issuer", "fulfiller"], "convenience")
    alliance.register(hub, CINEMA, "光影影院", ["fulfiller"], "cinema")
    alliance.register(hub, EYEWEAR, "明眸眼镜", ["issuer", "fulfiller"], "eyewear")
    activated = 0
    for attempt in range(8):
        contract_terms = terms(
            CVS,
            [
                FulfillerTerms(
                    fulfiller_id=CINEMA, rate_fen_per_point=Decimal("7.5"), categories=frozenset({"cinema"})
                ),
                FulfillerTerms(
                    fulfiller_id=EYEWEAR, rate_fen_per_point=Decimal("8"), categories=frozenset({"eyewear"})
                ),
            ],
            contract_id=f"race-{attempt}",
        )
        # separate contracts must not overlap: give each its own year
        from dataclasses import replace
        from datetime import date

        contract_terms = replace(
            contract_terms, effective_from=date(2030 + attempt, 1, 1), effective_to=date(2031 + attempt, 1, 1)
        )
        view = contract_service.propose_contract(
            engine=hub.engine, now=hub.now(), terms_json=terms_to_json(contract_terms), hub_timezone="Asia/Shanghai"
        )
        contract_service.sign_contract(
            engine=hub.engine,
            hub=hub.signer,
            now=hub.now(),
            contract_id=view.contract_id,
            version=1,
            signer_id=CVS,
            signature=alliance.keys[CVS].sign(view.canonical),
        )
        errors = _sign_at_once(hub, alliance, view, (CINEMA, EYEWEAR))
        # a client that got an error retries its (same) signature, as the API doc invites
        for party in (CINEMA, EYEWEAR):
            with contextlib.suppress(Exception):
                _sign(hub, alliance, view, party)
        status = contract_service.get_contract(engine=hub.engine, contract_id=view.contract_id, version=1).status
        activated += status.value == "active"
        assert status.value == "active", f"attempt {attempt}: every party signed, status {status.value}, {errors}"


def _sign(hub, alliance, view, party):
    contract_service.sign_contract(
        engine=hub.engine,
        hub=hub.signer,
        now=hub.now(),
        contract_id=view.contract_id,
        version=1,
        signer_id=party,
        signature=alliance.keys[party].sign(view.canonical),
    )


def _sign_at_once(hub, alliance, view, parties):
    barrier = threading.Barrier(len(parties))
    errors = []

    def sign(party):
        barrier.wait()
        try:
            _sign(hub, alliance, view, party)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sign, args=(party,)) for party in parties]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
