"""The main job: register the demo alliance, sign its contracts, replay a year of real purchases as
monthly signed settlement files through the same service the API uses, close every month, and write
the signed statements and a summary.

The hub runs on a simulated clock: month M's files arrive at 00:01 on the 1st of M+1 and the month
closes at 00:05 — what the scheduler does in production.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clearinghouse.alerts import list_alerts
from clearinghouse.config import load_config
from clearinghouse.demo.alliance import (
    BUDGET_HEADROOM,
    CVS_YIDA,
    EYEWEAR_MINGMOU,
    OFFERS,
    PARTNERS,
    POINT_COST_FEN,
    TIGHT_BUDGET,
)
from clearinghouse.demo.drills import drill_files
from clearinghouse.demo.replay import MonthFiles, PartnerFile, Replay, replay
from clearinghouse.hub import Hub, open_hub
from clearinghouse.services import budgets as budget_service
from clearinghouse.services import contracts as contract_service
from clearinghouse.services import monitoring as monitoring_service
from clearinghouse.services import partners as partner_service
from clearinghouse.services.expiry import run_expiry
from clearinghouse.services.files import FileOutcome, FileRejected, submit_settlement_file
from clearinghouse.services.licences import suspend_expired_licences
from clearinghouse.services.periods import CloseResult, close_period, get_statement
from contracts.terms import ContractTerms, FulfillerTerms, Rounding, terms_to_json
from settlement.budgets import issued_value_fen
from settlement.fileformat import write_file
from settlement.periods import Period
from settlement.records import RecordKind

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "online-retail.csv.gz"
# Settlement rates (fen the issuer pays per point redeemed) by (issuer, fulfiller): below the 10 fen/point
# face value of the offers, the fulfiller's contribution to the alliance.
RATES: dict[tuple[str, str], Decimal] = {
    (CVS_YIDA, EYEWEAR_MINGMOU): Decimal("8.8"),
    (CVS_YIDA, "cinema-guangying"): Decimal("7.5"),
    (CVS_YIDA, "tea-chayu"): Decimal("8"),
    (CVS_YIDA, "books-shuxiang"): Decimal("9.25"),
    (CVS_YIDA, "ride-kuaixing"): Decimal("9.5"),
    (EYEWEAR_MINGMOU, CVS_YIDA): Decimal("9"),
    (EYEWEAR_MINGMOU, "cinema-guangying"): Decimal("7.5"),
}
ARRIVAL = timedelta(minutes=1)
CLOSE_AT = timedelta(minutes=5)


@dataclass
class DemoTotals:
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    files: int = 0
    periods: list[dict[str, Any]] = field(default_factory=list)

    def add(self, outcome: FileOutcome) -> None:
        self.accepted += outcome.accepted
        self.refused.update(outcome.refused_by_code)
        self.files += 1


def _fresh_out(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("clearinghouse.db", "clearinghouse.db-wal", "clearinghouse.db-shm", "summary.json"):
        (out / name).unlink(missing_ok=True)
    for folder in ("statements", "files", "acks"):
        shutil.rmtree(out / folder, ignore_errors=True)
    return out


def _private_key(out: Path, partner_id: str) -> Ed25519PrivateKey:
    """Each partner's key pair (a partner would keep this in its own systems; the demo keeps it in var/)."""
    path = out / "keys" / f"{partner_id}.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def _public_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _contract_terms(issuer_id: str, start: date) -> ContractTerms:
    fulfillers = []
    for (issuer, fulfiller), rate in RATES.items():
        if issuer != issuer_id:
            continue
        categories = frozenset(o.category for o in OFFERS if o.issuer_id == issuer and o.fulfiller_id == fulfiller)
        fulfillers.append(FulfillerTerms(fulfiller_id=fulfiller, rate_fen_per_point=rate, categories=categories))
    name = next(p.name_zh for p in PARTNERS if p.partner_id == issuer_id)
    return ContractTerms(
        contract_id=f"{issuer_id}-alliance",
        version=1,
        previous_hash=None,
        title=f"{name}积分联盟协议",
        issuer_id=issuer_id,
        earn_cap_points_per_yuan=Decimal("1"),
        fulfillers=tuple(fulfillers),
        effective_from=start,
        rounding=Rounding.HALF_UP,
        expiry_policy="months:12" if issuer_id == CVS_YIDA else "months:24",
    )


def register_alliance(hub: Hub, out: Path, start: date) -> dict[str, Ed25519PrivateKey]:
    """Partners, their keys (valid from the start of the replay), and both contracts signed by all."""
    keys: dict[str, Ed25519PrivateKey] = {}
    for partner in PARTNERS:
        partner_service.register_partner(
            engine=hub.engine,
            now=hub.now(),
            partner_id=partner.partner_id,
            name=partner.name_zh,
            roles=list(partner.roles),
            category=partner.category,
            operates_online_platform=partner.operates_online_platform,
            licence_number=partner.licence_number,
            licence_expires_on=partner.licence_expires_on,
        )
        keys[partner.partner_id] = _private_key(out, partner.partner_id)
        partner_service.add_partner_key(
            engine=hub.engine,
            now=hub.now(),
            partner_id=partner.partner_id,
            key_text=_public_pem(keys[partner.partner_id]),
        )
    for issuer in (CVS_YIDA, EYEWEAR_MINGMOU):
        terms = _contract_terms(issuer, start)
        view = contract_service.propose_contract(
            engine=hub.engine,
            now=hub.now(),
            terms_json=terms_to_json(terms),
            hub_timezone=hub.config.timezone,
        )
        for party in terms.parties():
            contract_service.sign_contract(
                engine=hub.engine,
                hub=hub.signer,
                now=hub.now(),
                contract_id=view.contract_id,
                version=view.version,
                signer_id=party,
                signature=keys[party].sign(view.canonical),
            )
    return keys


def _submit(hub: Hub, out: Path, period: str, partner_file: PartnerFile, key: Ed25519PrivateKey) -> FileOutcome:
    """Write the partner's signed file to disk, then submit exactly those bytes, as a partner would."""
    folder = out / "files" / period
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{partner_file.partner_id}.{partner_file.file_id}.csv"
    with path.open("wb") as handle:
        write_file(
            handle,
            partner_id=partner_file.partner_id,
            file_id=partner_file.file_id,
            created_at=hub.now(),
            records=partner_file.records,
        )
    content = path.read_bytes()
    signature = key.sign(content)
    path.with_suffix(".csv.sig").write_bytes(signature)
    with path.open("rb") as upload:
        return submit_settlement_file(
            engine=hub.engine,
            hub=hub.signer,
            now=hub.now(),
            zone_name=hub.config.timezone,
            partner_id=partner_file.partner_id,
            content=upload,
            signature_blob=signature,
            max_bytes=hub.config.max_file_bytes,
            batch_size=hub.config.batch_size,
        )


def planned_budget_fen(month: MonthFiles, issuer_id: str) -> int:
    """RL3: the budget ``issuer_id`` declares for ``month``: its planned issuance (the month's EARNs by
    identified members, at its point cost) × the headroom — or × the tight factor in the documented tight
    month — in whole yuan, at least 100 yuan."""
    cost = POINT_COST_FEN[issuer_id]
    partner_file = month.files.get(issuer_id)
    records = partner_file.records if partner_file else ()
    planned = sum(
        issued_value_fen(r.points, cost)
        for r in records
        if r.kind is RecordKind.EARN and r.member_token and r.amount_fen > 0 and r.points > 0
    )
    tight_issuer, tight_month, tight_factor = TIGHT_BUDGET
    factor = tight_factor if (issuer_id, Period.parse(month.period).month) == (tight_issuer, tight_month) else None
    budget = Decimal(planned) * (factor or BUDGET_HEADROOM)
    return max(int(budget.to_integral_value()) // 100 * 100, 10_000)


def _declare_budgets(hub: Hub, month: MonthFiles) -> None:
    """The month begins: the scheduler's rollover runs, then each issuer declares its plan (which wins)."""
    period = Period.parse(month.period)
    budget_service.roll_over_budgets(
        engine=hub.engine, now=hub.now(), zone_name=hub.config.timezone, period=period, actor="scheduler"
    )
    declarations = [
        budget_service.Declaration(issuer, period, planned_budget_fen(month, issuer), POINT_COST_FEN[issuer])
        for issuer in (CVS_YIDA, EYEWEAR_MINGMOU)
    ]
    for declaration in declarations:
        budget_service.declare_budget(
            engine=hub.engine,
            now=hub.now(),
            actor=declaration.issuer_id,
            caller=declaration.issuer_id,
            declaration=declaration,
        )


def _file_order(files: dict[str, PartnerFile]) -> list[PartnerFile]:
    """Issuers' files first (their members earn before they spend), then the fulfillers'."""
    issuers = [p.partner_id for p in PARTNERS if p.is_issuer]
    return sorted(files.values(), key=lambda f: (f.partner_id not in issuers, f.partner_id))


def _fixed(moment: datetime) -> Callable[[], datetime]:
    """The hub's clock during the replay: stands still at ``moment``."""
    return lambda: moment


def _write_statements(hub: Hub, out: Path, result: CloseResult) -> None:
    folder = out / "statements" / str(result.period)
    folder.mkdir(parents=True, exist_ok=True)
    for partner_id in result.positions:
        for fmt in ("csv", "json"):
            document = get_statement(engine=hub.engine, period=result.period, partner_id=partner_id, fmt=fmt)
            (folder / f"{partner_id}.{fmt}").write_bytes(document.body)
            (folder / f"{partner_id}.{fmt}.sig").write_bytes(document.signature)


def _period_json(result: CloseResult) -> dict[str, Any]:
    return {
        "period": str(result.period),
        "gross_fen": result.gross_fen,
        "net_fen": result.net_fen,
        "netting_efficiency": str(result.efficiency),
        "records": result.record_count,
        "positions": dict(sorted(result.positions.items())),
    }


def _progress(label: str, console: Console) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
    )


def _replay_with_progress(data: Path, as_of: date, hub: Hub, console: Console) -> Replay:
    with _progress("[bold]reading purchases", console) as progress:
        task = progress.add_task("read", total=541_909)
        result = replay(
            data,
            as_of=as_of,
            zone=hub.config.zone,
            on_progress=lambda lines: progress.update(task, completed=lines),
        )
    stats = result.stats
    console.print(
        f"read {stats.lines_read:,} lines, {stats.invoices:,} invoices, {stats.members:,} members; "
        f"dates shifted by {stats.shift_days} days to "
        f"{stats.first_business_time:%Y-%m-%d} … {stats.last_business_time:%Y-%m-%d}"
    )
    return result


def run_demo(
    *,
    out: Path,
    data: Path | None = None,
    as_of: date | None = None,
    database_url: str | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    console = console or Console()
    out = _fresh_out(out)
    data = data or DEFAULT_DATA
    if not data.exists():
        raise SystemExit(f"data set not found at {data}; pass --data")
    as_of = as_of or datetime.now(UTC).date()
    config = load_config(
        {
            "database_url": database_url or f"sqlite:///{out / 'clearinghouse.db'}",
            "hub_key_path": str(out / "hub-key.pem"),
        }
    )
    hub = open_hub(config)
    (out / "hub-public.pem").write_text(hub.signer.public_key.spki_pem())
    replayed = _replay_with_progress(data, as_of, hub, console)
    zone = hub.config.zone
    first = Period.parse(replayed.months[0].period)
    hub.clock = _fixed(first.start(zone) - timedelta(days=1))
    keys = register_alliance(hub, out, first.start(zone).astimezone(zone).date())
    console.print(f"registered {len(PARTNERS)} partners and 2 contracts, signed by every party and the hub")
    totals = _settle_months(hub, out, replayed, keys, as_of, console)
    drills = _run_drills(hub, out, replayed, keys, console)
    jobs = _run_red_line_jobs(hub, first, console)
    summary = _summary(totals, replayed, time.perf_counter() - started)
    summary["refusals_by_red_line"] = refusals_by_red_line(totals.refused + drills)
    summary["red_line_drills"] = {"refused": dict(sorted(drills.items()))}
    summary.update(jobs)
    summary.update(_oversight(hub))
    summary["alert_list"] = [f"{a.kind}: {a.message}" for a in reversed(list_alerts(hub.engine))]
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    _print_report(console, summary, out)
    hub.engine.dispose()
    return summary


def _settle_months(
    hub: Hub, out: Path, replayed: Replay, keys: dict[str, Ed25519PrivateKey], as_of: date, console: Console
) -> DemoTotals:
    zone = hub.config.zone
    totals = DemoTotals()
    last_complete = Period(as_of.year, as_of.month).previous()
    with _progress("[bold]settling {task.fields[period]}", console) as progress:
        task = progress.add_task("months", total=len(replayed.months), period="")
        for month in replayed.months:
            period = Period.parse(month.period)
            progress.update(task, period=month.period)
            closes = period <= last_complete
            hub.clock = _fixed(period.start(zone))
            _declare_budgets(hub, month)
            hub.clock = _fixed((period.end(zone) if closes else datetime.now(UTC)) + ARRIVAL)
            for partner_file in _file_order(dict(month.files)):
                try:
                    totals.add(_submit(hub, out, month.period, partner_file, keys[partner_file.partner_id]))
                except FileRejected as exc:
                    console.print(f"[red]file {partner_file.file_id} of {partner_file.partner_id} refused: {exc}")
                    totals.refused[exc.code] += len(partner_file.records)
            if closes:
                hub.clock = _fixed(period.end(zone) + CLOSE_AT)
                result = close_period(
                    engine=hub.engine,
                    hub=hub.signer,
                    now=hub.now(),
                    period=period,
                    zone_name=hub.config.timezone,
                    trigger="demo",
                )
                _write_statements(hub, out, result)
                totals.periods.append(_period_json(result))
            progress.advance(task)
    return totals


def _run_drills(
    hub: Hub, out: Path, replayed: Replay, keys: dict[str, Ed25519PrivateKey], console: Console
) -> Counter[str]:
    """Submit the documented red-line drills (``clearinghouse/demo/drills.py``) on the last day of the data,
    through the same service as every file; their refusals by code."""
    moment = replayed.stats.last_business_time.replace(hour=0, minute=0, second=0, microsecond=0)
    hub.clock = _fixed(max(datetime.now(UTC), moment + timedelta(days=1)))
    refused: Counter[str] = Counter()
    for partner_file in drill_files(moment, hub.config.zone):
        outcome = _submit(hub, out, "drills", partner_file, keys[partner_file.partner_id])
        refused.update(outcome.refused_by_code)
    console.print(f"red-line drills: {sum(refused.values())} records refused ({', '.join(sorted(refused))})")
    return refused


def _run_red_line_jobs(hub: Hub, first: Period, console: Console) -> dict[str, Any]:
    """What the scheduler's red-line jobs find once the year is in: the monitoring scan over the whole year,
    points expiry (oldest lots first; the convenience store's program expires points after 12 months) and
    the licence check."""
    config = hub.config
    scanned = monitoring_service.scan(
        engine=hub.engine,
        now=hub.now(),
        limits=config.monitor_thresholds,
        zone=config.zone,
        since=first.start(config.zone),
        until=hub.now(),
    )
    expired = run_expiry(
        engine=hub.engine, now=hub.now(), zone_name=config.timezone, notice_days=config.expiry_notice_days,
        actor="scheduler",
    )  # fmt: skip
    suspended = suspend_expired_licences(engine=hub.engine, now=hub.now(), zone_name=config.timezone)
    console.print(scanned.line())
    console.print(
        f"expiry: {expired.points_expired:,} points of {expired.members_expired:,} members expired, "
        f"{expired.notices_written:,} notices written; licence suspensions: {len(suspended)}"
    )
    return {
        "monitoring": {"records_scanned": scanned.records, "hits": scanned.hits, "cases_opened": scanned.cases_opened},
        "expiry": {
            "points_expired": expired.points_expired,
            "members_expired": expired.members_expired,
            "notices_written": expired.notices_written,
        },
        "licence_suspensions": len(suspended),
    }


RED_LINES = tuple(f"RL{n}" for n in range(1, 10))


def refusals_by_red_line(refused: Counter[str]) -> dict[str, int]:
    """Refused records per red line (RL1..RL9, zero where none), from their reason codes ``RLn_...``."""
    counts = dict.fromkeys(RED_LINES, 0)
    for code, count in refused.items():
        line = code.split("_", 1)[0]
        if line in counts:
            counts[line] += count
    return counts


def _oversight(hub: Hub) -> dict[str, Any]:
    """What the red-line machinery raised while the year was replayed: alerts and monitoring cases."""
    from sqlalchemy import text

    from clearinghouse.alerts import count_alerts

    with hub.engine.connect() as connection:
        cases = int(connection.execute(text("SELECT count(*) FROM monitoring_case")).scalar_one())
    return {"alerts": count_alerts(hub.engine), "cases": cases}


def _summary(totals: DemoTotals, replayed: Replay, elapsed: float) -> dict[str, Any]:
    stats = replayed.stats
    return {
        "records": {"accepted": totals.accepted, "rejected": dict(sorted(totals.refused.items()))},
        "refusals_by_red_line": refusals_by_red_line(totals.refused),
        "periods": totals.periods,
        "elapsed_s": round(elapsed, 2),
        "source": {
            "data_set": "UCI Online Retail (Chen, Sain & Guo 2012), CC BY 4.0",
            "lines_read": stats.lines_read,
            "lines_without_customer": stats.lines_without_customer,
            "cancellation_lines": stats.cancellation_lines,
            "cancellation_lines_unmatched": stats.cancellation_lines_unmatched,
            "cancellation_lines_without_customer": stats.cancellation_lines_without_customer,
            "invoices": stats.invoices,
            "members": stats.members,
            "earn_records": stats.earn_records,
            "earn_records_without_member": stats.earn_records_without_member,
            "reversal_records": stats.reversal_records,
            "redeem_records": stats.redeem_records,
            "eye_care_day_redemptions": stats.eye_care_day_redemptions,
            "shift_days": stats.shift_days,
            "files": totals.files,
        },
    }


def _print_report(console: Console, summary: dict[str, Any], out: Path) -> None:
    records = Table(title="Records cleared / 清算记录")
    records.add_column("result")
    records.add_column("reason")
    records.add_column("count", justify="right")
    records.add_row("accepted", "", f"{summary['records']['accepted']:,}")
    for code, count in summary["records"]["rejected"].items():
        records.add_row("refused", code, f"{count:,}")
    console.print(records)
    periods = Table(title="Monthly netting / 月度轧差 (yuan)")
    for column in ("period", "gross", "net", "efficiency", "records"):
        periods.add_column(column, justify="right")
    for item in summary["periods"]:
        periods.add_row(
            item["period"],
            _yuan(item["gross_fen"]),
            _yuan(item["net_fen"]),
            item["netting_efficiency"],
            f"{item['records']:,}",
        )
    console.print(periods)
    if summary["periods"]:
        last = summary["periods"][-1]
        positions = Table(title=f"Net positions {last['period']} / 净头寸 (yuan; + receives, − pays)")
        positions.add_column("partner")
        positions.add_column("net", justify="right")
        for partner_id, net in last["positions"].items():
            positions.add_row(partner_id, _yuan(net))
        console.print(positions)
    console.print(
        f"statements in {out / 'statements'}; hub key {out / 'hub-public.pem'}; "
        f"summary {out / 'summary.json'}; {summary['elapsed_s']} s"
    )


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"
