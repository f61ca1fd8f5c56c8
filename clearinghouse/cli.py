"""The ``clearinghouse`` command."""

from __future__ import annotations

import logging
from datetime import date
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
@click.pass_obj
def admin_token(obj: Context) -> None:
    """Issue a bearer token for an alliance admin (printed once; only its hash is stored)."""
    from clearinghouse.services.partners import ADMIN, issue_api_token

    hub = open_hub(obj.config())
    click.echo(issue_api_token(engine=hub.engine, now=hub.now(), principal=ADMIN))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--with-scheduler", is_flag=True, help="Also run the period-close scheduler in this process.")
@click.pass_obj
def serve(obj: Context, host: str, port: int, threads: int, with_scheduler: bool) -> None:
    """Serve the hub with waitress (one process, several threads)."""
    from waitress import serve as waitress_serve

    from clearinghouse.app import create_app

    app = create_app(obj.config(with_scheduler=with_scheduler))
    click.echo(f"serving on http://{host}:{port}" + (" with the scheduler" if with_scheduler else ""))
    waitress_serve(app, host=host, port=port, threads=threads)


@main.command()
@click.pass_obj
def scheduler(obj: Context) -> None:
    """Run the period-close scheduler in its own process (00:05 on the 1st, hub time zone)."""
    from clearinghouse.scheduler import run_scheduler_forever

    logging.getLogger().setLevel(logging.INFO)
    run_scheduler_forever(obj.config())


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
