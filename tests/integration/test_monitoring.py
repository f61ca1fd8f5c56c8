"""Monitoring (RL8) through the real services on both databases: a scan opens a case per hit with its
records as evidence, an alert and an audit entry; scans again open nothing twice; the scheduled scan
remembers where it stopped; admins open, add to and close cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from clearinghouse import audit
from clearinghouse.alerts import list_alerts
from clearinghouse.db import unit_of_work
from clearinghouse.errors import Conflict, InvalidRequest
from clearinghouse.hub import Hub
from clearinghouse.services import monitoring
from clearinghouse.services.partners import get_partner, set_beneficial_owner
from settlement.monitoring import Thresholds
from tests.factories import CINEMA, CVS, EYEWEAR, Alliance, at, earn, redeem, submit

QUIET = Thresholds(
    velocity_member_per_hour=0,
    velocity_member_per_day=0,
    velocity_partner_per_hour=0,
    structuring_points=10_000,
    structuring_fen=0,
    structuring_band_percent=10,
    structuring_min_count=3,
    round_trip_hours=0,
    odd_ratio_max=Decimal(0),
)
SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def structuring_file(hub: Hub, alliance: Alliance, file_id: str, points: list[int]) -> list[int]:
    rows = [earn("M-S", p, p * 100, when=at(5, 9 + i), receipt=f"R{i}") for i, p in enumerate(points)]
    submit(hub, alliance, CVS, file_id, rows)
    with unit_of_work(hub.engine, read_only=True) as uow:
        return [int(i) for (i,) in uow.connection.execute(text("SELECT id FROM clearing_record ORDER BY id"))]


def scan(hub: Hub, limits: Thresholds = QUIET) -> monitoring.ScanResult:
    return monitoring.scan(
        engine=hub.engine, now=hub.now(), limits=limits, zone=hub.config.zone, since=SINCE, until=UNTIL
    )


def test_structuring_opens_one_case_with_its_records_an_alert_and_an_audit_entry(hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    ids = structuring_file(hub, alliance, "F1", [9_000, 9_500, 9_999])
    result = scan(hub)
    assert (result.hits, result.cases_opened, result.evidence_added) == (1, 1, 3)
    (case,) = monitoring.list_cases(engine=hub.engine, status="OPEN")
    case = monitoring.get_case(engine=hub.engine, case_id=case.id)
    assert (case.rule, case.issuer_id, case.member_token, case.opened_by) == ("RL8_STRUCTURING", CVS, "M-S", "monitor")
    assert [e.record_id for e in case.evidence] == ids
    assert [a.kind for a in list_alerts(hub.engine)] == ["monitoring_case"]
    opened = audit.entries(hub.engine, subject_prefix=f"case:{case.id}")
    assert [(e.actor, e.action) for e in opened] == [("monitor", "case.open")]
    again = scan(hub)
    assert (again.hits, again.cases_opened, again.evidence_added) == (1, 0, 0)
    assert len(monitoring.list_cases(engine=hub.engine)) == 1 and len(list_alerts(hub.engine)) == 1


def test_two_records_just_under_open_no_case(hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    structuring_file(hub, alliance, "F1", [9_000, 9_999, 10_000])
    assert scan(hub).cases_opened == 0
    assert monitoring.list_cases(engine=hub.engine) == []


def test_a_later_record_of_the_same_window_is_added_to_the_open_case(hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    structuring_file(hub, alliance, "F1", [9_000, 9_500, 9_999])
    scan(hub)
    ids = structuring_file(hub, alliance, "F2", [9_100])
    result = scan(hub)
    assert (result.cases_opened, result.evidence_added) == (0, 1)
    (case,) = monitoring.list_cases(engine=hub.engine)
    assert [e.record_id for e in monitoring.get_case(engine=hub.engine, case_id=case.id).evidence] == ids


def test_the_scheduled_scan_remembers_where_it_stopped(hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    structuring_file(hub, alliance, "F1", [9_000, 9_500, 9_999])
    lookback = timedelta(hours=1)  # the records are weeks old: only the record ids bring them in
    first = monitoring.scheduled_scan(
        engine=hub.engine, now=hub.now(), limits=QUIET, zone=hub.config.zone, lookback=lookback
    )
    assert (first.cases_opened, first.up_to_record_id) == (1, 3)
    second = monitoring.scheduled_scan(
        engine=hub.engine, now=hub.now(), limits=QUIET, zone=hub.config.zone, lookback=lookback
    )
    assert (second.records, second.cases_opened, second.up_to_record_id) == (0, 0, 3)


def test_self_dealing_needs_a_registered_common_owner(hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("M1", 500, when=at(4))])
    submit(hub, alliance, EYEWEAR, "R1", [redeem("M1", 100, fulfiller=EYEWEAR, category="eyewear")])
    off = replace(QUIET, structuring_points=0)
    assert scan(hub, off).cases_opened == 0
    for partner in (CVS, EYEWEAR):
        set_beneficial_owner(
            engine=hub.engine, now=hub.now(), actor="admin:alice", partner_id=partner, beneficial_owner="91310000mA1"
        )
    assert get_partner(engine=hub.engine, partner_id=CVS).beneficial_owner == "91310000MA1"
    owner_changes = [e for e in audit.entries(hub.engine, subject_prefix="partner:") if e.action == "partner.owner"]
    assert [e.action for e in owner_changes] == [
        "partner.owner",
        "partner.owner",
    ]
    assert scan(hub, off).cases_opened == 1
    (case,) = monitoring.list_cases(engine=hub.engine)
    assert (case.rule, case.issuer_id, case.partner_id) == ("RL8_SELF_DEALING", CVS, EYEWEAR)


def test_admin_opens_adds_to_and_closes_a_manual_case(hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    ids = structuring_file(hub, alliance, "F1", [100])
    with pytest.raises(InvalidRequest) as no_evidence:
        monitoring.open_case(engine=hub.engine, now=hub.now(), actor="admin:alice", summary="odd")
    assert no_evidence.value.code == "CASE_EVIDENCE_REQUIRED"
    with pytest.raises(InvalidRequest) as unknown:
        monitoring.open_case(engine=hub.engine, now=hub.now(), actor="admin:alice", summary="odd", record_ids=[999])
    assert unknown.value.code == "CASE_RECORD_UNKNOWN"
    case, new = monitoring.open_case(
        engine=hub.engine, now=hub.now(), actor="admin:alice", summary="tip-off", record_ids=ids, facts=["a call"]
    )
    again, new_again = monitoring.open_case(
        engine=hub.engine, now=hub.now(), actor="admin:alice", summary="tip-off", record_ids=ids, facts=["a call"]
    )
    assert (new, new_again, again.id) == (True, False, case.id)
    added = monitoring.add_evidence(
        engine=hub.engine, now=hub.now(), actor="admin:bob", case_id=case.id, facts=["a call", "a letter"]
    )
    assert [e.description for e in added.evidence] == ["", "a call", "a letter"]
    closed = monitoring.close_case(
        engine=hub.engine, now=hub.now(), actor="admin:bob", case_id=case.id, resolution="no fraud"
    )
    assert (closed.status, closed.closed_by) == ("CLOSED", "admin:bob")
    assert (
        monitoring.close_case(
            engine=hub.engine, now=hub.now(), actor="admin:bob", case_id=case.id, resolution="no fraud"
        )
        == closed
    )
    with pytest.raises(Conflict):
        monitoring.add_evidence(engine=hub.engine, now=hub.now(), actor="admin:bob", case_id=case.id, facts=["late"])
    actions = [e.action for e in audit.entries(hub.engine, subject_prefix=f"case:{case.id}")]
    assert actions == ["case.open", "case.evidence", "case.close"]
    assert CINEMA  # the standard alliance is registered


def test_closed_cases_take_no_more_evidence_from_scans(hub: Hub) -> None:
    alliance = Alliance.standard(hub)
    structuring_file(hub, alliance, "F1", [9_000, 9_500, 9_999])
    scan(hub)
    (case,) = monitoring.list_cases(engine=hub.engine)
    monitoring.close_case(engine=hub.engine, now=hub.now(), actor="admin:alice", case_id=case.id, resolution="known")
    structuring_file(hub, alliance, "F2", [9_100])
    assert scan(hub).evidence_added == 0


def test_the_demo_scenario_opens_a_structuring_case(hub: Hub) -> None:
    import io

    from clearinghouse.demo.monitoring_scenario import STRUCTURING_MEMBER, structuring_file
    from settlement.fileformat import write_file
    from tests.factories import submit_bytes

    alliance = Alliance.standard(hub)
    scenario = structuring_file(at(5), hub.config.zone)
    records = [replace(r, issuer_id=CVS) for r in scenario.records]  # the test alliance's cvs, not the demo's
    out = io.BytesIO()
    write_file(
        out, partner_id=CVS, file_id=scenario.file_id, created_at=datetime(2026, 12, 1, tzinfo=UTC), records=records
    )
    submit_bytes(hub, CVS, out.getvalue(), alliance.keys[CVS].sign(out.getvalue()))
    limits = hub.config.monitor_thresholds
    assert scan(hub, limits).cases_opened == 1
    (case,) = monitoring.list_cases(engine=hub.engine)
    assert (case.rule, case.member_token) == ("RL8_STRUCTURING", STRUCTURING_MEMBER)
