"""RL3 marketing budgets and RL4 licence suspensions through the real services, on SQLite and PostgreSQL.

The alliance is ``Alliance.standard`` with cvs's November budget replaced per test (point cost 1 fen a
point unless said otherwise, so points = fen).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from clearinghouse import audit
from clearinghouse.alerts import list_alerts
from clearinghouse.cli import main
from clearinghouse.errors import Conflict, Forbidden, InvalidRequest
from clearinghouse.hub import Hub
from clearinghouse.services import budgets as service
from clearinghouse.services.licences import licence_status, record_licence, suspend_expired_licences
from settlement.periods import Period
from tests.factories import CVS, EYEWEAR, RIDE, Alliance, at, earn, reversal, submit

NOV, DEC = Period(2026, 11), Period(2026, 12)


def declare(
    hub: Hub, budget_fen: int, *, period: Period = NOV, cost: str = "1", carry: bool = False, who: str = "admin"
):
    declaration = service.Declaration(CVS, period, budget_fen, Decimal(cost), carry)
    return service.declare_budget(engine=hub.engine, now=hub.now(), actor=who, caller=who, declaration=declaration)


def used(hub: Hub, period: Period = NOV) -> int:
    return service.get_budget(engine=hub.engine, caller="admin", issuer_id=CVS, period=period).used_fen


def budget_alerts(hub: Hub) -> list[str]:
    return sorted(alert.kind for alert in list_alerts(hub.engine) if alert.kind.startswith("RL3"))


@pytest.fixture
def alliance(hub: Hub) -> Alliance:
    """The standard alliance; cvs has no budget for November or December until a test declares one."""
    periods = tuple(p for p in (Period(2026, m) for m in range(1, 13)) if p not in (NOV, DEC))
    return Alliance.standard(hub, budget_periods=periods)


def test_earns_use_the_budget_and_the_one_passing_it_is_refused(hub, alliance):
    declare(hub, 1_000)
    outcome = submit(hub, alliance, CVS, "F1", [earn("m1", 600), earn("m2", 400, receipt="R-2"), earn("m3", 1)])
    assert (outcome.accepted, dict(outcome.refused_by_code)) == (2, {"RL3_BUDGET_EXCEEDED": 1})
    assert used(hub) == 1_000
    view = service.get_budget(engine=hub.engine, caller=CVS, issuer_id=CVS, period=NOV)
    assert (view.remaining_fen, str(view.utilization), view.alerts) == (0, "1.0000", (80, 100))


def test_without_a_budget_for_the_period_nothing_is_issued(hub, alliance):
    outcome = submit(hub, alliance, CVS, "F1", [earn("m1", 10)])
    assert dict(outcome.refused_by_code) == {"RL3_BUDGET_MISSING": 1}


def test_issued_value_is_points_times_the_point_cost_rounded_per_record(hub, alliance):
    declare(hub, 1_000, cost="0.5")
    submit(hub, alliance, CVS, "F1", [earn("m1", 3), earn("m2", 3, receipt="R-2")])  # 1.5 → 2, twice
    assert used(hub) == 4


def test_the_80_percent_alert_is_raised_once_and_the_100_percent_one_when_the_budget_is_passed(hub, alliance):
    declare(hub, 1_000)
    submit(hub, alliance, CVS, "F1", [earn("m1", 799)])
    assert budget_alerts(hub) == []
    submit(hub, alliance, CVS, "F2", [earn("m1", 1)])
    submit(hub, alliance, CVS, "F3", [earn("m1", 1)])
    assert budget_alerts(hub) == ["RL3_BUDGET_80"]
    submit(hub, alliance, CVS, "F4", [earn("m1", 500)])  # refused: the budget is used up in practice
    assert budget_alerts(hub) == ["RL3_BUDGET_100", "RL3_BUDGET_80"]
    submit(hub, alliance, CVS, "F5", [earn("m1", 500)])
    assert len(budget_alerts(hub)) == 2
    assert used(hub) == 801


def test_a_reversal_gives_the_issued_value_back_so_it_can_be_issued_again(hub, alliance):
    declare(hub, 1_000)
    declare(hub, 10, period=DEC)
    submit(hub, alliance, CVS, "F1", [earn("m1", 1_000)])
    refund = reversal("F1#1", "m1", 400, 40_000, when=at(2, month=12))  # refunded in December
    assert submit(hub, alliance, CVS, "F2", [refund, earn("m2", 400, receipt="R-2")]).accepted == 2
    assert (used(hub), used(hub, DEC)) == (1_000, 0)


def test_a_budget_can_be_raised_but_never_set_below_what_is_used(hub, alliance):
    declare(hub, 1_000)
    submit(hub, alliance, CVS, "F1", [earn("m1", 700)])
    with pytest.raises(Conflict) as caught:
        declare(hub, 699)
    assert caught.value.code == "BUDGET_BELOW_USED"
    view, created = declare(hub, 700)
    assert (view.budget_fen, view.used_fen, created) == (700, 700, False)
    with pytest.raises(InvalidRequest) as locked:
        declare(hub, 2_000, cost="2")
    assert locked.value.code == "BUDGET_POINT_COST_LOCKED"


def test_declaring_is_audited_once_and_only_by_the_issuer_itself_or_an_admin(hub, alliance):
    before = len(audit.entries(hub.engine, subject_prefix=f"budget:{CVS}:2026-11"))
    assert declare(hub, 1_000, who=CVS)[1] is True
    assert declare(hub, 1_000, who=CVS)[1] is False  # the same again: unchanged, not audited again
    with pytest.raises(Forbidden):
        service.declare_budget(
            engine=hub.engine,
            now=hub.now(),
            actor=EYEWEAR,
            caller=EYEWEAR,
            declaration=service.Declaration(CVS, NOV, 5, Decimal(1)),
        )
    (entry,) = audit.entries(hub.engine, subject_prefix=f"budget:{CVS}:2026-11")[before:]
    assert (entry.actor, entry.action, entry.before, entry.after["budget_fen"]) == (CVS, "budgets.declare", None, 1_000)


def test_the_rollover_copies_the_last_budget_carries_the_rest_when_asked_and_runs_once(hub, alliance):
    declare(hub, 1_000, carry=True)
    submit(hub, alliance, CVS, "F1", [earn("m1", 300)])
    everyone = service.roll_over_budgets(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone, period=DEC)
    (rolled,) = [r for r in everyone if r.issuer_id == CVS]  # eyewear and ride roll from October
    assert (rolled.issuer_id, rolled.from_period, rolled.budget_fen, rolled.carried_fen) == (CVS, "2026-11", 1_700, 700)
    assert service.roll_over_budgets(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone) == []
    view = service.get_budget(engine=hub.engine, caller=CVS, issuer_id=CVS, period=DEC)
    assert (view.budget_fen, view.source) == (1_700, "ROLLOVER")
    with hub.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT from_period, to_period, carried_fen FROM budget_rollover WHERE issuer_id = :i"), {"i": CVS}
        ).all()
    assert [tuple(row) for row in rows] == [("2026-11", "2026-12", 700)]


def test_without_carry_over_the_rollover_keeps_the_amount_and_a_declaration_wins_over_it(hub, alliance):
    declare(hub, 1_000)
    submit(hub, alliance, CVS, "F1", [earn("m1", 300)])
    declare(hub, 5_000, period=DEC)  # declared before the rollover runs: left alone
    rolled = service.roll_over_budgets(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone, period=DEC)
    assert CVS not in [r.issuer_id for r in rolled]
    assert service.get_budget(engine=hub.engine, caller=CVS, issuer_id=CVS, period=DEC).budget_fen == 5_000
    january = Period(2027, 1)
    rolled = service.roll_over_budgets(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone, period=january)
    assert [(r.issuer_id, r.budget_fen, r.carried_fen) for r in rolled if r.issuer_id == CVS] == [(CVS, 5_000, 0)]
    view, created = declare(hub, 800, period=january)  # a declaration after the rollover replaces it
    assert (view.budget_fen, view.source, created) == (800, "DECLARED", False)


# ------------------------------------------------------------------ RL4
def test_the_licence_job_suspends_an_expired_platform_once_with_an_alert_and_a_new_licence_lifts_it(hub):
    alliance = Alliance.standard(hub, ride_licence=date(2026, 12, 2))
    zone = hub.config.timezone
    assert suspend_expired_licences(engine=hub.engine, now=hub.now(), zone_name=zone) == [RIDE]
    assert suspend_expired_licences(engine=hub.engine, now=hub.now(), zone_name=zone) == []
    alerts = [a for a in list_alerts(hub.engine) if a.kind == "RL4_LICENCE_EXPIRED"]
    assert [a.partner_id for a in alerts] == [RIDE]
    status = licence_status(engine=hub.engine, partner_id=RIDE)
    assert (status.issuing_suspended, status.suspended_since) == (True, date(2026, 12, 3))
    assert dict(submit(hub, alliance, RIDE, "R1", [earn("m1", 10, issuer=RIDE)]).refused_by_code) == {
        "RL4_ISSUING_SUSPENDED": 1
    }

    after = record_licence(
        engine=hub.engine,
        now=hub.now(),
        zone_name=zone,
        actor="admin:ops",
        partner_id=RIDE,
        number="京B2-20261203",
        expires_on=date(2031, 12, 2),
    )
    assert not after.issuing_suspended
    assert submit(hub, alliance, RIDE, "R2", [earn("m1", 10, issuer=RIDE)]).accepted == 1
    entry = audit.entries(hub.engine, subject_prefix=f"partner:{RIDE}")[-1]
    assert (entry.actor, entry.action) == ("admin:ops", "licences.record")
    assert entry.before == {
        "licence_number": "京B2-20260417",
        "licence_expires_on": "2026-12-02",
        "issuing_suspended": True,
    }
    assert entry.after["issuing_suspended"] is False


def test_a_licence_in_date_is_not_suspended_and_an_expired_new_licence_is_refused(hub):
    Alliance.standard(hub, ride_licence=date(2026, 12, 3))  # the expiry day itself still counts
    assert suspend_expired_licences(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone) == []
    with pytest.raises(InvalidRequest) as caught:
        record_licence(
            engine=hub.engine,
            now=hub.now(),
            zone_name=hub.config.timezone,
            actor="admin:ops",
            partner_id=RIDE,
            number="京B2-1",
            expires_on=date(2026, 12, 2),
        )
    assert caught.value.code == "LICENCE_NOT_IN_DATE"


def test_the_cli_rolls_budgets_over_and_checks_licences(hub, alliance, tmp_path, monkeypatch):
    monkeypatch.setenv("CLEARINGHOUSE_HUB_KEY_PATH", hub.config.hub_key_path)
    declare(hub, 1_000)
    runner = CliRunner()
    database = ["--db", hub.config.database_url]
    rolled = runner.invoke(main, [*database, "budget-rollover", "2026-12"])
    assert rolled.exit_code == 0 and f"{CVS}: 2026-11 → 2026-12, budget 1000 fen" in rolled.output
    assert "nothing to roll over" in runner.invoke(main, [*database, "budget-rollover", "2026-12"]).output
    malformed = runner.invoke(main, [*database, "budget-rollover", "2026-13"])
    assert malformed.exit_code == 1 and "PERIOD_MALFORMED" in malformed.output and "Traceback" not in malformed.output
    assert runner.invoke(main, [*database, "licence-check"]).exit_code == 0
