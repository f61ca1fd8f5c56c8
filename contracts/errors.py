"""Errors of the contracts package (``code`` is stable; ``kind`` is mapped to a status by the web layer)."""


class ContractError(Exception):
    """Base of every error raised by :mod:`contracts`."""

    code = "CONTRACT_ERROR"
    kind = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidTerms(ContractError):
    """Terms that are incomplete or inconsistent."""

    code = "CONTRACT_TERMS_INVALID"


class AmendmentChainBroken(ContractError):
    """An amendment whose version or previous hash does not follow the version it amends."""

    code = "CONTRACT_CHAIN_BROKEN"
    kind = "conflict"


class SignatureRejected(ContractError):
    """A party's signature that does not verify over the canonical bytes."""

    code = "CONTRACT_SIGNATURE_INVALID"


class OverlappingContracts(ContractError):
    """Two different contracts both govern one issuer, fulfiller and day, so which one clears is unknown."""

    code = "CONTRACT_OVERLAP"
    kind = "conflict"
