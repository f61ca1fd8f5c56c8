"""Specs of the demo replay: a real purchase history turned into the partners' monthly settlement files.

Most tests write a tiny data set into ``tmp_path``. Rows are written in BUSINESS time (what the hub will see):
``write_rows`` subtracts the shift of 5,467 days (781 weeks) that the ANCHOR row — the data set's real last
invoice, 2011-12-09 12:50, a Friday — gets for ``as_of`` 2026-12-03. ``test_date_shift_*`` check that shift.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from clearinghouse.demo import retail
from clearinghouse.demo.alliance import (
    BOOKS_SHUXIANG,
    CINEMA_GUANGYING,
    CVS_YIDA,
    EYEWEAR_MINGMOU,
    GBP_TO_CNY,
    OFFERS,
    PARTNERS,
    PARTNERS_BY_ID,
    RIDE_KUAIXING,
    TEA_CHAYU,
    offers_for_issuer,
)
from clearinghouse.demo.replay import (
    CLEARING_ORDER,
    PartnerFile,
    Replay,
    issuer_of,
    member_token,
    preferred_offer,
    replay,
    week_shift,
)
from clearinghouse.demo.retail import Invoice, line_value_fen, read_invoices
from settlement.records import RecordKind, RecordRef, SettlementRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 12, 3)
SHIFT = timedelta(days=5467)
REAL_DATA = Path("/work/shared/data/online-retail.csv.gz")
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
HEADER += ["CustomerID", "Country"]

Row = tuple[str, str, int, str, str, str]
"""(invoice no, stock code, quantity, time "YYYY-MM-DD HH:MM", unit price GBP, customer id or "")."""

ANCHOR: Row = ("599999", "ANCHOR", 1, "2026-11-27 12:50", "1.00", "")
"""An anonymous last invoice: 2011-12-09 12:50 in the file, so the shift is 5,467 days for AS_OF."""

RUNNER_ORDER = [CVS_YIDA, EYEWEAR_MINGMOU, BOOKS_SHUXIANG, CINEMA_GUANGYING, RIDE_KUAIXING, TEA_CHAYU]
"""How the demo runner submits a month's files to the hub: the issuers, then the other partners by id."""


# --- helpers ----------------------------------------------------------------------------------------------


def write_raw(path: Path, rows: Iterable[Row]) -> Path:
    """Writes rows with their times as given (file time) in the data set's format."""
    with gzip.open(path, "wt", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for invoice_no, stock, quantity, at, price, customer in rows:
            cid = f"{customer}.0" if customer else ""
            row = [invoice_no, stock, f"ITEM {stock}", quantity, f"{at}:00", price, cid, "United Kingdom"]
            writer.writerow(row)
    return path


def write_rows(tmp_path: Path, rows: Iterable[Row]) -> Path:
    """Writes rows whose times are business times (Shanghai wall time), i.e. file time + SHIFT."""

    def file_time(at: str) -> str:
        return (datetime.fromisoformat(at) - SHIFT).strftime("%Y-%m-%d %H:%M")

    shifted = [(no, stock, qty, file_time(at), price, cid) for no, stock, qty, at, price, cid in rows]
    return write_raw(tmp_path / "retail.csv.gz", shifted)


def run(tmp_path: Path, rows: Sequence[Row]) -> Replay:
    return replay(write_rows(tmp_path, [*rows, ANCHOR]), as_of=AS_OF, zone=SHANGHAI)


def customer_preferring(offer_ref: str, issuer: str, after: int = 12000) -> str:
    """The first customer id above ``after`` who is ``issuer``'s member and prefers ``offer_ref``."""
    for n in itertools.count(after + 1):
        cid = str(n)
        token = member_token(issuer, cid)
        if issuer_of(cid) == issuer and preferred_offer(token, issuer).offer_ref == offer_ref:
            return cid
    raise AssertionError("unreachable")


def all_records(result: Replay) -> list[tuple[str, str, SettlementRecord]]:
    """(period, partner, record) of every file."""
    return [
        (month.period, partner, record)
        for month in result.months
        for partner, file in month.files.items()
        for record in file.records
    ]


def of_member(result: Replay, customer: str) -> list[SettlementRecord]:
    """The records about ``customer``'s token, in business-time order (ties: EARN, REVERSAL, REDEEM)."""
    token = member_token(issuer_of(customer), customer)
    order = {RecordKind.EARN: 0, RecordKind.REVERSAL: 1, RecordKind.REDEEM: 2}
    found = [r for _, _, r in all_records(result) if r.member_token == token]
    return sorted(found, key=lambda r: (r.business_time, order[r.kind]))


def file_of(result: Replay, period: str, partner: str) -> tuple[SettlementRecord, ...]:
    month = next(m for m in result.months if m.period == period)
    return month.files[partner].records


def credited(record: SettlementRecord) -> bool:
    """True for an EARN the hub accepts under RL1 (a member, spend > 0, points > 0)."""
    return record.kind is RecordKind.EARN and record.member_token != "" and record.amount_fen > 0 and record.points > 0


def clear_like_the_hub(result: Replay) -> tuple[list[SettlementRecord], Counter[str]]:
    """Clears the files as the demo runner submits them and the hub clears them: month after month, the files
    in RUNNER_ORDER, each file's records in seq order, every member's balance carried along.

    Returns the REDEEMs and REVERSALs the hub would refuse with POINTS_INSUFFICIENT (the balance is then left
    as it was), and the balances by member token at the end.
    """
    balances: Counter[str] = Counter()
    refused: list[SettlementRecord] = []
    for month in result.months:
        assert set(month.files) <= set(RUNNER_ORDER)
        for partner in RUNNER_ORDER:
            for r in month.files[partner].records if partner in month.files else ():
                if r.kind is RecordKind.EARN:
                    balances[r.member_token] += r.points if credited(r) else 0
                elif balances[r.member_token] < r.points:
                    refused.append(r)
                else:
                    balances[r.member_token] -= r.points
    return refused, balances


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def fen(quantity: int, price: str) -> int:
    return line_value_fen(quantity, Decimal(price))


# --- the alliance constants -------------------------------------------------------------------------------


def test_partners_and_roles() -> None:
    assert [p.partner_id for p in PARTNERS] == [
        "cvs-yida", "cinema-guangying", "tea-chayu", "books-shuxiang", "ride-kuaixing", "eyewear-mingmou",
    ]  # fmt: skip
    assert {p.partner_id for p in PARTNERS if p.is_issuer} == {CVS_YIDA, EYEWEAR_MINGMOU}
    assert all(p.is_fulfiller for p in PARTNERS)
    ride = PARTNERS_BY_ID[RIDE_KUAIXING]
    assert (ride.operates_online_platform, ride.licence_number, ride.licence_expires_on) == (
        True, "京B2-20260417", date(2029, 12, 31),
    )  # fmt: skip
    others = [p for p in PARTNERS if p.partner_id != RIDE_KUAIXING]
    assert all(not p.operates_online_platform and p.licence_number is None for p in others)


def test_offers_take_one_issuers_points_and_the_lens_is_cheaper_on_eye_care_day() -> None:
    assert [o.offer_ref for o in offers_for_issuer(CVS_YIDA)] == [
        "LENS", "FRAME", "EYECHECK", "TICKET", "MILKTEA", "BOOK", "RIDE",
    ]  # fmt: skip
    assert [o.offer_ref for o in offers_for_issuer(EYEWEAR_MINGMOU)] == ["WATER", "BUNDLE", "TICKET"]
    assert len({(o.issuer_id, o.offer_ref) for o in OFFERS}) == len(OFFERS)
    assert all(o.issuer_id != o.fulfiller_id for o in OFFERS)
    lens = offers_for_issuer(CVS_YIDA)[0]
    assert (lens.points_price, lens.face_value_fen) == (2_000, 20_000)
    assert lens.price_on(date(2026, 6, 6)) == 1_500
    assert lens.price_on(date(2026, 6, 5)) == lens.price_on(date(2026, 6, 7)) == 2_000
    assert offers_for_issuer(EYEWEAR_MINGMOU)[0].price_on(date(2026, 6, 6)) == 20  # no promo on water
    assert str(GBP_TO_CNY) == "10.40"


# --- reading the data set ---------------------------------------------------------------------------------


def test_line_value_is_rounded_half_up_per_line_and_spend_is_the_sum_of_lines() -> None:
    assert fen(6, "2.55") == 15_912  # 15.30 GBP x 10.40 = 159.12 yuan
    assert fen(1, "0.00625") == 7  # 6.5 fen -> 7
    assert fen(2, "0.00625") == 13  # 13.0 fen
    assert fen(-1, "0.00625") == -7  # a tie on a cancellation rounds away from zero too
    invoice = Invoice("1", "12345", datetime(2011, 1, 1), (
        retail.InvoiceLine("A", 1, Decimal("0.00625")), retail.InvoiceLine("B", 1, Decimal("0.00625")),
    ), False)  # fmt: skip
    assert invoice.spend_fen == 14  # 7 + 7, not round(13.0)


def test_reader_groups_interleaved_lines_and_counts_every_line(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "r.csv.gz", [
        ("542806", "A", 1, "2011-02-01 11:19", "7.95", "12836"),
        ("C542805", "B", -1, "2011-02-01 11:19", "0.85", "14606"),  # interrupts 542806, as in the data set
        ("542806", "C", 2, "2011-02-01 11:20", "9.95", "12836"),
        ("542807", "D", 3, "2011-02-01 11:21", "1.25", ""),
    ])  # fmt: skip
    invoices = list(read_invoices(path))
    assert [(i.invoice_no, len(i.lines), i.customer_id, i.is_cancellation) for i in invoices] == [
        ("542806", 2, "12836", False), ("C542805", 1, "14606", True), ("542807", 1, None, False),
    ]  # fmt: skip
    assert invoices[0].invoiced_at_local == datetime(2011, 2, 1, 11, 19)  # the earliest line's time, naive
    assert invoices[0].lines[1] == retail.InvoiceLine("C", 2, Decimal("9.95"))
    assert retail.count_lines(invoices) == retail.LineCounts(4, 1, 1)


def test_reader_refuses_an_invoice_naming_two_customers(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "r.csv.gz", [
        ("1", "A", 1, "2011-02-01 11:19", "1.00", "12836"),
        ("1", "B", 1, "2011-02-01 11:19", "1.00", "12837"),
    ])  # fmt: skip
    with pytest.raises(ValueError, match="names customers"):
        list(read_invoices(path))


def test_reader_reports_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retail, "PROGRESS_EVERY", 2)
    path = write_raw(tmp_path / "r.csv.gz", [(str(n), "A", 1, "2011-02-01 11:19", "1", "") for n in range(5)])
    seen: list[int] = []
    assert len(list(read_invoices(path, on_progress=seen.append))) == 5
    assert seen == [2, 4]


# --- date shift -------------------------------------------------------------------------------------------


def test_week_shift_is_the_largest_whole_week_shift_into_the_last_complete_month() -> None:
    last = datetime(2011, 12, 9, 12, 50)  # a Friday
    shift = week_shift(last, date(2026, 12, 3))
    assert shift == SHIFT and shift.days % 7 == 0
    assert last + shift == datetime(2026, 11, 27, 12, 50)  # the last Friday of November 2026
    assert (last + shift + timedelta(weeks=1)).month == 12
    assert week_shift(last, date(2026, 12, 31)) == SHIFT  # only the month of as_of matters
    # exactly one week before the month start: a week more would land ON 1 December, so no
    assert week_shift(datetime(2026, 11, 24), date(2026, 12, 5)) == timedelta(0)


def test_date_shift_keeps_weekdays_and_ignores_the_host_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_raw(tmp_path / "r.csv.gz", [
        ("536365", "A", 6, "2010-12-01 08:26", "2.55", "17850"),  # the data set's first invoice, a Wednesday
        ("581587", "B", 12, "2011-12-09 12:50", "0.85", "12680"),  # and its last, a Friday
    ])  # fmt: skip
    monkeypatch.setenv("TZ", "Pacific/Chatham")  # UTC+13:45 in December: an odd host
    time.tzset()
    try:
        result = replay(path, as_of=AS_OF, zone=SHANGHAI)
    finally:
        monkeypatch.undo()
        time.tzset()
    stats = result.stats
    assert stats.shift_days == 5467
    assert stats.first_business_time == local("2025-11-19 08:26")
    assert stats.last_business_time == local("2026-11-27 12:50")
    assert stats.first_business_time.weekday() == date(2010, 12, 1).weekday()
    assert stats.last_business_time.weekday() == date(2011, 12, 9).weekday()
    earns = [r for _, _, r in all_records(result) if r.kind is RecordKind.EARN]
    assert [r.business_time for r in earns] == [local("2025-11-19 08:26"), local("2026-11-27 12:50")]
    assert all(r.business_time.tzinfo == SHANGHAI for r in earns)
    assert [m.period for m in result.months] == ["2025-11", "2026-11"]


def test_business_times_are_wall_times_of_the_zone_asked_for(tmp_path: Path) -> None:
    rows = [("1", "A", 1, "2026-11-27 12:50", "1.00", "")]
    result = replay(write_rows(tmp_path, rows), as_of=AS_OF, zone=ZoneInfo("Europe/London"))
    (record,) = [r for _, _, r in all_records(result)]
    assert record.business_time == datetime(2026, 11, 27, 12, 50, tzinfo=ZoneInfo("Europe/London"))
    assert record.business_time.astimezone(UTC) == datetime(2026, 11, 27, 12, 50, tzinfo=UTC)


# --- members and EARN -------------------------------------------------------------------------------------


def test_issuer_by_customer_id_and_an_opaque_token() -> None:
    assert issuer_of("12340") == EYEWEAR_MINGMOU and issuer_of("12341") == CVS_YIDA
    token = member_token(CVS_YIDA, "12341")
    assert token == "m_" + hashlib.sha256(b"cvs-yida:12341").hexdigest()[:20]
    assert re.fullmatch(r"m_[0-9a-f]{20}", token) and "12341" not in token
    assert member_token(EYEWEAR_MINGMOU, "12341") != token


def test_earn_per_invoice_by_the_members_issuer(tmp_path: Path) -> None:
    yida = customer_preferring("FRAME", CVS_YIDA)  # 3,000 points: no redemption here
    mingmou = customer_preferring("TICKET", EYEWEAR_MINGMOU)  # 400 points
    result = run(tmp_path, [
        ("1001", "A", 6, "2026-03-02 10:00", "2.55", yida),  # 159.12 yuan
        ("1001", "B", 1, "2026-03-02 10:00", "0.00625", yida),  # + 0.07 yuan
        ("1002", "A", 2, "2026-03-03 11:00", "9.95", mingmou),  # 206.96 yuan
    ])  # fmt: skip
    (earn,) = file_of(result, "2026-03", CVS_YIDA)
    assert (earn.kind, earn.issuer_id, earn.fulfiller_id) == (RecordKind.EARN, CVS_YIDA, "")
    assert earn.receipt_ref == "1001"
    assert (earn.member_token, earn.amount_fen, earn.points) == (member_token(CVS_YIDA, yida), 15_919, 159)
    assert earn.business_time == local("2026-03-02 10:00")
    (other,) = file_of(result, "2026-03", EYEWEAR_MINGMOU)
    assert (other.issuer_id, other.member_token) == (EYEWEAR_MINGMOU, member_token(EYEWEAR_MINGMOU, mingmou))
    assert (other.amount_fen, other.points) == (20_696, 206)


def test_anonymous_purchases_are_reported_by_cvs_yida_with_an_empty_token(tmp_path: Path) -> None:
    result = run(tmp_path, [
        ("1001", "A", 10, "2026-03-02 10:00", "2.00", ""),  # 208 yuan, nobody's
        ("C1002", "A", -1, "2026-03-02 11:00", "2.00", ""),  # an anonymous cancellation: counted only
    ])  # fmt: skip
    (earn,) = file_of(result, "2026-03", CVS_YIDA)
    assert (earn.member_token, earn.issuer_id, earn.amount_fen, earn.points) == ("", CVS_YIDA, 20_800, 208)
    assert result.stats.earn_records_without_member == 2  # with the anchor
    assert result.stats.cancellation_lines_without_customer == 1
    assert result.stats.reversal_records == 0


def test_an_invoice_worth_nothing_is_reported_as_it_is_and_credits_nothing(tmp_path: Path) -> None:
    customer = customer_preferring("WATER", EYEWEAR_MINGMOU)  # 20 points
    result = run(tmp_path, [
        ("1001", "POST", 1, "2026-03-02 10:00", "0.05", customer),  # 52 fen: 0 points
        ("A1002", "B", 1, "2026-03-02 11:00", "-11062.06", ""),  # "Adjust bad debt", as in the data set
    ])  # fmt: skip
    by_receipt = {r.receipt_ref: r for _, _, r in all_records(result)}
    zero, bad_debt = by_receipt["1001"], by_receipt["A1002"]
    assert (zero.amount_fen, zero.points, zero.member_token != "") == (52, 0, True)
    assert (bad_debt.amount_fen, bad_debt.points) == (-11_504_542, -115_046)
    assert result.stats.earn_records_uncredited == 1
    assert result.stats.redeem_records == 0


# --- REVERSAL ---------------------------------------------------------------------------------------------


def test_a_cancellation_gives_back_the_most_recent_earlier_purchase_of_that_stock(tmp_path: Path) -> None:
    customer = customer_preferring("FRAME", CVS_YIDA)
    result = run(tmp_path, [
        ("1001", "A", 4, "2026-03-02 10:00", "1.00", customer),  # 41.60 yuan -> 41 points
        ("1002", "A", 2, "2026-03-09 10:00", "1.00", customer),  # 20.80 yuan -> 20 points
        ("1002", "B", 1, "2026-03-09 10:00", "0.50", customer),  # + 5.20 yuan -> 26 points
        ("C1003", "A", -5, "2026-03-16 10:00", "1.00", customer),  # only 2 A remain on 1002: capped at 2
        ("1004", "A", 9, "2026-03-17 10:00", "1.00", customer),  # later: never matched
    ])  # fmt: skip
    earns = {r.receipt_ref: r for r in file_of(result, "2026-03", CVS_YIDA) if r.kind is RecordKind.EARN}
    (reversal,) = [r for r in file_of(result, "2026-03", CVS_YIDA) if r.kind is RecordKind.REVERSAL]
    assert reversal.original == RecordRef("SF-2026-03", earns["1002"].seq)
    assert (reversal.receipt_ref, reversal.business_time) == ("C1003", local("2026-03-16 10:00"))
    assert reversal.amount_fen == 2_080  # 2 x 1.00 GBP, the rest of the 5 matched nothing
    assert reversal.points == 26 - 520 // 100  # standing - remaining spend // 100 = 21
    assert (reversal.issuer_id, reversal.member_token) == (CVS_YIDA, earns["1002"].member_token)
    assert result.stats.cancellation_lines_capped == 1
    assert result.stats.cancellation_lines_unmatched == 0


def test_later_cancellations_fall_back_to_older_purchases_one_reversal_per_original(tmp_path: Path) -> None:
    customer = customer_preferring("FRAME", CVS_YIDA)
    result = run(tmp_path, [
        ("1001", "A", 4, "2026-03-02 10:00", "1.00", customer),
        ("1001", "B", 2, "2026-03-02 10:00", "1.00", customer),  # 6 x 10.40 yuan = 62 points
        ("1002", "A", 2, "2026-03-09 10:00", "1.00", customer),  # 20 points
        ("C1003", "A", -2, "2026-03-16 10:00", "1.00", customer),  # empties 1002's A
        ("C1004", "A", -1, "2026-04-06 10:00", "1.00", customer),  # so 1001
        ("C1004", "B", -2, "2026-04-06 10:00", "1.00", customer),  # also 1001: one REVERSAL for both lines
    ])  # fmt: skip
    march = file_of(result, "2026-03", CVS_YIDA)
    earns = {r.receipt_ref: r for r in march if r.kind is RecordKind.EARN}
    reversals = [r for r in march if r.kind is RecordKind.REVERSAL]
    reversals += [r for r in file_of(result, "2026-04", CVS_YIDA) if r.kind is RecordKind.REVERSAL]
    assert [(r.receipt_ref, r.original, r.amount_fen, r.points) for r in reversals] == [
        ("C1003", RecordRef("SF-2026-03", earns["1002"].seq), 2_080, 20),
        ("C1004", RecordRef("SF-2026-03", earns["1001"].seq), 3_120, 62 - 3_120 // 100),
    ]


def test_cancellations_of_purchases_before_the_data_set_are_counted_not_reported(tmp_path: Path) -> None:
    customer = customer_preferring("FRAME", CVS_YIDA)
    result = run(tmp_path, [
        ("1001", "A", 1, "2026-03-02 10:00", "1.00", customer),
        ("C1002", "Z", -1, "2026-03-03 10:00", "5.00", customer),  # never bought here
        ("C1002", "D", -1, "2026-03-03 10:00", "3.00", customer),  # a "Discount" line
    ])  # fmt: skip
    assert result.stats.cancellation_lines_unmatched == 2
    assert result.stats.reversal_records == 0


def test_a_reversal_never_takes_the_member_below_zero(tmp_path: Path) -> None:
    customer = customer_preferring("MILKTEA", CVS_YIDA)  # 150 points, at tea-chayu
    result = run(tmp_path, [
        ("1001", "A", 20, "2026-02-02 10:00", "1.00", customer),  # 208 points, to spend from March
        ("1002", "B", 1, "2026-03-02 10:00", "1.00", customer),  # +10 = 218; a milk tea at 11:00: 68 left
        ("C1003", "A", -20, "2026-03-02 15:00", "1.00", customer),  # gives back all 208 of February's purchase
    ])  # fmt: skip
    assert [(r.kind, r.points, r.business_time) for r in of_member(result, customer)] == [
        (RecordKind.EARN, 208, local("2026-02-02 10:00")),
        (RecordKind.EARN, 10, local("2026-03-02 10:00")),
        (RecordKind.REDEEM, 150, local("2026-03-02 11:00")),
        (RecordKind.REVERSAL, 68, local("2026-03-02 15:00")),  # all the member holds: 140 points forgone
    ]
    assert result.stats.reversal_points_forgone == 208 - 68
    assert result.stats.reversals_capped_in_clearing_order == 0
    # The hub clears cvs-yida's file (EARN, REVERSAL) before tea-chayu's (the REDEEM): had the reversal taken
    # 208 points, it would have been accepted and the milk tea refused.
    refused, balances = clear_like_the_hub(result)
    assert refused == [] and balances[member_token(CVS_YIDA, customer)] == 0


def test_a_reversal_takes_back_at_most_what_the_hub_sees_when_it_clears_it(tmp_path: Path) -> None:
    customer = customer_preferring("WATER", EYEWEAR_MINGMOU)  # 20 points of eyewear-mingmou, at cvs-yida
    result = run(tmp_path, [
        ("1001", "A", 10, "2026-02-02 10:00", "1.00", customer),  # 104 points, to spend from March
        ("1002", "B", 3, "2026-03-02 10:00", "1.00", customer),  # +31 = 135; a water at 11:00: 115 held
        ("C1003", "A", -10, "2026-03-09 10:00", "1.00", customer),  # gives back 1001: 104 due, 115 held
        ("1004", "B", 1, "2026-03-16 10:00", "1.00", customer),  # +10; a water at 11:00 (21 held, 84 to spend)
    ])  # fmt: skip
    assert [(r.kind, r.points, r.business_time) for r in of_member(result, customer)] == [
        (RecordKind.EARN, 104, local("2026-02-02 10:00")),
        (RecordKind.EARN, 31, local("2026-03-02 10:00")),
        (RecordKind.REDEEM, 20, local("2026-03-02 11:00")),
        (RecordKind.REVERSAL, 95, local("2026-03-09 10:00")),
        (RecordKind.EARN, 10, local("2026-03-16 10:00")),
        (RecordKind.REDEEM, 20, local("2026-03-16 11:00")),
    ]
    # In business time the member holds 115 points at the cancellation, enough for 104. But the hub clears
    # cvs-yida's March file first, with BOTH waters (104 - 40 = 64), then eyewear-mingmou's: EARN 31 (95), the
    # REVERSAL, EARN 10. A REVERSAL of 104 would be refused there, so it takes 95 and 9 points are forgone.
    yida = [
        r for r in file_of(result, "2026-03", CVS_YIDA) if r.member_token == member_token(EYEWEAR_MINGMOU, customer)
    ]
    assert [(r.kind, r.points) for r in yida] == [(RecordKind.REDEEM, 20), (RecordKind.REDEEM, 20)]
    assert result.stats.reversal_points_forgone == 9
    assert result.stats.reversals_capped_in_clearing_order == 1
    refused, balances = clear_like_the_hub(result)
    assert refused == [] and balances[member_token(EYEWEAR_MINGMOU, customer)] == 10


def test_the_replay_clears_files_in_the_order_the_demo_runner_submits_them() -> None:
    from clearinghouse.demo.run import _file_order  # the runner itself: the replay must mirror it

    files = {p.partner_id: PartnerFile(p.partner_id, "SF-2026-03", ()) for p in reversed(PARTNERS)}
    assert [f.partner_id for f in _file_order(files)] == RUNNER_ORDER == list(CLEARING_ORDER)


def test_a_reversal_of_nothing_is_not_reported(tmp_path: Path) -> None:
    customer = customer_preferring("MILKTEA", CVS_YIDA)
    result = run(tmp_path, [
        ("1001", "A", 10, "2026-03-02 10:00", "1.00", customer),  # 104 points
        ("1001", "P", 1, "2026-03-02 10:00", "0.00", customer),  # a free line
        ("C1002", "P", -1, "2026-03-02 15:00", "0.00", customer),  # 0 fen, 0 points
    ])  # fmt: skip
    assert [r.kind for r in of_member(result, customer)] == [RecordKind.EARN]
    assert result.stats.cancellation_lines_unmatched == 0


# --- REDEEM -----------------------------------------------------------------------------------------------


def test_one_redemption_an_hour_after_each_purchase_never_a_loop(tmp_path: Path) -> None:
    customer = customer_preferring("TICKET", CVS_YIDA)  # 400 points at cinema-guangying
    result = run(tmp_path, [
        ("1001", "A", 300, "2026-02-02 10:00", "1.00", customer),  # 3,120 points, to spend from March
        ("1002", "A", 1, "2026-03-02 10:00", "1.00", customer),  # +10: ONE ticket at 11:00, not seven
        ("1003", "A", 1, "2026-03-03 10:00", "1.00", customer),  # +10: one more
    ])  # fmt: skip
    records = of_member(result, customer)
    assert [(r.kind, r.points, r.business_time) for r in records] == [
        (RecordKind.EARN, 3_120, local("2026-02-02 10:00")),
        (RecordKind.EARN, 10, local("2026-03-02 10:00")),
        (RecordKind.REDEEM, 400, local("2026-03-02 11:00")),
        (RecordKind.EARN, 10, local("2026-03-03 10:00")),
        (RecordKind.REDEEM, 400, local("2026-03-03 11:00")),
    ]
    redeem = records[2]
    assert (redeem.issuer_id, redeem.fulfiller_id, redeem.member_token) == (
        CVS_YIDA, CINEMA_GUANGYING, member_token(CVS_YIDA, customer),
    )  # fmt: skip
    assert (redeem.amount_fen, redeem.category, redeem.offer_ref) == (4_000, "cinema", "TICKET")
    tickets = file_of(result, "2026-03", CINEMA_GUANGYING)
    assert [r.seq for r in tickets] == [1, 2]


def test_points_earned_in_a_month_can_be_spent_from_the_next_month(tmp_path: Path) -> None:
    customer = customer_preferring("MILKTEA", CVS_YIDA)  # 150 points
    result = run(tmp_path, [
        ("1001", "A", 20, "2026-03-02 10:00", "1.00", customer),  # 208 points: nothing to spend in March
        ("1002", "A", 20, "2026-03-31 10:00", "1.00", customer),  # 416 held, still nothing to spend
        ("1003", "A", 1, "2026-04-01 10:00", "1.00", customer),  # April opens at 416: a tea (266 left to spend)
        ("1004", "A", 1, "2026-04-02 10:00", "1.00", customer),  # a tea (116 left to spend)
        ("1005", "A", 20, "2026-04-03 10:00", "1.00", customer),  # 344 held, 116 to spend: no tea
        ("1006", "A", 1, "2026-05-04 10:00", "1.00", customer),  # May opens at 344: a tea
    ])  # fmt: skip
    assert [(r.kind, r.points, r.business_time) for r in of_member(result, customer)] == [
        (RecordKind.EARN, 208, local("2026-03-02 10:00")),
        (RecordKind.EARN, 208, local("2026-03-31 10:00")),
        (RecordKind.EARN, 10, local("2026-04-01 10:00")),
        (RecordKind.REDEEM, 150, local("2026-04-01 11:00")),
        (RecordKind.EARN, 10, local("2026-04-02 10:00")),
        (RecordKind.REDEEM, 150, local("2026-04-02 11:00")),
        (RecordKind.EARN, 208, local("2026-04-03 10:00")),
        (RecordKind.EARN, 10, local("2026-05-04 10:00")),
        (RecordKind.REDEEM, 150, local("2026-05-04 11:00")),
    ]


def test_points_given_back_cannot_be_spent_and_a_cancellation_within_the_hour_comes_first(tmp_path: Path) -> None:
    customer = customer_preferring("MILKTEA", CVS_YIDA)  # 150 points
    result = run(tmp_path, [
        ("1001", "A", 20, "2026-02-02 10:00", "1.00", customer),  # 208 points, to spend from March
        ("1002", "B", 1, "2026-03-02 10:00", "1.00", customer),  # +10 = 218; a tea due at 11:00
        ("C1003", "A", -15, "2026-03-02 10:20", "1.00", customer),  # 156 of February's points back: 62 held
    ])  # fmt: skip
    assert [(r.kind, r.points, r.business_time) for r in of_member(result, customer)] == [
        (RecordKind.EARN, 208, local("2026-02-02 10:00")),
        (RecordKind.EARN, 10, local("2026-03-02 10:00")),
        (RecordKind.REVERSAL, 156, local("2026-03-02 10:20")),
        # no tea at 11:00: 208 left to spend this month, but the member holds only 62
    ]
    assert result.stats.reversal_points_forgone == 0


def test_preferred_offer_is_picked_from_the_issuers_offers_by_token_hash() -> None:
    token = member_token(EYEWEAR_MINGMOU, "12340")
    offers = offers_for_issuer(EYEWEAR_MINGMOU)
    digest = int(hashlib.sha256(token.encode()).hexdigest(), 16)
    assert preferred_offer(token, EYEWEAR_MINGMOU) == offers[digest % 3]
    tokens = [member_token(CVS_YIDA, str(n)) for n in range(12001, 13001)]
    prefs = {preferred_offer(token, CVS_YIDA).offer_ref for token in tokens}
    assert prefs == {o.offer_ref for o in offers_for_issuer(CVS_YIDA)}  # every offer is somebody's


def test_eye_care_day_lens_costs_1500_and_members_redeem_at_ten(tmp_path: Path) -> None:
    waiting = customer_preferring("LENS", CVS_YIDA)
    late = customer_preferring("LENS", CVS_YIDA, after=int(waiting))
    fresh = customer_preferring("LENS", CVS_YIDA, after=int(late))
    result = run(tmp_path, [
        ("1001", "A", 170, "2026-05-29 10:00", "1.00", waiting),  # 1,768 points: short of 2,000
        ("1002", "A", 160, "2026-05-29 10:00", "1.00", late),  # 1,664 points
        ("1003", "A", 1, "2026-06-05 23:30", "1.00", late),  # due at 00:30 on 6 June, when a lens is 1,500
        ("1004", "A", 200, "2026-06-01 10:00", "1.00", fresh),  # 2,080 points of June: not to spend in June
    ])  # fmt: skip
    (late_redeem,) = [r for r in of_member(result, late) if r.kind is RecordKind.REDEEM]
    assert (late_redeem.business_time, late_redeem.points) == (local("2026-06-06 00:30"), 1_500)
    (sweep,) = [r for r in of_member(result, waiting) if r.kind is RecordKind.REDEEM]
    assert (sweep.business_time, sweep.points, sweep.amount_fen) == (local("2026-06-06 10:00"), 1_500, 20_000)
    assert (sweep.fulfiller_id, sweep.offer_ref, sweep.category) == (EYEWEAR_MINGMOU, "LENS", "eyewear")
    assert [r.kind for r in of_member(result, fresh)] == [RecordKind.EARN]
    assert result.stats.eye_care_day_redemptions == 1  # the late member has 164 points left to spend by 10:00


def test_a_redemption_after_midnight_of_the_last_day_belongs_to_the_next_month(tmp_path: Path) -> None:
    customer = customer_preferring("WATER", EYEWEAR_MINGMOU)  # 20 points, at cvs-yida
    result = run(tmp_path, [("1001", "A", 2, "2026-06-30 23:30", "1.00", customer)])  # 20 points
    (earn,) = file_of(result, "2026-06", EYEWEAR_MINGMOU)
    (redeem,) = [r for r in file_of(result, "2026-07", CVS_YIDA) if r.kind is RecordKind.REDEEM]
    assert earn.business_time == local("2026-06-30 23:30")
    assert (redeem.issuer_id, redeem.points) == (EYEWEAR_MINGMOU, 20)  # July opens with June's points
    assert redeem.business_time == local("2026-07-01 00:30")


# --- files ------------------------------------------------------------------------------------------------


def test_each_file_is_numbered_1_to_n_in_business_time_order(tmp_path: Path) -> None:
    customer = customer_preferring("BUNDLE", EYEWEAR_MINGMOU)  # 50 points, at cvs-yida
    result = run(tmp_path, [
        ("1001", "A", 10, "2026-02-02 10:00", "1.00", customer),  # 104 points, to spend from March
        ("1002", "A", 1, "2026-03-02 10:00", "1.00", customer),  # a bundle at 11:00
        ("1003", "A", 1, "2026-03-02 10:00", "1.00", customer),  # and another one at 11:00
        ("1004", "A", 1, "2026-03-02 10:30", "1.00", ""),  # a cvs-yida EARN at 10:30
        ("1005", "A", 1, "2026-03-02 12:00", "1.00", ""),
    ])  # fmt: skip
    yida = file_of(result, "2026-03", CVS_YIDA)
    assert [(r.seq, r.kind, r.business_time.strftime("%H:%M")) for r in yida] == [
        (1, RecordKind.EARN, "10:30"),
        (2, RecordKind.REDEEM, "11:00"),
        (3, RecordKind.REDEEM, "11:00"),
        (4, RecordKind.EARN, "12:00"),
    ]
    for month in result.months:
        assert list(month.files) == [p.partner_id for p in PARTNERS if p.partner_id in month.files]
        for partner, file in month.files.items():
            assert file.partner_id == partner and file.file_id == f"SF-{month.period}"
            assert [r.seq for r in file.records] == list(range(1, len(file.records) + 1))
            assert [r.business_time for r in file.records] == sorted(r.business_time for r in file.records)


def test_money_and_points_are_integers_and_no_raw_customer_id_leaves(tmp_path: Path) -> None:
    customer = customer_preferring("WATER", EYEWEAR_MINGMOU)
    result = run(tmp_path, [
        ("1001", "A", 3, "2026-03-02 10:00", "0.85", customer),
        ("C1002", "A", -1, "2026-03-02 12:00", "0.85", customer),
    ])  # fmt: skip
    for _, _, record in all_records(result):
        assert type(record.points) is int and type(record.amount_fen) is int
        assert customer not in record.member_token
        assert record.business_time.utcoffset() is not None


# --- the real data set ------------------------------------------------------------------------------------


def direct_counts(path: Path) -> tuple[int, int, int]:
    """(lines, lines without customer, cancellation lines), counted straight from the CSV."""
    lines = anonymous = cancellations = 0
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        next(reader)
        for row in reader:
            lines += 1
            anonymous += row[6] == ""
            cancellations += row[0].startswith("C")
    return lines, anonymous, cancellations


def check_reversals(records: list[tuple[str, str, SettlementRecord]]) -> None:
    """Every REVERSAL points at an earlier EARN of the same partner and member, and never gives back more."""
    by_ref = {(partner, f"SF-{period}", r.seq): r for period, partner, r in records}
    given_back: defaultdict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for period, partner, r in records:
        if r.kind is not RecordKind.REVERSAL:
            continue
        assert r.original is not None
        key = (partner, r.original.file_id, r.original.seq)
        earn = by_ref[key]
        assert earn.kind is RecordKind.EARN and earn.member_token == r.member_token != ""
        assert earn.business_time <= r.business_time
        assert r.original.file_id != f"SF-{period}" or earn.seq < r.seq
        given_back[key][0] += r.points
        given_back[key][1] += r.amount_fen
    for key, (points, amount) in given_back.items():
        assert points <= by_ref[key].points and amount <= by_ref[key].amount_fen


def check_balances(records: list[tuple[str, str, SettlementRecord]]) -> None:
    """Replaying the records in business-time order, no member's balance ever goes below zero.

    Same instant: redemptions due first, then the issuer's records in seq order. Only the EARNs the hub
    accepts under RL1 (a member, spend > 0, points > 0) credit anything.
    """
    balance: Counter[tuple[str, str]] = Counter()
    for _, _, r in sorted(records, key=lambda x: (x[2].business_time, x[2].kind is not RecordKind.REDEEM, x[2].seq)):
        key = (r.issuer_id, r.member_token)
        if r.kind is RecordKind.EARN:
            balance[key] += r.points if credited(r) else 0
        else:
            balance[key] -= r.points
            assert balance[key] >= 0, r


def check_one_redemption_per_purchase(records: list[tuple[str, str, SettlementRecord]]) -> None:
    """A member redeems at most once an hour after each of its credited purchases, plus once in the Eye Care
    Day sweep (10:00 on 6 June): never a run of identical redemptions."""
    due: Counter[tuple[str, datetime]] = Counter()
    redeemed: Counter[tuple[str, datetime]] = Counter()
    for _, _, r in records:
        if credited(r):
            due[r.member_token, r.business_time.astimezone(UTC) + timedelta(hours=1)] += 1
        elif r.kind is RecordKind.REDEEM:
            redeemed[r.member_token, r.business_time.astimezone(UTC)] += 1
    for (token, at), count in redeemed.items():
        wall = at.astimezone(SHANGHAI)
        sweep = (wall.month, wall.day, wall.hour, wall.minute) == (6, 6, 10, 0)
        assert count <= due[token, at] + sweep, (token, wall)


@pytest.mark.slow
def test_the_real_data_set(capsys: pytest.CaptureFixture[str]) -> None:
    if not REAL_DATA.exists():
        pytest.skip(f"{REAL_DATA} is missing")
    started = time.perf_counter()
    result = replay(REAL_DATA, as_of=AS_OF, zone=SHANGHAI)
    elapsed = time.perf_counter() - started
    stats = result.stats
    counted = (stats.lines_read, stats.lines_without_customer, stats.cancellation_lines)
    assert counted == direct_counts(REAL_DATA)
    assert stats.lines_read == 541_909
    assert stats.shift_days == 5467 and stats.last_business_time == local("2026-11-27 12:50")
    assert [m.period for m in result.months][-1] == "2026-11"
    records = all_records(result)
    kinds = Counter(r.kind for _, _, r in records)
    assert kinds[RecordKind.EARN] == stats.earn_records and kinds[RecordKind.REDEEM] == stats.redeem_records
    assert kinds[RecordKind.REVERSAL] == stats.reversal_records
    assert (stats.earn_records, stats.reversal_records, stats.redeem_records) == (22_064, 3_789, 12_890)
    assert (stats.members, stats.eye_care_day_redemptions) == (4_338, 324)
    assert (stats.reversal_points_forgone, stats.reversals_capped_in_clearing_order) == (0, 0)
    check_reversals(records)
    check_balances(records)
    check_one_redemption_per_purchase(records)
    refused, _ = clear_like_the_hub(result)
    assert refused == []  # the hub, clearing the files in the runner's order, refuses no REDEEM nor REVERSAL
    with capsys.disabled():
        print(f"\nreal replay: {elapsed:.1f} s, {len(records)} records, {dict(kinds)}")
    assert elapsed < 30
