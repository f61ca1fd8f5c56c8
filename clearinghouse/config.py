"""Configuration: defaults, then environment variables, then explicit overrides (tests, CLI options)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    expiry_notice_days: int = 30  # how far ahead members are told of points that will expire
    expiry_hour: int = 0  # the daily points expiry runs at this local time (hub zone)
    expiry_minute: int = 15

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


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
    return config


def ensure_parent(path: str) -> None:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
