"""The records partners report in settlement files, as immutable values.

A record is identified by the reporting partner, the file id and its sequence number in the file
(``trace``); two identical lines with different sequence numbers are two records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RecordKind(StrEnum):
    EARN = "EARN"
    REDEEM = "REDEEM"
    REVERSAL = "REVERSAL"
    FAMILY_POOL = "FAMILY_POOL"


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Points at an earlier record of the same reporting partner: ``<file id>#<sequence>``."""

    file_id: str
    seq: int

    def __str__(self) -> str:
        return f"{self.file_id}#{self.seq}"


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """One detail line of a settlement file.

    * EARN: ``issuer_id`` gave ``member_token`` ``points`` for a purchase ``receipt_ref`` of ``amount_fen`` (> 0).
      ``fulfiller_id`` is empty.
    * REDEEM: at ``fulfiller_id`` the member paid ``points`` of ``issuer_id`` for an offer of ``category``
      (``offer_ref`` names it; ``amount_fen`` is the offer's face value, informational).
    * REVERSAL: gives back ``points`` (and ``amount_fen`` of spend, for an EARN) of the record ``original``.
    * FAMILY_POOL: ``issuer_id`` reports that ``member_token`` gave ``points`` of it to ``to_member_token``, a
      member of the same registered family group (red line RL6); ``amount_fen`` is 0 (no money moves).
      ``to_member_token`` is empty on every other kind.

    ``business_time`` is timezone-aware; the period a record belongs to follows from it.
    """

    seq: int
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
    original: RecordRef | None = None
    to_member_token: str = ""
