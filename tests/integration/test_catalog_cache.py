"""The per-process catalog (partners, contracts, closed periods, API tokens) is never stale: a change committed
through one engine — another worker process has its own — is what the next read through another engine sees.

Each engine stands for one worker process here: the catalog is cached per connection pool, so a second
engine on the same database has a cache of its own, warmed before the change and read again after it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

from clearinghouse import catalog
from clearinghouse.db import make_engine, read_connection
from clearinghouse.errors import Unauthorized
from clearinghouse.hub import Hub
from clearinghouse.services.partners import authenticate, issue_partner_token, register_partner
from clearinghouse.services.periods import close_period
from contracts.terms import FulfillerTerms
from settlement.periods import Period
from tests.factories import CINEMA, EYEWEAR, Alliance, terms


@pytest.fixture
def other_worker(hub: Hub) -> Iterator[Engine]:
    engine = make_engine(hub.config)
    try:
        yield engine
    finally:
        engine.dispose()


def _catalog(engine: Engine) -> catalog.Catalog:
    with read_connection(engine) as connection:
        return catalog.current(connection)


def test_a_revoked_token_is_refused_by_the_next_request_of_a_worker_that_had_it_cached(
    hub: Hub, other_worker: Engine
) -> None:
    Alliance.standard(hub)
    token = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)
    assert authenticate(engine=other_worker, token=token) == CINEMA
    assert authenticate(engine=other_worker, token=token) == CINEMA  # now from that worker's cache

    with hub.engine.begin() as connection:
        connection.execute(text("UPDATE api_credential SET revoked_at = created_at"))

    with pytest.raises(Unauthorized):
        authenticate(engine=other_worker, token=token)


def test_a_closed_period_a_new_contract_and_a_new_partner_are_seen_by_the_next_read_of_another_worker(
    hub: Hub, other_worker: Engine
) -> None:
    alliance = Alliance.standard(hub)
    before = _catalog(other_worker)
    assert before is _catalog(other_worker)  # unchanged: the same cached catalog

    close_period(
        engine=hub.engine, hub=hub.signer, now=hub.now(), period=Period(2026, 11), zone_name=hub.config.timezone
    )
    after_close = _catalog(other_worker)
    assert Period(2026, 11) in after_close.closed_periods and Period(2026, 11) not in before.closed_periods

    new_terms = terms(
        EYEWEAR,
        [FulfillerTerms(fulfiller_id=CINEMA, rate_fen_per_point=Decimal("6"), categories=frozenset({"cinema"}))],
        contract_id="eyewear-cinema",
    )
    alliance.contract(hub, new_terms)
    after_contract = _catalog(other_worker)
    assert len(after_contract.contracts) == len(after_close.contracts) + 1
    assert any(c.terms.contract_id == "eyewear-cinema" for c in after_contract.contracts)

    register_partner(
        engine=hub.engine, now=hub.now(), partner_id="books", name="书香书店", roles=["fulfiller"], category="books"
    )
    assert "books" in _catalog(other_worker).partners
