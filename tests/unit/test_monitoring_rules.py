"""Monitoring rules (RL8): for each rule the smallest input that trips it and the nearest that does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

from settlement import monitoring as m
from settlement.monitoring import ClearedRecord, Thresholds

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
_ids = count(1)
# Every rule off unless a test turns it on, so each test sees only its own rule.
OFF = Thresholds(
    velocity_member_per_hour=0,
    velocity_member_per_day=0,
    velocity_partner_per_hour=0,
    structuring_points=0,
    structuring_fen=0,
    structuring_min_count=0,
    round_trip_hours=0,
    odd_ratio_max=Decimal(0),
)


def rec(
    kind: str = "EARN",
    *,
    at: datetime = T0,
    issuer: str = "cvs",
    fulfiller: str = "",
    member: str = "M1",
    points: int = 100,
    amount: int = 10_000,
    value: int = 0,
) -> ClearedRecord:
    return ClearedRecord(next(_ids), at, kind, issuer, fulfiller, member, points, amount, value)


def redeem(
    issuer: str, fulfiller: str, points: int, value: int, *, at: datetime = T0, member: str = "M1"
) -> ClearedRecord:
    return rec("REDEEM", at=at, issuer=issuer, fulfiller=fulfiller, member=member, points=points, amount=0, value=value)


def run(records: list[ClearedRecord], limits: Thresholds, owners: dict[str, str | None] | None = None) -> list[m.Hit]:
    return m.run_rules(records, owners=owners or {}, limits=limits, zone=ZONE)


# ------------------------------------------------------------------ velocity
def test_member_velocity_trips_one_record_over_the_hourly_limit() -> None:
    limits = replace(OFF, velocity_member_per_hour=2)
    records = [rec(at=T0 + timedelta(minutes=i)) for i in range(3)]
    (hit,) = run(records, limits)
    assert hit.rule == m.VELOCITY_MEMBER
    assert hit.subject == "member:cvs/M1"
    assert (hit.window_start, hit.window_end) == (T0, T0 + timedelta(hours=1))
    assert hit.record_ids == tuple(r.record_id for r in records)


def test_member_velocity_passes_at_the_limit_and_across_an_hour_boundary() -> None:
    limits = replace(OFF, velocity_member_per_hour=2)
    assert run([rec(at=T0), rec(at=T0 + timedelta(minutes=59))], limits) == []
    assert run([rec(at=T0), rec(at=T0 + timedelta(minutes=59)), rec(at=T0 + timedelta(minutes=60))], limits) == []


def test_member_velocity_passes_when_the_same_token_belongs_to_two_issuers() -> None:
    limits = replace(OFF, velocity_member_per_hour=2)
    assert run([rec(issuer="cvs"), rec(issuer="cvs"), rec(issuer="eyewear")], limits) == []


def test_member_velocity_per_local_day() -> None:
    limits = replace(OFF, velocity_member_per_day=2)
    local_midnight = datetime(2026, 11, 5, tzinfo=ZONE)
    same_day = [rec(at=local_midnight + timedelta(hours=h)) for h in (0, 12, 23)]
    (hit,) = run(same_day, limits)
    assert hit.window_start == local_midnight.astimezone(UTC)
    assert hit.window_end == (local_midnight + timedelta(days=1)).astimezone(UTC)
    two_days = [rec(at=local_midnight + timedelta(hours=h)) for h in (0, 12, 24)]
    assert run(two_days, limits) == []


def test_partner_velocity_counts_earns_as_issuer_and_redemptions_as_fulfiller() -> None:
    limits = replace(OFF, velocity_partner_per_hour=2)
    (hit,) = run([rec(member="A"), rec(member="B"), redeem("eyewear", "cvs", 10, 90)], limits)
    assert (hit.rule, hit.subject, hit.partner_id) == (m.VELOCITY_PARTNER, "partner:cvs", "cvs")
    # cvs's own points redeemed elsewhere are the fulfiller's records, not cvs's
    assert run([rec(member="A"), rec(member="B"), redeem("cvs", "eyewear", 10, 90)], limits) == []


# ------------------------------------------------------------------ structuring
def test_structuring_trips_on_the_minimum_count_just_under_the_points_threshold() -> None:
    limits = replace(OFF, structuring_points=10_000, structuring_band_percent=10, structuring_min_count=3)
    records = [rec(points=9_000, amount=1), rec(points=9_999, amount=1), rec(points=9_500, amount=1)]
    (hit,) = run(records, limits)
    assert (hit.rule, hit.subject, len(hit.record_ids)) == (m.STRUCTURING, "member:cvs/M1", 3)


def test_structuring_passes_one_short_of_the_count_or_outside_the_band() -> None:
    limits = replace(OFF, structuring_points=10_000, structuring_band_percent=10, structuring_min_count=3)
    assert run([rec(points=9_000, amount=1), rec(points=9_999, amount=1)], limits) == []
    below_band = [rec(points=9_000, amount=1), rec(points=9_999, amount=1), rec(points=8_999, amount=1)]
    assert run(below_band, limits) == []
    at_threshold = [rec(points=9_000, amount=1), rec(points=9_999, amount=1), rec(points=10_000, amount=1)]
    assert run(at_threshold, limits) == []


def test_structuring_by_spend_of_earns() -> None:
    limits = replace(OFF, structuring_fen=1_000_000, structuring_band_percent=10, structuring_min_count=2)
    (hit,) = run([rec(points=1, amount=999_999), rec(points=1, amount=900_000)], limits)
    assert hit.rule == m.STRUCTURING
    assert run([rec(points=1, amount=999_999), rec(points=1, amount=899_999)], limits) == []


def test_just_under_is_integer_exact() -> None:
    assert m.just_under(90, 100, 10) and m.just_under(99, 100, 10)
    assert not m.just_under(89, 100, 10) and not m.just_under(100, 100, 10) and not m.just_under(5, 0, 10)


# ------------------------------------------------------------------ round trips
RT = replace(OFF, round_trip_hours=24, round_trip_tolerance_percent=5, round_trip_min_fen=10_000)


def test_partners_fulfilling_each_other_with_matching_flows_is_a_round_trip() -> None:
    records = [
        redeem("cvs", "eyewear", 1_000, 10_000),
        redeem("eyewear", "cvs", 1_000, 10_500, at=T0 + timedelta(hours=3)),
    ]
    (hit,) = run(records, RT)
    assert (hit.rule, hit.subject) == (m.ROUND_TRIP, "pair:cvs|eyewear")
    assert hit.record_ids == tuple(r.record_id for r in records)


def test_partner_flows_that_do_not_match_or_are_small_or_one_way_pass() -> None:
    unmatched = [redeem("cvs", "eyewear", 1_000, 10_000), redeem("eyewear", "cvs", 1_000, 10_527)]
    assert run(unmatched, RT) == []
    small = [redeem("cvs", "eyewear", 1_000, 9_999), redeem("eyewear", "cvs", 1_000, 9_999)]
    assert run(small, RT) == []
    one_way = [redeem("cvs", "eyewear", 1_000, 10_000), redeem("cvs", "eyewear", 1_000, 10_000)]
    assert run(one_way, RT) == []
    next_day = [
        redeem("cvs", "eyewear", 1_000, 10_000),
        redeem("eyewear", "cvs", 1_000, 10_000, at=T0 + timedelta(days=1)),
    ]
    assert run(next_day, RT) == []


def test_a_members_points_going_out_and_coming_back_is_a_round_trip() -> None:
    limits = replace(RT, round_trip_min_points=1_000)
    out = redeem("cvs", "eyewear", 1_000, 8_800)
    back = rec(at=T0 + timedelta(hours=23), points=1_000)
    (hit,) = run([out, back], limits)
    assert (hit.rule, hit.subject, hit.record_ids) == (m.ROUND_TRIP, "member:cvs/M1", (out.record_id, back.record_id))


def test_a_member_earning_back_late_or_another_amount_or_before_passes() -> None:
    limits = replace(RT, round_trip_min_points=1_000)
    out = redeem("cvs", "eyewear", 1_000, 8_800)
    assert run([out, rec(at=T0 + timedelta(hours=24, seconds=1), points=1_000)], limits) == []
    assert run([out, rec(at=T0 + timedelta(hours=1), points=949)], limits) == []
    assert run([out, rec(at=T0 - timedelta(hours=1), points=1_000)], limits) == []
    small = redeem("cvs", "eyewear", 999, 8_791)
    assert run([small, rec(at=T0 + timedelta(hours=1), points=999)], limits) == []


# ------------------------------------------------------------------ self-dealing and odd ratios
def test_issuer_and_fulfiller_with_one_registered_owner_is_self_dealing() -> None:
    owners: dict[str, str | None] = {"cvs": "91310000X", "eyewear": "91310000X"}
    record = redeem("cvs", "eyewear", 100, 880)
    (hit,) = run([record], OFF, owners)
    assert (hit.rule, hit.subject, hit.issuer_id, hit.partner_id) == (
        m.SELF_DEALING,
        "pair:cvs>eyewear",
        "cvs",
        "eyewear",
    )
    assert hit.window_start == datetime(2026, 11, 1, tzinfo=ZONE).astimezone(UTC)


def test_other_owners_or_no_owner_on_record_is_not_self_dealing() -> None:
    record = redeem("cvs", "eyewear", 100, 880)
    assert run([record], OFF, {"cvs": "91310000X", "eyewear": "91310000Y"}) == []
    assert run([record], OFF, {"cvs": None, "eyewear": None}) == []
    assert run([rec(issuer="cvs")], OFF, {"cvs": "91310000X"}) == []


def test_partners_fulfilling_each_other_at_odd_rates() -> None:
    limits = replace(OFF, odd_ratio_max=Decimal(2), odd_ratio_min_points=1_000)
    odd = [redeem("cvs", "eyewear", 1_000, 20_001), redeem("eyewear", "cvs", 1_000, 10_000)]
    (hit,) = run(odd, limits)
    assert (hit.rule, hit.subject) == (m.ODD_RATIO, "pair:cvs|eyewear")
    even = [redeem("cvs", "eyewear", 1_000, 20_000), redeem("eyewear", "cvs", 1_000, 10_000)]
    assert run(even, limits) == []
    too_few_points = [redeem("cvs", "eyewear", 999, 90_000), redeem("eyewear", "cvs", 1_000, 10_000)]
    assert run(too_few_points, limits) == []


def test_dedupe_key_names_rule_window_and_subject_and_stays_short() -> None:
    limits = replace(OFF, velocity_member_per_hour=1)
    (hit,) = run([rec(), rec()], limits)
    assert hit.dedupe_key == "RL8_VELOCITY_MEMBER|20261105T0200Z/20261105T0300Z|member:cvs/M1"
    long_member = "x" * 128
    long_issuer = "i" * 40
    (long_hit,) = run(
        [rec(issuer=long_issuer, member=long_member), rec(issuer=long_issuer, member=long_member)], limits
    )
    assert len(long_hit.dedupe_key) <= 200 and "sha256:" in long_hit.dedupe_key
