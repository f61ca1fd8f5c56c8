"""An injected RL8 scenario for the demo: one cvs-yida member structuring purchases just under the
thresholds, so the monitoring scan opens a real ``RL8_STRUCTURING`` case from signed, accepted records.

The lead submits the file like any month's file (same key, same service), then runs the scan
(``clearinghouse.services.monitoring.scan`` over that day, or ``scheduled_scan``). Pure: no database here.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from clearinghouse.demo.alliance import CVS_YIDA
from clearinghouse.demo.replay import PartnerFile
from settlement.monitoring import Thresholds
from settlement.records import RecordKind, SettlementRecord

STRUCTURING_MEMBER = "m_demo_structuring"
DEFAULT_THRESHOLDS = Thresholds()


def structuring_file(
    day: datetime, zone: ZoneInfo, limits: Thresholds = DEFAULT_THRESHOLDS, *, file_id: str = "RL8-DEMO-1"
) -> PartnerFile:
    """``structuring_min_count`` EARNs of one member on ``day`` (local), each 5 % under the points threshold
    (and, at one point per yuan, under the spend threshold too), 20 minutes apart from 10:00."""
    points = limits.structuring_points * 95 // 100
    start = datetime.combine(day.astimezone(zone).date(), time(10), tzinfo=zone)
    records = tuple(
        SettlementRecord(
            seq=i + 1,
            kind=RecordKind.EARN,
            business_time=start + timedelta(minutes=20 * i),
            issuer_id=CVS_YIDA,
            fulfiller_id="",
            member_token=STRUCTURING_MEMBER,
            points=points,
            amount_fen=points * 100,
            receipt_ref=f"RL8-DEMO-{i + 1}",
        )
        for i in range(max(limits.structuring_min_count, 1))
    )
    return PartnerFile(CVS_YIDA, file_id, records)
