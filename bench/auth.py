"""Real-time redemption throughput against a real multi-worker server (``make bench-auth``).

For each backend (a SQLite file; PostgreSQL when one can be had, the way the test-suite finds one): a fresh
hub is set up through the services (partners, keys, a signed contract, members funded by a signed EARN
file), ``clearinghouse --db URL serve --workers N`` is started as a subprocess, and a bounded client — a few
threads, each with one keep-alive ``http.client`` connection, loopback only, stopped after ``--seconds`` or
``--max-pairs`` — drives authorize (``POST /authorizations``) + full capture pairs on distinct members.

The floor is the same server's bare cost: a tiny Flask app (one JSON endpoint that does one INSERT into a
scratch table, through the hub's own engine settings) served by gunicorn with the same settings
(``clearinghouse.cli.gunicorn_settings``) and driven by the same client.

Prints one JSON line per backend: ``auth_capture_rps`` (completed pairs per second), ``p50_ms``/``p99_ms``
(latency of one pair), ``floor_rps`` (floor requests per second, one INSERT each), ``floor_ratio``
(``auth_capture_rps / floor_rps``), ``floor_p50_ms``/``floor_p99_ms``, ``workers``, ``backend``...
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
MEMBERS_PER_CLIENT = 64
POINTS_EACH = 10_000_000  # never runs out within a run


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- setup through the services -----------------------------------------------------------------------------


def setup_hub(database_url: str, key_path: str, clients: int) -> dict[str, str]:
    """Partners, keys, contracts, funded members; returns the cinema till's token."""
    import io

    from clearinghouse.config import load_config
    from clearinghouse.hub import open_hub
    from clearinghouse.services.partners import issue_partner_token
    from settlement.fileformat import write_file
    from settlement.records import RecordKind, SettlementRecord
    from tests.factories import CINEMA, CVS, Alliance, submit_bytes

    hub = open_hub(load_config({"database_url": database_url, "hub_key_path": key_path}, environ={}))
    try:
        alliance = Alliance.standard(hub)
        now = hub.now()
        records = [
            SettlementRecord(
                seq=seq,
                kind=RecordKind.EARN,
                business_time=now - timedelta(hours=1),
                issuer_id=CVS,
                fulfiller_id="",
                member_token=member,
                points=POINTS_EACH,
                amount_fen=POINTS_EACH * 100,
                receipt_ref=f"R{seq}",
            )
            for seq, member in enumerate(_members(clients), start=1)
        ]
        out = io.BytesIO()
        write_file(out, partner_id=CVS, file_id="E-BENCH", created_at=now, records=records)
        content = out.getvalue()
        outcome = submit_bytes(hub, CVS, content, alliance.keys[CVS].sign(content))
        assert outcome is not None
        token = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)
    finally:
        hub.engine.dispose()
    return {"token": token}


def _members(clients: int) -> list[str]:
    return [f"b{client}-{i}" for client in range(clients) for i in range(MEMBERS_PER_CLIENT)]


# --- servers ---------------------------------------------------------------------------------------------------


class Served:
    """A server subprocess on a free loopback port, waited for until it answers ``health_path``."""

    def __init__(self, command: list[str], env: dict[str, str], port: int, health_path: str) -> None:
        self.port = port
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
        self.proc = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", health_path)
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {self.output()[-2000:]}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def hub_server(database_url: str, key_path: str, args: argparse.Namespace) -> Served:
    port = _free_port()
    command = [str(VENV_BIN / "clearinghouse"), "--db", database_url, "serve", "--port", str(port)]
    command += ["--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads)]
    return Served(command, dict(os.environ, CLEARINGHOUSE_HUB_KEY_PATH=key_path), port, "/healthz")


def floor_server(database_url: str, args: argparse.Namespace) -> Served:
    port = _free_port()
    command = [sys.executable, "-m", "bench.auth", "--floor-server", database_url, str(port)]
    command += ["--workers", str(args.workers), "--worker-class", args.worker_class, "--threads", str(args.threads)]
    return Served(command, dict(os.environ), port, "/healthz")


def floor_app(database_url: str) -> Any:
    """One JSON endpoint, one INSERT into a scratch table, through the hub's own engine settings (SQLite: WAL,
    busy timeout, NullPool, BEGIN IMMEDIATE; PostgreSQL: psycopg 3 with a pool)."""
    from flask import Flask, request
    from sqlalchemy import text

    from clearinghouse.config import load_config
    from clearinghouse.db import make_engine

    engine = make_engine(load_config({"database_url": database_url}, environ={}))
    app = Flask(__name__)
    insert = text("INSERT INTO bench_floor (member, points) VALUES (:member, :points)")

    @app.post("/floor")
    def floor() -> tuple[dict[str, Any], int]:
        body = request.get_json()
        with engine.begin() as connection:
            connection.execute(insert, {"member": body["member"], "points": body["points"]})
        return {"status": "ok"}, 201

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _create_floor_table(database_url: str) -> None:
    from sqlalchemy import text

    from clearinghouse.config import load_config
    from clearinghouse.db import make_engine

    engine = make_engine(load_config({"database_url": database_url}, environ={}))
    serial = "INTEGER PRIMARY KEY" if engine.dialect.name == "sqlite" else "BIGSERIAL PRIMARY KEY"
    with engine.begin() as connection:
        connection.execute(
            text(f"CREATE TABLE IF NOT EXISTS bench_floor (id {serial}, member VARCHAR(64), points BIGINT)")
        )
    engine.dispose()


def run_floor_server(database_url: str, port: int, args: argparse.Namespace) -> None:
    """gunicorn with the settings ``clearinghouse serve --workers N`` uses, serving :func:`floor_app`."""
    from gunicorn.app.base import BaseApplication

    from clearinghouse.cli import gunicorn_settings

    _create_floor_table(database_url)
    settings = gunicorn_settings(
        host="127.0.0.1", port=port, workers=args.workers, worker_class=args.worker_class, threads=args.threads
    )

    class FloorApplication(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in settings.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return floor_app(database_url)

    FloorApplication().run()


# --- the client --------------------------------------------------------------------------------------------------


class Client:
    """Threads with one keep-alive connection each; each thread runs ``op`` until the deadline or the budget."""

    def __init__(self, port: int, clients: int, seconds: float, max_ops: int) -> None:
        self.port, self.clients, self.seconds, self.max_ops = port, clients, seconds, max_ops

    def run(self, op: Callable[[http.client.HTTPConnection, int, int], bool]) -> dict[str, Any]:
        latencies: list[list[float]] = [[] for _ in range(self.clients)]
        failures = [0] * self.clients
        budget = threading.Semaphore(self.max_ops)
        barrier = threading.Barrier(self.clients + 1)
        box: dict[str, float] = {}

        def worker(index: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            barrier.wait()
            count = 0
            while time.perf_counter() < box["deadline"] and budget.acquire(blocking=False):
                start = time.perf_counter()
                try:
                    ok = op(connection, index, count)
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    ok = False
                if ok:
                    latencies[index].append(time.perf_counter() - start)
                else:
                    failures[index] += 1
                count += 1
            connection.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.clients)]
        for thread in threads:
            thread.start()
        started = time.perf_counter()
        box["deadline"] = started + self.seconds
        barrier.wait()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        every = sorted(value for values in latencies for value in values)
        return {
            "ops": len(every),
            "failures": sum(failures),
            "elapsed_s": round(elapsed, 3),
            "rps": round(len(every) / elapsed, 1),
            "p50_ms": _ms(every, 0.50),
            "p99_ms": _ms(every, 0.99),
        }


def _ms(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000, 2)


def _post(connection: http.client.HTTPConnection, path: str, token: str | None, body: bytes) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


def auth_capture_op(token: str, run_id: str) -> Callable[[http.client.HTTPConnection, int, int], bool]:
    def op(connection: http.client.HTTPConnection, client: int, count: int) -> bool:
        reference = f"{run_id}-{client}-{count}"
        member = f"b{client}-{count % MEMBERS_PER_CLIENT}"
        hold = {"reference": reference, "issuer_id": "cvs", "member_token": member, "points": 10, "category": "cinema"}
        if _post(connection, "/api/v1/authorizations", token, json.dumps(hold).encode()) != 201:
            return False
        return _post(connection, f"/api/v1/authorizations/{reference}/capture", token, b"") == 200

    return op


def floor_op(connection: http.client.HTTPConnection, client: int, count: int) -> bool:
    body = json.dumps({"member": f"b{client}-{count % MEMBERS_PER_CLIENT}", "points": 10}).encode()
    return _post(connection, "/floor", None, body) == 201


# --- one backend ----------------------------------------------------------------------------------------------


def bench_backend(backend: str, database_url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    key_path = str(folder / "hub-key.pem")
    load_before = os.getloadavg()[0]  # the client shares the machine's cores; other load skews every figure
    setup = setup_hub(database_url, key_path, args.clients)
    server = hub_server(database_url, key_path, args)
    try:
        client = Client(server.port, args.clients, args.seconds, args.max_pairs)
        Client(server.port, args.clients, min(1.0, args.seconds), 200).run(auth_capture_op(setup["token"], "warm"))
        result = client.run(auth_capture_op(setup["token"], "run"))
    finally:
        server.stop()
    floor_url = database_url if backend == "postgresql" else f"sqlite:///{folder / 'floor.db'}"
    floor = floor_server(floor_url, args)
    try:
        floor_client = Client(floor.port, args.clients, args.seconds, args.max_pairs * 2)
        Client(floor.port, args.clients, min(1.0, args.seconds), 200).run(floor_op)
        floor_result = floor_client.run(floor_op)
    finally:
        floor.stop()
    return {
        "bench": "auth",
        "backend": backend,
        "workers": args.workers,
        "worker_class": args.worker_class,
        "threads": args.threads,
        "clients": args.clients,
        "pairs": result["ops"],
        "failures": result["failures"],
        "elapsed_s": result["elapsed_s"],
        "auth_capture_rps": result["rps"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "floor_rps": floor_result["rps"],
        "floor_p50_ms": floor_result["p50_ms"],
        "floor_p99_ms": floor_result["p99_ms"],
        "floor_ratio": round(result["rps"] / floor_result["rps"], 3) if floor_result["rps"] else None,
        "cpus": os.cpu_count(),
        "load_avg_1m_before": round(load_before, 2),
    }


def _postgres() -> tuple[str | None, str]:
    from tests.postgres import fresh_database, postgres_url_for_tests

    url, reason = postgres_url_for_tests()
    if url is None:
        return None, reason
    return fresh_database(url), reason


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.auth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=["gthread", "sync"], default="gthread")
    parser.add_argument("--threads", type=int, default=2, help="per gthread worker")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client connections (threads)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per server (bounded)")
    parser.add_argument("--max-pairs", type=int, default=100_000, help="bound on pairs per run")
    parser.add_argument("--floor-server", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.seconds = min(args.seconds, 120.0)
    args.clients = max(1, min(args.clients, 64))
    if args.floor_server:
        run_floor_server(args.floor_server[0], int(args.floor_server[1]), args)
        return
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    for backend in backends:
        folder = Path(tempfile.mkdtemp(prefix="bench-auth-"))
        try:
            if backend == "sqlite":
                url: str | None = f"sqlite:///{folder / 'hub.db'}"
            else:
                url, reason = _postgres()
                if url is None:
                    print(json.dumps({"bench": "auth", "backend": backend, "skipped": reason}), flush=True)
                    continue
            print(json.dumps(bench_backend(backend, url, folder, args)), flush=True)
            if backend == "postgresql":
                from tests.postgres import drop_database

                drop_database(url)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
