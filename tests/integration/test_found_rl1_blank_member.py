"""RL1: an EARN needs an identified member and a real receipt. A member token or receipt of blanks
(e.g. a till that pads the customer-id column with spaces) is no identification, yet it earns points."""

from __future__ import annotations

import pytest

from tests.factories import CVS, Alliance, earn, submit


@pytest.mark.parametrize(
    ("member", "receipt", "code"),
    [(" ", "R-1", "RL1_MEMBER_MISSING"), ("   ", "R-1", "RL1_MEMBER_MISSING"), ("m1", " ", "RL1_RECEIPT_MISSING")],
)
def test_blank_member_or_receipt_earns_nothing(hub, member, receipt, code):
    alliance = Alliance.standard(hub)
    outcome = submit(hub, alliance, CVS, "E1", [earn(member, 100, receipt=receipt)])
    assert outcome.accepted == 0, f"member {member!r} receipt {receipt!r}: {outcome.accepted_points} points issued"
    assert outcome.refused_by_code == {code: 1}
