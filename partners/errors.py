"""Errors of the partners package.

Every error carries a stable machine ``code`` and a ``kind`` that the web layer maps to a status
(``invalid``, ``not_found``, ``conflict``, ``forbidden``, ``unauthorized``); this package knows nothing
of HTTP.
"""


class PartnerError(Exception):
    """Base of every error raised by :mod:`partners`."""

    code = "PARTNER_ERROR"
    kind = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class KeyFormatError(PartnerError):
    """A public key that cannot be read."""

    code = "KEY_UNREADABLE"


class PrivateKeyRefused(KeyFormatError):
    """Somebody pasted a private key; it is refused and never stored."""

    code = "KEY_IS_PRIVATE"


class WrongKeyAlgorithm(KeyFormatError):
    """A readable key of an algorithm other than Ed25519."""

    code = "KEY_NOT_ED25519"


class SignatureFormatError(PartnerError):
    """A detached signature that is neither 64 raw bytes nor their base64."""

    code = "SIGNATURE_MALFORMED"


class InvalidPartner(PartnerError):
    """Partner data that breaks a rule (id shape, roles, licence)."""

    code = "PARTNER_INVALID"
