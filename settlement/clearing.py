"""Clearing rules: decide, record by record, whether a reported record is accepted, and what it posts.

Pure: the service loads what the rules need for a batch into a :class:`ClearingBook` (balances, originals,
cap usage), calls :func:`clear` for each record in file order, and writes what comes back. The book is
updated as records are accepted, so a later record of the same file sees the earlier ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from contracts.errors import OverlappingContracts
from contracts.lifecycle import applicable_terms
from contracts.terms import ContractTerms, FulfillerTerms, Rounding, is_cash_equivalent, is_points_purchase, to_fen
from partners.model import Partner, Role
from settlement import ledger
from settlement.budgets import Budget, given_back_fen, issued_value_fen
from settlement.families import Membership, pool_problem
from settlement.ledger import Transfer
from settlement.periods import Period, settlement_period
from settlement.records import RecordKind, RecordRef, SettlementRecord

# A record may carry a business time a little ahead of the hub's clock (till clocks drift); not more.
CLOCK_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ActiveContract:
    """An active contract version as the hub stores it: its database id and its terms."""

    pk: int
    terms: ContractTerms


@dataclass(frozen=True, slots=True)
class Original:
    """What is left to reverse of an accepted EARN or REDEEM."""

    record_id: int
    kind: RecordKind
    business_time: datetime
    issuer_id: str
    fulfiller_id: str
    member_token: str
    points_left: int
    spend_left_fen: int
    value_left_fen: int
    rate_fen_per_point: Decimal | None
    rounding: Rounding | None
    earn_cap_points_per_yuan: Decimal | None = None  # an EARN's program cap: what may stay after a refund


@dataclass(frozen=True, slots=True)
class ClearingContext:
    reporter_id: str
    file_id: str
    partners: Mapping[str, Partner]
    contracts: Sequence[ActiveContract]
    closed_periods: frozenset[Period]
    zone: ZoneInfo
    received_at: datetime
    # Which terms govern an (issuer, fulfiller, day) never changes while a file clears: remembered.
    _terms_memo: dict[tuple[str, str, date], tuple[ActiveContract, FulfillerTerms] | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    _program_memo: dict[tuple[str, date], ActiveContract | None] = field(
        default_factory=dict, compare=False, repr=False
    )
    # Issuers whose issuing is suspended (RL4: their licence expired; lifted by recording a new one).
    suspended_issuers: frozenset[str] = frozenset()


@dataclass(slots=True)
class ClearingBook:
    """Working state for one batch; every key the batch needs is loaded before clearing starts."""

    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    originals: dict[RecordRef, Original] = field(default_factory=dict)
    redeemed_in_period: dict[tuple[str, str, Period], int] = field(default_factory=dict)
    captures: dict[str, CapturedAuthorization] = field(default_factory=dict)
    # family-group memberships of the members a FAMILY_POOL line names, (issuer, member) → memberships
    families: dict[tuple[str, str], tuple[Membership, ...]] = field(default_factory=dict)
    # RL3: the declared budget (None: none declared) and the issued value used, per (issuer, business period)
    budgets: dict[tuple[str, Period], Budget | None] = field(default_factory=dict)
    issued_in_period: dict[tuple[str, Period], int] = field(default_factory=dict)
    budget_refusals: set[tuple[str, Period]] = field(default_factory=set)


@dataclass(slots=True)
class CapturedAuthorization:
    """A real-time capture of the reporting fulfiller, as a settlement file may report it again."""

    issuer_id: str
    member_token: str
    points: int
    reported: bool


@dataclass(frozen=True, slots=True)
class BookKeys:
    balances: frozenset[tuple[str, str]]
    originals: frozenset[RecordRef]
    redeemed_in_period: frozenset[tuple[str, str, Period]]
    captures: frozenset[str] = frozenset()
    family_members: frozenset[tuple[str, str]] = frozenset()
    budgets: frozenset[tuple[str, Period]] = frozenset()  # EARNs' (issuer, business period)


@dataclass(frozen=True, slots=True)
class Accepted:
    record: SettlementRecord
    record_id: int
    transfers: tuple[Transfer, ...]
    value_fen: int
    business_period: Period
    settlement_period: Period
    contract_pk: int | None
    original_id: int | None


@dataclass(frozen=True, slots=True)
class Refused:
    seq: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Matched:
    """A REDEEM line that reports a capture already cleared in real time: recorded, posts nothing again."""

    record: SettlementRecord
    record_id: int
    reference: str


Decision = Accepted | Refused | Matched
CAPTURE_PREFIX = "AUTH:"


def keys_for(records: Iterable[SettlementRecord], zone: ZoneInfo) -> BookKeys:
    """Which balances, originals, cap counters, family memberships and budgets the rules will read for these
    records (the budgets of the EARNs that reversals name are added once the originals are known:
    :func:`original_budget_keys`)."""
    balances, originals, caps, captures, families, budgets = set(), set(), set(), set(), set(), set()
    for record in records:
        balances.add((record.issuer_id, record.member_token))
        if record.kind is RecordKind.FAMILY_POOL:
            balances.add((record.issuer_id, record.to_member_token))
            families.update({(record.issuer_id, record.member_token), (record.issuer_id, record.to_member_token)})
        if record.kind is RecordKind.EARN:
            budgets.add((record.issuer_id, Period.of(record.business_time, zone)))
        if record.original is not None:
            originals.add(record.original)
        if record.kind is RecordKind.REDEEM:
            caps.add((record.issuer_id, record.fulfiller_id, Period.of(record.business_time, zone)))
            if record.receipt_ref.startswith(CAPTURE_PREFIX):
                captures.add(record.receipt_ref.removeprefix(CAPTURE_PREFIX))
    return BookKeys(
        balances=frozenset(balances),
        originals=frozenset(originals),
        redeemed_in_period=frozenset(caps),
        captures=frozenset(captures),
        family_members=frozenset(families),
        budgets=frozenset(budgets),
    )


def original_budget_keys(originals: Iterable[Original], zone: ZoneInfo) -> set[tuple[str, Period]]:
    """The (issuer, business period) of every EARN among ``originals``: a reversal gives value back there."""
    return {
        (original.issuer_id, Period.of(original.business_time, zone))
        for original in originals
        if original.kind is RecordKind.EARN
    }


def clear(record: SettlementRecord, record_id: int, ctx: ClearingContext, book: ClearingBook) -> Decision:
    """Accept or refuse one record; an acceptance has already been applied to ``book``."""
    problem = _common_problem(record, ctx)
    if problem is not None:
        return Refused(record.seq, *problem)
    if record.to_member_token and record.kind is not RecordKind.FAMILY_POOL:
        return _refuse(
            record,
            "RL6_TRANSFER_NOT_ALLOWED",
            f"a {record.kind} names a receiving member: points move between members only as a FAMILY_POOL",
        )
    if record.kind is RecordKind.FAMILY_POOL:
        return _clear_family_pool(record, record_id, ctx, book)
    if record.kind is RecordKind.EARN:
        return _clear_earn(record, record_id, ctx, book)
    if record.kind is RecordKind.REDEEM:
        return _clear_redeem(record, record_id, ctx, book)
    return _clear_reversal(record, record_id, ctx, book)


def _common_problem(record: SettlementRecord, ctx: ClearingContext) -> tuple[str, str] | None:
    if record.business_time > ctx.received_at + CLOCK_TOLERANCE:
        return "RECORD_TIME_INVALID", "business time is in the future"
    named = [record.issuer_id] + ([record.fulfiller_id] if record.kind is not RecordKind.EARN else [])
    if record.kind in (RecordKind.REVERSAL, RecordKind.FAMILY_POOL) and not record.fulfiller_id:
        named = [record.issuer_id]
    unknown = [partner for partner in named if partner not in ctx.partners]
    if unknown:
        return "RECORD_PARTNER_UNKNOWN", f"unknown partner {unknown[0][:40]!r}"
    return None


def _refuse(record: SettlementRecord, code: str, message: str) -> Refused:
    return Refused(record.seq, code, message)


def _periods(record: SettlementRecord, ctx: ClearingContext) -> tuple[Period, Period]:
    business = Period.of(record.business_time, ctx.zone)
    return business, settlement_period(business, ctx.closed_periods)


def _local_day(record: SettlementRecord, ctx: ClearingContext) -> datetime:
    return record.business_time.astimezone(ctx.zone)


# ---------------------------------------------------------------- EARN
def _earn_problem(record: SettlementRecord, ctx: ClearingContext) -> tuple[str, str] | None:
    issuer = ctx.partners[record.issuer_id]
    checks: tuple[tuple[bool, str, str], ...] = (
        (record.issuer_id != ctx.reporter_id, "RECORD_REPORTER_MISMATCH", "an EARN is reported by its issuer"),
        (
            bool(record.fulfiller_id) or record.original is not None,
            "RECORD_FIELD_INVALID",
            "an EARN names no fulfiller and no original",
        ),
        (not issuer.has_role(Role.ISSUER), "RECORD_REPORTER_MISMATCH", "the partner is not registered as an issuer"),
        (not record.member_token.strip(), "RL1_MEMBER_MISSING", "the purchase names no identified member"),
        (not record.receipt_ref.strip(), "RL1_RECEIPT_MISSING", "the purchase names no receipt"),
        (record.amount_fen <= 0, "RL1_SPEND_NOT_POSITIVE", f"spend must be > 0 fen, got {record.amount_fen}"),
        (record.points <= 0, "RECORD_POINTS_INVALID", f"points must be > 0, got {record.points}"),
        (
            is_points_purchase(record.category),
            "RL7_POINTS_PURCHASE",
            f"category {record.category!r} is a purchase of points: points are never bought for money",
        ),
        (
            record.issuer_id in ctx.suspended_issuers,
            "RL4_ISSUING_SUSPENDED",
            "issuing is suspended since the licence expired; it resumes when a new licence in date is recorded",
        ),
        (
            not (
                issuer.may_issue_on(_local_day(record, ctx).date())
                and issuer.may_issue_on(ctx.received_at.astimezone(ctx.zone).date())
            ),
            "RL4_LICENCE_INVALID",
            "no value-added telecom licence in date, on the record's day and today, for an online platform operator",
        ),
    )
    return next(((code, message) for failed, code, message in checks if failed), None)


def _program_of(record: SettlementRecord, ctx: ClearingContext) -> ActiveContract | None:
    """The issuer's contract version in force that day: per contract, the highest version already started."""
    day = _local_day(record, ctx).date()
    key = (record.issuer_id, day)
    if key not in ctx._program_memo:
        ctx._program_memo[key] = _governing_program(ctx.contracts, record.issuer_id, day)
    return ctx._program_memo[key]


def _governing_program(contracts: Sequence[ActiveContract], issuer_id: str, day: date) -> ActiveContract | None:
    latest: dict[str, ActiveContract] = {}
    for contract in contracts:
        terms = contract.terms
        if terms.issuer_id != issuer_id or terms.effective_from > day:
            continue
        known = latest.get(terms.contract_id)
        if known is None or terms.version > known.terms.version:
            latest[terms.contract_id] = contract
    covering = [c for _, c in sorted(latest.items()) if c.terms.covers(day)]
    return covering[0] if covering else None


governing_program = _governing_program
"""The issuer's program on a local day (also what decides a lot's expiry policy)."""


def _clear_earn(record: SettlementRecord, record_id: int, ctx: ClearingContext, book: ClearingBook) -> Decision:
    problem = _earn_problem(record, ctx)
    if problem is not None:
        return _refuse(record, *problem)
    program = _program_of(record, ctx)
    if program is None:
        return _refuse(record, "EARN_NO_ACTIVE_PROGRAM", "the issuer has no active signed contract on that date")
    allowed = (Decimal(record.amount_fen) * program.terms.earn_cap_points_per_yuan / 100).to_integral_value(ROUND_FLOOR)
    if record.points > allowed:
        return _refuse(
            record, "EARN_OVER_PROGRAM_CAP", f"{record.points} points for {record.amount_fen} fen; at most {allowed}"
        )
    business, settles = _periods(record, ctx)
    over_budget = _spend_budget(record, business, book)
    if over_budget is not None:
        return over_budget
    key = (record.issuer_id, record.member_token)
    book.balances[key] += record.points
    member = ledger.member_account(record.issuer_id, record.member_token)
    transfers = ledger.transfer(ledger.issued_account(record.issuer_id), member, record.points)
    _remember(
        book,
        ctx,
        record,
        record_id,
        spend=record.amount_fen,
        value=0,
        terms=None,
        earn_cap=program.terms.earn_cap_points_per_yuan,
    )
    return Accepted(record, record_id, transfers, 0, business, settles, program.pk, None)


def _spend_budget(record: SettlementRecord, business: Period, book: ClearingBook) -> Refused | None:
    """RL3: the EARN's issued value (points × point cost, half-up) must fit in what is left of the issuer's
    declared budget for the record's business period; when it does, it is counted as used."""
    key = (record.issuer_id, business)
    budget = book.budgets[key]
    if budget is None:
        return _refuse(record, "RL3_BUDGET_MISSING", f"the issuer declared no marketing budget for {business}")
    value = issued_value_fen(record.points, budget.point_cost)
    used = book.issued_in_period[key]
    if used + value > budget.budget_fen:
        book.budget_refusals.add(key)
        return _refuse(
            record,
            "RL3_BUDGET_EXCEEDED",
            f"issued value {value} fen; {used} of {budget.budget_fen} fen of the {business} budget already used",
        )
    book.issued_in_period[key] = used + value
    return None


def _give_back_budget(original: Original, points: int, ctx: ClearingContext, book: ClearingBook) -> None:
    """RL3: a reversal of an EARN gives its issued value back to the EARN's own period (outstanding value)."""
    key = (original.issuer_id, Period.of(original.business_time, ctx.zone))
    budget = book.budgets.get(key)
    if budget is None:  # issued before budgets were kept: nothing was counted, nothing to give back
        return
    back = given_back_fen(original.points_left, points, budget.point_cost)
    book.issued_in_period[key] = max(book.issued_in_period[key] - back, 0)


# ---------------------------------------------------------------- REDEEM
def _redeem_problem(record: SettlementRecord, ctx: ClearingContext) -> tuple[str, str] | None:
    checks: tuple[tuple[bool, str, str], ...] = (
        (record.fulfiller_id != ctx.reporter_id, "RECORD_REPORTER_MISMATCH", "a REDEEM is reported by its fulfiller"),
        (
            record.original is not None or not record.category,
            "RECORD_FIELD_INVALID",
            "a REDEEM names its offer category and no original",
        ),
        (not record.member_token, "RECORD_MEMBER_MISSING", "a REDEEM names its member"),
        (record.points <= 0, "RECORD_POINTS_INVALID", f"points must be > 0, got {record.points}"),
        (record.amount_fen < 0, "RECORD_FIELD_INVALID", "an offer's face value cannot be negative"),
        (record.issuer_id == record.fulfiller_id, "RECORD_SAME_PARTY", "redemption at the issuer itself"),
        (
            is_cash_equivalent(record.category),
            "RL5_CASH_EQUIVALENT",
            f"category {record.category!r} is cash or a cash equivalent",
        ),
    )
    return next(((code, message) for failed, code, message in checks if failed), None)


@dataclass(frozen=True, slots=True)
class Approval:
    """A redemption that passes every rule: under which contract, for which periods, worth how much."""

    contract: ActiveContract
    terms: FulfillerTerms
    business_period: Period
    settlement_period: Period
    value_fen: int


def approve_redemption(record: SettlementRecord, ctx: ClearingContext, book: ClearingBook) -> Approval | Refused:
    """Every rule a redemption meets, for a REDEEM line and a real-time authorization alike; reserves the
    points and the cap in ``book`` when approved."""
    problem = _redeem_problem(record, ctx)
    if problem is not None:
        return _refuse(record, *problem)
    found = _contract_for(record, ctx)
    if found is None:
        return _refuse(
            record, "RL2_NO_ACTIVE_CONTRACT", f"no active contract {record.issuer_id} → {record.fulfiller_id} that day"
        )
    contract, terms = found
    if record.category not in terms.categories:
        return _refuse(
            record, "RL2_CATEGORY_NOT_ALLOWED", f"category {record.category!r} not allowed at this fulfiller"
        )
    business, settles = _periods(record, ctx)
    cap_key = (record.issuer_id, record.fulfiller_id, business)
    used = book.redeemed_in_period[cap_key]
    if terms.cap_points_per_period is not None and used + record.points > terms.cap_points_per_period:
        return _refuse(
            record,
            "CONTRACT_CAP_EXCEEDED",
            f"{used} of {terms.cap_points_per_period} points already redeemed in {business}",
        )
    key = (record.issuer_id, record.member_token)
    if book.balances[key] < record.points:
        return _refuse(record, "POINTS_INSUFFICIENT", "the member does not hold enough points of this issuer")
    book.balances[key] -= record.points
    book.redeemed_in_period[cap_key] = used + record.points
    value = to_fen(record.points, terms.rate_fen_per_point, contract.terms.rounding)
    return Approval(contract, terms, business, settles, value)


def _clear_redeem(record: SettlementRecord, record_id: int, ctx: ClearingContext, book: ClearingBook) -> Decision:
    if record.receipt_ref.startswith(CAPTURE_PREFIX) and record.fulfiller_id == ctx.reporter_id:
        return _match_capture(record, record_id, book)
    approval = approve_redemption(record, ctx, book)
    if isinstance(approval, Refused):
        return approval
    transfers = _redeem_transfers(record, record.points, approval.value_fen)
    rounding = approval.contract.terms.rounding
    _remember(book, ctx, record, record_id, spend=0, value=approval.value_fen, terms=(approval.terms, rounding))
    return Accepted(
        record,
        record_id,
        transfers,
        approval.value_fen,
        approval.business_period,
        approval.settlement_period,
        approval.contract.pk,
        None,
    )


def _match_capture(record: SettlementRecord, record_id: int, book: ClearingBook) -> Decision:
    """A file line reporting a real-time capture (``receipt_ref`` = ``AUTH:<reference>``): it must match that
    capture exactly and be reported once; it is never counted a second time."""
    reference = record.receipt_ref.removeprefix(CAPTURE_PREFIX)
    captured = book.captures.get(reference)
    if captured is None:
        return _refuse(record, "AUTH_NOT_CAPTURED", f"no captured authorization {reference!r} of this fulfiller")
    if (captured.issuer_id, captured.member_token, captured.points) != (
        record.issuer_id,
        record.member_token,
        record.points,
    ):
        return _refuse(record, "AUTH_MISMATCH", "issuer, member or points differ from the capture")
    if captured.reported:
        return _refuse(record, "AUTH_ALREADY_REPORTED", f"the capture {reference!r} was reported before")
    captured.reported = True
    return Matched(record, record_id, reference)


def _contract_for(record: SettlementRecord, ctx: ClearingContext) -> tuple[ActiveContract, FulfillerTerms] | None:
    day = _local_day(record, ctx).date()
    key = (record.issuer_id, record.fulfiller_id, day)
    if key not in ctx._terms_memo:
        ctx._terms_memo[key] = _governing_terms(ctx.contracts, record.issuer_id, record.fulfiller_id, day)
    return ctx._terms_memo[key]


def _governing_terms(
    contracts: Sequence[ActiveContract], issuer_id: str, fulfiller_id: str, day: date
) -> tuple[ActiveContract, FulfillerTerms] | None:
    try:
        found = applicable_terms((c.terms for c in contracts), issuer_id=issuer_id, fulfiller_id=fulfiller_id, day=day)
    except OverlappingContracts:
        return None  # the hub refuses overlapping contracts when they are proposed; never clear on a guess
    if found is None:
        return None
    terms, fulfiller_terms = found
    contract = next(c for c in contracts if c.terms is terms)
    return contract, fulfiller_terms


def _redeem_transfers(record: SettlementRecord, points: int, value: int) -> tuple[Transfer, ...]:
    member = ledger.member_account(record.issuer_id, record.member_token)
    burnt = ledger.redeemed_account(record.issuer_id, record.fulfiller_id)
    owed = ledger.transfer(
        ledger.position_account(record.fulfiller_id), ledger.position_account(record.issuer_id), value
    )
    return ledger.transfer(member, burnt, points) + owed


def _remember(
    book: ClearingBook,
    ctx: ClearingContext,
    record: SettlementRecord,
    record_id: int,
    *,
    spend: int,
    value: int,
    terms: tuple[FulfillerTerms, Rounding] | None,
    earn_cap: Decimal | None = None,
) -> None:
    book.originals[RecordRef(ctx.file_id, record.seq)] = Original(
        record_id=record_id,
        kind=record.kind,
        business_time=record.business_time,
        issuer_id=record.issuer_id,
        fulfiller_id=record.fulfiller_id,
        member_token=record.member_token,
        points_left=record.points,
        spend_left_fen=spend,
        value_left_fen=value,
        rate_fen_per_point=terms[0].rate_fen_per_point if terms else None,
        rounding=terms[1] if terms else None,
        earn_cap_points_per_yuan=earn_cap,
    )


# ---------------------------------------------------------------- REVERSAL
def _reversal_problem(record: SettlementRecord, original: Original | None, balance: int) -> tuple[str, str] | None:
    if original is None:
        return "REV_ORIGINAL_NOT_FOUND", f"{record.original} is not an accepted record of this partner"
    same = (original.issuer_id, original.fulfiller_id, original.member_token) == (
        record.issuer_id,
        record.fulfiller_id,
        record.member_token,
    )
    checks: tuple[tuple[bool, str, str], ...] = (
        (
            original.kind not in (RecordKind.EARN, RecordKind.REDEEM),
            "REV_ORIGINAL_NOT_REVERSIBLE",
            "only an EARN or a REDEEM is reversed (a family pool move is undone by a move back)",
        ),
        (not same, "REV_ORIGINAL_MISMATCH", "issuer, fulfiller and member must be those of the original"),
        (record.business_time < original.business_time, "REV_BEFORE_ORIGINAL", "the reversal precedes its original"),
        (
            record.points < 0 or record.amount_fen < 0 or record.points == record.amount_fen == 0,
            "RECORD_POINTS_INVALID",
            "a reversal gives back a positive number of points or of spend",
        ),
        (
            original.kind is RecordKind.REDEEM and record.points == 0,
            "RECORD_POINTS_INVALID",
            "a reversal of a redemption gives back points (a redemption has no spend to refund)",
        ),
        (
            record.points > original.points_left
            or (record.amount_fen > original.spend_left_fen and original.kind is RecordKind.EARN),
            "REV_EXCEEDS_ORIGINAL",
            f"{original.points_left} points and {original.spend_left_fen} fen are left to reverse",
        ),
        (
            _keeps_points_without_purchase(original, record, balance),
            "RL1_POINTS_WITHOUT_PURCHASE",
            "after this refund the member would keep more points than the purchase left still earns",
        ),
    )
    return next(((code, message) for failed, code, message in checks if failed), None)


def _keeps_points_without_purchase(original: Original, record: SettlementRecord, balance: int) -> bool:
    """RL1 after a refund: the points left on a purchase never exceed what the spend left earns — unless the
    refund takes back every point the member still holds (the rest was spent before the refund: points are
    never taken below zero, and what was spent stays spent)."""
    if original.kind is not RecordKind.EARN or original.earn_cap_points_per_yuan is None:
        return False
    if record.points >= balance:
        return False
    spend_after = original.spend_left_fen - record.amount_fen
    earned = (Decimal(spend_after) * original.earn_cap_points_per_yuan / 100).to_integral_value(ROUND_FLOOR)
    return original.points_left - record.points > earned


def _clear_reversal(record: SettlementRecord, record_id: int, ctx: ClearingContext, book: ClearingBook) -> Decision:
    if record.original is None:
        return _refuse(record, "REV_ORIGINAL_MISSING", "a REVERSAL names its original as <file id>#<sequence>")
    original = book.originals.get(record.original)
    balance = book.balances.get((record.issuer_id, record.member_token), 0)
    problem = _reversal_problem(record, original, balance)
    if problem is not None or original is None:
        return _refuse(record, *(problem or ("REV_ORIGINAL_NOT_FOUND", "")))
    key = (record.issuer_id, record.member_token)
    business, settles = _periods(record, ctx)
    if original.kind is RecordKind.EARN:
        if book.balances[key] < record.points:
            return _refuse(
                record,
                "POINTS_INSUFFICIENT",
                "the member no longer holds the points this refund takes back",
            )
        book.balances[key] -= record.points
        _give_back_budget(original, record.points, ctx, book)
        member = ledger.member_account(record.issuer_id, record.member_token)
        transfers = ledger.transfer(member, ledger.issued_account(record.issuer_id), record.points)
        value = 0
    else:
        value = _reversed_value(original, record.points)
        book.balances[key] += record.points
        transfers = _reverse_redeem_transfers(record, record.points, value)
    book.originals[record.original] = replace(
        original,
        points_left=original.points_left - record.points,
        spend_left_fen=original.spend_left_fen - (record.amount_fen if original.kind is RecordKind.EARN else 0),
        value_left_fen=original.value_left_fen - value,
    )
    _remember(book, ctx, record, record_id, spend=0, value=0, terms=None)
    return Accepted(record, record_id, transfers, -value, business, settles, None, original.record_id)


def _reversed_value(original: Original, points: int) -> int:
    """Money a REDEEM reversal takes back: the rounded value of the points, never more than is left,
    and exactly what is left when the last points go back (so full reversals always net to zero)."""
    if points == original.points_left:
        return original.value_left_fen
    assert original.rate_fen_per_point is not None and original.rounding is not None
    return min(to_fen(points, original.rate_fen_per_point, original.rounding), original.value_left_fen)


def _reverse_redeem_transfers(record: SettlementRecord, points: int, value: int) -> tuple[Transfer, ...]:
    member = ledger.member_account(record.issuer_id, record.member_token)
    burnt = ledger.redeemed_account(record.issuer_id, record.fulfiller_id)
    back = ledger.transfer(
        ledger.position_account(record.issuer_id), ledger.position_account(record.fulfiller_id), value
    )
    return ledger.transfer(burnt, member, points) + back


# ---------------------------------------------------------------- FAMILY_POOL (red line RL6)
def _family_pool_problem(record: SettlementRecord, ctx: ClearingContext) -> tuple[str, str] | None:
    checks: tuple[tuple[bool, str, str], ...] = (
        (record.issuer_id != ctx.reporter_id, "RECORD_REPORTER_MISMATCH", "a FAMILY_POOL is reported by its issuer"),
        (
            bool(record.fulfiller_id) or record.original is not None,
            "RECORD_FIELD_INVALID",
            "a FAMILY_POOL names no fulfiller and no original",
        ),
        (
            not record.member_token.strip() or not record.to_member_token.strip(),
            "RECORD_FIELD_INVALID",
            "a FAMILY_POOL names the giving member and the receiving member (to member)",
        ),
        (
            record.member_token == record.to_member_token,
            "RECORD_FIELD_INVALID",
            "a FAMILY_POOL moves points between two different members",
        ),
        (
            record.amount_fen != 0,
            "RL7_POINTS_PURCHASE",
            f"a family pool move carries no money ({record.amount_fen} fen): points are never bought or sold",
        ),
        (record.points <= 0, "RECORD_POINTS_INVALID", f"points must be > 0, got {record.points}"),
    )
    return next(((code, message) for failed, code, message in checks if failed), None)


def approve_family_pool(record: SettlementRecord, ctx: ClearingContext, book: ClearingBook) -> ActiveContract | Refused:
    """Every rule a move of points between two members meets, for a FAMILY_POOL line and a real-time move alike:
    the issuer's program that day allows family pooling, both members were in one consented family group of the
    issuer at the move's time, and the giver holds the points. Moves the points in ``book`` when approved."""
    problem = _family_pool_problem(record, ctx)
    if problem is not None:
        return _refuse(record, *problem)
    program = _program_of(record, ctx)
    if program is None or not program.terms.family_pooling:
        return _refuse(
            record, "RL6_POOLING_NOT_ALLOWED", f"the program of {record.issuer_id} that day allows no family pooling"
        )
    check = pool_problem(
        book.families, record.issuer_id, record.member_token, record.to_member_token, record.business_time
    )
    if check is not None:
        return _refuse(record, check.code, check.message)
    giver, receiver = (record.issuer_id, record.member_token), (record.issuer_id, record.to_member_token)
    if book.balances[giver] < record.points:
        return _refuse(record, "POINTS_INSUFFICIENT", "the giving member does not hold enough points of this issuer")
    book.balances[giver] -= record.points
    book.balances[receiver] += record.points
    return program


def family_pool_transfers(record: SettlementRecord) -> tuple[Transfer, ...]:
    """The giver's points to the receiver, in the issuer's unit; no money moves."""
    giver = ledger.member_account(record.issuer_id, record.member_token)
    receiver = ledger.member_account(record.issuer_id, record.to_member_token)
    return ledger.transfer(giver, receiver, record.points)


def _clear_family_pool(record: SettlementRecord, record_id: int, ctx: ClearingContext, book: ClearingBook) -> Decision:
    approved = approve_family_pool(record, ctx, book)
    if isinstance(approved, Refused):
        return approved
    business, settles = _periods(record, ctx)
    _remember(book, ctx, record, record_id, spend=0, value=0, terms=None)  # so a REVERSAL of it is refused as such
    return Accepted(record, record_id, family_pool_transfers(record), 0, business, settles, approved.pk, None)
