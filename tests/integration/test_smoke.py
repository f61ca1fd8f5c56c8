from tests.factories import CINEMA, CVS, Alliance, earn, redeem, submit


def test_earn_then_redeem_posts_and_owes(hub):
    alliance = Alliance.standard(hub)
    out = submit(hub, alliance, CVS, "F1", [earn("m1", 500)])
    assert (out.accepted, out.refused) == (1, 0), out.refused_by_code
    out = submit(hub, alliance, CINEMA, "F1", [redeem("m1", 400)])
    assert (out.accepted, out.refused) == (1, 0), out.refused_by_code
    assert out.accepted_value_fen == 3000
