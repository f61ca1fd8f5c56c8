"""PostgreSQL for the test-suite.

Where the server comes from, in order:

* ``CLEARINGHOUSE_TEST_POSTGRES_URL`` (a SQLAlchemy URL, e.g. exported by ``.ci/run``);
* under CI (env ``CI`` set) nothing else: no URL means no server (the suite makes that a failure);
* otherwise, unless ``CLEARINGHOUSE_TEST_NO_PG`` is set, a throwaway cluster started once per
  process with ``scripts/pg-throwaway`` and stopped at interpreter exit.

Tests get their own database with :func:`fresh_database` and remove it with :func:`drop_database`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

URL_ENV = "CLEARINGHOUSE_TEST_POSTGRES_URL"
NO_PG_ENV = "CLEARINGHOUSE_TEST_NO_PG"
CI_ENV = "CI"

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_THROWAWAY = REPO_ROOT / "scripts" / "pg-throwaway"

# the first start on a fresh machine may apt-get install PostgreSQL (as root)
START_TIMEOUT_SECONDS = 900
STOP_TIMEOUT_SECONDS = 60
MAINTENANCE_DB = "postgres"
DB_PREFIX = "ct_"

_FALSE_VALUES = {"", "0", "false", "no", "off"}


def env_flag(name: str) -> bool:
    """True when env ``name`` is set to something other than empty/0/false/no/off."""
    return os.environ.get(name, "").strip().lower() not in _FALSE_VALUES


def running_in_ci() -> bool:
    return env_flag(CI_ENV)


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server can be had; ``reason`` says why (fit for ``pytest.skip``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ThrowawayCluster:
    """A cluster started by ``scripts/pg-throwaway start``; :meth:`stop` stops it and deletes it."""

    directory: Path
    url: str
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        _run_script("stop", self.directory, STOP_TIMEOUT_SECONDS)


def _run_script(action: str, directory: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PG_THROWAWAY), action, str(directory)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tail(text: str, lines: int = 15) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


def start_throwaway() -> ThrowawayCluster:
    """Start a new throwaway cluster; raise :class:`PostgresUnavailableError` with the reason if not."""
    if env_flag(NO_PG_ENV):
        raise PostgresUnavailableError(f"PostgreSQL disabled by ${NO_PG_ENV}")
    if not PG_THROWAWAY.is_file():
        raise PostgresUnavailableError(f"{PG_THROWAWAY} is missing")
    if shutil.which("bash") is None:
        raise PostgresUnavailableError("bash is needed to run scripts/pg-throwaway")
    # short path under /tmp: the unix socket lives in it, and as root it is chown'ed to `postgres`
    base = "/tmp" if os.path.isdir("/tmp") else None
    directory = Path(tempfile.mkdtemp(prefix="ch-pg-", dir=base))
    try:
        proc = _run_script("start", directory, START_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _cleanup(directory)
        raise PostgresUnavailableError(f"scripts/pg-throwaway start failed: {exc}") from exc
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    url = lines[-1] if lines else ""
    if proc.returncode != 0 or not url.startswith("postgresql"):
        _cleanup(directory)
        why = _tail(proc.stderr) or f"exit code {proc.returncode}, no output"
        raise PostgresUnavailableError(f"could not start a throwaway PostgreSQL (pg-throwaway):\n{why}")
    return ThrowawayCluster(directory=directory, url=url)


def _cleanup(directory: Path) -> None:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        _run_script("stop", directory, STOP_TIMEOUT_SECONDS)
    shutil.rmtree(directory, ignore_errors=True)


# one shared throwaway cluster per process ------------------------------------------------------

_lock = threading.Lock()
_shared: tuple[str | None, str] | None = None


def _stop_at_exit(cluster: ThrowawayCluster, owner_pid: int) -> None:
    # a forked child inherits atexit handlers: only the process that started the cluster stops it
    if os.getpid() != owner_pid:
        return
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        cluster.stop()


def _shared_throwaway() -> tuple[str | None, str]:
    global _shared
    with _lock:
        if _shared is None:
            try:
                cluster = start_throwaway()
            except PostgresUnavailableError as exc:
                _shared = (None, exc.reason)
            else:
                atexit.register(_stop_at_exit, cluster, os.getpid())
                _shared = (cluster.url, f"throwaway cluster in {cluster.directory}")
        return _shared


def postgres_url_for_tests() -> tuple[str | None, str]:
    """Return ``(url, reason)``: a SQLAlchemy URL of a usable server, or ``None`` and why not."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return url, f"from ${URL_ENV}"
    if running_in_ci():
        return None, f"${CI_ENV} is set but ${URL_ENV} is not (.ci/run starts a server and exports it)"
    return _shared_throwaway()


# per-test databases ------------------------------------------------------------------------------


def libpq_conninfo(url: str, database: str | None = None) -> str:
    """Turn a SQLAlchemy URL (``postgresql+psycopg://...``) into a libpq URI for ``psycopg.connect``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def fresh_database(url: str, *, template: str | None = None) -> str:
    """Create a new, uniquely named database on the server of ``url`` (a copy of ``template`` when given) and
    return its URL."""
    name = f"{DB_PREFIX}{uuid.uuid4().hex}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(statement)
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (closing its remaining connections); absent is fine."""
    name = make_url(url).database
    if not name or name == MAINTENANCE_DB:
        raise ValueError(f"refusing to drop database {name!r}")
    with psycopg.connect(libpq_conninfo(url, MAINTENANCE_DB), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
