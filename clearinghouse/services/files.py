"""Taking a signed settlement file: file-level checks, then record-by-record clearing in batches.

File-level faults (signature, structure, totals, duplicate id) refuse the whole file and post nothing.
Otherwise every record is cleared and the accepted ones are posted, all in one transaction, in batches
of ``batch_size`` lines with bulk statements: no ORM object and no commit per record, and memory bounded
by the batch, not the file.
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TypeVar

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from clearinghouse import audit
from clearinghouse.budget_book import load_budgets, save_budget_usage, suspended_issuers
from clearinghouse.db import allocate_ids, unit_of_work
from clearinghouse.errors import ClearinghouseError, NotFound
from clearinghouse.hubkey import HubSigner
from clearinghouse.locks import lock_clearing
from clearinghouse.posting import insert_batch, load_book
from clearinghouse.queries import active_contracts, all_partners, closed_periods, keys_valid_at, terms_of
from clearinghouse.signed import SignedDocument, sign_chunks
from clearinghouse.tables import ContractRow, SettlementFileRow
from contracts.terms import ContractTerms
from partners.errors import SignatureFormatError
from partners.keys import parse_signature
from settlement import acknowledgement as ack
from settlement.clearing import ClearingContext, Decision, Matched, Refused, clear, keys_for
from settlement.errors import FileRefused
from settlement.fileformat import FileHeader, RawDetail, RecordProblem, iter_details, read_header, scan, to_record
from settlement.records import SettlementRecord

_T = TypeVar("_T")


class FileRejected(ClearinghouseError):
    """The whole file was refused; ``details`` carry the hub's signed acknowledgement of the refusal."""

    kind = "invalid"


@dataclass
class FileOutcome:
    partner_id: str
    file_id: str
    sha256: str
    received_at: datetime
    record_count: int = 0
    accepted: int = 0
    refused: int = 0
    total_points: int = 0
    total_amount_fen: int = 0
    accepted_points: int = 0
    accepted_amount_fen: int = 0
    accepted_value_fen: int = 0
    refused_by_code: Counter[str] = field(default_factory=Counter)
    matched: int = 0  # lines reporting real-time captures, recorded and never counted again

    def count(self, decisions: Iterable[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, Refused):
                self.refused += 1
                self.refused_by_code[decision.code] += 1
            elif isinstance(decision, Matched):  # accepted as a report; its points and money moved in real time
                self.accepted += 1
                self.matched += 1
            else:
                self.accepted += 1
                self.accepted_points += decision.record.points
                self.accepted_amount_fen += decision.record.amount_fen
                self.accepted_value_fen += decision.value_fen


def _digest(content: IO[bytes]) -> tuple[str, int]:
    content.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := content.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _exact_bytes(content: IO[bytes]) -> bytes | mmap.mmap:
    """The bytes as received, mapped rather than copied when they sit in a real file."""
    content.seek(0)
    try:
        descriptor = content.fileno()
    except (AttributeError, OSError, ValueError):
        return content.read()
    if os.fstat(descriptor).st_size == 0:
        return b""
    return mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ)


def _verify(session: Session, partner_id: str, content: IO[bytes], signature: bytes, now: datetime) -> str:
    data = _exact_bytes(content)
    try:
        for key_id, key in keys_valid_at(session, partner_id, now):
            if key.verify(signature, data):
                return key_id
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    raise FileRefused(
        "the signature does not verify over the exact bytes received with any key of the partner "
        "valid now (a changed byte, e.g. CRLF line endings, breaks it)",
        code="FILE_SIGNATURE_INVALID",
    )


def _header_or_none(content: IO[bytes]) -> FileHeader | None:
    try:
        content.seek(0)
        return read_header(io.BytesIO(content.readline(4096)))  # the header line alone: a bad byte later hides nothing
    except FileRefused:
        return None


def submit_settlement_file(
    *,
    engine: Engine,
    hub: HubSigner,
    now: datetime,
    zone_name: str,
    partner_id: str,
    content: IO[bytes],
    signature_blob: bytes,
    max_bytes: int,
    batch_size: int,
) -> FileOutcome:
    """Check and post one settlement file submitted by ``partner_id``. Raises :class:`FileRejected` (with a
    signed acknowledgement) for a file-level fault; then nothing has been posted."""
    sha256, size = _digest(content)
    try:
        return _submit(
            engine=engine,
            now=now,
            zone_name=zone_name,
            partner_id=partner_id,
            content=content,
            signature_blob=signature_blob,
            sha256=sha256,
            size=size,
            max_bytes=max_bytes,
            batch_size=batch_size,
        )
    except FileRefused as exc:
        header = _header_or_none(content)
        raise _rejection(
            hub, exc, partner_id=partner_id, file_id=header.file_id if header else "", sha256=sha256, now=now
        ) from exc


def _rejection(
    hub: HubSigner, exc: FileRefused, *, partner_id: str, file_id: str, sha256: str, now: datetime
) -> FileRejected:
    header = ack.AckHeader(partner_id, file_id, sha256, now, "REFUSED", exc.code, exc.message)
    document = sign_chunks(hub, ack.render(header, (), None))
    error = FileRejected(
        exc.message,
        code=exc.code,
        details={
            "file_id": file_id,
            "acknowledgement": document.text(),
            "acknowledgement_signature": document.signature_b64,
            "hub_key_id": hub.key_id,
        },
    )
    if exc.code == "FILE_DUPLICATE":
        error.kind = "conflict"  # a retry learns where the first answer is
        error.details["original_acknowledgement_url"] = f"/api/v1/partners/{partner_id}/files/{file_id}/ack"
    elif exc.code == "FILE_TOO_LARGE":
        error.kind = "too_large"
    return error


def _submit(
    *,
    engine: Engine,
    now: datetime,
    zone_name: str,
    partner_id: str,
    content: IO[bytes],
    signature_blob: bytes,
    sha256: str,
    size: int,
    max_bytes: int,
    batch_size: int,
) -> FileOutcome:
    if size > max_bytes:
        raise FileRefused(f"the file has {size} bytes; the limit is {max_bytes}", code="FILE_TOO_LARGE")
    try:
        signature = parse_signature(signature_blob)
    except SignatureFormatError as exc:
        raise FileRefused(exc.message, code="FILE_SIGNATURE_MALFORMED") from exc
    # Signature and structure are checked before the write transaction, so a large file does not hold
    # the database's write lock while it is being read.
    with unit_of_work(engine, read_only=True) as reading:
        key_id = _verify(reading.session, partner_id, content, signature, now)
    content.seek(0)
    summary = scan(content)
    header = summary.header
    if header.partner_id != partner_id:
        raise FileRefused(f"the header names partner {header.partner_id!r}", code="FILE_PARTNER_MISMATCH")
    with unit_of_work(engine) as uow:
        lock_clearing(uow.connection)
        _refuse_duplicate(uow.session, partner_id, header.file_id, sha256)
        file_row = SettlementFileRow(
            partner_id=partner_id,
            file_id=header.file_id,
            sha256=sha256,
            size_bytes=size,
            key_id=key_id,
            created_at=header.created_at,
            received_at=now,
            record_count=summary.trailer.record_count,
            total_points=summary.trailer.total_points,
            total_amount_fen=summary.trailer.total_amount_fen,
        )
        uow.session.add(file_row)
        try:
            uow.session.flush()
        except IntegrityError as exc:
            raise FileRefused(f"file id {header.file_id!r} was already used", code="FILE_DUPLICATE") from exc
        assert file_row.id is not None
        outcome = FileOutcome(
            partner_id,
            header.file_id,
            sha256,
            now,
            summary.trailer.record_count,
            total_points=summary.trailer.total_points,
            total_amount_fen=summary.trailer.total_amount_fen,
        )
        _clear_all(uow.session, content, file_row.id, outcome, zone_name=zone_name, batch_size=batch_size)
        audit.append(
            uow.connection,
            actor=partner_id,
            action="settlement_file.submit",
            subject=f"file:{partner_id}:{header.file_id}",
            now=now,
            after={
                "sha256": sha256,
                "key_id": key_id,
                "records": outcome.record_count,
                "accepted": outcome.accepted,
                "refused": outcome.refused,
                "matched": outcome.matched,
                "refused_by_code": dict(sorted(outcome.refused_by_code.items())),
            },
        )
        uow.commit()
    return outcome


def _refuse_duplicate(session: Session, partner_id: str, file_id: str, sha256: str) -> None:
    used = session.scalars(
        select(SettlementFileRow).where(
            col(SettlementFileRow.partner_id) == partner_id, col(SettlementFileRow.file_id) == file_id
        )
    ).first()
    if used is not None:
        same = "the same bytes" if used.sha256 == sha256 else "different bytes"
        raise FileRefused(
            f"file id {file_id!r} was already submitted ({same}); its acknowledgement stands and "
            "nothing was posted again",
            code="FILE_DUPLICATE",
        )


def _chunks(items: Iterator[_T], size: int) -> Iterator[list[_T]]:
    batch: list[_T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _clear_all(
    session: Session, content: IO[bytes], file_pk: int, outcome: FileOutcome, *, zone_name: str, batch_size: int
) -> None:
    from zoneinfo import ZoneInfo

    connection = session.connection()
    partners = all_partners(session)
    context = ClearingContext(
        reporter_id=outcome.partner_id,
        file_id=outcome.file_id,
        partners=partners,
        contracts=tuple(active_contracts(session)),
        closed_periods=closed_periods(session),
        zone=ZoneInfo(zone_name),
        received_at=outcome.received_at,
        suspended_issuers=suspended_issuers(connection, partners),
    )
    terms_by_pk = _terms_by_pk(session)
    content.seek(0)
    details = (item for item in iter_details(content) if isinstance(item, RawDetail))
    for batch in _chunks(details, batch_size):
        ids, decisions = _clear_batch(connection, context, terms_by_pk, batch)
        insert_batch(
            connection, file_pk=file_pk, raws=batch, decisions=decisions, record_ids=ids, now=outcome.received_at
        )
        outcome.count(decisions)


def _terms_by_pk(session: Session) -> dict[int, ContractTerms]:
    return {row.id: terms_of(row) for row in session.scalars(select(ContractRow)) if row.id is not None}


def _clear_batch(
    connection: Connection, context: ClearingContext, terms_by_pk: dict[int, ContractTerms], batch: list[RawDetail]
) -> tuple[list[int], list[Decision]]:
    parsed = [to_record(raw) for raw in batch]
    records = [item for item in parsed if isinstance(item, SettlementRecord)]
    keys = keys_for(records, context.zone)
    book = load_book(connection, reporter_id=context.reporter_id, keys=keys, terms_by_pk=terms_by_pk)
    budgets_loaded = load_budgets(connection, book, keys.budgets, context.zone)
    ids = allocate_ids(connection, "clearing_record", len(batch))
    decisions: list[Decision] = []
    for item, record_id in zip(parsed, ids, strict=True):
        if isinstance(item, RecordProblem):
            decisions.append(Refused(item.seq, item.code, item.message))
        else:
            decisions.append(clear(item, record_id, context, book))
    save_budget_usage(connection, book, budgets_loaded, context.received_at)
    return ids, decisions


# ------------------------------------------------------------------ acknowledgements
def acknowledgement(*, engine: Engine, hub: HubSigner, partner_id: str, file_id: str) -> SignedDocument:
    """The signed acknowledgement of a processed file, rendered from what was stored (so it is the same
    bytes every time it is asked for)."""
    with unit_of_work(engine, read_only=True) as uow:
        row = uow.session.scalars(
            select(SettlementFileRow).where(
                col(SettlementFileRow.partner_id) == partner_id, col(SettlementFileRow.file_id) == file_id
            )
        ).first()
        if row is None or row.id is None:
            raise NotFound(f"no file {file_id!r} of {partner_id!r}", code="FILE_NOT_FOUND")
        header = ack.AckHeader(partner_id, file_id, row.sha256, row.received_at, "PROCESSED")
        connection = uow.connection
        summary = _ack_summary(connection, row)
        results = connection.execution_options(yield_per=5000).execute(
            text("SELECT seq, status, reason_code, reason FROM clearing_record WHERE file_pk = :f ORDER BY seq"),
            {"f": row.id},
        )
        lines = (
            ack.AckRecord(int(seq), status != "REFUSED", code or "", reason or "", matched=status == "MATCHED")
            for seq, status, code, reason in results
        )
        return sign_chunks(hub, ack.render(header, lines, summary))


def _ack_summary(connection: Connection, row: SettlementFileRow) -> ack.AckSummary:
    accepted, refused, points, fen, value = connection.execute(
        text(
            "SELECT coalesce(sum(CASE WHEN status IN ('ACCEPTED', 'MATCHED') THEN 1 ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN status = 'REFUSED' THEN 1 ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN status = 'ACCEPTED' THEN points ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN status = 'ACCEPTED' THEN amount_fen ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN status = 'ACCEPTED' THEN value_fen ELSE 0 END), 0)"
            " FROM clearing_record WHERE file_pk = :f"
        ),
        {"f": row.id},
    ).one()
    return ack.AckSummary(
        row.record_count,
        int(accepted),
        int(refused),
        row.total_points,
        row.total_amount_fen,
        int(points),
        int(fen),
        int(value),
    )
