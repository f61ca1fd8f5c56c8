"""The monthly close through APScheduler with its persistent job store: a run missed while the hub was
down is made up exactly once after restart, and never per web worker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from clearinghouse.app import create_app
from clearinghouse.scheduler import CLOSE_JOB_ID, EXPIRY_JOB_ID, start
from tests.factories import CVS, Alliance, at, earn, submit


def _run_log(scheduler: BackgroundScheduler) -> tuple[list[JobExecutionEvent], threading.Event]:
    runs: list[JobExecutionEvent] = []
    done = threading.Event()

    def listen(event: JobExecutionEvent) -> None:
        runs.append(event)
        done.set()

    scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return runs, done


def _closes(hub) -> list[str]:
    with hub.engine.connect() as connection:
        return list(connection.execute(text("SELECT period FROM period_close ORDER BY period")).scalars())


def test_a_close_missed_while_down_runs_once_after_restart(hub):
    alliance = Alliance.standard(hub)
    submit(hub, alliance, CVS, "E1", [earn("m1", 1000, when=at(3, month=10))])
    # First life: the scheduler stores its monthly job (next fire: the 1st of next month), then goes down.
    first = start(BackgroundScheduler(), hub.config)
    first.shutdown()
    assert _closes(hub) == []
    # While it is down, fire times pass: move the stored fire time two months back, as if the hub had
    # been down since then.
    store = SQLAlchemyJobStore(url=hub.config.database_url, tablename="apscheduler_jobs")
    store.start(BackgroundScheduler(timezone=hub.config.zone), "default")
    job = store.lookup_job(CLOSE_JOB_ID)
    job.next_run_time = datetime.now(UTC) - timedelta(days=62)
    store.update_job(job)
    store.shutdown()

    # Restart: the stored fire time has passed; coalesced, the job runs once and closes what is due.
    second = BackgroundScheduler()
    runs, done = _run_log(second)
    start(second, hub.config)
    try:
        assert done.wait(30), "the missed close did not run after restart"
        threading.Event().wait(1.5)  # any second (wrong) run would have happened by now
        assert len(runs) == 1 and runs[0].exception is None, runs
        assert "2026-10" in runs[0].retval
        assert second.get_job(EXPIRY_JOB_ID) is not None  # real-time holds expire every minute
        next_run = second.get_job(CLOSE_JOB_ID).next_run_time
        assert next_run > datetime.now(UTC) and (next_run.day, next_run.hour, next_run.minute) == (1, 0, 5)
    finally:
        second.shutdown()
    closed = _closes(hub)
    assert "2026-10" in closed and len(closed) == len(set(closed))

    # A third life finds nothing missed: the job keeps its future fire time and does not run.
    third = BackgroundScheduler()
    runs, _ = _run_log(third)
    start(third, hub.config)
    threading.Event().wait(1.0)
    third.shutdown()
    assert runs == [] and _closes(hub) == closed


def test_the_web_app_starts_no_scheduler_unless_asked(hub):
    app = create_app(hub.config, hub=hub)
    assert "clearinghouse.scheduler" not in app.extensions
    with hub.engine.connect() as connection:
        tables = {name.lower() for name in connection.dialect.get_table_names(connection)}
    assert "apscheduler_jobs" not in tables
