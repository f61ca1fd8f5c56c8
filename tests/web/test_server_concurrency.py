"""Concurrent uploads against a real `clearinghouse serve` (SQLite file, and PostgreSQL when available)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from clearinghouse.services.partners import issue_partner_token
from tests.factories import CINEMA, CVS, EYEWEAR, Alliance, at, earn, file_bytes, redeem, submit
from tests.web.serverkit import Server


@pytest.fixture
def served(hub, tmp_path):
    server = Server(hub.config.database_url, hub.config.hub_key_path)
    try:
        yield server
    finally:
        server.stop()


def _race(fns):
    results = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def run(i, fn):
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_same_file_uploaded_eight_times_at_once_posts_once(hub, served):
    alliance = Alliance.standard(hub)
    token = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CVS)
    content = file_bytes(CVS, "E-RACE", [earn("m1", 100), earn("m2", 50)])
    sig = alliance.keys[CVS].sign(content)
    results = _race([lambda: served.upload(token, content, sig)] * 8)
    statuses = sorted(s for s, _ in results)
    assert statuses.count(201) == 1, results
    assert statuses.count(409) == 7, results
    with hub.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM clearing_record")).scalar_one() == 2
        assert c.execute(text("SELECT credits - debits FROM account WHERE code='pts:cvs:m:m1'")).scalar_one() == 100


def test_two_fulfillers_spend_the_same_points_at_once(hub, served):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000)])
    t_cinema = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)
    t_eye = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=EYEWEAR)
    f1 = file_bytes(CINEMA, "R1", [redeem("m1", 600)])
    f2 = file_bytes(EYEWEAR, "R1", [redeem("m1", 600, fulfiller=EYEWEAR, category="eyewear")])
    s1, s2 = alliance.keys[CINEMA].sign(f1), alliance.keys[EYEWEAR].sign(f2)
    results = _race([lambda: served.upload(t_cinema, f1, s1), lambda: served.upload(t_eye, f2, s2)])
    assert [s for s, _ in results] == [201, 201], results
    assert sum(body["accepted"] for _, body in results) == 1, results
    with hub.engine.connect() as c:
        assert c.execute(text("SELECT credits - debits FROM account WHERE code='pts:cvs:m:m1'")).scalar_one() == 400


def test_upload_racing_a_close_is_in_exactly_one_period(hub, served):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 5000)])
    admin = __import__("clearinghouse.services.partners", fromlist=["x"]).issue_api_token(
        engine=hub.engine, now=hub.now(), principal="admin"
    )
    t_cinema = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)
    rows = [redeem("m1", 1, when=at(10)) for _ in range(2000)]
    f1 = file_bytes(CINEMA, "R-BIG", rows)
    s1 = alliance.keys[CINEMA].sign(f1)
    results = _race(
        [lambda: served.upload(t_cinema, f1, s1), lambda: served.post_json("/api/v1/periods/2026-11/close", admin)]
    )
    assert results[0][0] == 201 and results[1][0] == 201, results
    with hub.engine.connect() as c:
        in_nov = c.execute(
            text(
                "SELECT coalesce(sum(value_fen), 0) FROM clearing_record"
                " WHERE status = 'ACCEPTED' AND settlement_period = '2026-11'"
            )
        ).scalar_one()
        gross = c.execute(text("SELECT gross_fen FROM period_close WHERE period='2026-11'")).scalar_one()
        cny = c.execute(text("SELECT coalesce(sum(debits-credits),0) FROM account WHERE unit='CNY'")).scalar_one()
    assert in_nov == gross, (in_nov, gross)
    assert cny == 0
