"""APScheduler: close each month at 00:05 (hub time zone) on the 1st.

The job lives in a persistent job store in the hub's database, so a fire time missed while the hub was
down is still there at restart; with ``coalesce`` and no misfire grace limit it runs exactly once then,
however many fire times were missed, and the job closes every period that is due (idempotent: a period
closes once). The scheduler runs in its own process (``clearinghouse scheduler``) or inside
``clearinghouse serve --with-scheduler``; never once per web worker.
"""

from __future__ import annotations

import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from clearinghouse.config import Config, load_config
from clearinghouse.hub import open_hub, utc_now
from clearinghouse.services.periods import close_due_periods

CLOSE_JOB_ID = "close-due-periods"
EXPIRY_JOB_ID = "expire-holds"
MONITOR_JOB_ID = "monitor-scan"
POINTS_EXPIRY_JOB_ID = "expire-points"
BUDGET_ROLLOVER_JOB_ID = "roll-over-budgets"  # RL3: 00:01 on the 1st, hub zone
LICENCE_JOB_ID = "suspend-expired-licences"  # RL4: daily at 00:10, hub zone
log = logging.getLogger(__name__)


def run_scheduled_close(database_url: str, timezone: str, hub_key_path: str) -> list[str]:
    """The job: close every due period. Arguments are plain strings so the job store can keep them."""
    config = load_config({"database_url": database_url, "timezone": timezone, "hub_key_path": hub_key_path})
    hub = open_hub(config)
    try:
        results = close_due_periods(engine=hub.engine, hub=hub.signer, now=utc_now(), zone_name=timezone)
    finally:
        hub.engine.dispose()
    closed = [str(result.period) for result in results]
    log.info("scheduled close: %s", ", ".join(closed) or "nothing due")
    return closed


def run_hold_expiry(database_url: str, timezone: str, hub_key_path: str) -> int:
    """The job: release every real-time hold past its time."""
    from clearinghouse.services.authorizations import expire_holds

    config = load_config({"database_url": database_url, "timezone": timezone, "hub_key_path": hub_key_path})
    hub = open_hub(config)
    try:
        return expire_holds(engine=hub.engine, now=utc_now())
    finally:
        hub.engine.dispose()


def run_monitor_scan(database_url: str, timezone: str, hub_key_path: str) -> str:
    """The job: scan what was accepted since the last scan with the RL8 rules (thresholds from the
    environment, ``CLEARINGHOUSE_MONITOR_*``), opening a case per new hit."""
    from datetime import timedelta

    from clearinghouse.services.monitoring import scheduled_scan

    config = load_config({"database_url": database_url, "timezone": timezone, "hub_key_path": hub_key_path})
    hub = open_hub(config)
    try:
        result = scheduled_scan(
            engine=hub.engine,
            now=utc_now(),
            limits=config.monitor_thresholds,
            zone=config.zone,
            lookback=timedelta(hours=config.monitor_lookback_hours),
        )
    finally:
        hub.engine.dispose()
    log.info("%s", result.line())
    return result.line()


def run_points_expiry(database_url: str, timezone: str, hub_key_path: str, notice_days: str = "30") -> int:
    """The daily job: expire the points due (oldest lots first) and write notices ``notice_days`` ahead."""
    from clearinghouse.services.expiry import run_expiry

    config = load_config({"database_url": database_url, "timezone": timezone, "hub_key_path": hub_key_path})
    hub = open_hub(config)
    try:
        run = run_expiry(
            engine=hub.engine, now=utc_now(), zone_name=timezone, notice_days=int(notice_days), actor="scheduler"
        )
    finally:
        hub.engine.dispose()
    log.info("points expiry: %d points of %d members, %d notices", run.points_expired, run.members_expired,
             run.notices_written)  # fmt: skip
    return run.points_expired


def ensure_points_expiry_job(scheduler: BaseScheduler, config: Config) -> None:
    """Daily in the hub's zone; added once, like the close, so a run missed while the hub was down still runs."""
    if scheduler.get_job(POINTS_EXPIRY_JOB_ID) is not None:
        return
    scheduler.add_job(
        run_points_expiry,
        trigger=CronTrigger(hour=config.expiry_hour, minute=config.expiry_minute, timezone=config.zone),
        id=POINTS_EXPIRY_JOB_ID,
        name="expire points and give notice",
        kwargs={**_job_arguments(config), "notice_days": str(config.expiry_notice_days)},
    )


def run_budget_rollover(database_url: str, timezone: str, hub_key_path: str) -> list[str]:
    """The job (RL3): roll every issuer's budget into the period that has just begun (idempotent)."""
    from clearinghouse.services.budgets import roll_over_budgets

    config = load_config({"database_url": database_url, "timezone": timezone, "hub_key_path": hub_key_path})
    hub = open_hub(config)
    try:
        rolled = roll_over_budgets(engine=hub.engine, now=utc_now(), zone_name=timezone)
    finally:
        hub.engine.dispose()
    log.info("budget rollover: %s", ", ".join(f"{r.issuer_id} {r.to_period}" for r in rolled) or "nothing to roll")
    return [r.issuer_id for r in rolled]


def run_licence_check(database_url: str, timezone: str, hub_key_path: str) -> list[str]:
    """The job (RL4): suspend the issuing of online platforms whose licence expired (idempotent)."""
    from clearinghouse.services.licences import suspend_expired_licences

    config = load_config({"database_url": database_url, "timezone": timezone, "hub_key_path": hub_key_path})
    hub = open_hub(config)
    try:
        return suspend_expired_licences(engine=hub.engine, now=utc_now(), zone_name=timezone)
    finally:
        hub.engine.dispose()


def ensure_red_line_jobs(scheduler: BaseScheduler, config: Config) -> None:
    """The monthly budget rollover and the daily licence check, when the store does not hold them yet."""
    if scheduler.get_job(BUDGET_ROLLOVER_JOB_ID) is None:
        scheduler.add_job(
            run_budget_rollover,
            trigger=CronTrigger(day=1, hour=0, minute=1, timezone=config.zone),
            id=BUDGET_ROLLOVER_JOB_ID,
            name="roll marketing budgets over into the new period",
            kwargs=_job_arguments(config),
        )
    if scheduler.get_job(LICENCE_JOB_ID) is None:
        scheduler.add_job(
            run_licence_check,
            trigger=CronTrigger(hour=0, minute=10, timezone=config.zone),
            id=LICENCE_JOB_ID,
            name="suspend issuing on expired licences",
            kwargs=_job_arguments(config),
        )


def configure(scheduler: BaseScheduler, config: Config) -> BaseScheduler:
    scheduler.configure(
        jobstores={"default": SQLAlchemyJobStore(url=_jobstore_url(config), tablename="apscheduler_jobs")},
        job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        timezone=config.zone,
    )
    return scheduler


def _jobstore_url(config: Config) -> str:
    url = config.database_url
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def ensure_close_job(scheduler: BaseScheduler, config: Config) -> None:
    """Add the jobs the store does not hold yet (the monthly close; the minutely expiry of real-time holds; the
    monitoring scan, every ``monitor_interval_minutes``):
    re-adding the close would reset its next fire time and forget a run missed while the hub was down."""
    ensure_points_expiry_job(scheduler, config)
    ensure_red_line_jobs(scheduler, config)
    if scheduler.get_job(EXPIRY_JOB_ID) is None:
        scheduler.add_job(
            run_hold_expiry,
            trigger=IntervalTrigger(seconds=60),
            id=EXPIRY_JOB_ID,
            name="expire real-time holds",
            kwargs=_job_arguments(config),
        )
    if scheduler.get_job(MONITOR_JOB_ID) is None:
        scheduler.add_job(
            run_monitor_scan,
            trigger=IntervalTrigger(minutes=max(config.monitor_interval_minutes, 1)),
            id=MONITOR_JOB_ID,
            name="monitoring scan (RL8)",
            kwargs=_job_arguments(config),
        )
    if scheduler.get_job(CLOSE_JOB_ID) is not None:
        return
    trigger = CronTrigger(
        day=1, hour=config.scheduler_close_hour, minute=config.scheduler_close_minute, timezone=config.zone
    )
    scheduler.add_job(
        run_scheduled_close,
        trigger=trigger,
        id=CLOSE_JOB_ID,
        name="close due periods",
        kwargs=_job_arguments(config),
    )


def _job_arguments(config: Config) -> dict[str, str]:
    """Plain strings, so the persistent job store can keep them."""
    return {"database_url": config.database_url, "timezone": config.timezone, "hub_key_path": config.hub_key_path}


def start(scheduler: BaseScheduler, config: Config) -> BaseScheduler:
    open_hub(config).engine.dispose()  # schema first, so the job's first run finds its tables
    configure(scheduler, config)
    scheduler.start(paused=True)
    ensure_close_job(scheduler, config)
    scheduler.resume()
    return scheduler


def start_background_scheduler(config: Config) -> BackgroundScheduler:
    scheduler = BackgroundScheduler()
    start(scheduler, config)
    return scheduler


def run_scheduler_forever(config: Config) -> None:
    """The scheduler process: runs until interrupted (Ctrl-C or SIGTERM), then shuts down cleanly."""
    import signal
    import threading

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler = start_background_scheduler(config)
    log.info("scheduler running; next close at %s", scheduler.get_job(CLOSE_JOB_ID).next_run_time)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        scheduler.shutdown()
