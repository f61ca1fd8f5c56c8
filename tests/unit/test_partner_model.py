"""Specs for partners.model: partner validation and the RL4 licence rule for online platforms."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, datetime
from typing import Any

import pytest

from partners.errors import InvalidPartner
from partners.model import Licence, Partner, Role, new_partner

EXPIRY = date(2025, 6, 30)


def make(**overrides: Any) -> Partner:
    fields: dict[str, Any] = {
        "partner_id": "mingmou-optics",
        "name": "明眸眼镜",
        "roles": ["issuer"],
        "category": "optics",
    }
    return new_partner(**(fields | overrides))


# --- creation ---------------------------------------------------------------------------------------


def test_creates_a_partner_with_a_chinese_name() -> None:
    partner = make()
    assert partner == Partner(
        partner_id="mingmou-optics",
        name="明眸眼镜",
        roles=frozenset({Role.ISSUER}),
        category="optics",
    )
    assert partner.licence is None and partner.operates_online_platform is False


def test_normalises_the_name_to_nfc_and_strips_it() -> None:
    decomposed = "  Cafe\u0301 Lumière\t\n"
    partner = make(name=decomposed)
    assert partner.name == "Café Lumière"
    assert unicodedata.is_normalized("NFC", partner.name)


def test_accepts_roles_as_strings_or_members_and_collapses_duplicates() -> None:
    partner = make(roles=("issuer", Role.FULFILLER, "fulfiller"))
    assert partner.roles == frozenset({Role.ISSUER, Role.FULFILLER})
    assert all(type(role) is Role for role in partner.roles)
    assert partner.has_role(Role.FULFILLER) and partner.has_role(Role.ISSUER)


def test_has_role_is_false_for_a_role_not_held() -> None:
    assert not make(roles=[Role.FULFILLER]).has_role(Role.ISSUER)


def test_records_a_licence_given_with_number_and_expiry() -> None:
    partner = make(licence_number="  沪ICP备12345678号 ", licence_expires_on=EXPIRY)
    assert partner.licence == Licence(number="沪ICP备12345678号", expires_on=EXPIRY)


def test_partners_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().name = "other"  # type: ignore[misc]


# --- partner ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize("partner_id", ["ab", "7-eleven", "a" * 40, "0x", "shop-"])
def test_accepts_well_formed_partner_ids(partner_id: str) -> None:
    assert make(partner_id=partner_id).partner_id == partner_id


@pytest.mark.parametrize(
    "partner_id",
    ["a", "", "-ab", "Acme", "ac_me", "ac me", "a" * 41, "acme\n", "ａｂｃ", "café", "١٢٣"],
    ids=[
        "one-char",
        "empty",
        "leading-hyphen",
        "uppercase",
        "underscore",
        "space",
        "41-chars",
        "trailing-newline",
        "fullwidth",
        "accent",
        "arabic-digits",
    ],
)
def test_refuses_malformed_partner_ids(partner_id: str) -> None:
    with pytest.raises(InvalidPartner, match="lowercase ASCII letters, digits and hyphens"):
        make(partner_id=partner_id)


def test_refuses_the_reserved_hub_id() -> None:
    with pytest.raises(InvalidPartner, match="reserved"):
        make(partner_id="hub")


def test_refuses_a_partner_id_that_is_not_text() -> None:
    with pytest.raises(InvalidPartner, match="must be a string"):
        make(partner_id=42)


# --- names and categories ---------------------------------------------------------------------------


def test_accepts_a_name_of_exactly_100_characters() -> None:
    assert len(make(name="眼" * 100).name) == 100


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        (" \t\u3000 ", "must not be empty"),
        ("眼" * 101, "101 characters long; at most 100"),
        ("Acme\nOptics", "U\\+000A at position 5"),
        ("Acme\x00", "U\\+0000"),
        ("Acme\x85Optics", "U\\+0085"),
        ("Acme\u2028Optics", "U\\+2028"),
        ("Acme\u202eOptics", "U\\+202E"),
        (None, "must be text"),
    ],
    ids=[
        "empty",
        "blank",
        "too-long",
        "newline",
        "nul",
        "c1-control",
        "line-separator",
        "bidi-override",
        "not-text",
    ],
)
def test_refuses_bad_names_saying_what_is_wrong(name: object, problem: str) -> None:
    with pytest.raises(InvalidPartner, match=f"The name .*{problem}") as refused:
        make(name=name)
    assert refused.value.code == "PARTNER_INVALID" and refused.value.kind == "invalid"


def test_the_length_limit_counts_characters_after_normalisation() -> None:
    # 100 base letters with combining accents are 200 code points before NFC, 100 after.
    assert make(name="e\u0301" * 100).name == "é" * 100


@pytest.mark.parametrize(("category", "problem"), [("", "must not be empty"), ("x" * 41, "at most 40")])
def test_refuses_bad_categories(category: str, problem: str) -> None:
    with pytest.raises(InvalidPartner, match=f"The category .*{problem}"):
        make(category=category)


def test_accepts_a_category_of_40_characters() -> None:
    assert make(category="x" * 40).category == "x" * 40


# --- roles ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "problem"),
    [
        ([], "at least one role"),
        (["admin"], "'admin' is not a role; the roles are 'issuer', 'fulfiller'"),
        (["ISSUER"], "'ISSUER' is not a role"),
        ("issuer", "a collection of roles"),
        (None, "a collection of roles"),
    ],
    ids=["empty", "unknown", "wrong-case", "bare-string", "none"],
)
def test_refuses_bad_roles(roles: object, problem: str) -> None:
    with pytest.raises(InvalidPartner, match=problem):
        make(roles=roles)


def test_a_partner_built_directly_must_hold_role_members_not_strings() -> None:
    with pytest.raises(InvalidPartner, match="Role members"):
        Partner("acme", "Acme", frozenset({"issuer"}), "optics")  # type: ignore[arg-type]


def test_a_partner_built_directly_must_hold_normalised_text() -> None:
    with pytest.raises(InvalidPartner, match="NFC-normalised and stripped"):
        Partner("acme", " Acme ", frozenset({Role.ISSUER}), "optics")


def test_a_partner_built_directly_must_have_a_boolean_platform_flag() -> None:
    with pytest.raises(InvalidPartner, match="True or False"):
        make(operates_online_platform="yes")


# --- licences ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expires_on", "missing"),
    [("L-1", None, "expiry date is missing"), (None, EXPIRY, "number is missing")],
)
def test_refuses_a_licence_number_without_expiry_and_vice_versa(
    number: str | None, expires_on: date | None, missing: str
) -> None:
    with pytest.raises(InvalidPartner, match=f"both a number and an expiry date; the {missing}"):
        make(licence_number=number, licence_expires_on=expires_on)


def test_refuses_a_blank_licence_number() -> None:
    with pytest.raises(InvalidPartner, match="licence number must not be empty"):
        make(licence_number="  ", licence_expires_on=EXPIRY)


def test_refuses_a_datetime_as_licence_expiry() -> None:
    with pytest.raises(InvalidPartner, match="calendar date, not datetime"):
        make(licence_number="L-1", licence_expires_on=datetime(2025, 6, 30, 23, 59))


def test_accepts_a_licence_already_expired_when_recorded() -> None:
    assert make(licence_number="L-1", licence_expires_on=date(2000, 1, 1)).licence is not None


# --- RL4: who may issue on a given day --------------------------------------------------------------


def online_issuer(**overrides: Any) -> Partner:
    return make(operates_online_platform=True, **overrides)


@pytest.mark.parametrize(
    ("day", "may_issue"),
    [(date(2025, 6, 29), True), (EXPIRY, True), (date(2025, 7, 1), False), (date(2026, 1, 1), False)],
    ids=["day-before-expiry", "expiry-day-itself", "day-after-expiry", "long-after"],
)
def test_an_online_platform_issues_only_while_its_licence_is_in_date(day: date, may_issue: bool) -> None:
    partner = online_issuer(licence_number="L-1", licence_expires_on=EXPIRY)
    assert partner.may_issue_on(day) is may_issue


def test_an_online_platform_without_a_licence_may_never_issue() -> None:
    assert online_issuer().may_issue_on(date(2025, 1, 1)) is False


def test_an_issuer_not_operating_an_online_platform_needs_no_licence() -> None:
    assert make().may_issue_on(date(2025, 1, 1)) is True
    expired = make(licence_number="L-1", licence_expires_on=date(2000, 1, 1))
    assert expired.may_issue_on(date(2025, 1, 1)) is True


def test_a_partner_without_the_issuer_role_may_not_issue_even_when_licensed() -> None:
    fulfiller = online_issuer(roles=["fulfiller"], licence_number="L-1", licence_expires_on=EXPIRY)
    assert fulfiller.may_issue_on(date(2025, 1, 1)) is False
    assert make(roles=["fulfiller"]).may_issue_on(date(2025, 1, 1)) is False


def test_may_issue_on_wants_a_business_date_not_a_datetime() -> None:
    with pytest.raises(InvalidPartner, match="calendar date"):
        make().may_issue_on(datetime(2025, 6, 30, 12, 0))


def test_licence_is_valid_through_its_expiry_day_inclusive() -> None:
    licence = Licence("L-1", EXPIRY)
    assert licence.in_date_on(EXPIRY) and not licence.in_date_on(date(2025, 7, 1))
