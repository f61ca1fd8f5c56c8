"""Real parallel requests against a running multi-worker server (``clearinghouse serve --workers 3``, gunicorn),
on a SQLite file and on PostgreSQL: two simultaneous holds that together exceed a balance, and a burst of
authorize + capture on distinct members, checked against the ledger in the database."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from clearinghouse.hub import Hub
from clearinghouse.services.partners import issue_partner_token
from tests.factories import CINEMA, CVS, EYEWEAR, Alliance, earn, submit
from tests.web.serverkit import Server

WORKERS = 3
ROUNDS, PAIRS_PER_ROUND = 6, 5  # 30 contested members, 10 requests in flight at once
BURST_MEMBERS = 24


@pytest.fixture
def multi(hub: Hub) -> Iterator[Server]:
    server = Server(hub.config.database_url, hub.config.hub_key_path, threads=4, workers=WORKERS)
    try:
        yield server
    finally:
        server.stop()


def _post(port: int, path: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        connection.request(
            "POST", path, body=data, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )
        response = connection.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw or b"{}")
        except ValueError:
            return response.status, {"raw": raw.decode(errors="replace")}
    finally:
        connection.close()


def _race(fns: list[Callable[[], Any]], spans: list[tuple[float, float]] | None = None) -> list[Any]:
    """Run every function in its own thread, released together by a barrier; ``spans`` gets each call's
    (start, end) on the monotonic clock."""
    results: list[Any] = [None] * len(fns)
    times = [(0.0, 0.0)] * len(fns)
    barrier = threading.Barrier(len(fns))

    def run(i: int, fn: Callable[[], Any]) -> None:
        barrier.wait()
        start = time.monotonic()
        try:
            results[i] = fn()
        except Exception as error:  # a dropped connection is a failure to report, not a hang
            results[i] = (0, {"exception": repr(error)})
        times[i] = (start, time.monotonic())

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if spans is not None:
        spans += times
    return results


class BalanceWatch:
    """Polls the smallest member balance while the race runs; it must never go below zero."""

    def __init__(self, hub: Hub) -> None:
        self.hub, self.lowest, self.samples = hub, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self.hub.engine.connect() as connection:
                low = connection.execute(
                    text("SELECT coalesce(min(credits - debits), 0) FROM account WHERE kind IN ('member', 'held')")
                ).scalar_one()
            self.lowest, self.samples = min(self.lowest, int(low)), self.samples + 1
            self._stop.wait(0.02)

    def __enter__(self) -> BalanceWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _hold(reference: str, member: str, points: int, category: str) -> dict[str, Any]:
    return {"reference": reference, "issuer_id": CVS, "member_token": member, "points": points, "category": category}


def _ledger_checks(hub: Hub) -> None:
    with hub.engine.connect() as connection:
        per_unit = connection.execute(
            text("SELECT unit, sum(debits), sum(credits) FROM account GROUP BY unit ORDER BY unit")
        ).all()
        negative = connection.execute(
            text("SELECT count(*) FROM account WHERE kind IN ('member', 'held') AND credits < debits")
        ).scalar_one()
        # the running totals are the projection of the transfers
        drift = connection.execute(
            text(
                "SELECT count(*) FROM account a WHERE a.debits <> (SELECT coalesce(sum(amount), 0) FROM ledger_transfer"
                " t WHERE t.debit_account = a.code) OR a.credits <> (SELECT coalesce(sum(amount), 0)"
                " FROM ledger_transfer t WHERE t.credit_account = a.code)"
            )
        ).scalar_one()
    assert per_unit and all(debits == credits for _, debits, credits in per_unit), per_unit
    assert negative == 0
    assert drift == 0


def test_two_simultaneous_holds_over_the_balance_one_wins_one_is_refused(hub: Hub, multi: Server) -> None:
    alliance = Alliance.standard(hub)
    members = [f"race{i:03d}" for i in range(ROUNDS * PAIRS_PER_ROUND)]
    submit(hub, alliance, CVS, "E-RACE", [earn(member, 1000) for member in members])
    cinema = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)
    eyewear = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=EYEWEAR)
    path = "/api/v1/authorizations"

    outcomes: list[tuple[str, list[tuple[int, dict[str, Any]]]]] = []
    spans: list[tuple[float, float]] = []
    with BalanceWatch(hub) as watch:
        for round_ in range(ROUNDS):
            batch = members[round_ * PAIRS_PER_ROUND : (round_ + 1) * PAIRS_PER_ROUND]
            calls: list[Callable[[], Any]] = []
            for member in batch:
                # two tills, each holding 700 of the same member's 1000 points at the same instant
                calls.append(lambda m=member: _post(multi.port, path, cinema, _hold(f"C-{m}", m, 700, "cinema")))
                calls.append(lambda m=member: _post(multi.port, path, eyewear, _hold(f"E-{m}", m, 700, "eyewear")))
            results = _race(calls, spans)
            outcomes += [(member, results[2 * i : 2 * i + 2]) for i, member in enumerate(batch)]

    statuses = Counter(status for _, pair in outcomes for status, _ in pair)
    assert not [s for s in statuses if s >= 500 or s == 0], outcomes
    for member, pair in outcomes:
        assert sorted(status for status, _ in pair) == [201, 422], (member, pair)
        refused = next(body for status, body in pair if status == 422)
        assert refused["code"] == "POINTS_INSUFFICIENT", (member, refused)
        assert refused["message"]
    assert watch.samples > 0 and watch.lowest >= 0
    # the two requests of a pair were in flight at the same time (really parallel, not one after the other)
    overlapping = sum(max(a[0], b[0]) < min(a[1], b[1]) for a, b in zip(spans[::2], spans[1::2], strict=True))
    assert overlapping >= len(members) * 0.8, (overlapping, len(members))
    with hub.engine.connect() as connection:
        balances = dict(
            connection.execute(
                text("SELECT code, credits - debits FROM account WHERE kind = 'member' AND code LIKE 'pts:cvs:m:race%'")
            ).all()
        )
        held = connection.execute(text("SELECT count(*) FROM authorization_hold WHERE status = 'HELD'")).scalar_one()
    assert balances == {f"pts:cvs:m:{member}": 300 for member in members}
    assert held == len(members)
    _ledger_checks(hub)


def test_a_burst_of_authorize_and_capture_on_distinct_members_balances_the_ledger(hub: Hub, multi: Server) -> None:
    alliance = Alliance.standard(hub)
    members = [f"burst{i:03d}" for i in range(BURST_MEMBERS)]
    submit(hub, alliance, CVS, "E-BURST", [earn(member, 1000) for member in members])
    cinema = issue_partner_token(engine=hub.engine, now=hub.now(), partner_id=CINEMA)

    def till(member: str, index: int) -> list[tuple[int, dict[str, Any]]]:
        held = _post(multi.port, "/api/v1/authorizations", cinema, _hold(f"B-{member}", member, 400, "cinema"))
        capture = {"points": 250} if index % 2 else None  # every other one a partial capture
        captured = _post(multi.port, f"/api/v1/authorizations/B-{member}/capture", cinema, capture)
        return [held, captured]

    with BalanceWatch(hub) as watch:
        results = _race([lambda m=m, i=i: till(m, i) for i, m in enumerate(members)])

    for member, (held, captured) in zip(members, results, strict=True):
        assert held[0] == 201 and held[1]["status"] == "HELD", (member, held)
        assert captured[0] == 200 and captured[1]["status"] == "CAPTURED", (member, captured)
    assert watch.lowest >= 0
    with hub.engine.connect() as connection:
        balances = dict(
            connection.execute(
                text(
                    "SELECT code, credits - debits FROM account WHERE kind = 'member' AND code LIKE 'pts:cvs:m:burst%'"
                )
            ).all()
        )
        burnt = connection.execute(
            text("SELECT credits - debits FROM account WHERE code = 'pts:cvs:redeemed:cinema'")
        ).scalar_one()
        held_left = connection.execute(
            text("SELECT credits - debits FROM account WHERE code = 'pts:cvs:held:cinema'")
        ).scalar_one()
        records = connection.execute(
            text("SELECT count(*), sum(value_fen) FROM clearing_record WHERE receipt_ref LIKE 'AUTH:B-%'")
        ).one()
    captured_points = [250 if i % 2 else 400 for i in range(len(members))]
    assert balances == {f"pts:cvs:m:{m}": 1000 - p for m, p in zip(members, captured_points, strict=True)}
    assert (burnt, held_left) == (sum(captured_points), 0)
    # 7.5 fen a point, rounded per record: 400 → 3000 fen, 250 → 1875 fen
    assert tuple(records) == (len(members), sum(3000 if p == 400 else 1875 for p in captured_points))
    _ledger_checks(hub)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
def test_with_scheduler_and_several_workers_the_scheduler_runs_once_beside_them(hub: Hub) -> None:
    server = Server(hub.config.database_url, hub.config.hub_key_path, workers=WORKERS, extra=("--with-scheduler",))
    try:
        deadline = time.time() + 20
        while True:
            children = _children(server.proc.pid)
            schedulers = [pid for pid in children if " scheduler " in _command_line(pid) + " "]
            if (len(children) == WORKERS + 1 and schedulers) or time.time() > deadline:
                break
            time.sleep(0.2)
        assert len(schedulers) == 1, [_command_line(pid) for pid in children]
        assert len(children) == WORKERS + 1  # the workers, and the one scheduler
        # the scheduler made its jobs in the hub's database (one of each, whoever asks)
        jobs: list[str] = []
        while time.time() < deadline and len(jobs) < 6:
            time.sleep(0.2)
            try:
                with hub.engine.connect() as connection:
                    jobs = sorted(connection.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
            except DBAPIError:  # the scheduler has not made its table yet
                continue
        assert jobs == [
            "close-due-periods",
            "expire-holds",
            "expire-points",
            "monitor-scan",
            "roll-over-budgets",
            "suspend-expired-licences",
        ]
    finally:
        server.stop()
    # stopping the server stops the scheduler too
    time.sleep(0.5)
    for pid in schedulers:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
        assert state in ("Z", "X"), f"scheduler {pid} outlived the server"
