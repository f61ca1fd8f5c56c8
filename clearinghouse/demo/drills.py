"""Red-line drills the demo injects after the year's real data: a few signed records, each crossing one red line
(or, for RL8, a pattern the monitoring scan must catch), so every rule is seen at work on the same path as the
real files. Documented in docs/demo.md; counted apart from the real data in ``summary.json``. Pure.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from clearinghouse.demo.alliance import BOOKS_SHUXIANG, CINEMA_GUANGYING, CVS_YIDA, EYEWEAR_MINGMOU
from clearinghouse.demo.monitoring_scenario import STRUCTURING_MEMBER, structuring_file
from clearinghouse.demo.replay import PartnerFile
from settlement.records import RecordKind, SettlementRecord

DRILL_MEMBER = STRUCTURING_MEMBER


def drill_files(moment: datetime, zone: ZoneInfo) -> tuple[PartnerFile, ...]:
    """The drills at ``moment``: the issuer's file first (its member earns before anyone redeems), then the
    fulfillers'. Expected outcome per line in the comments; ``docs/demo.md`` lists them too."""
    structuring = structuring_file(moment, zone, file_id="DRILL-CVS-1").records  # RL8: accepted, then a case
    start = structuring[-1].business_time + timedelta(minutes=20)

    def line(seq: int, kind: RecordKind, **fields: object) -> SettlementRecord:
        base = SettlementRecord(
            seq=seq,
            kind=kind,
            business_time=start,
            issuer_id=CVS_YIDA,
            fulfiller_id="",
            member_token=DRILL_MEMBER,
            points=100,
            amount_fen=10_000,
            receipt_ref=f"DRILL-{seq}",
        )
        return replace(base, **fields)  # type: ignore[arg-type]

    n = len(structuring)
    issuer = PartnerFile(
        CVS_YIDA,
        "DRILL-CVS-1",
        (
            *structuring,
            line(n + 1, RecordKind.EARN, category="point-purchase"),  # RL7_POINTS_PURCHASE: points bought
            line(n + 2, RecordKind.EARN, member_token=""),  # RL1_MEMBER_MISSING: an anonymous purchase
            line(n + 3, RecordKind.FAMILY_POOL, amount_fen=0, receipt_ref="", to_member_token="m_demo_other"),
        ),  # the last: RL6 (the demo's programs do not allow family pooling)
    )
    cinema = PartnerFile(
        CINEMA_GUANGYING,
        "DRILL-CINEMA-1",
        (  # RL5_CASH_EQUIVALENT: a gift card is cash by another name
            line(
                1, RecordKind.REDEEM, fulfiller_id=CINEMA_GUANGYING, amount_fen=0, receipt_ref="", category="gift-card"
            ),
        ),
    )
    books = PartnerFile(
        BOOKS_SHUXIANG,
        "DRILL-BOOKS-1",
        (  # RL2_NO_ACTIVE_CONTRACT: eyewear points at the bookshop, with no contract between them
            line(
                1,
                RecordKind.REDEEM,
                issuer_id=EYEWEAR_MINGMOU,
                fulfiller_id=BOOKS_SHUXIANG,
                amount_fen=0,
                receipt_ref="",
                category="books",
            ),
        ),
    )
    return issuer, cinema, books
