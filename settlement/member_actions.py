"""Evidence-gated actions on a member's points (red line RL9): the rules, pure.

Points are the member's. An admin may freeze them (moved to a frozen account of the member, unspendable) or
deduct them (taken back to the issuer) only under an OPEN monitoring case that holds evidence about that
member, and only once a second, different admin approves. Every applied action can be lifted: a freeze
gives the points back, a deduction is restored (an appeal upheld).

The service gathers the facts (the case, its evidence, the member's balance) inside its transaction and
asks these functions; they answer a :class:`Refusal` (its reason code) or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from settlement import ledger

ADMIN_PREFIX = "admin:"


class ActionKind(StrEnum):
    FREEZE = "FREEZE"
    DEDUCT = "DEDUCT"


class ActionStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"
    LIFTED = "LIFTED"


class EventKind(StrEnum):
    """Ledger events (``ledger_event.kind``) of an action: applying it, and lifting it."""

    FREEZE = "FREEZE"
    DEDUCT = "DEDUCT"
    UNFREEZE = "UNFREEZE"
    RESTORE = "RESTORE"


APPLY_EVENT = {ActionKind.FREEZE: EventKind.FREEZE, ActionKind.DEDUCT: EventKind.DEDUCT}
LIFT_EVENT = {ActionKind.FREEZE: EventKind.UNFREEZE, ActionKind.DEDUCT: EventKind.RESTORE}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One evidence row of a case: the clearing record it names (its issuer and member), or a described fact."""

    record_issuer_id: str | None = None
    record_member_token: str | None = None


@dataclass(frozen=True, slots=True)
class CaseFacts:
    case_id: int
    status: str  # OPEN or CLOSED
    issuer_id: str | None
    member_token: str | None
    evidence: tuple[Evidence, ...]

    def names(self, issuer_id: str, member_token: str) -> bool:
        return (self.issuer_id, self.member_token) == (issuer_id, member_token)

    def evidence_about(self, issuer_id: str, member_token: str) -> tuple[Evidence, ...]:
        """The evidence concerning the member: all of it when the case names the member, else the evidence
        rows whose clearing record is of that issuer and member."""
        if self.names(issuer_id, member_token):
            return self.evidence
        return tuple(
            item
            for item in self.evidence
            if (item.record_issuer_id, item.record_member_token) == (issuer_id, member_token)
        )


@dataclass(frozen=True, slots=True)
class ActionRequest:
    kind: ActionKind
    issuer_id: str
    member_token: str
    points: int
    case_id: int
    requested_by: str


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


def is_admin(actor: str) -> bool:
    return actor.startswith(ADMIN_PREFIX) and len(actor) > len(ADMIN_PREFIX)


def check_case(request: ActionRequest, case: CaseFacts | None) -> Refusal | None:
    """The ground of the action: an open case with evidence about this member."""
    if case is None:
        return Refusal("RL9_NO_CASE", f"no monitoring case {request.case_id}")
    if case.status != "OPEN":
        return Refusal("RL9_CASE_CLOSED", f"case {case.case_id} is closed; open a new case with its evidence")
    if not case.evidence_about(request.issuer_id, request.member_token):
        return Refusal(
            "RL9_NO_EVIDENCE",
            f"case {case.case_id} holds no evidence about member {request.member_token!r} of {request.issuer_id!r}",
        )
    return None


def check_points(points: int, balance: int) -> Refusal | None:
    """More than zero, and no more than the member's spendable points now."""
    if points <= 0:
        return Refusal("RL9_POINTS_INVALID", "points must be a whole number above 0")
    if points > balance:
        return Refusal("POINTS_INSUFFICIENT", f"the member holds {balance} spendable points, fewer than {points}")
    return None


def check_request(request: ActionRequest, case: CaseFacts | None, balance: int) -> Refusal | None:
    """May ``request.requested_by`` ask for this action now?"""
    return check_case(request, case) or check_points(request.points, balance)


def check_approval(request: ActionRequest, approver: str, case: CaseFacts | None, balance: int) -> Refusal | None:
    """May ``approver`` apply the requested action now? A second admin, and the ground still holds."""
    if approver == request.requested_by:
        return Refusal("RL9_SAME_ADMIN", f"{approver} asked for this action; a second admin must approve it")
    return check_case(request, case) or check_points(request.points, balance)


def apply_transfers(kind: ActionKind, issuer_id: str, member_token: str, points: int) -> tuple[ledger.Transfer, ...]:
    """FREEZE: member → the member's frozen account. DEDUCT: member → the issuer's issued account (taken back)."""
    member = ledger.member_account(issuer_id, member_token)
    if kind is ActionKind.FREEZE:
        return ledger.transfer(member, ledger.frozen_account(issuer_id, member_token), points)
    return ledger.transfer(member, ledger.issued_account(issuer_id), points)


def lift_transfers(kind: ActionKind, issuer_id: str, member_token: str, points: int) -> tuple[ledger.Transfer, ...]:
    """The exact reverse of :func:`apply_transfers`: the points go back to the member."""
    return tuple(
        ledger.Transfer(t.credit, t.debit, t.amount) for t in apply_transfers(kind, issuer_id, member_token, points)
    )


def event_reference(action_id: int, step: str) -> str:
    """``action:<id>:apply`` or ``action:<id>:lift``: unique per event kind, so a retry posts once."""
    return f"action:{action_id}:{step}"


def action_id_of(reference: str) -> int | None:
    """The action id in a ledger event's reference, or None when the event is not an action's."""
    prefix, _, rest = reference.partition(":")
    number, _, _ = rest.partition(":")
    return int(number) if prefix == "action" and number.isdigit() else None
