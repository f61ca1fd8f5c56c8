"""The ``clearinghouse`` command."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from pathlib import Path

import click

from clearinghouse.config import Config, load_config
from clearinghouse.hub import open_hub


class DomainErrorsAsMessages(click.Group):
    """Refusals (a period already closed, a malformed period...) print ``CODE: message``, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from clearinghouse.errors import DOMAIN_ERRORS

        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as error:
            raise click.ClickException(f"{error.code}: {error.message}") from error


class Context:
    def __init__(self, database_url: str | None) -> None:
        self.overrides = {"database_url": database_url} if database_url else {}

    def config(self, **more: object) -> Config:
        return load_config({**self.overrides, **more})


@click.group(cls=DomainErrorsAsMessages)
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="SQLAlchemy URL (default: CLEARINGHOUSE_DATABASE_URL or sqlite:///var/clearinghouse.db).",
)
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
def main(ctx: click.Context, database_url: str | None, verbose: bool) -> None:
    """Clearing house for retail loyalty-points alliances.

    Global options (such as --db) go before the command: clearinghouse --db URL serve.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Context(database_url)


@main.command("init-db")
@click.pass_obj
def init_db(obj: Context) -> None:
    """Create the schema (idempotent) and the hub's key if missing."""
    hub = open_hub(obj.config())
    click.echo(f"schema ready at {hub.config.database_url}; hub key {hub.signer.key_id}")


@main.command("admin-token")
@click.option("--name", default=None, help="Who holds the token (audited by name); default: the role's name.")
@click.option(
    "--role",
    type=click.Choice(["admin", "auditor"]),
    default="admin",
    show_default=True,
    help="admin: runs the alliance; auditor: reads everything an admin reads, changes nothing.",
)
@click.pass_obj
def admin_token(obj: Context, name: str | None, role: str) -> None:
    """Issue a bearer token for an alliance admin or auditor (printed once; only its hash is stored)."""
    from clearinghouse.services.partners import issue_api_token

    hub = open_hub(obj.config())
    click.echo(issue_api_token(engine=hub.engine, now=hub.now(), principal=role, holder=name))


@main.command("revoke-tokens")
@click.argument("principal")
@click.option("--name", default=None, help="For admin or auditor: whose tokens (default: the role's name).")
@click.pass_obj
def revoke_tokens_command(obj: Context, principal: str, name: str | None) -> None:
    """Revoke every live token of PRINCIPAL: a partner id, or admin/auditor with --name."""
    from clearinghouse.services.partners import revoke_tokens

    hub = open_hub(obj.config())
    count = revoke_tokens(engine=hub.engine, now=hub.now(), principal=principal, holder=name, actor="cli")
    click.echo(f"revoked {count} token(s) of {principal}{f' ({name})' if name else ''}")


@main.command("audit-verify")
@click.pass_obj
def audit_verify(obj: Context) -> None:
    """Walk the audit log's hash chain; exit 1 naming the first row that does not match."""
    from clearinghouse.audit import verify

    report = verify(open_hub(obj.config()).engine)
    if report.ok:
        click.echo(f"audit log intact: {report.rows} rows")
        return
    click.echo(f"audit log broken at seq {report.first_bad_seq}: {report.problem}", err=True)
    raise SystemExit(1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Web worker processes: 1 serves with waitress in this process; more run gunicorn with that many.",
)
@click.option(
    "--worker-class",
    type=click.Choice(["gthread", "sync"]),
    default="gthread",
    show_default=True,
    help="gunicorn worker type when --workers > 1 (gthread: --threads threads per worker, keep-alive).",
)
@click.option("--threads", default=8, show_default=True, type=int, help="Threads (waitress; per worker for gthread).")
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also run the period-close scheduler: in this process (one worker), or once beside the workers.",
)
@click.pass_obj
def serve(
    obj: Context, host: str, port: int, workers: int, worker_class: str, threads: int, with_scheduler: bool
) -> None:
    """Serve the hub: waitress (one process, several threads) or, with --workers N > 1, gunicorn with N worker
    processes. With --workers > 1 --with-scheduler the scheduler runs once, in its own process started and
    stopped by gunicorn's master; never in a web worker."""
    config = obj.config(with_scheduler=with_scheduler)
    if workers > 1:
        _serve_gunicorn(config, host=host, port=port, workers=workers, worker_class=worker_class, threads=threads)
        return
    from waitress import serve as waitress_serve

    from clearinghouse.app import create_app

    app = create_app(config)
    click.echo(f"serving on http://{host}:{port}" + (" with the scheduler" if with_scheduler else ""))
    waitress_serve(app, host=host, port=port, threads=threads)


def gunicorn_settings(*, host: str, port: int, workers: int, worker_class: str, threads: int) -> dict[str, object]:
    """The gunicorn settings of ``serve --workers N`` (also what ``bench/auth.py`` serves its floor app with)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads if worker_class == "gthread" else 1,
        "keepalive": 5,
        "timeout": 120,
        "graceful_timeout": 20,
        "control_socket_disable": True,  # no socket file in the working directory, no extra thread in the master
    }


def _serve_gunicorn(config: Config, *, host: str, port: int, workers: int, worker_class: str, threads: int) -> None:
    """gunicorn in this process (the master) with ``workers`` forked workers, each with its own engine.

    The master creates the schema and the hub's key once, before any worker starts, so workers never race
    to create them; the database URL and the rest of the configuration reach the workers by inheritance
    (and ``CLEARINGHOUSE_DATABASE_URL`` is exported for a re-exec). The scheduler is never started in a
    worker: with ``--with-scheduler`` the master starts one ``clearinghouse scheduler`` child when ready and
    stops it on exit."""
    import os
    import subprocess
    import sys
    from dataclasses import replace

    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    import clearinghouse.app  # imported once in the master; the workers share it copy-on-write

    open_hub(config).engine.dispose()  # schema + hub key, once; no connection crosses the fork
    os.environ["CLEARINGHOUSE_DATABASE_URL"] = config.database_url
    worker_config = replace(config, with_scheduler=False)
    scheduler_process: list[subprocess.Popen[bytes]] = []

    def when_ready(_server: object) -> None:
        if config.with_scheduler:
            # the database URL goes by CLEARINGHOUSE_DATABASE_URL (inherited), not on a command line ps shows
            command = [sys.executable, "-m", "clearinghouse.cli", "scheduler", "--exit-with-parent", str(os.getpid())]
            scheduler_process.append(subprocess.Popen(command, stdin=subprocess.DEVNULL))

    def on_exit(_server: object) -> None:
        for process in scheduler_process:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()

    class HubApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = gunicorn_settings(
                host=host, port=port, workers=workers, worker_class=worker_class, threads=threads
            )
            settings.update(when_ready=when_ready, on_exit=on_exit)
            for key, value in settings.items():
                if key in self.cfg.settings:  # control_socket_disable is gunicorn >= 25.1
                    self.cfg.set(key, value)

        def load(self) -> object:
            # in each worker, after the fork: its own engine (and pool) on the same database
            hub = open_hub(worker_config, create_schema=False)
            return clearinghouse.app.create_app(worker_config, hub=hub)

    click.echo(
        f"serving on http://{host}:{port} with gunicorn, {workers} {worker_class} workers"
        + (" and the scheduler in its own process" if config.with_scheduler else "")
    )
    HubApplication().run()


@main.command()
@click.option("--exit-with-parent", "parent_pid", type=int, default=None, hidden=True)
@click.pass_obj
def scheduler(obj: Context, parent_pid: int | None) -> None:
    """Run the period-close scheduler in its own process (00:05 on the 1st, hub time zone)."""
    from clearinghouse.scheduler import run_scheduler_forever

    logging.getLogger().setLevel(logging.INFO)
    if parent_pid is None:
        run_scheduler_forever(obj.config())
        return
    _run_scheduler_under(obj.config(), parent_pid)


def _run_scheduler_under(config: Config, parent_pid: int) -> None:
    """The scheduler child of a gunicorn master: stops on SIGTERM, and when its parent is gone (even killed)."""
    import os
    import signal
    import threading

    from clearinghouse.scheduler import start_background_scheduler

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C reaches the whole group: the master stops us
    scheduler = start_background_scheduler(config)
    try:
        while not stop.wait(1.0) and os.getppid() == parent_pid:
            pass
    finally:
        scheduler.shutdown()


@main.command("close-period")
@click.argument("period", required=False)
@click.option("--due", is_flag=True, help="Close every period that is due.")
@click.pass_obj
def close_period_command(obj: Context, period: str | None, due: bool) -> None:
    """Close PERIOD (YYYY-MM) now, or every due period with --due."""
    from clearinghouse.services.periods import close_due_periods, close_period
    from settlement.periods import Period

    hub = open_hub(obj.config())
    zone = hub.config.timezone
    if due or period is None:
        results = close_due_periods(engine=hub.engine, hub=hub.signer, now=hub.now(), zone_name=zone, trigger="cli")
    else:
        results = [
            close_period(
                engine=hub.engine,
                hub=hub.signer,
                now=hub.now(),
                period=Period.parse(period),
                zone_name=zone,
                trigger="cli",
            )
        ]
    for result in results:
        click.echo(
            f"{result.period}: gross {result.gross_fen} fen, net {result.net_fen} fen, efficiency {result.efficiency}"
        )
    if not results:
        click.echo("nothing due")


@main.command("expire-points")
@click.option("--as-of", "as_of", default=None, help="Local date YYYY-MM-DD (hub zone; default: now, never later).")
@click.pass_obj
def expire_points(obj: Context, as_of: str | None) -> None:
    """Expire the points due (oldest lots first) and write the notices of what expires soon."""
    from clearinghouse.errors import InvalidRequest
    from clearinghouse.services.expiry import run_expiry
    from settlement.expiry import start_of_day

    hub = open_hub(obj.config())
    try:
        moment = start_of_day(date.fromisoformat(as_of), hub.config.zone) if as_of else None
    except ValueError as error:
        raise InvalidRequest(
            f"--as-of must be a date YYYY-MM-DD, got {as_of!r}", code="REQUEST_FIELD_INVALID"
        ) from error
    run = run_expiry(
        engine=hub.engine,
        now=hub.now(),
        as_of=moment,
        zone_name=hub.config.timezone,
        notice_days=hub.config.expiry_notice_days,
        actor="cli",
    )
    click.echo(
        f"as of {run.as_of.astimezone(hub.config.zone).isoformat()}: {run.points_expired} points expired for "
        f"{run.members_expired} members; {run.notices_written} notices written"
    )


@main.command()
@click.option("--since", default=None, help="Business time from (RFC 3339, or YYYY-MM-DD in the hub's zone).")
@click.option("--until", default=None, help="Business time until, exclusive (default: now).")
@click.pass_obj
def monitor(obj: Context, since: str | None, until: str | None) -> None:
    """Run the RL8 monitoring rules now and print one summary line. Without --since: what the scheduled scan
    would take (everything accepted since the last scheduled scan, and the recent lookback)."""
    from datetime import timedelta

    from clearinghouse.services.monitoring import scan, scheduled_scan

    hub = open_hub(obj.config())
    config = hub.config
    if since is None:
        result = scheduled_scan(
            engine=hub.engine,
            now=hub.now(),
            limits=config.monitor_thresholds,
            zone=config.zone,
            lookback=timedelta(hours=config.monitor_lookback_hours),
        )
    else:
        result = scan(
            engine=hub.engine,
            now=hub.now(),
            limits=config.monitor_thresholds,
            zone=config.zone,
            since=_moment(since, config),
            until=_moment(until, config) if until else hub.now(),
        )
    click.echo(result.line())


def _moment(value: str, config: Config) -> datetime:
    """RFC 3339 with an offset, or a date meaning its local midnight in the hub's zone."""
    from clearinghouse.errors import InvalidRequest

    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=config.zone)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{value!r} is not a date or an RFC 3339 time", code="MONITOR_RANGE_INVALID") from exc
    if moment.tzinfo is None:
        raise InvalidRequest(f"{value!r} needs an offset", code="MONITOR_RANGE_INVALID")
    return moment


@main.command("budget-rollover")
@click.argument("period", required=False)
@click.pass_obj
def budget_rollover(obj: Context, period: str | None) -> None:
    """RL3: roll every issuer's latest budget into PERIOD (YYYY-MM; default: the current period)."""
    from clearinghouse.services.budgets import roll_over_budgets
    from settlement.periods import Period

    hub = open_hub(obj.config())
    rolled = roll_over_budgets(
        engine=hub.engine,
        now=hub.now(),
        zone_name=hub.config.timezone,
        period=Period.parse(period) if period else None,
        actor="cli",
    )
    for item in rolled:
        click.echo(
            f"{item.issuer_id}: {item.from_period} → {item.to_period}, budget {item.budget_fen} fen"
            f" (carried {item.carried_fen} fen)"
        )
    if not rolled:
        click.echo("nothing to roll over")


@main.command("licence-check")
@click.pass_obj
def licence_check(obj: Context) -> None:
    """RL4: suspend the issuing of online platforms whose licence is out of date today (hub time zone)."""
    from clearinghouse.services.licences import suspend_expired_licences

    hub = open_hub(obj.config())
    suspended = suspend_expired_licences(engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone, actor="cli")
    click.echo(f"suspended: {', '.join(suspended)}" if suspended else "no new suspension")


@main.command()
@click.option("--out", default="var/demo", show_default=True, type=click.Path(path_type=Path))
@click.option(
    "--data",
    default=None,
    type=click.Path(path_type=Path),
    help="The Online Retail data set (default: ../shared/data/online-retail.csv.gz).",
)
@click.option("--as-of", "as_of", default=None, help="Today's date for the date shift (default: today, UTC).")
@click.pass_obj
def demo(obj: Context, out: Path, data: Path | None, as_of: str | None) -> None:
    """Run the main job on a fresh SQLite database: register, sign, replay, settle, close, report."""
    from clearinghouse.demo.run import run_demo

    run_demo(
        out=out,
        data=data,
        as_of=date.fromisoformat(as_of) if as_of else None,
        database_url=obj.overrides.get("database_url"),
    )


if __name__ == "__main__":
    main()
