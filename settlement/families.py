"""Family groups (red line RL6): who belonged to which consented family group of an issuer, and when.

Pure. A membership runs from the moment the hub recorded the member's consent (``joined_at``) to the moment
it recorded the leaving (``left_at``, exclusive); a member is in at most one group of an issuer at a time.
Points move between two members (``FAMILY_POOL``) only inside one group, at the move's time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Membership:
    group_id: str
    joined_at: datetime
    left_at: datetime | None = None

    def covers(self, moment: datetime) -> bool:
        return self.joined_at <= moment and (self.left_at is None or moment < self.left_at)


MemberKey = tuple[str, str]  # (issuer id, member token)
Memberships = Mapping[MemberKey, tuple[Membership, ...]]


def group_at(memberships: Iterable[Membership], moment: datetime) -> str | None:
    """The family group a member was in at ``moment``, or None."""
    return next((m.group_id for m in memberships if m.covers(moment)), None)


@dataclass(frozen=True, slots=True)
class PoolCheck:
    code: str
    message: str


def pool_problem(
    memberships: Memberships, issuer_id: str, giver: str, receiver: str, moment: datetime
) -> PoolCheck | None:
    """Why a move of ``issuer_id`` points from ``giver`` to ``receiver`` at ``moment`` is not a family pool
    move, or None when both were in the same consented group then."""
    giver_group = group_at(memberships.get((issuer_id, giver), ()), moment)
    receiver_group = group_at(memberships.get((issuer_id, receiver), ()), moment)
    for token, group in ((giver, giver_group), (receiver, receiver_group)):
        if group is None:
            return PoolCheck(
                "RL6_NO_CONSENT",
                f"member {token[:40]!r} was in no consented family group of {issuer_id} at that time",
            )
    if giver_group != receiver_group:
        return PoolCheck("RL6_NOT_SAME_FAMILY", "the two members were in different family groups at that time")
    return None
