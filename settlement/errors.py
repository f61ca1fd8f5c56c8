"""Errors of the settlement package (``code`` is stable; ``kind`` is mapped to a status by the web layer)."""


class SettlementError(Exception):
    """Base of every error raised by :mod:`settlement`."""

    code = "SETTLEMENT_ERROR"
    kind = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class FileRefused(SettlementError):
    """A file-level fault: the whole file is refused and nothing is posted."""

    code = "FILE_STRUCTURE_INVALID"


class UnbalancedTransaction(SettlementError):
    """A ledger transaction whose legs do not sum to zero per unit: a programming error, never input."""

    code = "LEDGER_UNBALANCED"
    kind = "internal"


class PeriodError(SettlementError):
    """A period that cannot be closed (not ended, already closed, malformed)."""

    code = "PERIOD_INVALID"
