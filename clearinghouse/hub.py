"""What every entry point (web, CLI, scheduler, demo) shares: configuration, engine, the hub's key, a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from clearinghouse import db
from clearinghouse.config import Config
from clearinghouse.hubkey import HubSigner, load_or_create


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Hub:
    config: Config
    engine: Engine
    signer: HubSigner
    clock: Callable[[], datetime] = field(default=utc_now)

    def now(self) -> datetime:
        return self.clock()


def open_hub(config: Config, *, create_schema: bool = True) -> Hub:
    engine = db.make_engine(config)
    if create_schema:
        db.create_schema(engine)
    return Hub(config, engine, load_or_create(config.hub_key_path))
