"""SQLite writers queue on a lock file before BEGIN IMMEDIATE; a writer left holding it never blocks another
forever: the other gives up after the busy timeout, as sqlite3 itself would."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from clearinghouse.config import load_config
from clearinghouse.db import make_engine, unit_of_work


def test_a_second_writer_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    config = load_config(
        {"database_url": f"sqlite:///{tmp_path / 'hub.db'}", "sqlite_busy_timeout_ms": 300}, environ={}
    )
    first, second = make_engine(config), make_engine(config)
    outcome: list[BaseException | None] = []

    def write_while_the_first_holds_the_lock() -> None:
        try:
            with unit_of_work(second) as uow:
                uow.connection.exec_driver_sql("SELECT 1")
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    try:
        with unit_of_work(first) as holding:
            holding.connection.exec_driver_sql("SELECT 1")  # BEGIN IMMEDIATE: holds the writer lock
            waiter = threading.Thread(target=write_while_the_first_holds_the_lock)
            waiter.start()
            waiter.join(timeout=30)
            assert not waiter.is_alive(), "the second writer waited forever"
        assert len(outcome) == 1 and isinstance(outcome[0], (OperationalError, sqlite3.OperationalError))
        assert "locked" in str(outcome[0])
        with unit_of_work(second) as uow:  # once the first is done, the second writes
            uow.connection.exec_driver_sql("SELECT 1")
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.parametrize("writers", [4])
def test_writers_of_one_process_take_turns(tmp_path: Path, writers: int) -> None:
    config = load_config({"database_url": f"sqlite:///{tmp_path / 'hub.db'}"}, environ={})
    engine = make_engine(config)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (0)")

    def bump() -> None:
        for _ in range(25):
            with unit_of_work(engine) as uow:
                (n,) = uow.connection.exec_driver_sql("SELECT n FROM counter").one()
                uow.connection.exec_driver_sql(f"UPDATE counter SET n = {int(n) + 1}")
                uow.commit()

    threads = [threading.Thread(target=bump) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT n FROM counter").scalar_one() == writers * 25
    engine.dispose()
