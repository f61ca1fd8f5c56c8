"""Monitoring rules (red line RL8): patterns in accepted clearing records that an admin must look at.

Pure functions over plain values: the hub loads accepted records of a time range, the rules return
:class:`Hit` values, and the hub opens one case per hit (its :attr:`Hit.dedupe_key`). Windows are aligned
(an hour, a local day, a block of ``round_trip_hours`` from local midnight, a business month), so the same
pattern seen by two overlapping scans is the same hit, and a later scan that sees more of a window names
the same case with more evidence.

Rules and codes:

* ``RL8_VELOCITY_MEMBER`` — one member (of one issuer) has more EARN/REDEEM records than allowed in an hour
  or in a local day.
* ``RL8_VELOCITY_PARTNER`` — one partner reports more EARN (as issuer) / REDEEM (as fulfiller) records in an
  hour than allowed.
* ``RL8_STRUCTURING`` — one member has at least ``structuring_min_count`` records in a local day each just
  under a threshold (points, or the spend of an EARN in fen): within ``structuring_band_percent`` below it.
* ``RL8_ROUND_TRIP`` — two partners fulfil each other's points with matching flows (value owed each way
  within ``round_trip_tolerance_percent``) in one window; or a member's points go out (REDEEM) and the same
  number come back (EARN of the same issuer) within ``round_trip_hours``.
* ``RL8_SELF_DEALING`` — the issuer and the fulfiller of a redemption have the same registered owner.
* ``RL8_ODD_RATIO`` — two partners fulfil each other's points in a month at rates (fen per point) whose
  ratio exceeds ``odd_ratio_max``: value moved between them under cover of redemptions.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from settlement.periods import Period

VELOCITY_MEMBER = "RL8_VELOCITY_MEMBER"
VELOCITY_PARTNER = "RL8_VELOCITY_PARTNER"
STRUCTURING = "RL8_STRUCTURING"
ROUND_TRIP = "RL8_ROUND_TRIP"
SELF_DEALING = "RL8_SELF_DEALING"
ODD_RATIO = "RL8_ODD_RATIO"
RULES = (VELOCITY_MEMBER, VELOCITY_PARTNER, STRUCTURING, ROUND_TRIP, SELF_DEALING, ODD_RATIO)

EARN, REDEEM, REVERSAL = "EARN", "REDEEM", "REVERSAL"
_HOUR = timedelta(hours=1)
_LOCAL_EPOCH = datetime(2000, 1, 1)  # naive local wall time: blocks of N hours start from local midnights
_DEDUPE_MAX = 200


@dataclass(frozen=True, slots=True)
class ClearedRecord:
    """An accepted clearing record as the rules see it. ``at`` is its business time (aware);
    ``value_fen`` is what the issuer owes the fulfiller because of it (0 for an EARN)."""

    record_id: int
    at: datetime
    kind: str
    issuer_id: str
    fulfiller_id: str
    member_token: str
    points: int
    amount_fen: int
    value_fen: int


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the rules tolerate; ``clearinghouse.config.Config`` holds the configured values (``monitor_*``).
    A threshold of 0 turns its rule (or that half of it) off."""

    velocity_member_per_hour: int = 20
    velocity_member_per_day: int = 60
    velocity_partner_per_hour: int = 5000
    structuring_points: int = 10_000
    structuring_fen: int = 1_000_000
    structuring_band_percent: int = 10
    structuring_min_count: int = 3
    round_trip_hours: int = 24
    round_trip_tolerance_percent: int = 5
    round_trip_min_fen: int = 10_000
    round_trip_min_points: int = 1_000
    odd_ratio_max: Decimal = Decimal("2")
    odd_ratio_min_points: int = 1_000

    @property
    def longest_aligned_window(self) -> timedelta:
        """How far before a scanned range a rule's window may start (months excepted: those rules count
        what they see and a later scan adds the rest of the month to the same case)."""
        return max(timedelta(days=1), timedelta(hours=self.round_trip_hours)) + timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule fired: about ``subject`` in ``[window_start, window_end)``, with the records that show it."""

    rule: str
    subject: str
    window_start: datetime
    window_end: datetime
    record_ids: tuple[int, ...]
    summary: str
    issuer_id: str | None = None
    member_token: str | None = None
    partner_id: str | None = None

    @property
    def dedupe_key(self) -> str:
        """Rule + window + subject: one case per hit however many scans see it (hashed if too long)."""
        window = f"{_stamp(self.window_start)}/{_stamp(self.window_end)}"
        key = f"{self.rule}|{window}|{self.subject}"
        if len(key) > _DEDUPE_MAX:
            key = f"{self.rule}|{window}|sha256:{hashlib.sha256(self.subject.encode()).hexdigest()}"
        return key


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def member_subject(issuer_id: str, member_token: str) -> str:
    return f"member:{issuer_id}/{member_token}"


def pair_subject(a: str, b: str) -> str:
    first, second = sorted((a, b))
    return f"pair:{first}|{second}"


# ------------------------------------------------------------------ windows
def hour_window(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start, start + _HOUR


def block_window(moment: datetime, hours: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The block of ``hours`` local hours holding ``moment``; blocks start at local midnights."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    size = timedelta(hours=hours)
    start = _LOCAL_EPOCH + ((local - _LOCAL_EPOCH) // size) * size
    return start.replace(tzinfo=zone).astimezone(UTC), (start + size).replace(tzinfo=zone).astimezone(UTC)


def day_window(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return block_window(moment, 24, zone)


def month_window(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    period = Period.of(moment, zone)
    return period.start(zone).astimezone(UTC), period.end(zone).astimezone(UTC)


def _ids(records: Iterable[ClearedRecord]) -> tuple[int, ...]:
    return tuple(sorted(r.record_id for r in records))


def _activity(records: Iterable[ClearedRecord]) -> list[ClearedRecord]:
    return [r for r in records if r.kind in (EARN, REDEEM)]


# ------------------------------------------------------------------ velocity
def velocity_member(records: Iterable[ClearedRecord], limits: Thresholds, zone: ZoneInfo) -> list[Hit]:
    """More EARN/REDEEM records of one member than allowed in an hour, or in a local day."""
    hits: list[Hit] = []
    for limit, window_of, label in (
        (limits.velocity_member_per_hour, hour_window, "an hour"),
        (limits.velocity_member_per_day, lambda m: day_window(m, zone), "a day"),
    ):
        if limit <= 0:
            continue
        groups: dict[tuple[str, str, tuple[datetime, datetime]], list[ClearedRecord]] = defaultdict(list)
        for r in _activity(records):
            groups[(r.issuer_id, r.member_token, window_of(r.at))].append(r)
        for (issuer, member, window), group in groups.items():
            if len(group) > limit:
                hits.append(
                    Hit(
                        VELOCITY_MEMBER,
                        member_subject(issuer, member),
                        *window,
                        _ids(group),
                        f"member {member} of {issuer}: {len(group)} records in {label} (limit {limit})",
                        issuer_id=issuer,
                        member_token=member,
                    )
                )
    return hits


def _reporter(record: ClearedRecord) -> str:
    return record.issuer_id if record.kind == EARN else record.fulfiller_id


def velocity_partner(records: Iterable[ClearedRecord], limits: Thresholds) -> list[Hit]:
    """More EARN (as issuer) / REDEEM (as fulfiller) records of one partner than allowed in an hour."""
    limit = limits.velocity_partner_per_hour
    if limit <= 0:
        return []
    groups: dict[tuple[str, tuple[datetime, datetime]], list[ClearedRecord]] = defaultdict(list)
    for r in _activity(records):
        groups[(_reporter(r), hour_window(r.at))].append(r)
    return [
        Hit(
            VELOCITY_PARTNER,
            f"partner:{partner}",
            *window,
            _ids(group),
            f"partner {partner}: {len(group)} records in an hour (limit {limit})",
            partner_id=partner,
        )
        for (partner, window), group in groups.items()
        if len(group) > limit
    ]


# ------------------------------------------------------------------ structuring
def just_under(value: int, threshold: int, band_percent: int) -> bool:
    """``value`` is below ``threshold`` by at most ``band_percent`` % of it (integers only, no rounding)."""
    return threshold > 0 and value < threshold and value * 100 >= threshold * (100 - band_percent)


def _structured(record: ClearedRecord, limits: Thresholds) -> bool:
    band = limits.structuring_band_percent
    by_points = just_under(record.points, limits.structuring_points, band)
    by_spend = record.kind == EARN and just_under(record.amount_fen, limits.structuring_fen, band)
    return by_points or by_spend


def structuring(records: Iterable[ClearedRecord], limits: Thresholds, zone: ZoneInfo) -> list[Hit]:
    """At least ``structuring_min_count`` records of one member in a local day, each just under a threshold."""
    if limits.structuring_min_count <= 0:
        return []
    groups: dict[tuple[str, str, tuple[datetime, datetime]], list[ClearedRecord]] = defaultdict(list)
    for r in _activity(records):
        if _structured(r, limits):
            groups[(r.issuer_id, r.member_token, day_window(r.at, zone))].append(r)
    return [
        Hit(
            STRUCTURING,
            member_subject(issuer, member),
            *window,
            _ids(group),
            f"member {member} of {issuer}: {len(group)} records in a day just under a threshold "
            f"({limits.structuring_points} points / {limits.structuring_fen} fen, "
            f"band {limits.structuring_band_percent} %)",
            issuer_id=issuer,
            member_token=member,
        )
        for (issuer, member, window), group in groups.items()
        if len(group) >= limits.structuring_min_count
    ]


# ------------------------------------------------------------------ round trips
def _redemptions_between_partners(records: Iterable[ClearedRecord]) -> list[ClearedRecord]:
    """Redemptions (and their reversals) that move value from an issuer to another partner."""
    return [r for r in records if r.kind in (REDEEM, REVERSAL) and r.fulfiller_id and r.fulfiller_id != r.issuer_id]


def _matching(a: int, b: int, tolerance_percent: int) -> bool:
    return abs(a - b) * 100 <= tolerance_percent * max(a, b)


def round_trip_partners(records: Iterable[ClearedRecord], limits: Thresholds, zone: ZoneInfo) -> list[Hit]:
    """A fulfils B's points and B fulfils A's in one window, the value owed each way matching."""
    if limits.round_trip_hours <= 0:
        return []
    groups: dict[tuple[str, tuple[datetime, datetime]], list[ClearedRecord]] = defaultdict(list)
    for r in _redemptions_between_partners(records):
        groups[(pair_subject(r.issuer_id, r.fulfiller_id), block_window(r.at, limits.round_trip_hours, zone))].append(r)
    hits = []
    for (subject, window), group in groups.items():
        owed: dict[tuple[str, str], int] = defaultdict(int)
        for r in group:
            owed[(r.issuer_id, r.fulfiller_id)] += r.value_fen
        if len(owed) != 2:
            continue
        payer, payee = min(owed)
        one_way, other_way = owed[(payer, payee)], owed[(payee, payer)]
        if min(one_way, other_way) < max(limits.round_trip_min_fen, 1):
            continue
        if _matching(one_way, other_way, limits.round_trip_tolerance_percent):
            hits.append(
                Hit(
                    ROUND_TRIP,
                    subject,
                    *window,
                    _ids(group),
                    f"{payer} owes {payee} {one_way} fen and {payee} owes {payer} {other_way} fen "
                    f"in one window: a round trip",
                    partner_id=payee,
                )
            )
    return hits


def round_trip_members(records: Iterable[ClearedRecord], limits: Thresholds, zone: ZoneInfo) -> list[Hit]:
    """A member's points go out (REDEEM) and as many come back (EARN, same issuer) within the window."""
    if limits.round_trip_hours <= 0:
        return []
    span = timedelta(hours=limits.round_trip_hours)
    by_member: dict[tuple[str, str], list[ClearedRecord]] = defaultdict(list)
    for r in _activity(records):
        by_member[(r.issuer_id, r.member_token)].append(r)
    hits = []
    for (issuer, member), history in by_member.items():
        earns = [r for r in history if r.kind == EARN]
        found: dict[tuple[datetime, datetime], set[ClearedRecord]] = defaultdict(set)
        for out in history:
            if out.kind != REDEEM or out.points < max(limits.round_trip_min_points, 1):
                continue
            back = [
                e
                for e in earns
                if out.at < e.at <= out.at + span
                and _matching(e.points, out.points, limits.round_trip_tolerance_percent)
            ]
            if back:
                found[block_window(out.at, limits.round_trip_hours, zone)].update([out, *back])
        for window, evidence in found.items():
            hits.append(
                Hit(
                    ROUND_TRIP,
                    member_subject(issuer, member),
                    *window,
                    _ids(evidence),
                    f"member {member} of {issuer}: points redeemed came back as earned within "
                    f"{limits.round_trip_hours} h",
                    issuer_id=issuer,
                    member_token=member,
                )
            )
    return hits


# ------------------------------------------------------------------ self-dealing and odd ratios
def self_dealing(records: Iterable[ClearedRecord], owners: Mapping[str, str | None], zone: ZoneInfo) -> list[Hit]:
    """Redemptions whose issuer and fulfiller have the same registered owner, one hit per pair and month."""
    groups: dict[tuple[str, str, tuple[datetime, datetime]], list[ClearedRecord]] = defaultdict(list)
    for r in _redemptions_between_partners(records):
        owner = owners.get(r.issuer_id)
        if owner and owner == owners.get(r.fulfiller_id):
            groups[(r.issuer_id, r.fulfiller_id, month_window(r.at, zone))].append(r)
    return [
        Hit(
            SELF_DEALING,
            f"pair:{issuer}>{fulfiller}",
            *window,
            _ids(group),
            f"{fulfiller} fulfils {issuer}'s points and both are owned by {owners[issuer]}: "
            f"{sum(r.value_fen for r in group)} fen over {len(group)} records",
            issuer_id=issuer,
            partner_id=fulfiller,
        )
        for (issuer, fulfiller, window), group in groups.items()
    ]


def odd_ratios(records: Iterable[ClearedRecord], limits: Thresholds, zone: ZoneInfo) -> list[Hit]:
    """Two partners fulfil each other's points in a month at rates whose ratio exceeds ``odd_ratio_max``."""
    if limits.odd_ratio_max <= 0:
        return []
    groups: dict[tuple[str, tuple[datetime, datetime]], list[ClearedRecord]] = defaultdict(list)
    for r in _redemptions_between_partners(records):
        groups[(pair_subject(r.issuer_id, r.fulfiller_id), month_window(r.at, zone))].append(r)
    hits = []
    for (subject, window), group in groups.items():
        points: dict[tuple[str, str], int] = defaultdict(int)
        value: dict[tuple[str, str], int] = defaultdict(int)
        for r in group:
            signed = -r.points if r.kind == REVERSAL else r.points
            points[(r.issuer_id, r.fulfiller_id)] += signed
            value[(r.issuer_id, r.fulfiller_id)] += r.value_fen
        if len(points) != 2 or min(points.values()) < max(limits.odd_ratio_min_points, 1):
            continue
        rates = {direction: Decimal(value[direction]) / Decimal(points[direction]) for direction in points}
        low, high = sorted(rates.values())
        if high > 0 and (low <= 0 or high / low > limits.odd_ratio_max):
            described = ", ".join(f"{a}→{b} {rate:.4f} fen/point" for (a, b), rate in sorted(rates.items()))
            hits.append(
                Hit(
                    ODD_RATIO,
                    subject,
                    *window,
                    _ids(group),
                    f"partners fulfil each other's points at odd rates ({described}; limit ×{limits.odd_ratio_max})",
                )
            )
    return hits


def run_rules(
    records: Iterable[ClearedRecord],
    *,
    owners: Mapping[str, str | None],
    limits: Thresholds,
    zone: ZoneInfo,
) -> list[Hit]:
    """Every rule over the records; hits in a stable order (rule, window, subject)."""
    batch = list(records)
    hits = [
        *velocity_member(batch, limits, zone),
        *velocity_partner(batch, limits),
        *structuring(batch, limits, zone),
        *round_trip_partners(batch, limits, zone),
        *round_trip_members(batch, limits, zone),
        *self_dealing(batch, owners, zone),
        *odd_ratios(batch, limits, zone),
    ]
    return sorted(hits, key=lambda hit: (hit.rule, hit.window_start, hit.subject, hit.window_end))
