"""Partners of the alliance: who they are, what they may do, and the licence rule for online platforms.

Invariants of every :class:`Partner` (checked on construction, so rows read back cannot break them):

* ``partner_id`` matches ``^[a-z0-9][a-z0-9-]{1,39}$`` and is not the reserved ``hub``;
* ``name`` is NFC-normalised, stripped, 1..100 characters, free of control and line-break characters;
* ``category`` obeys the same text rules with 1..40 characters;
* ``roles`` is a non-empty frozenset of :class:`Role`;
* ``licence``, when present, has a non-blank number and a plain :class:`~datetime.date` expiry;
* ``beneficial_owner``, when present, is an opaque registry id of the controlling owner (e.g. a unified
  social credit code): 1..64 of ASCII letters, digits and ``.:_-``, upper-cased (RL8 self-dealing compares them).

:func:`new_partner` is the forgiving constructor for outside input: it normalises (NFC, strip, role
strings to :class:`Role`) before those checks. Every violation is an :class:`InvalidPartner`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from partners.errors import InvalidPartner

__all__ = ["RESERVED_PARTNER_IDS", "Licence", "Partner", "Role", "clean_owner", "new_partner"]

RESERVED_PARTNER_IDS = frozenset({"hub", "admin", "auditor"})  # the hub itself, the admin and auditor principals
_PARTNER_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
_NAME_MAX = 100
_CATEGORY_MAX = 40
_LICENCE_NUMBER_MAX = 64
_OWNER_ID = re.compile(r"[0-9A-Z][0-9A-Z.:_-]{0,63}")
# Bidirectional embeddings, overrides and isolates can make a name display as something it is not.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class Role(StrEnum):
    """What a partner does in the alliance: issues points to members, or fulfils their redemption."""

    ISSUER = "issuer"
    FULFILLER = "fulfiller"


@dataclass(frozen=True)
class Licence:
    """A licence on record, valid through ``expires_on`` inclusive (business local dates)."""

    number: str
    expires_on: date

    def __post_init__(self) -> None:
        _check_clean_text(self.number, "licence number", _LICENCE_NUMBER_MAX)
        _check_plain_date(self.expires_on, "licence expiry")

    def in_date_on(self, day: date) -> bool:
        """Whether the licence is valid on ``day``; the expiry day itself still counts."""
        _check_plain_date(day, "day")
        return day <= self.expires_on


@dataclass(frozen=True)
class Partner:
    """A member of the alliance; see the module docstring for the invariants it always holds."""

    partner_id: str
    name: str
    roles: frozenset[Role]
    category: str
    operates_online_platform: bool = False
    licence: Licence | None = None
    beneficial_owner: str | None = None

    def __post_init__(self) -> None:
        _check_partner_id(self.partner_id)
        _check_clean_text(self.name, "name", _NAME_MAX)
        _check_clean_text(self.category, "category", _CATEGORY_MAX)
        _check_roles(self.roles)
        if not isinstance(self.operates_online_platform, bool):
            raise InvalidPartner("operates_online_platform must be True or False.")
        if self.licence is not None and not isinstance(self.licence, Licence):
            raise InvalidPartner("A partner's licence must be a Licence or None.")
        if self.beneficial_owner is not None and clean_owner(self.beneficial_owner) != self.beneficial_owner:
            raise InvalidPartner("The beneficial owner must be upper-cased and stripped; new_partner does both.")

    def has_role(self, role: Role) -> bool:
        """Whether the partner holds ``role``."""
        return role in self.roles

    def may_issue_on(self, day: date) -> bool:
        """Whether the partner may issue points on ``day`` (red line RL4).

        An issuer that operates an online platform may issue only while a licence on record is in date;
        any other issuer always may. A partner without the ISSUER role never may.
        """
        _check_plain_date(day, "day")
        if not self.has_role(Role.ISSUER):
            return False
        if not self.operates_online_platform:
            return True
        return self.licence is not None and self.licence.in_date_on(day)


def new_partner(
    *,
    partner_id: str,
    name: str,
    roles: Iterable[Role | str],
    category: str,
    operates_online_platform: bool = False,
    licence_number: str | None = None,
    licence_expires_on: date | None = None,
    beneficial_owner: str | None = None,
) -> Partner:
    """Validate and normalise outside input into a :class:`Partner`; any violation is :class:`InvalidPartner`.

    The licence number and its expiry come together or not at all.
    """
    return Partner(
        partner_id=_check_partner_id(partner_id),
        name=_clean_text(name, "name", _NAME_MAX),
        roles=_clean_roles(roles),
        category=_clean_text(category, "category", _CATEGORY_MAX),
        operates_online_platform=operates_online_platform,
        licence=_licence_from(licence_number, licence_expires_on),
        beneficial_owner=None if beneficial_owner is None else clean_owner(beneficial_owner),
    )


def clean_owner(value: object) -> str:
    """A beneficial owner's registry id, stripped and upper-cased (``91310000x`` and ``91310000X`` are one
    owner); anything else than 1..64 of ASCII letters, digits and ``.:_-`` is :class:`InvalidPartner`."""
    if not isinstance(value, str):
        raise InvalidPartner("The beneficial owner must be text.")
    owner = value.strip().upper()
    if not _OWNER_ID.fullmatch(owner):
        raise InvalidPartner(
            "The beneficial owner must be a registry id (e.g. a unified social credit code): 1 to 64 ASCII "
            "letters, digits, '.', ':', '_' or '-'."
        )
    return owner


def _check_partner_id(partner_id: object) -> str:
    if not isinstance(partner_id, str):
        raise InvalidPartner("The partner id must be a string.")
    # fullmatch, not match with "$": "$" would also accept a trailing newline.
    if not _PARTNER_ID.fullmatch(partner_id):
        raise InvalidPartner(
            f"The partner id {partner_id[:60]!r} is not valid: use 2 to 40 lowercase ASCII letters, digits "
            "and hyphens, starting with a letter or digit."
        )
    if partner_id in RESERVED_PARTNER_IDS:
        raise InvalidPartner(f"The partner id {partner_id!r} is reserved for the clearing house itself.")
    return partner_id


def _clean_text(value: object, field: str, limit: int) -> str:
    """NFC-normalised, stripped text of 1..limit characters without control characters."""
    if not isinstance(value, str):
        raise InvalidPartner(f"The {field} must be text.")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise InvalidPartner(f"The {field} must not be empty.")
    if len(text) > limit:
        raise InvalidPartner(f"The {field} is {len(text)} characters long; at most {limit} are allowed.")
    for position, char in enumerate(text, start=1):
        if _is_forbidden_char(char):
            raise InvalidPartner(
                f"The {field} contains the control character U+{ord(char):04X} at position {position}."
            )
    return text


def _check_clean_text(value: object, field: str, limit: int) -> None:
    """Refuse text that :func:`_clean_text` would reject or change (direct construction skips cleaning)."""
    if _clean_text(value, field, limit) != value:
        raise InvalidPartner(f"The {field} must be NFC-normalised and stripped; new_partner does both.")


def _is_forbidden_char(char: str) -> bool:
    # Cc: C0/C1 controls incl. tab and newline; Cs: lone surrogates; Zl/Zp: Unicode line breaks.
    return unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"} or char in _BIDI_CONTROLS


def _clean_roles(roles: Iterable[Role | str]) -> frozenset[Role]:
    # A bare string is iterable too; "issuer" would otherwise become the roles i, s, u, e, r.
    if isinstance(roles, str) or not isinstance(roles, Iterable):
        raise InvalidPartner("Roles must be a collection of roles, e.g. ['issuer'].")
    cleaned: set[Role] = set()
    for role in roles:
        try:
            cleaned.add(Role(role))
        except ValueError:
            valid = ", ".join(repr(r.value) for r in Role)
            raise InvalidPartner(f"{str(role)[:40]!r} is not a role; the roles are {valid}.") from None
    if not cleaned:
        raise InvalidPartner("A partner needs at least one role.")
    return frozenset(cleaned)


def _check_roles(roles: object) -> None:
    # Role is a StrEnum, so {"issuer"} == {Role.ISSUER}: equality alone would let plain strings in.
    if not isinstance(roles, frozenset) or any(not isinstance(role, Role) for role in roles):
        raise InvalidPartner("Partner roles must be a frozenset of Role members; use new_partner for strings.")
    if not roles:
        raise InvalidPartner("A partner needs at least one role.")


def _licence_from(number: str | None, expires_on: date | None) -> Licence | None:
    if number is None and expires_on is None:
        return None
    if number is None or expires_on is None:
        missing = "number" if number is None else "expiry date"
        raise InvalidPartner(f"A licence needs both a number and an expiry date; the {missing} is missing.")
    return Licence(_clean_text(number, "licence number", _LICENCE_NUMBER_MAX), expires_on)


def _check_plain_date(value: object, field: str) -> None:
    # datetime is a date subclass, but comparing one with a date raises TypeError, so refuse it up front.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidPartner(f"The {field} must be a calendar date, not {type(value).__name__}.")
