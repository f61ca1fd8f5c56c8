"""Points expire by lot, oldest first, as ledger events; notices go out ahead of time; reruns change nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from clearinghouse.errors import Forbidden, InvalidRequest
from clearinghouse.services.expiry import list_notices, run_expiry
from clearinghouse.services.members import member_points
from contracts.terms import FulfillerTerms
from tests.factories import CINEMA, CVS, SHANGHAI, Alliance, at, declare_budgets, earn, redeem, reversal, submit, terms

ZONE = "Asia/Shanghai"


def expiring_alliance(hub, policy: str = "months:2") -> Alliance:
    alliance = Alliance({})
    alliance.register(hub, CVS, "易达便利", ["issuer"], "convenience")
    alliance.register(hub, CINEMA, "光影影院", ["fulfiller"], "cinema")
    cinema = FulfillerTerms(fulfiller_id=CINEMA, rate_fen_per_point=Decimal("7.5"), categories=frozenset({"cinema"}))
    alliance.contract(hub, replace(terms(CVS, [cinema], contract_id="cvs-alliance"), expiry_policy=policy))
    declare_budgets(hub, [CVS])
    return alliance


def post(hub, alliance, partner, file_id, rows, *, on: datetime) -> None:
    """Submit a file as the hub's clock stood at ``on`` (so the ledger's posting time is realistic)."""
    before = hub.clock
    hub.clock = lambda: on
    try:
        outcome = submit(hub, alliance, partner, file_id, rows)
    finally:
        hub.clock = before
    assert outcome.refused == 0, outcome


def expire(hub, now: datetime, *, notice_days: int = 30, zone: str = ZONE, as_of: datetime | None = None):
    return run_expiry(
        engine=hub.engine, now=now, as_of=as_of, zone_name=zone, notice_days=notice_days, actor="scheduler"
    )


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def balance(hub, member: str = "m1") -> int:
    return member_points(engine=hub.engine, issuer_id=CVS, member_token=member).balance


def test_fifo_a_redemption_in_between_spends_the_oldest_lot_and_the_rest_expires_on_its_day(hub):
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=at(2)), earn("m1", 100, when=at(20))], on=local(2026, 11, 21))
    post(hub, alliance, CINEMA, "R1", [redeem("m1", 150, when=at(25))], on=local(2026, 11, 26))
    # the 2 Nov lot (expires 2 Jan) was spent whole; 50 points of the 20 Nov lot are left (expire 20 Jan)
    assert expire(hub, local(2027, 1, 19, 23)).points_expired == 0
    assert balance(hub) == 50
    run = expire(hub, local(2027, 1, 20))
    assert (run.members_expired, run.points_expired) == (1, 50)
    assert balance(hub) == 0
    last = member_points(engine=hub.engine, issuer_id=CVS, member_token="m1").history[-1]
    assert (last.kind, last.points, last.reported_by) == ("EXPIRY", -50, "hub")
    assert last.reason == "50 points earned on 2026-11-20 expired on 2027-01-20 (program expiry policy)"


def test_a_rerun_posts_nothing_twice(hub):
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=at(2)), earn("m2", 70, when=at(3))], on=local(2026, 11, 4))
    first = expire(hub, local(2027, 1, 10))
    again = expire(hub, local(2027, 1, 10))
    later = expire(hub, local(2027, 3, 1))
    assert (first.points_expired, again.points_expired, later.points_expired) == (170, 0, 0)
    with hub.engine.connect() as connection:
        events = connection.execute(text("SELECT count(*), sum(points) FROM ledger_event WHERE kind = 'EXPIRY'")).one()
        expired = connection.execute(text("SELECT debits, credits FROM account WHERE code = 'pts:cvs:expired'")).one()
    assert tuple(events) == (2, 170)
    assert tuple(expired) == (0, 170)
    assert (balance(hub, "m1"), balance(hub, "m2")) == (0, 0)


def test_a_notice_is_written_once_ahead_of_time_and_only_within_the_window(hub):
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=at(20))], on=local(2026, 11, 21))  # expires 20 Jan 2027
    assert expire(hub, local(2026, 12, 20, 0), notice_days=30).notices_written == 0  # 31 days ahead
    assert expire(hub, local(2026, 12, 21, 0), notice_days=30).notices_written == 1  # 30 days ahead
    assert expire(hub, local(2026, 12, 28, 0), notice_days=30).notices_written == 0
    notices = list_notices(engine=hub.engine, caller=CVS, issuer_id=None)
    assert [(n.member_token, n.points, n.expires_on, n.expires_at) for n in notices] == [
        ("m1", 100, date(2027, 1, 20), datetime(2027, 1, 19, 16, 0, tzinfo=UTC))
    ]


def test_policy_none_never_expires_anything(hub):
    alliance = expiring_alliance(hub, policy="none")
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=at(2))], on=local(2026, 11, 4))
    run = expire(hub, local(2036, 1, 1))
    assert (run.points_expired, run.notices_written, balance(hub)) == (0, 0, 100)


def test_the_month_ends_in_the_hub_zone_not_in_utc(hub):
    """31 Jan 16:30 UTC is 1 Feb 00:30 in Shanghai: with one month, Shanghai expires it at 1 Mar 00:00 local
    (28 Feb 16:00 UTC); a UTC hub would have expired it at 28 Feb 00:00 UTC."""
    alliance = expiring_alliance(hub, policy="months:1")
    bought = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=bought)], on=datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
    assert expire(hub, datetime(2026, 2, 28, 8, 0, tzinfo=UTC), notice_days=0).points_expired == 0
    assert expire(hub, datetime(2026, 2, 28, 16, 0, tzinfo=UTC), notice_days=0).points_expired == 100


def test_a_utc_hub_ends_the_same_month_earlier(hub):
    alliance = expiring_alliance(hub, policy="months:1")
    bought = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=bought)], on=datetime(2026, 2, 1, 0, 0, tzinfo=UTC))
    assert expire(hub, datetime(2026, 2, 27, 23, 59, tzinfo=UTC), notice_days=0, zone="UTC").points_expired == 0
    assert expire(hub, datetime(2026, 2, 28, 8, 0, tzinfo=UTC), notice_days=0, zone="UTC").points_expired == 100


def test_a_refunded_redemption_comes_back_as_a_new_lot_and_a_refunded_purchase_leaves_its_lot(hub):
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=at(2)), earn("m1", 100, when=at(3))], on=local(2026, 11, 4))
    post(hub, alliance, CVS, "E2", [reversal("E1#1", "m1", 40, 4000, when=at(5))], on=local(2026, 11, 6))
    post(hub, alliance, CINEMA, "R1", [redeem("m1", 60, when=at(7))], on=local(2026, 11, 8))
    post(
        hub, alliance, CINEMA, "R2", [reversal("R1#1", "m1", 60, fulfiller=CINEMA, when=at(9))], on=local(2026, 11, 10)
    )
    # 2 Nov lot: 100 − 40 refunded − 60 redeemed = 0; 3 Nov lot: 100 (expires 3 Jan); 60 back on 10 Nov (10 Jan)
    assert expire(hub, local(2027, 1, 3)).points_expired == 100
    assert expire(hub, local(2027, 1, 9)).points_expired == 0
    assert expire(hub, local(2027, 1, 10)).points_expired == 60
    assert balance(hub) == 0


def test_expiry_cannot_run_ahead_of_the_clock(hub):
    with pytest.raises(InvalidRequest) as refused:
        expire(hub, local(2027, 1, 1), as_of=local(2027, 1, 2))
    assert refused.value.code == "EXPIRY_AS_OF_FUTURE"


def test_a_run_is_audited(hub):
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=at(2))], on=local(2026, 11, 4))
    expire(hub, local(2027, 1, 10))
    with hub.engine.connect() as connection:
        row = connection.execute(
            text("SELECT actor, subject, after_json FROM audit_log WHERE action = 'expiry.run'")
        ).one()
    assert (row.actor, row.subject) == ("scheduler", "expiry:2027-01-10")
    assert '"points":100' in row.after_json


def test_a_partner_reads_only_its_own_notices_and_pages_by_id(hub):
    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn(f"m{i}", 10, when=at(20)) for i in range(5)], on=local(2026, 11, 21))
    expire(hub, local(2027, 1, 1))
    first = list_notices(engine=hub.engine, caller="admin", issuer_id=CVS, limit=2)
    rest = list_notices(engine=hub.engine, caller="admin", issuer_id=None, after_id=first[-1].id)
    assert [n.member_token for n in first + rest] == [f"m{i}" for i in range(5)]
    assert list_notices(engine=hub.engine, caller=CINEMA, issuer_id=None) == []
    with pytest.raises(Forbidden) as forbidden:
        list_notices(engine=hub.engine, caller=CINEMA, issuer_id=CVS)
    assert forbidden.value.code == "NOT_YOUR_DATA"


# ------------------------------------------------------------------ the daily job and the command (real clock)
MARCH = datetime(2026, 3, 2, 12, tzinfo=SHANGHAI)  # 2 March 2026: with two months, expires 2 May 2026


def test_the_daily_job_runs_in_the_hub_zone_and_expires_what_is_due(hub):
    from datetime import time

    from apscheduler.schedulers.background import BackgroundScheduler

    from clearinghouse.scheduler import POINTS_EXPIRY_JOB_ID, run_points_expiry, start

    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=MARCH)], on=local(2026, 3, 3))
    scheduler = start(BackgroundScheduler(), hub.config)
    try:
        job = scheduler.get_job(POINTS_EXPIRY_JOB_ID)
        assert str(job.trigger.timezone) == "Asia/Shanghai"
        assert job.next_run_time.astimezone(SHANGHAI).time() == time(0, 15)
        assert job.kwargs["notice_days"] == "30"
    finally:
        scheduler.shutdown()
    config = hub.config
    assert run_points_expiry(config.database_url, config.timezone, config.hub_key_path, "30") == 100
    assert run_points_expiry(config.database_url, config.timezone, config.hub_key_path, "30") == 0


def test_the_command_expires_as_of_a_local_day_and_refuses_the_future_in_one_line(hub, monkeypatch):
    from click.testing import CliRunner

    from clearinghouse.cli import main

    alliance = expiring_alliance(hub)
    post(hub, alliance, CVS, "E1", [earn("m1", 100, when=MARCH)], on=local(2026, 3, 3))
    monkeypatch.setenv("CLEARINGHOUSE_HUB_KEY_PATH", hub.config.hub_key_path)
    runner = CliRunner()
    command = ["--db", hub.config.database_url, "expire-points", "--as-of"]
    before = runner.invoke(main, [*command, "2026-05-01"])
    assert before.exit_code == 0, before.output
    assert "0 points expired for 0 members; 1 notices written" in before.output
    due = runner.invoke(main, [*command, "2026-05-02"])
    assert "100 points expired for 1 members; 0 notices written" in due.output
    future = runner.invoke(main, [*command, "2999-01-01"])
    assert future.exit_code == 1 and "EXPIRY_AS_OF_FUTURE" in future.output and "Traceback" not in future.output
    malformed = runner.invoke(main, [*command, "2026-02-30"])
    assert malformed.exit_code == 1 and "REQUEST_FIELD_INVALID" in malformed.output
    with hub.engine.connect() as connection:
        actors = connection.execute(text("SELECT actor FROM audit_log WHERE action = 'expiry.run'")).scalars().all()
    assert actors == ["cli", "cli"]
