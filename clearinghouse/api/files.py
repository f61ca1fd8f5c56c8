"""Settlement files: upload (multipart ``file`` + ``signature``) → signed acknowledgement."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from clearinghouse.api import api
from clearinghouse.api.common import authenticated, caller, hub, idempotent, require_self_or_admin
from clearinghouse.errors import Forbidden, InvalidRequest
from clearinghouse.services import files as service
from clearinghouse.services.partners import ADMIN


def outcome_json(outcome: service.FileOutcome) -> dict[str, Any]:
    return {
        "partner_id": outcome.partner_id,
        "file_id": outcome.file_id,
        "sha256": outcome.sha256,
        "received_at": outcome.received_at.isoformat(),
        "record_count": outcome.record_count,
        "accepted": outcome.accepted,
        "refused": outcome.refused,
        "refused_by_code": dict(outcome.refused_by_code),
        "matched": outcome.matched,
        "total_points": outcome.total_points,
        "total_amount_fen": outcome.total_amount_fen,
        "accepted_points": outcome.accepted_points,
        "accepted_amount_fen": outcome.accepted_amount_fen,
        "accepted_value_fen": outcome.accepted_value_fen,
    }


def _signature_part() -> bytes | None:
    part = request.files.get("signature")
    if part is not None:
        return part.stream.read(128 * 1024)
    text = request.form.get("signature")
    return text.encode("utf-8") if text is not None else None


@api.post("/files")
@authenticated
@idempotent
def submit_file() -> tuple[dict[str, Any], int]:
    if caller() == ADMIN:
        raise Forbidden("files are submitted by partners, signed with their own keys", code="PARTNER_ONLY")
    upload = request.files.get("file")
    signature_blob = _signature_part()
    if upload is None or signature_blob is None:
        raise InvalidRequest(
            "send multipart/form-data with a part 'file' and a part 'signature' (a file part with the "
            "64 raw bytes or their base64, or a text field with the base64)",
            code="REQUEST_PARTS_MISSING",
        )
    config = hub().config
    outcome = service.submit_settlement_file(
        engine=hub().engine,
        hub=hub().signer,
        now=hub().now(),
        zone_name=config.timezone,
        partner_id=caller(),
        content=upload.stream,
        signature_blob=signature_blob,
        max_bytes=config.max_file_bytes,
        batch_size=config.batch_size,
    )
    document = service.acknowledgement(
        engine=hub().engine, hub=hub().signer, partner_id=caller(), file_id=outcome.file_id
    )
    body = outcome_json(outcome)
    body.update(
        acknowledgement=document.text(),
        acknowledgement_signature=document.signature_b64,
        hub_key_id=hub().signer.key_id,
        acknowledgement_url=f"/api/v1/partners/{caller()}/files/{outcome.file_id}/ack",
    )
    return body, 201


@api.get("/partners/<partner_id>/files/<file_id>/ack")
@authenticated
def get_ack(partner_id: str, file_id: str) -> Response:
    require_self_or_admin(partner_id)
    document = service.acknowledgement(engine=hub().engine, hub=hub().signer, partner_id=partner_id, file_id=file_id)
    return Response(
        document.stream,
        mimetype="text/csv",
        headers={"X-Signature": document.signature_b64, "X-Key-Id": hub().signer.key_id},
    )


@api.get("/partners/<partner_id>/files/<file_id>/ack.sig")
@authenticated
def get_ack_signature(partner_id: str, file_id: str) -> Response:
    require_self_or_admin(partner_id)
    document = service.acknowledgement(engine=hub().engine, hub=hub().signer, partner_id=partner_id, file_id=file_id)
    return Response(document.signature, mimetype="application/octet-stream")
