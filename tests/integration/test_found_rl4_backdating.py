"""RL4: an online platform without a licence in date is suspended from issuing. The licence is checked
against the record's self-declared business time only, and there is no limit on how far back a record may
be dated, so a platform whose licence lapsed months ago keeps issuing by dating EARNs on its last licensed
day; they clear into the open period."""

from __future__ import annotations

from datetime import date

from tests.factories import RIDE, Alliance, at, earn, submit


def test_lapsed_platform_cannot_issue_by_backdating(hub):
    # hub clock: 3 Dec 2026; the ride platform's licence ran out on 30 June 2026
    alliance = Alliance.standard(hub, ride_licence=date(2026, 6, 30))
    refused_today = submit(hub, alliance, RIDE, "E-NOW", [earn("r1", 500, issuer=RIDE, when=at(2, month=12))])
    assert refused_today.refused_by_code == {"RL4_LICENCE_INVALID": 1}
    # the same issuance, sent in December but dated on the last licensed day, five months back
    backdated = submit(
        hub, alliance, RIDE, "E-OLD", [earn("r1", 500, issuer=RIDE, when=at(30, hour=23, month=6)) for _ in range(3)]
    )
    assert backdated.accepted == 0, f"{backdated.accepted_points} points issued in December by a lapsed platform"
