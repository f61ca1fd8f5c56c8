"""Specs of the contract lifecycle: amendment chain, signatures, status, and the version governing a day."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from contracts.canonical import canonical_bytes, contract_hash
from contracts.errors import AmendmentChainBroken, OverlappingContracts, SignatureRejected
from contracts.lifecycle import (
    ContractStatus,
    applicable_terms,
    check_amendment,
    check_first_version,
    ed25519_check,
    missing_signers,
    require_signature,
    status_of,
    verify_signature,
)
from contracts.terms import ContractTerms, FulfillerTerms, terms_to_json


def fulfiller(fulfiller_id: str, rate: str = "8.5", categories: frozenset[str] = frozenset({"tea"})) -> FulfillerTerms:
    return FulfillerTerms(fulfiller_id=fulfiller_id, rate_fen_per_point=Decimal(rate), categories=categories)


def first_version(**changes: Any) -> ContractTerms:
    fields: dict[str, Any] = {
        "contract_id": "optika-alliance",
        "version": 1,
        "previous_hash": None,
        "title": "眼镜联盟协议",
        "issuer_id": "optika",
        "earn_cap_points_per_yuan": Decimal("1"),
        "fulfillers": (fulfiller("teahouse"), fulfiller("cinema-1", "10", frozenset({"cinema"}))),
        "effective_from": date(2025, 1, 1),
    }
    return ContractTerms(**(fields | changes))


def amend(previous: ContractTerms, **changes: Any) -> ContractTerms:
    """The next version of ``previous``, correctly chained, with ``changes``."""
    link: dict[str, Any] = {"version": previous.version + 1, "previous_hash": contract_hash(previous)}
    return replace(previous, **(link | changes))


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# --- the amendment chain


def test_a_new_contract_starts_at_version_one() -> None:
    check_first_version(first_version())


def test_a_new_contract_cannot_start_at_version_two() -> None:
    with pytest.raises(AmendmentChainBroken, match="starts at version 1, not 2") as caught:
        check_first_version(first_version(version=2, previous_hash="0" * 64))
    assert (caught.value.code, caught.value.kind) == ("CONTRACT_CHAIN_BROKEN", "conflict")


def test_accepts_a_chain_of_amendments() -> None:
    v1 = first_version()
    v2 = amend(v1, effective_from=date(2025, 3, 1))
    v3 = amend(v2, title="眼镜联盟协议（第三版）")
    check_amendment(v1, v2)
    check_amendment(v2, v3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"contract_id": "optika-other"}, "an amendment of contract 'optika-alliance' must keep its id"),
        ({"issuer_id": "zhenguan"}, "must keep issuer 'optika', not 'zhenguan'"),
        ({"version": 3}, "version 1 of contract 'optika-alliance' is amended by version 2, not 3"),
        ({"previous_hash": "0" * 64}, "previous_hash of version 2 of contract 'optika-alliance' must be "),
    ],
)
def test_refuses_a_broken_amendment_naming_the_broken_link(changes: dict[str, Any], message: str) -> None:
    v1 = first_version()
    with pytest.raises(AmendmentChainBroken) as caught:
        check_amendment(v1, amend(v1, **changes))
    assert message in caught.value.message


def test_refuses_an_amendment_chained_to_the_hash_of_other_bytes() -> None:
    v1 = first_version()
    pretty = json.dumps(terms_to_json(v1), indent=2, ensure_ascii=False).encode()
    v2 = replace(v1, version=2, previous_hash=hashlib.sha256(pretty).hexdigest())
    with pytest.raises(AmendmentChainBroken, match=f"must be {contract_hash(v1)}"):
        check_amendment(v1, v2)


def test_refuses_a_version_that_amends_itself() -> None:
    v2 = amend(first_version())
    with pytest.raises(AmendmentChainBroken, match="is amended by version 3, not 2"):
        check_amendment(v2, v2)


def test_refuses_an_amendment_of_an_edited_previous_version() -> None:
    v1 = first_version()
    v2 = amend(v1)
    edited_v1 = replace(v1, title="改过的协议")
    with pytest.raises(AmendmentChainBroken, match="previous_hash of version 2"):
        check_amendment(edited_v1, v2)


# --- signatures


def test_verifies_an_ed25519_signature_over_the_canonical_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    message = canonical_bytes(first_version())
    assert verify_signature(message=message, signature=key.sign(message), public_key_raw=public_raw(key))


def test_rejects_a_signature_over_other_bytes_or_by_another_key() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    message = canonical_bytes(first_version())
    signature = key.sign(message)
    assert not verify_signature(message=message + b" ", signature=signature, public_key_raw=public_raw(key))
    assert not verify_signature(message=message, signature=signature, public_key_raw=public_raw(other))
    assert not verify_signature(message=message, signature=signature[:63], public_key_raw=public_raw(key))
    assert not verify_signature(message=message, signature=bytes(64), public_key_raw=public_raw(key))


def test_a_public_key_of_the_wrong_length_is_an_error_not_a_rejection() -> None:
    with pytest.raises(ValueError, match="32 raw bytes, not 31"):
        verify_signature(message=b"x", signature=bytes(64), public_key_raw=bytes(31))
    with pytest.raises(ValueError, match="32 raw bytes, not 33"):
        ed25519_check(bytes(33))


def test_require_signature_names_the_signer_whose_signature_fails() -> None:
    key = Ed25519PrivateKey.generate()
    message = canonical_bytes(first_version())
    check = ed25519_check(public_raw(key))
    require_signature(signer="teahouse", message=message, signature=key.sign(message), check=check)
    with pytest.raises(SignatureRejected, match="the signature of 'teahouse' does not verify") as caught:
        require_signature(signer="teahouse", message=message, signature=key.sign(b"other"), check=check)
    assert caught.value.code == "CONTRACT_SIGNATURE_INVALID"


def test_require_signature_takes_any_check_of_signature_then_message() -> None:
    seen: list[tuple[bytes, bytes]] = []

    def check(signature: bytes, message: bytes) -> bool:
        seen.append((signature, message))
        return False

    with pytest.raises(SignatureRejected):
        require_signature(signer="optika", message=b"m", signature=b"s", check=check)
    assert seen == [(b"s", b"m")]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line tool")
def test_a_signature_made_by_openssl_over_the_canonical_bytes_verifies_and_one_over_pretty_json_does_not(
    tmp_path: Path,
) -> None:
    key_file, canonical_file, pretty_file = tmp_path / "key.pem", tmp_path / "c.json", tmp_path / "p.json"
    terms = first_version()
    canonical_file.write_bytes(canonical_bytes(terms))
    pretty_file.write_bytes(json.dumps(terms_to_json(terms), indent=2, ensure_ascii=False).encode())
    _openssl("genpkey", "-algorithm", "ED25519", "-out", str(key_file))
    try:
        for name in ("c", "p"):
            data = tmp_path / f"{name}.json"
            _openssl("pkeyutl", "-sign", "-rawin", "-inkey", str(key_file), "-in", str(data), "-out", f"{data}.sig")
    except subprocess.CalledProcessError as error:
        pytest.skip(f"this openssl cannot sign with -rawin: {error.stderr.decode(errors='replace')[:200]}")
    private = load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    raw = public_raw(private)
    canonical_sig, pretty_sig = (tmp_path / "c.json.sig").read_bytes(), (tmp_path / "p.json.sig").read_bytes()
    message = canonical_bytes(terms)
    assert verify_signature(message=message, signature=canonical_sig, public_key_raw=raw)
    assert not verify_signature(message=message, signature=pretty_sig, public_key_raw=raw)
    assert verify_signature(message=pretty_file.read_bytes(), signature=pretty_sig, public_key_raw=raw)


# --- status


def _status(signers: set[str], *, hub: bool = False, terminated: bool = False) -> ContractStatus:
    return status_of(
        terms=first_version(), party_signers=frozenset(signers), hub_countersigned=hub, terminated=terminated
    )


def test_is_a_draft_until_every_party_signed() -> None:
    assert _status(set()) is ContractStatus.DRAFT
    assert _status({"optika", "teahouse"}) is ContractStatus.DRAFT


def test_awaits_the_hub_once_every_party_signed() -> None:
    assert _status({"optika", "teahouse", "cinema-1"}) is ContractStatus.AWAITING_HUB


def test_is_active_once_the_hub_countersigned_a_fully_signed_version() -> None:
    assert _status({"optika", "teahouse", "cinema-1"}, hub=True) is ContractStatus.ACTIVE


def test_a_hub_countersignature_without_every_party_leaves_a_draft() -> None:
    assert _status({"optika"}, hub=True) is ContractStatus.DRAFT


def test_signatures_of_strangers_count_for_nothing() -> None:
    assert _status({"optika", "teahouse", "mallory"}, hub=True) is ContractStatus.DRAFT


def test_termination_wins_over_every_other_status() -> None:
    assert _status({"optika", "teahouse", "cinema-1"}, hub=True, terminated=True) is ContractStatus.TERMINATED
    assert _status(set(), terminated=True) is ContractStatus.TERMINATED


def test_lists_missing_signers_in_party_order() -> None:
    terms = first_version()
    assert missing_signers(terms, frozenset()) == ("optika", "teahouse", "cinema-1")
    assert missing_signers(terms, frozenset({"teahouse", "mallory"})) == ("optika", "cinema-1")
    assert missing_signers(terms, frozenset(terms.parties())) == ()


def test_statuses_have_stable_json_names() -> None:
    assert [status.value for status in ContractStatus] == ["draft", "awaiting_hub", "active", "terminated"]


# --- the version governing a day

V1 = first_version()
V2 = amend(
    V1,
    effective_from=date(2025, 3, 1),
    fulfillers=(fulfiller("teahouse", "9"), fulfiller("bookshop", "5", frozenset({"books"}))),
)


def _applicable(candidates: list[ContractTerms], fulfiller_id: str, day: date, **extra: Any) -> Any:
    return applicable_terms(candidates, issuer_id="optika", fulfiller_id=fulfiller_id, day=day, **extra)


def test_picks_the_version_in_effect_on_the_day() -> None:
    found = _applicable([V1, V2], "teahouse", date(2025, 2, 28))
    assert found is not None and found[0] is V1 and found[1].rate_fen_per_point == Decimal("8.5")
    found = _applicable([V1, V2], "teahouse", date(2025, 3, 1))
    assert found is not None and found[0] is V2 and found[1].rate_fen_per_point == Decimal("9")


def test_does_not_depend_on_the_order_of_candidates() -> None:
    assert _applicable([V2, V1], "teahouse", date(2025, 3, 1)) == _applicable([V1, V2], "teahouse", date(2025, 3, 1))
    assert _applicable(iter([V2, V1]), "teahouse", date(2025, 2, 1)) == (V1, V1.fulfillers[0])  # type: ignore[arg-type]


def test_a_fulfiller_added_by_an_amendment_clears_only_from_its_start() -> None:
    assert _applicable([V1, V2], "bookshop", date(2025, 2, 28)) is None
    assert _applicable([V1, V2], "bookshop", date(2025, 3, 1)) == (V2, V2.fulfillers[1])


def test_a_fulfiller_dropped_by_an_amendment_stops_clearing_from_its_start() -> None:
    assert _applicable([V1, V2], "cinema-1", date(2025, 2, 28)) == (V1, V1.fulfillers[1])
    assert _applicable([V1, V2], "cinema-1", date(2025, 3, 1)) is None


def test_an_amendment_that_ends_earlier_also_ends_the_older_version() -> None:
    shorter = amend(V1, effective_from=date(2025, 3, 1), effective_to=date(2025, 6, 1))
    assert _applicable([V1, shorter], "teahouse", date(2025, 5, 31)) == (shorter, shorter.fulfillers[0])
    assert _applicable([V1, shorter], "teahouse", date(2025, 6, 1)) is None


def test_nothing_applies_before_the_start_or_for_another_issuer_or_a_stranger() -> None:
    assert _applicable([V1, V2], "teahouse", date(2024, 12, 31)) is None
    assert _applicable([V1, V2], "nobody", date(2025, 3, 1)) is None
    assert applicable_terms([V1], issuer_id="teahouse", fulfiller_id="optika", day=date(2025, 3, 1)) is None
    assert _applicable([], "teahouse", date(2025, 3, 1)) is None


def test_a_termination_ends_the_contract_from_its_effective_day() -> None:
    ends = {"optika-alliance": date(2025, 4, 1)}
    assert _applicable([V1, V2], "teahouse", date(2025, 3, 31), terminated_on=ends) == (V2, V2.fulfillers[0])
    assert _applicable([V1, V2], "teahouse", date(2025, 4, 1), terminated_on=ends) is None


def test_identical_copies_of_a_version_are_harmless() -> None:
    assert _applicable([V1, replace(V1), V2], "teahouse", date(2025, 2, 1)) == (V1, V1.fulfillers[0])


def test_refuses_to_choose_between_two_contracts_for_the_same_pair_and_day() -> None:
    other = first_version(contract_id="optika-tea-2025", effective_from=date(2025, 2, 1))
    assert _applicable([V1, other], "teahouse", date(2025, 1, 31)) == (V1, V1.fulfillers[0])
    with pytest.raises(OverlappingContracts, match="'optika-alliance' v1, 'optika-tea-2025' v1 all govern") as caught:
        _applicable([V1, other], "teahouse", date(2025, 2, 1))
    assert (caught.value.code, caught.value.kind) == ("CONTRACT_OVERLAP", "conflict")


def test_two_contracts_for_different_fulfillers_do_not_overlap() -> None:
    other = first_version(contract_id="optika-books", fulfillers=(fulfiller("bookshop"),))
    assert _applicable([V1, other], "teahouse", date(2025, 2, 1)) == (V1, V1.fulfillers[0])


def test_refuses_two_different_texts_of_one_version() -> None:
    forged = replace(V1, title="另一份文本")
    with pytest.raises(OverlappingContracts, match="two different texts of version 1"):
        _applicable([V1, forged], "teahouse", date(2025, 2, 1))


def test_applicable_terms_refuses_a_datetime_day() -> None:
    with pytest.raises(TypeError, match="local date"):
        _applicable([V1], "teahouse", datetime(2025, 2, 1, 12, 0))
