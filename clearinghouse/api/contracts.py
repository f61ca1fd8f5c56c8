"""Contracts: propose a version, fetch its canonical bytes, sign it."""

from __future__ import annotations

from typing import Any

from flask import Response

from clearinghouse.api import api
from clearinghouse.api.common import (
    actor,
    admin_only,
    authenticated,
    caller,
    hub,
    idempotent,
    json_body,
    signature_field,
)
from clearinghouse.errors import Forbidden
from clearinghouse.services import contracts as service
from clearinghouse.services.partners import ADMIN


@api.post("/contracts")
@admin_only
@idempotent
def propose_contract() -> tuple[dict[str, Any], int]:
    view = service.propose_contract(
        engine=hub().engine,
        now=hub().now(),
        terms_json=json_body(),
        hub_timezone=hub().config.timezone,
        actor=actor(),
    )
    return view.to_json(), 201


@api.get("/contracts")
@authenticated
def list_contracts() -> dict[str, Any]:
    views = service.list_contracts(engine=hub().engine)
    visible = [v for v in views if caller() == ADMIN or caller() in v.terms.parties()]
    return {"contracts": [v.to_json() for v in visible]}


def _visible(contract_id: str, version: int) -> service.ContractView:
    view = service.get_contract(engine=hub().engine, contract_id=contract_id, version=version)
    if caller() != ADMIN and caller() not in view.terms.parties():
        raise Forbidden("only the parties read a contract", code="CONTRACT_NOT_A_PARTY")
    return view


@api.get("/contracts/<contract_id>/versions/<int:version>")
@authenticated
def get_contract(contract_id: str, version: int) -> dict[str, Any]:
    return _visible(contract_id, version).to_json()


@api.get("/contracts/<contract_id>/versions/<int:version>/canonical")
@authenticated
def canonical(contract_id: str, version: int) -> Response:
    """The exact bytes to sign, e.g. with ``openssl pkeyutl -sign -rawin``."""
    view = _visible(contract_id, version)
    return Response(view.canonical, mimetype="application/json", headers={"X-Terms-Hash": view.terms_hash})


@api.post("/contracts/<contract_id>/versions/<int:version>/signatures")
@authenticated
@idempotent
def sign(contract_id: str, version: int) -> tuple[dict[str, Any], int]:
    """A party signs as itself (base64 of the 64-byte signature); an admin cannot sign for a party."""
    signature = signature_field(json_body(), "signature")
    view = service.sign_contract(
        engine=hub().engine,
        hub=hub().signer,
        now=hub().now(),
        contract_id=contract_id,
        version=version,
        signer_id=caller(),
        actor=actor(),
        signature=signature,
    )
    return view.to_json(), 201
