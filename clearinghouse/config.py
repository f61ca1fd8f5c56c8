"""Configuration: defaults, then environment variables, then explicit overrides (tests, CLI options)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from settlement.monitoring import Thresholds

ENV_PREFIX = "CLEARINGHOUSE_"


@dataclass(frozen=True)
class Config:
    """Every setting of the hub. Environment: ``CLEARINGHOUSE_<NAME>`` (e.g. ``CLEARINGHOUSE_DATABASE_URL``)."""

    database_url: str = "sqlite:///var/clearinghouse.db"
    timezone: str = "Asia/Shanghai"
    hub_key_path: str = "var/hub-key.pem"
    max_file_bytes: int = 512 * 1024 * 1024
    batch_size: int = 5000
    with_scheduler: bool = False
    scheduler_close_hour: int = 0
    scheduler_close_minute: int = 5
    sqlite_busy_timeout_ms: int = 15000
    hold_seconds: int = 900  # how long a real-time authorization holds points before it expires
    # --- monitoring (RL8, docs/red-lines.md); 0 turns a rule (or that half of it) off
    monitor_interval_minutes: int = 60  # how often the scheduled scan runs
    monitor_lookback_hours: int = 48  # each scheduled scan also re-reads this much recent business time
    monitor_velocity_member_per_hour: int = 20  # EARN/REDEEM records of one member in a clock hour
    monitor_velocity_member_per_day: int = 60  # ... in a local day
    monitor_velocity_partner_per_hour: int = 5000  # records one partner reports in a clock hour
    monitor_structuring_points: int = 10000  # a record of this many points or more is "large"
    monitor_structuring_fen: int = 1000000  # an EARN of this much spend (10,000 yuan) or more is "large"
    monitor_structuring_band_percent: int = 10  # "just under": within this % below a threshold
    monitor_structuring_min_count: int = 3  # so many just-under records of one member in a local day
    monitor_round_trip_hours: int = 24  # window of a round trip (blocks from local midnight)
    monitor_round_trip_tolerance_percent: int = 5  # flows (or points) this close count as matching
    monitor_round_trip_min_fen: int = 10000  # partner round trips: each way owes at least this
    monitor_round_trip_min_points: int = 1000  # member round trips: at least this many points go out
    monitor_odd_ratio_max: str = "2"  # two partners' rates (fen/point) for each other's points differ more
    monitor_odd_ratio_min_points: int = 1000  # ... each way at least this many points in the month
    expiry_notice_days: int = 30  # how far ahead members are told of points that will expire
    expiry_hour: int = 0  # the daily points expiry runs at this local time (hub zone)
    expiry_minute: int = 15

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def monitor_thresholds(self) -> Thresholds:
        return Thresholds(
            velocity_member_per_hour=self.monitor_velocity_member_per_hour,
            velocity_member_per_day=self.monitor_velocity_member_per_day,
            velocity_partner_per_hour=self.monitor_velocity_partner_per_hour,
            structuring_points=self.monitor_structuring_points,
            structuring_fen=self.monitor_structuring_fen,
            structuring_band_percent=self.monitor_structuring_band_percent,
            structuring_min_count=self.monitor_structuring_min_count,
            round_trip_hours=self.monitor_round_trip_hours,
            round_trip_tolerance_percent=self.monitor_round_trip_tolerance_percent,
            round_trip_min_fen=self.monitor_round_trip_min_fen,
            round_trip_min_points=self.monitor_round_trip_min_points,
            odd_ratio_max=Decimal(self.monitor_odd_ratio_max),
            odd_ratio_min_points=self.monitor_odd_ratio_min_points,
        )


def _coerce(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind in (int, "int"):
        return int(raw)
    return raw


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults ← ``CLEARINGHOUSE_*`` environment ← ``overrides``; the time zone is checked here."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in fields(Config):
        raw = env.get(ENV_PREFIX + item.name.upper())
        if raw is not None:
            values[item.name] = _coerce(item.type, raw)
    values.update({key: value for key, value in (overrides or {}).items() if value is not None})
    config = replace(Config(), **values)
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {config.timezone!r}") from exc
    try:
        Decimal(config.monitor_odd_ratio_max)
    except InvalidOperation as exc:
        raise ValueError(f"monitor_odd_ratio_max must be a decimal, not {config.monitor_odd_ratio_max!r}") from exc
    return config


def ensure_parent(path: str) -> None:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
