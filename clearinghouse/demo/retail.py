"""Streaming reader of the UCI "Online Retail" purchase history (``online-retail.csv.gz``) into invoices.

Rules (see ``docs/demo.md``):

* The file is gzip-compressed UTF-8 CSV with one header line (``InvoiceNo, StockCode, Description,
  Quantity, InvoiceDate, UnitPrice, CustomerID, Country``). It is read line by line; only the few
  invoices still "open" are held in memory, never the file.
* Lines are grouped into invoices by ``InvoiceNo``. The lines of an invoice are nearly always
  consecutive, but not always (542806 is interrupted by two lines of C542805), so an invoice stays
  open until ``window`` newer invoices have started after it. A line of an invoice that was already
  handed out is an error (``ValueError``), as is an invoice whose lines name different customers.
* An invoice's time is the earliest ``InvoiceDate`` of its lines (43 invoices straddle a minute),
  kept naive, as in the file. ``InvoiceNo`` starting with "C" marks a cancellation. ``CustomerID``
  "17850.0" becomes "17850"; blank is ``None``.
* Quantities are integers, prices are ``Decimal``: no float is ever made.
* A line is worth quantity × unit price × 100 × ``GBP_TO_CNY`` fen, rounded half-up (away from zero
  on a tie) per LINE; an invoice's spend is the sum of its rounded lines (negative on a
  cancellation).
* Every line of the file lands in exactly one invoice, so the line counts follow from the invoices
  (``LineCounts``).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from clearinghouse.demo.alliance import FEN_PER_GBP

HEADER = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
PROGRESS_EVERY = 50_000
"""Lines between two calls of the progress callback."""
DEFAULT_WINDOW = 16
"""How many newer invoices may start before an open invoice is handed out."""

_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """An invoice line: ``quantity`` (negative on a cancellation) of ``stock_code`` at ``unit_price`` GBP."""

    stock_code: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice of the data set; ``invoiced_at_local`` is naive, as written in the file."""

    invoice_no: str
    customer_id: str | None
    invoiced_at_local: datetime
    lines: tuple[InvoiceLine, ...]
    is_cancellation: bool

    @property
    def spend_fen(self) -> int:
        """Sum of the per-line rounded values in fen (see :func:`line_value_fen`)."""
        return sum(line_value_fen(line.quantity, line.unit_price) for line in self.lines)


@dataclass(frozen=True, slots=True)
class LineCounts:
    """Lines read, lines without a customer id, lines of cancellation invoices."""

    lines_read: int = 0
    lines_without_customer: int = 0
    cancellation_lines: int = 0

    def add(self, invoice: Invoice) -> LineCounts:
        """These counts plus the lines of ``invoice``."""
        n = len(invoice.lines)
        return LineCounts(
            self.lines_read + n,
            self.lines_without_customer + (n if invoice.customer_id is None else 0),
            self.cancellation_lines + (n if invoice.is_cancellation else 0),
        )


def count_lines(invoices: Iterable[Invoice]) -> LineCounts:
    """Line counts of all ``invoices``."""
    counts = LineCounts()
    for invoice in invoices:
        counts = counts.add(invoice)
    return counts


def line_value_fen(quantity: int, unit_price: Decimal) -> int:
    """quantity × unit_price GBP in fen at ``GBP_TO_CNY``, rounded half-up (ties away from zero)."""
    return int((quantity * unit_price * FEN_PER_GBP).quantize(_ONE, rounding=ROUND_HALF_UP))


def parse_customer_id(raw: str) -> str | None:
    """ "17850.0" → "17850", "17850" → "17850", "" → None; anything else is a ``ValueError``."""
    text = raw.strip()
    if not text:
        return None
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit():
        raise ValueError(f"not a customer id: {raw!r}")
    return text


@dataclass(slots=True)
class _OpenInvoice:
    """An invoice still collecting lines (internal, mutable)."""

    invoice_no: str
    customer_id: str | None
    earliest: str
    lines: list[InvoiceLine]

    def close(self) -> Invoice:
        return Invoice(
            invoice_no=self.invoice_no,
            customer_id=self.customer_id,
            invoiced_at_local=datetime.fromisoformat(self.earliest),
            lines=tuple(self.lines),
            is_cancellation=self.invoice_no.startswith("C"),
        )


class _PriceCache(dict[str, Decimal]):
    """Parses each distinct price text once (the data set has under two thousand)."""

    def __missing__(self, key: str) -> Decimal:
        value = Decimal(key)
        self[key] = value
        return value


def _rows(path: Path, on_progress: Callable[[int], None] | None) -> Iterator[list[str]]:
    """The data rows, after checking the header; reports progress every ``PROGRESS_EVERY`` lines."""
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != HEADER:
            raise ValueError(f"{path}: unexpected header {header!r}")
        for count, row in enumerate(reader, start=1):
            if len(row) != len(HEADER):
                raise ValueError(f"{path}: line {reader.line_num}: {len(row)} fields, expected {len(HEADER)}")
            yield row
            if on_progress is not None and count % PROGRESS_EVERY == 0:
                on_progress(count)


class _CustomerCache(dict[str, str | None]):
    """Parses each distinct customer id text once (the data set has about 4,400)."""

    def __missing__(self, key: str) -> str | None:
        value = self[key] = parse_customer_id(key)
        return value


def _add_line(
    open_invoices: dict[str, _OpenInvoice], row: list[str], prices: _PriceCache, customers: _CustomerCache
) -> None:
    """Adds a row to its open invoice, opening it if new."""
    invoice_no, stock_code, _, quantity, invoiced_at, unit_price, customer, _ = row
    customer_id = customers[customer]
    line = InvoiceLine(stock_code, int(quantity), prices[unit_price])
    current = open_invoices.get(invoice_no)
    if current is None:
        open_invoices[invoice_no] = _OpenInvoice(invoice_no, customer_id, invoiced_at, [line])
        return
    if current.customer_id != customer_id:
        raise ValueError(f"invoice {invoice_no} names customers {current.customer_id!r} and {customer_id!r}")
    current.lines.append(line)
    if invoiced_at < current.earliest:  # ISO text sorts like time
        current.earliest = invoiced_at


def read_invoices(
    path: str | Path,
    *,
    on_progress: Callable[[int], None] | None = None,
    window: int = DEFAULT_WINDOW,
) -> Iterator[Invoice]:
    """The invoices, in the order their first line appears; at most ``window`` + 1 are held open.

    ``on_progress(lines_read)`` is called every ``PROGRESS_EVERY`` lines.
    """
    open_invoices: dict[str, _OpenInvoice] = {}
    handed_out: set[str] = set()
    prices, customers = _PriceCache(), _CustomerCache()
    for row in _rows(Path(path), on_progress):
        if row[0] in handed_out:
            raise ValueError(f"invoice {row[0]} resumes after {window} newer invoices; raise the window")
        _add_line(open_invoices, row, prices, customers)
        if len(open_invoices) > window:
            oldest = next(iter(open_invoices))
            handed_out.add(oldest)
            yield open_invoices.pop(oldest).close()
    for invoice in open_invoices.values():
        yield invoice.close()
