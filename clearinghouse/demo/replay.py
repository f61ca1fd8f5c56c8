"""Replay of the retail purchase history as the demo alliance partners' monthly settlement files.

Pure: a path and an ``as_of`` date in, immutable values out; no database, no clock, no host time
zone. The rules are written down in ``docs/demo.md``; in short:

* Business time = the file's naive ``InvoiceDate`` read as a wall time in ``zone``, shifted by the
  largest whole number of weeks that puts the data set's last invoice inside the last complete
  calendar month before ``as_of``.
* A customer whose numeric id is divisible by 10 is a member of ``eyewear-mingmou``, any other of
  ``cvs-yida``; the hub only ever sees the issuer's opaque token "m_" +
  sha256("<issuer>:<customer>")[:20].
* EARN per non-cancellation invoice (anonymous ones included, with an empty token, reported by
  ``cvs-yida``); REVERSAL per (cancellation invoice, original invoice) matched line by line.
* REDEEM of the member's preferred offer ONCE one hour after each credited purchase, and once at 10:00
  on a promotion day, when the member's spendable points cover the price. Spendable = the balance at
  the start of the month (the hub's period) minus what was redeemed since, never more than the balance
  now: points earned in a month can be spent from the next month on, when they are settled.
* A REVERSAL takes back at most the member's balance at its business time and at most the balance the
  hub will see when it clears it: each month is cleared once more here, file after file in the demo
  runner's order (``CLEARING_ORDER``), after that month's redemptions are decided.
* A record goes to the file of its reporting partner for the month of its business time; seq is 1..n
  in business-time order; the file id is "SF-YYYY-MM".
"""

from __future__ import annotations

import calendar
import hashlib
import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

from clearinghouse.demo.alliance import (
    CVS_YIDA,
    EARN_FEN_PER_POINT,
    EYEWEAR_MINGMOU,
    OFFERS,
    PARTNERS,
    Offer,
    offers_for_issuer,
)
from clearinghouse.demo.retail import Invoice, InvoiceLine, count_lines, line_value_fen, read_invoices
from settlement.records import RecordKind, RecordRef, SettlementRecord

ANONYMOUS_REPORTER = CVS_YIDA
"""Who reports the EARN of a purchase without a customer id (with an empty member token)."""
EYEWEAR_MEMBER_MODULUS = 10
"""A customer whose numeric id is divisible by this is a member of ``eyewear-mingmou``."""
REDEEM_DELAY = timedelta(hours=1)
"""A member redeems (once) this long (absolute time) after each credited purchase."""
PROMO_SWEEP_AT = time(10, 0)
"""Local time of the once-a-day promotion redemptions (Eye Care Day)."""
WEEK = timedelta(weeks=1)
CLEARING_ORDER: tuple[str, ...] = (
    *(p.partner_id for p in PARTNERS if p.is_issuer),
    *sorted(p.partner_id for p in PARTNERS if not p.is_issuer),
)
"""The order in which the demo runner submits a month's files to the hub (``run._file_order``): the issuers
in ``PARTNERS`` order, then the other partners by id. The hub clears each file's records in seq order."""


@dataclass(frozen=True, slots=True)
class PartnerFile:
    """The records one partner reports for one month, seq 1..n in business-time order."""

    partner_id: str
    file_id: str
    records: tuple[SettlementRecord, ...]


@dataclass(frozen=True, slots=True)
class MonthFiles:
    """The files of one period ("YYYY-MM") by partner id; a partner with no record that month has none."""

    period: str
    files: Mapping[str, PartnerFile]


@dataclass(frozen=True, slots=True)
class ReplayStats:
    """Counts of the replay; ``first/last_business_time`` are the first and last invoice after the shift.

    ``reversal_points_forgone`` counts every point a REVERSAL did not take back (balance caps), of which
    ``reversals_capped_in_clearing_order`` reversals were cut by the hub's clearing order.
    """

    lines_read: int
    lines_without_customer: int
    cancellation_lines: int
    cancellation_lines_unmatched: int
    cancellation_lines_without_customer: int
    cancellation_lines_capped: int
    invoices: int
    members: int
    earn_records: int
    earn_records_without_member: int
    earn_records_uncredited: int
    reversal_records: int
    redeem_records: int
    eye_care_day_redemptions: int
    reversal_points_forgone: int
    reversals_capped_in_clearing_order: int
    shift_days: int
    first_business_time: datetime
    last_business_time: datetime


@dataclass(frozen=True, slots=True)
class Replay:
    """The monthly files in chronological order, and the counts."""

    months: tuple[MonthFiles, ...]
    stats: ReplayStats


# --- small pure rules ----------------------------------------------------------------------------


def week_shift(last_invoice_local: datetime, as_of: date) -> timedelta:
    """The largest whole number of weeks that puts ``last_invoice_local`` before ``as_of``'s month.

    That is inside the last complete calendar month before ``as_of`` (any month has at least 28 days).
    Naive wall times: the weekday and the time of day of every invoice are kept.
    """
    month_start = datetime(as_of.year, as_of.month, 1)
    weeks = -((last_invoice_local - month_start) // WEEK) - 1  # largest k with last + k weeks < month_start
    return weeks * WEEK


def business_time(invoiced_at_local: datetime, shift: timedelta, zone: ZoneInfo) -> datetime:
    """The naive file time shifted by ``shift`` and read as a wall time in ``zone`` (fold=0 if ambiguous)."""
    return (invoiced_at_local + shift).replace(tzinfo=zone)


def period_of(moment: datetime, zone: ZoneInfo) -> str:
    """The period "YYYY-MM" of an aware ``moment``: its calendar month in ``zone``."""
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def file_id_for(period: str) -> str:
    """The id of a partner's file for ``period``: "SF-YYYY-MM" (one file per partner and month, so unique)."""
    return f"SF-{period}"


def issuer_of(customer_id: str) -> str:
    """``eyewear-mingmou`` when the numeric id is divisible by 10, else ``cvs-yida``."""
    return EYEWEAR_MINGMOU if int(customer_id) % EYEWEAR_MEMBER_MODULUS == 0 else CVS_YIDA


def member_token(issuer_id: str, customer_id: str) -> str:
    """The opaque token ``issuer_id`` assigns: "m_" + first 20 hex digits of sha256("<issuer>:<customer>")."""
    return "m_" + hashlib.sha256(f"{issuer_id}:{customer_id}".encode()).hexdigest()[:20]


def preferred_offer(token: str, issuer_id: str) -> Offer:
    """The member's one preferred offer: offers_for_issuer[int(sha256(token), 16) % their number]."""
    offers = offers_for_issuer(issuer_id)
    return offers[int(hashlib.sha256(token.encode()).hexdigest(), 16) % len(offers)]


def promo_moments(first: datetime, last: datetime, zone: ZoneInfo) -> tuple[datetime, ...]:
    """10:00 local on each promotion day of any offer from ``first`` to ``last`` (inclusive), in order."""
    days = {o.promo_month_day for o in OFFERS if o.promo_month_day is not None}
    moments = (
        datetime.combine(date(year, month, day), PROMO_SWEEP_AT, tzinfo=zone)
        for year in range(first.year, last.year + 1)
        for month, day in days
        if (month, day) != (2, 29) or calendar.isleap(year)
    )
    return tuple(sorted(m for m in moments if first <= m <= last))


def _instant(moment: datetime) -> datetime:
    """The absolute instant of an aware time (comparing in UTC orders even across a DST fold)."""
    return moment.astimezone(UTC)


def _later(moment: datetime, delta: timedelta, zone: ZoneInfo) -> datetime:
    """``delta`` of absolute time after ``moment``, as a wall time in ``zone``."""
    return (_instant(moment) + delta).astimezone(zone)


# --- simulation state (internal, mutable) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Draft:
    """A record before its seq is known.

    ``order`` is the creation rank (ties in business time keep it); ``original`` is the ``order`` of the EARN
    a REVERSAL gives back.
    """

    order: int
    reporter: str
    kind: RecordKind
    business_time: datetime
    issuer_id: str
    fulfiller_id: str
    member_token: str
    points: int
    amount_fen: int
    receipt_ref: str = ""
    category: str = ""
    offer_ref: str = ""
    original: int | None = None

    @property
    def credits(self) -> bool:
        """True for an EARN the hub accepts under RL1: a member, spend > 0 and points > 0."""
        return self.kind is RecordKind.EARN and self.member_token != "" and self.amount_fen > 0 and self.points > 0


@dataclass(slots=True)
class _Slot:
    """What remains uncancelled of one purchased line (positive quantity, non-negative price)."""

    quantity: int
    fen: int
    unit_price: Decimal


@dataclass(slots=True)
class _Original:
    """A credited purchase: its EARN's draft order, its points still standing, its spend not cancelled."""

    earn_order: int
    points_standing: int
    remaining_fen: int
    slots: dict[str, list[_Slot]]

    def take(self, stock_code: str, quantity: int) -> tuple[int, int]:
        """Cancels up to ``quantity`` of ``stock_code`` (first line first); returns (quantity, fen) taken.

        The fen of a partly cancelled line follow the per-line rule, never more than what remains of it.
        """
        taken = fen = 0
        for slot in self.slots.get(stock_code, ()):
            part = min(quantity - taken, slot.quantity)
            if part <= 0:
                continue
            value = slot.fen if part == slot.quantity else min(slot.fen, line_value_fen(part, slot.unit_price))
            slot.quantity -= part
            slot.fen -= value
            taken += part
            fen += value
        return taken, fen

    def holds(self, stock_code: str) -> bool:
        """True when some quantity of ``stock_code`` is still uncancelled."""
        return any(slot.quantity > 0 for slot in self.slots.get(stock_code, ()))


@dataclass(slots=True)
class _Member:
    """A member's points of its issuer: the balance now and, for ``period``, what it may spend.

    ``opening`` is the balance when the member was first seen in ``period`` (nothing of the period had
    happened to it yet, so it is the balance at the start of the period); ``redeemed`` what it has
    redeemed since.
    """

    offer: Offer
    balance: int = 0
    period: str = ""
    opening: int = 0
    redeemed: int = 0

    def enter(self, period: str) -> None:
        """Starts ``period`` for this member, unless already in it."""
        if period != self.period:
            self.period, self.opening, self.redeemed = period, self.balance, 0

    def spendable(self) -> int:
        """Settled points not yet redeemed this period, never more than the balance now."""
        return max(min(self.opening - self.redeemed, self.balance), 0)


class _FenCache(dict[tuple[int, Decimal], int]):
    """``line_value_fen`` memoised: the data set has about 8,400 distinct (quantity, price) pairs."""

    def __missing__(self, key: tuple[int, Decimal]) -> int:
        value = self[key] = line_value_fen(*key)
        return value


def _priced(invoice: Invoice, fen: _FenCache) -> tuple[int, dict[str, list[_Slot]]]:
    """The spend of a purchase and its cancellable lines (quantity > 0, price >= 0) by stock code."""
    spend = 0
    slots: dict[str, list[_Slot]] = {}
    for line in invoice.lines:
        value = fen[line.quantity, line.unit_price]
        spend += value
        if line.quantity > 0 and line.unit_price >= 0:
            slots.setdefault(line.stock_code, []).append(_Slot(line.quantity, value, line.unit_price))
    return spend, slots


_DUE, _SWEEP, _INVOICE = 0, 1, 2
"""Ranks of events at the same instant: due redemptions, then the promotion sweep, then invoices."""
_FILE_RANK = {partner_id: rank for rank, partner_id in enumerate(CLEARING_ORDER)}


@dataclass(frozen=True, slots=True)
class _Event:
    """Something that happens at ``at``: an invoice, a promotion sweep, or a member's due redemption."""

    at: datetime
    rank: int
    invoice: Invoice | None = None
    token: str = ""


@dataclass
class _Simulation:
    """Plays the events in business-time order, a month at a time, and writes drafts.

    The drafts of the current month stay in ``month`` until it is over; then ``close_month`` clears them
    as the hub will and cuts the reversals it would not be able to take in full.
    """

    zone: ZoneInfo
    queue: list[tuple[datetime, int, int, _Event]] = field(default_factory=list)
    tickets: itertools.count[int] = field(default_factory=itertools.count)
    orders: itertools.count[int] = field(default_factory=itertools.count)
    period: str = ""
    month: list[_Draft] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    members: dict[str, _Member] = field(default_factory=dict)
    purchases: dict[str, dict[str, list[_Original]]] = field(default_factory=dict)
    reversed: dict[int, _Original] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    fen: _FenCache = field(default_factory=_FenCache)

    def schedule(self, event: _Event) -> None:
        """Queues ``event``; events run by instant, then rank, then the order they were queued."""
        heapq.heappush(self.queue, (_instant(event.at), event.rank, next(self.tickets), event))

    def run(self) -> None:
        """Plays the queued events, and those they schedule, until none is left; closes each month."""
        while self.queue:
            event = heapq.heappop(self.queue)[-1]
            period = period_of(event.at, self.zone)
            if period != self.period:
                self.close_month()
                self.period = period
            if event.rank == _DUE:
                self.due(event.token, event.at)
            elif event.invoice is None:
                self.promo_sweep(event.at)
            elif event.invoice.is_cancellation:
                self.cancellation(event.invoice, event.at)
            else:
                self.purchase(event.invoice, event.at)
        self.close_month()

    def _add(
        self,
        reporter: str,
        kind: RecordKind,
        at: datetime,
        *,
        issuer_id: str,
        member_token: str,
        points: int,
        amount_fen: int,
        fulfiller_id: str = "",
        receipt_ref: str = "",
        category: str = "",
        offer_ref: str = "",
        original: int | None = None,
    ) -> _Draft:
        """Adds a draft to the current month with the next creation rank."""
        draft = _Draft(
            next(self.orders), reporter, kind, at, issuer_id, fulfiller_id, member_token, points, amount_fen,
            receipt_ref, category, offer_ref, original,
        )  # fmt: skip
        self.month.append(draft)
        return draft

    def _member(self, token: str) -> _Member:
        """The member of ``token``, in the current period."""
        member = self.members[token]
        member.enter(self.period)
        return member

    # EARN ----------------------------------------------------------------------------------------

    def purchase(self, invoice: Invoice, at: datetime) -> None:
        """EARN for a non-cancellation invoice; credits it when the hub would accept it (RL1) and makes a
        redemption due an hour later."""
        spend, slots = _priced(invoice, self.fen)
        if invoice.customer_id is None:
            self._earn(ANONYMOUS_REPORTER, "", invoice, at, spend)
            self.counts["earn_records_without_member"] += 1
            return
        issuer = issuer_of(invoice.customer_id)
        token = member_token(issuer, invoice.customer_id)
        earn = self._earn(issuer, token, invoice, at, spend)
        if not earn.credits:
            self.counts["earn_records_uncredited"] += 1
            return
        if token not in self.members:
            self.members[token] = _Member(preferred_offer(token, issuer))
        self._member(token).balance += earn.points
        original = _Original(earn.order, earn.points, spend, slots)
        bought = self.purchases.setdefault(token, {})
        for stock_code in slots:
            bought.setdefault(stock_code, []).append(original)
        self.schedule(_Event(_later(at, REDEEM_DELAY, self.zone), _DUE, token=token))

    def _earn(self, issuer: str, token: str, invoice: Invoice, at: datetime, spend: int) -> _Draft:
        """The EARN of ``invoice``: a point per whole ``EARN_FEN_PER_POINT`` of spend, as is (even <= 0)."""
        self.counts["earn_records"] += 1
        return self._add(
            issuer,
            RecordKind.EARN,
            at,
            issuer_id=issuer,
            member_token=token,
            points=spend // EARN_FEN_PER_POINT[issuer],
            amount_fen=spend,
            receipt_ref=invoice.invoice_no,
        )

    # REDEEM --------------------------------------------------------------------------------------

    def _redeem_if_spendable(self, token: str, at: datetime) -> bool:
        """One REDEEM of the member's preferred offer at ``at``, at that local day's price, if its spendable
        points cover it; reported by the offer's fulfiller."""
        member = self._member(token)
        offer = member.offer
        price = offer.price_on(at.astimezone(self.zone).date())
        if member.spendable() < price:
            return False
        member.balance -= price
        member.redeemed += price
        self.counts["redeem_records"] += 1
        self._add(
            offer.fulfiller_id,
            RecordKind.REDEEM,
            at,
            issuer_id=offer.issuer_id,
            fulfiller_id=offer.fulfiller_id,
            member_token=token,
            points=price,
            amount_fen=offer.face_value_fen,
            category=offer.category,
            offer_ref=offer.offer_ref,
        )
        return True

    def due(self, token: str, at: datetime) -> None:
        """An hour after a credited purchase: the member redeems its preferred offer once, if it can."""
        self._redeem_if_spendable(token, at)

    def promo_sweep(self, at: datetime) -> None:
        """At 10:00 of a promotion day, each member whose offer is on promotion redeems it once, if it can."""
        day = at.astimezone(self.zone).date()
        for token in sorted(self.members):
            if self.members[token].offer.has_promo_on(day) and self._redeem_if_spendable(token, at):
                self.counts["eye_care_day_redemptions"] += 1

    # REVERSAL ------------------------------------------------------------------------------------

    def cancellation(self, invoice: Invoice, at: datetime) -> None:
        """Matches each line to the latest earlier purchase of its stock code; one REVERSAL per original."""
        if invoice.customer_id is None:
            self.counts["cancellation_lines_without_customer"] += len(invoice.lines)
            return
        issuer = issuer_of(invoice.customer_id)
        token = member_token(issuer, invoice.customer_id)
        cancelled: dict[int, tuple[_Original, int]] = {}
        for line in invoice.lines:
            original = self._match(token, line)
            if original is None:
                self.counts["cancellation_lines_unmatched"] += 1
                continue
            taken, fen = original.take(line.stock_code, -line.quantity)
            if taken < -line.quantity:
                self.counts["cancellation_lines_capped"] += 1
            seen = cancelled.get(original.earn_order, (original, 0))[1]
            cancelled[original.earn_order] = (original, seen + fen)
        for original, fen in cancelled.values():
            self._reverse(issuer, token, invoice, at, original, fen)

    def _match(self, token: str, line: InvoiceLine) -> _Original | None:
        """The most recent earlier credited purchase that still holds some of the line's stock code."""
        if line.quantity >= 0:
            return None
        candidates = self.purchases.get(token, {}).get(line.stock_code, [])
        return next((o for o in reversed(candidates) if o.holds(line.stock_code)), None)

    def _reverse(self, issuer: str, token: str, invoice: Invoice, at: datetime, original: _Original, fen: int) -> None:
        """Gives back spend and points of ``original``; points capped at the member's balance now (and, when
        the month is closed, at the balance the hub will see)."""
        member = self._member(token)
        amount = min(fen, max(original.remaining_fen, 0))
        original.remaining_fen -= amount
        due = max(original.points_standing - max(original.remaining_fen, 0) // EARN_FEN_PER_POINT[issuer], 0)
        points = min(due, member.balance)
        self.counts["reversal_points_forgone"] += due - points
        if points == 0 and amount == 0:
            return
        original.points_standing -= points
        member.balance -= points
        self.counts["reversal_records"] += 1
        draft = self._add(
            issuer,
            RecordKind.REVERSAL,
            at,
            issuer_id=issuer,
            member_token=token,
            points=points,
            amount_fen=amount,
            receipt_ref=invoice.invoice_no,
            original=original.earn_order,
        )
        self.reversed[draft.order] = original

    # the hub's view ------------------------------------------------------------------------------

    def close_month(self) -> None:
        """Clears the month's drafts as the hub will, and cuts each REVERSAL to the balance the hub sees then.

        The hub clears the month's files one after another in ``CLEARING_ORDER``, each in seq (business-time)
        order, starting from the balances at the start of the month. So a fulfiller's REDEEM may be cleared
        before an EARN or a REVERSAL that came earlier in business time. The points a REVERSAL does not take
        back are forgone: they stay on the original and with the member.
        """
        hub: dict[str, int] = {}
        kept: list[_Draft] = []
        for draft in sorted(self.month, key=_clearing_key):
            token = draft.member_token
            if draft.kind is RecordKind.EARN and not draft.credits:  # anonymous, or worth nothing
                kept.append(draft)
                continue
            held = hub.setdefault(token, self.members[token].opening)
            if draft.credits:
                hub[token] = held + draft.points
            elif draft.kind is RecordKind.REDEEM:
                hub[token] = held - draft.points
            else:
                draft = self._cut(draft, max(held, 0))
                hub[token] = held - draft.points
                if draft.points == 0 and draft.amount_fen == 0:
                    self.counts["reversal_records"] -= 1
                    continue
            kept.append(draft)
        self.drafts.extend(kept)
        self.month.clear()
        self.reversed.clear()

    def _cut(self, reversal: _Draft, held: int) -> _Draft:
        """``reversal`` taking back at most ``held`` points; what it leaves stays standing and with the member."""
        cut = reversal.points - held
        if cut <= 0:
            return reversal
        self.reversed[reversal.order].points_standing += cut
        self.members[reversal.member_token].balance += cut
        self.counts["reversal_points_forgone"] += cut
        self.counts["reversals_capped_in_clearing_order"] += 1
        return replace(reversal, points=held)


def _clearing_key(draft: _Draft) -> tuple[int, datetime, int]:
    """Where the hub clears ``draft`` within its month: its file's turn, then its place in the file."""
    return _FILE_RANK[draft.reporter], _instant(draft.business_time), draft.order


# --- assembly ------------------------------------------------------------------------------------


def _sequence(drafts: Iterable[_Draft], zone: ZoneInfo) -> dict[tuple[str, str], list[_Draft]]:
    """Drafts grouped by (period, reporter), each group in business-time order (ties: creation order)."""
    groups: dict[tuple[str, str], list[_Draft]] = {}
    for draft in drafts:
        groups.setdefault((period_of(draft.business_time, zone), draft.reporter), []).append(draft)
    for group in groups.values():
        group.sort(key=lambda d: (_instant(d.business_time), d.order))
    return groups


def _earn_refs(groups: Mapping[tuple[str, str], list[_Draft]]) -> dict[int, RecordRef]:
    """(file id, seq) of every EARN draft, by draft order."""
    refs: dict[int, RecordRef] = {}
    for (period, _), group in groups.items():
        for seq, draft in enumerate(group, start=1):
            if draft.kind is RecordKind.EARN:
                refs[draft.order] = RecordRef(file_id_for(period), seq)
    return refs


def _records(group: Iterable[_Draft], refs: Mapping[int, RecordRef]) -> tuple[SettlementRecord, ...]:
    """The records of one file, seq 1..n."""
    return tuple(
        SettlementRecord(
            seq,
            d.kind,
            d.business_time,
            d.issuer_id,
            d.fulfiller_id,
            d.member_token,
            d.points,
            d.amount_fen,
            d.receipt_ref,
            d.category,
            d.offer_ref,
            None if d.original is None else refs[d.original],
        )
        for seq, d in enumerate(group, start=1)
    )


def _assemble(drafts: Iterable[_Draft], zone: ZoneInfo) -> tuple[MonthFiles, ...]:
    """The monthly files: seq 1..n per file, REVERSAL originals resolved to (file id, seq) of the EARN."""
    groups = _sequence(drafts, zone)
    refs = _earn_refs(groups)
    rank = {p.partner_id: i for i, p in enumerate(PARTNERS)}
    months: dict[str, dict[str, PartnerFile]] = {}
    for period, reporter in sorted(groups, key=lambda key: (key[0], rank[key[1]])):
        records = _records(groups[period, reporter], refs)
        months.setdefault(period, {})[reporter] = PartnerFile(reporter, file_id_for(period), records)
    return tuple(MonthFiles(period, MappingProxyType(files)) for period, files in sorted(months.items()))


# --- the replay ----------------------------------------------------------------------------------


def _simulate(
    timed: Iterable[tuple[datetime, Invoice]], span: tuple[datetime, datetime], zone: ZoneInfo
) -> _Simulation:
    """Queues every invoice at its business time and the promotion sweeps within ``span``, and plays them."""
    sim = _Simulation(zone)
    for at, invoice in timed:  # queued in file order, which breaks ties between invoices of one minute
        sim.schedule(_Event(at, _INVOICE, invoice))
    for moment in promo_moments(*span, zone):
        sim.schedule(_Event(moment, _SWEEP))
    sim.run()
    return sim


def _stats(invoices: list[Invoice], span: tuple[datetime, datetime], sim: _Simulation, shift: timedelta) -> ReplayStats:
    lines = count_lines(invoices)
    c = sim.counts
    return ReplayStats(
        lines_read=lines.lines_read,
        lines_without_customer=lines.lines_without_customer,
        cancellation_lines=lines.cancellation_lines,
        cancellation_lines_unmatched=c["cancellation_lines_unmatched"],
        cancellation_lines_without_customer=c["cancellation_lines_without_customer"],
        cancellation_lines_capped=c["cancellation_lines_capped"],
        invoices=len(invoices),
        members=len(sim.members),
        earn_records=c["earn_records"],
        earn_records_without_member=c["earn_records_without_member"],
        earn_records_uncredited=c["earn_records_uncredited"],
        reversal_records=c["reversal_records"],
        redeem_records=c["redeem_records"],
        eye_care_day_redemptions=c["eye_care_day_redemptions"],
        reversal_points_forgone=c["reversal_points_forgone"],
        reversals_capped_in_clearing_order=c["reversals_capped_in_clearing_order"],
        shift_days=shift.days,
        first_business_time=span[0],
        last_business_time=span[1],
    )


def replay(
    path: str | Path,
    *,
    as_of: date,
    zone: ZoneInfo,
    on_progress: Callable[[int], None] | None = None,
) -> Replay:
    """Replays the purchase history at ``path`` into the partners' monthly settlement files (see module doc).

    ``on_progress(lines_read)`` is called every 50,000 lines while reading. Raises ``ValueError`` on an
    empty or malformed file.
    """
    invoices = list(read_invoices(path, on_progress=on_progress))
    if not invoices:
        raise ValueError(f"{path}: no invoice")
    shift = week_shift(max(inv.invoiced_at_local for inv in invoices), as_of)
    times = [business_time(inv.invoiced_at_local, shift, zone) for inv in invoices]
    span = (min(times, key=_instant), max(times, key=_instant))
    sim = _simulate(zip(times, invoices, strict=True), span, zone)
    return Replay(_assemble(sim.drafts, zone), _stats(invoices, span, sim, shift))
