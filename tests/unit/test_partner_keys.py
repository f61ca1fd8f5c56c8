"""Specs for partners.keys: reading pasted Ed25519 public keys, refusing everything else, signatures."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import mmap
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from partners.errors import (
    KeyFormatError,
    PartnerError,
    PrivateKeyRefused,
    SignatureFormatError,
    WrongKeyAlgorithm,
)
from partners.keys import MAX_KEY_INPUT_BYTES, PublicKey, load_public_key, parse_signature

Enc = serialization.Encoding
Pub = serialization.PublicFormat
Priv = serialization.PrivateFormat

OPENSSL = shutil.which("openssl") or ""
SSH_KEYGEN = shutil.which("ssh-keygen") or ""
needs_openssl = pytest.mark.skipif(not OPENSSL, reason="the openssl CLI is not installed")
needs_ssh_keygen = pytest.mark.skipif(not SSH_KEYGEN, reason="ssh-keygen is not installed")

ED_PRIVATE = ed25519.Ed25519PrivateKey.generate()
ED_RAW = ED_PRIVATE.public_key().public_bytes_raw()
ED_PEM = ED_PRIVATE.public_key().public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo).decode()
RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_PRIVATE = ec.generate_private_key(ec.SECP256R1())


def run(*args: str | Path) -> bytes:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True).stdout


def ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def ssh_line(key_type: str, *fields: bytes, comment: str = "") -> str:
    blob = ssh_string(key_type.encode()) + b"".join(ssh_string(f) for f in fields)
    return f"{key_type} {base64.b64encode(blob).decode()} {comment}".strip()


def self_signed_certificate() -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ED_PRIVATE.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ED_PRIVATE, None)
    )
    return cert.public_bytes(Enc.PEM).decode()


# --- keys made by the real tools --------------------------------------------------------------------


@pytest.fixture
def openssl_key(tmp_path: Path) -> tuple[Path, Path]:
    """(private.pem, public.pem) made by the openssl CLI exactly as a partner would."""
    if not OPENSSL:
        pytest.skip("the openssl CLI is not installed")
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    run(OPENSSL, "genpkey", "-algorithm", "ed25519", "-out", private)
    run(OPENSSL, "pkey", "-in", private, "-pubout", "-out", public)
    return private, public


def raw_of(private_pem: Path) -> bytes:
    key = serialization.load_pem_private_key(private_pem.read_bytes(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.public_key().public_bytes_raw()


@needs_openssl
def test_loads_an_openssl_public_key_whose_key_id_is_sha256_of_the_raw_key(
    openssl_key: tuple[Path, Path],
) -> None:
    private, public = openssl_key
    key = load_public_key(public.read_text())
    assert key.raw == raw_of(private)
    assert key.key_id == hashlib.sha256(raw_of(private)).hexdigest()
    assert len(key.key_id) == 64 and key.key_id == key.key_id.lower()


@needs_openssl
def test_spki_pem_is_byte_for_byte_what_openssl_pubout_writes(openssl_key: tuple[Path, Path]) -> None:
    _, public = openssl_key
    assert load_public_key(public.read_bytes()).spki_pem() == public.read_text()


@needs_openssl
def test_verifies_a_signature_made_by_openssl_pkeyutl(openssl_key: tuple[Path, Path], tmp_path: Path) -> None:
    private, public = openssl_key
    message, sig_path = tmp_path / "msg", tmp_path / "sig"
    message.write_bytes("settlement 2025-06 明眸眼镜\n".encode())
    run(OPENSSL, "pkeyutl", "-sign", "-rawin", "-inkey", private, "-in", message, "-out", sig_path)
    key = load_public_key(public.read_text())
    signature = parse_signature(sig_path.read_bytes())
    assert key.verify(signature, message.read_bytes())
    assert not key.verify(signature, message.read_bytes() + b"x")


@needs_openssl
def test_base64_of_an_openssl_signature_parses_to_the_same_bytes(
    openssl_key: tuple[Path, Path], tmp_path: Path
) -> None:
    private, _ = openssl_key
    message, sig_path = tmp_path / "msg", tmp_path / "sig"
    message.write_bytes(b"x")
    run(OPENSSL, "pkeyutl", "-sign", "-rawin", "-inkey", private, "-in", message, "-out", sig_path)
    # openssl base64 wraps at 64 columns, so the text spans two lines.
    assert parse_signature(run(OPENSSL, "base64", "-in", sig_path)) == sig_path.read_bytes()


@needs_openssl
def test_the_same_openssl_key_as_an_ssh_line_has_the_same_key_id(openssl_key: tuple[Path, Path]) -> None:
    private, public = openssl_key
    line = ssh_line("ssh-ed25519", raw_of(private), comment="ops@partner")
    assert load_public_key(line).key_id == load_public_key(public.read_text()).key_id


@needs_ssh_keygen
@needs_openssl
def test_an_ssh_keygen_key_and_its_openssl_pubout_have_the_same_key_id(tmp_path: Path) -> None:
    key_file = tmp_path / "id_ed25519"
    run(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "财务 部 key", "-f", key_file)
    ssh_private = serialization.load_ssh_private_key(key_file.read_bytes(), password=None)
    pkcs8 = tmp_path / "private.pem"
    pkcs8.write_bytes(ssh_private.private_bytes(Enc.PEM, Priv.PKCS8, serialization.NoEncryption()))
    pubout = run(OPENSSL, "pkey", "-in", pkcs8, "-pubout").decode()
    from_ssh = load_public_key(Path(f"{key_file}.pub").read_text(encoding="utf-8"))
    assert from_ssh.key_id == load_public_key(pubout).key_id
    assert from_ssh.spki_pem() == pubout


# --- accepted forms ---------------------------------------------------------------------------------


def test_ssh_line_round_trips_with_a_chinese_comment_containing_spaces() -> None:
    key = PublicKey(ED_RAW)
    line = key.ssh_line("明眸眼镜 财务部 signing key")
    assert line.endswith(" 明眸眼镜 财务部 signing key")
    assert load_public_key(line) == key
    assert load_public_key(key.ssh_line()) == key


def test_ssh_line_matches_what_cryptography_writes() -> None:
    expected = ED_PRIVATE.public_key().public_bytes(Enc.OpenSSH, Pub.OpenSSH).decode()
    assert PublicKey(ED_RAW).ssh_line() == expected


@pytest.mark.parametrize(
    "pasted",
    [
        ED_PEM.replace("\n", "\r\n"),
        "\ufeff" + ED_PEM,
        "\ufeff" + ED_PEM.replace("\n", "\r\n"),
        "\n\n   \t" + ED_PEM + "\n\n  ",
        ED_PEM.rstrip("\n"),
        "  " + PublicKey(ED_RAW).ssh_line("c") + "\r\n",
        "\ufeff" + PublicKey(ED_RAW).ssh_line(),
    ],
    ids=["crlf", "bom", "bom-crlf", "whitespace", "no-final-newline", "ssh-crlf", "ssh-bom"],
)
def test_tolerates_crlf_bom_and_surrounding_whitespace(pasted: str) -> None:
    assert load_public_key(pasted).raw == ED_RAW
    assert load_public_key(pasted.encode("utf-8")).raw == ED_RAW


def test_public_key_is_a_frozen_value_compared_by_raw_bytes() -> None:
    assert PublicKey(ED_RAW) == load_public_key(ED_PEM)
    assert len({PublicKey(ED_RAW), load_public_key(ED_PEM)}) == 1
    with pytest.raises(AttributeError):
        PublicKey(ED_RAW).raw = b"\0" * 32  # type: ignore[misc]


@pytest.mark.parametrize("raw", [b"", b"\1" * 31, b"\1" * 33, bytearray(32)])
def test_public_key_holds_exactly_32_raw_bytes(raw: bytes) -> None:
    with pytest.raises(KeyFormatError):
        PublicKey(raw)


# --- refusals ---------------------------------------------------------------------------------------

PRIVATE_KEYS = {
    "pkcs8-ed25519": ED_PRIVATE.private_bytes(Enc.PEM, Priv.PKCS8, serialization.NoEncryption()),
    "encrypted-pkcs8": ED_PRIVATE.private_bytes(Enc.PEM, Priv.PKCS8, serialization.BestAvailableEncryption(b"pw")),
    "openssh-ed25519": ED_PRIVATE.private_bytes(Enc.PEM, Priv.OpenSSH, serialization.NoEncryption()),
    "traditional-rsa": RSA_PRIVATE.private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, serialization.NoEncryption()),
    "traditional-ec": EC_PRIVATE.private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, serialization.NoEncryption()),
    "pkcs8-rsa": RSA_PRIVATE.private_bytes(Enc.PEM, Priv.PKCS8, serialization.NoEncryption()),
}


def body_lines(pem: bytes) -> list[str]:
    return [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]


@pytest.mark.parametrize("pem", PRIVATE_KEYS.values(), ids=PRIVATE_KEYS.keys())
def test_refuses_a_pasted_private_key_without_echoing_it(pem: bytes) -> None:
    with pytest.raises(PrivateKeyRefused) as refused:
        load_public_key(pem.decode())
    message = refused.value.message
    assert refused.value.code == "KEY_IS_PRIVATE"
    assert "private key" in message and "not been stored" in message
    assert "public half" in message and "openssl pkey -in private.pem -pubout" in message
    assert not any(line[:16] in message for line in body_lines(pem))


@pytest.mark.parametrize("pem", PRIVATE_KEYS.values(), ids=PRIVATE_KEYS.keys())
def test_refuses_a_private_key_even_with_crlf_and_bom(pem: bytes) -> None:
    with pytest.raises(PrivateKeyRefused):
        load_public_key(b"\xef\xbb\xbf" + pem.replace(b"\n", b"\r\n"))


@needs_openssl
def test_refuses_the_private_key_openssl_genpkey_writes(openssl_key: tuple[Path, Path]) -> None:
    private, _ = openssl_key
    with pytest.raises(PrivateKeyRefused):
        load_public_key(private.read_text())


@needs_ssh_keygen
def test_refuses_a_passphrase_protected_ssh_keygen_private_key(tmp_path: Path) -> None:
    key_file = tmp_path / "id_ed25519"
    run(SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "correct horse", "-f", key_file)
    with pytest.raises(PrivateKeyRefused, match="ssh-keygen -y"):
        load_public_key(key_file.read_text())


@pytest.mark.parametrize("name", ["pkcs8-ed25519", "openssh-ed25519", "encrypted-pkcs8"])
def test_refuses_the_bare_base64_body_of_a_private_key(name: str) -> None:
    with pytest.raises(PrivateKeyRefused):
        load_public_key("\n".join(body_lines(PRIVATE_KEYS[name])))


OtherPublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed448.Ed448PublicKey | x25519.X25519PublicKey


def spki(key: OtherPublicKey) -> str:
    return key.public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo).decode()


def openssh(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return key.public_bytes(Enc.OpenSSH, Pub.OpenSSH).decode()


OTHER_ALGORITHMS = {
    "rsa-pem": (spki(RSA_PRIVATE.public_key()), "RSA (2048-bit)"),
    "rsa-pkcs1-pem": (
        RSA_PRIVATE.public_key().public_bytes(Enc.PEM, Pub.PKCS1).decode(),
        "RSA (2048-bit)",
    ),
    "ec-p256-pem": (spki(EC_PRIVATE.public_key()), "secp256r1"),
    "ed448-pem": (spki(ed448.Ed448PrivateKey.generate().public_key()), "Ed448"),
    "x25519-pem": (spki(x25519.X25519PrivateKey.generate().public_key()), "X25519"),
    "ssh-rsa": (openssh(RSA_PRIVATE.public_key()), "ssh-rsa"),
    "ecdsa-sha2-nistp256": (openssh(EC_PRIVATE.public_key()), "ecdsa-sha2-nistp256"),
    "ssh-ed448": (ssh_line("ssh-ed448", b"\7" * 57), "ssh-ed448"),
    "sk-ssh-ed25519": (ssh_line("sk-ssh-ed25519@openssh.com", ED_RAW, b"ssh:"), "security-key"),
}


@pytest.mark.parametrize(("text", "named"), OTHER_ALGORITHMS.values(), ids=OTHER_ALGORITHMS.keys())
def test_refuses_a_key_of_another_algorithm_naming_it(text: str, named: str) -> None:
    with pytest.raises(WrongKeyAlgorithm) as refused:
        load_public_key(text)
    assert named in refused.value.message
    assert "Ed25519 key is required" in refused.value.message
    assert refused.value.code == "KEY_NOT_ED25519"


def truncated_pem() -> str:
    lines = ED_PEM.splitlines()
    return "\n".join([lines[0], lines[1][:30], lines[2]])


def pem_of(der: bytes) -> str:
    return f"-----BEGIN PUBLIC KEY-----\n{base64.b64encode(der).decode()}\n-----END PUBLIC KEY-----\n"


def long_input() -> str:
    return ED_PEM + " " * (MAX_KEY_INPUT_BYTES - len(ED_PEM) + 1)


UNREADABLE: dict[str, str | bytes] = {
    "empty": "",
    "blank": " \r\n\t ",
    "bom-only": "\ufeff",
    "garbage": "hello, here is my key",
    "truncated-pem": truncated_pem(),
    "pem-without-end": ED_PEM.splitlines()[0] + "\n" + ED_PEM.splitlines()[1],
    "pem-with-bad-base64": ED_PEM.replace("MCow", "MC*w"),
    "pem-with-text-before": "my key:\n" + ED_PEM,
    "two-pem-keys": ED_PEM + ED_PEM,
    "lowercase-pem-label": ED_PEM.replace("PUBLIC KEY", "public key"),
    "pem-with-trailing-der": pem_of(ED_PRIVATE.public_key().public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo) + b"\0"),
    "certificate": self_signed_certificate(),
    "too-long": long_input(),
    "too-long-bytes": long_input().encode(),
    "non-utf8": b"\xff\xfe" + ED_PEM.encode("utf-16-le"),
    "latin1-bytes": "ssh-ed25519 AAAA café".encode("latin-1"),
    "ssh-truncated-base64": PublicKey(ED_RAW).ssh_line()[:-5],
    "ssh-short-key": ssh_line("ssh-ed25519", ED_RAW[:31]),
    "ssh-extra-field": ssh_line("ssh-ed25519", ED_RAW, b""),
    "ssh-type-mismatch": "ssh-ed25519 " + openssh(RSA_PRIVATE.public_key()).split()[1],
    "ssh-two-lines": PublicKey(ED_RAW).ssh_line() + "\n" + PublicKey(ED_RAW).ssh_line(),
    "ssh-certificate": ssh_line("ssh-ed25519-cert-v01@openssh.com", b"\0" * 32, ED_RAW),
    "ssh-authorized-keys-options": 'from="10.0.0.1" ' + PublicKey(ED_RAW).ssh_line(),
    "ssh-type-only": "ssh-ed25519",
    "bare-spki-base64": "".join(ED_PEM.splitlines()[1:-1]),
    "raw-key-base64": base64.b64encode(ED_RAW).decode(),
}


@pytest.mark.parametrize("text", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_rejects_anything_unreadable_as_a_key_format_error(text: str | bytes) -> None:
    with pytest.raises(KeyFormatError) as rejected:
        load_public_key(text)
    assert type(rejected.value) is KeyFormatError
    assert rejected.value.code == "KEY_UNREADABLE" and rejected.value.kind == "invalid"


def test_a_certificate_is_rejected_with_the_command_to_extract_its_key() -> None:
    with pytest.raises(KeyFormatError, match="openssl x509"):
        load_public_key(self_signed_certificate())


def test_unreadable_key_messages_never_echo_the_input() -> None:
    secret = "Zm9vYmFyc2VjcmV0c2VjcmV0c2VjcmV0"
    with pytest.raises(KeyFormatError) as rejected:
        load_public_key(f"ssh-ed25519 {secret} comment")
    assert secret not in rejected.value.message


def test_rejects_input_that_is_not_text() -> None:
    with pytest.raises(KeyFormatError):
        load_public_key(42)  # type: ignore[arg-type]


# --- verification -----------------------------------------------------------------------------------

MESSAGE = b"statement 2025-06: 1,000 points" * 100
SIGNATURE = ED_PRIVATE.sign(MESSAGE)


def test_verifies_data_given_as_any_bytes_like_object() -> None:
    key = PublicKey(ED_RAW)
    with mmap.mmap(-1, len(MESSAGE)) as mapped:
        mapped.write(MESSAGE)
        assert key.verify(SIGNATURE, mapped)
    strided = memoryview(bytes(b for pair in zip(MESSAGE, MESSAGE, strict=True) for b in pair))[::2]
    for data in (MESSAGE, bytearray(MESSAGE), memoryview(MESSAGE), strided):
        assert key.verify(SIGNATURE, data)


@pytest.mark.parametrize(
    "signature",
    [b"", b"\0" * 64, SIGNATURE[:63], SIGNATURE + b"\0", bytes([SIGNATURE[0] ^ 1]) + SIGNATURE[1:]],
    ids=["empty", "zeros", "short", "long", "flipped-bit"],
)
def test_a_bad_signature_is_false_never_an_exception(signature: bytes) -> None:
    assert PublicKey(ED_RAW).verify(signature, MESSAGE) is False


def test_a_signature_by_another_key_does_not_verify() -> None:
    other = ed25519.Ed25519PrivateKey.generate().sign(MESSAGE)
    assert not PublicKey(ED_RAW).verify(other, MESSAGE)


# --- signatures -------------------------------------------------------------------------------------


def wrap(text: bytes, width: int) -> bytes:
    return b"\n".join(text[i : i + width] for i in range(0, len(text), width)) + b"\n"


SIG_B64 = base64.b64encode(SIGNATURE)
SIG_URLSAFE = base64.urlsafe_b64encode(SIGNATURE)


def test_a_64_byte_blob_is_always_taken_as_raw() -> None:
    assert parse_signature(SIGNATURE) == SIGNATURE
    looks_like_text = b"A" * 64
    assert parse_signature(looks_like_text) == looks_like_text
    assert parse_signature(bytearray(SIGNATURE)) == SIGNATURE


@pytest.mark.parametrize(
    "blob",
    [
        SIG_B64,
        SIG_B64.rstrip(b"="),
        SIG_URLSAFE,
        SIG_URLSAFE.rstrip(b"="),
        SIG_B64 + b"\n",
        b"  \r\n" + SIG_B64 + b"\r\n\t ",
        wrap(SIG_B64, 76),
        wrap(SIG_B64, 64),
    ],
    ids=[
        "padded",
        "unpadded",
        "urlsafe",
        "urlsafe-unpadded",
        "newline",
        "whitespace",
        "base64-76",
        "openssl-64",
    ],
)
def test_parses_base64_signatures_in_either_alphabet(blob: bytes) -> None:
    assert parse_signature(blob) == SIGNATURE


def base64_with_alphabets_mixed() -> bytes:
    # Signatures are random; find one whose base64 shows both "+" or "/" and, after swapping one, "-".
    for i in range(1000):
        text = base64.b64encode(ED_PRIVATE.sign(str(i).encode()))
        if text.count(b"+") >= 2:
            first = text.index(b"+")
            return text[:first] + b"-" + text[first + 1 :]
    raise AssertionError("no suitable signature found")


def non_canonical_base64() -> bytes:
    text = bytearray(SIG_B64.rstrip(b"="))
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    text[-1] = alphabet[alphabet.index(text[-1]) | 1]  # 86 chars carry 4 spare bits; set one
    return bytes(text)


BAD_SIGNATURES: dict[str, object] = {
    "empty": b"",
    "63-bytes": SIGNATURE[:63],
    "65-bytes": SIGNATURE + b"\0",
    "garbage": b"not a signature",
    "one-pad": SIG_B64[:-1],
    "three-pads": SIG_B64 + b"=",
    "base64-of-63": base64.b64encode(SIGNATURE[:63]),
    "base64-of-65": base64.b64encode(SIGNATURE + b"\0"),
    "stray-character": SIG_B64[:10] + b"*" + SIG_B64[11:],
    "mixed-alphabets": base64_with_alphabets_mixed(),
    "non-canonical": non_canonical_base64(),
    "non-ascii": "é".encode() * 43,
    "huge": b"A" * 100_000,
    "hex": SIGNATURE.hex().encode(),
    "str-not-bytes": SIG_B64.decode(),
    "none": None,
}


@pytest.mark.parametrize("blob", BAD_SIGNATURES.values(), ids=BAD_SIGNATURES.keys())
def test_rejects_anything_else_as_a_malformed_signature(blob: object) -> None:
    with pytest.raises(SignatureFormatError) as rejected:
        parse_signature(blob)  # type: ignore[arg-type]
    assert rejected.value.code == "SIGNATURE_MALFORMED"


# --- fuzzing ----------------------------------------------------------------------------------------

NEAR_MISS_SOURCES = [ED_PEM, PublicKey(ED_RAW).ssh_line("c"), *(p.decode() for p in PRIVATE_KEYS.values())]


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """A real key (public or private) with a random slice replaced by random characters."""
    text = draw(st.sampled_from(NEAR_MISS_SOURCES))
    start = draw(st.integers(0, len(text)))
    return text[:start] + draw(st.text(max_size=20)) + text[start + draw(st.integers(0, 40)) :]


@st.composite
def armoured_noise(draw: st.DrawFn) -> str:
    """Random bytes dressed as a PEM public key or an SSH line, to reach the DER and wire parsers."""
    blob = base64.b64encode(draw(st.binary(max_size=120))).decode()
    if draw(st.booleans()):
        return pem_of(draw(st.binary(max_size=120)))
    return f"{draw(st.sampled_from(['ssh-ed25519', 'ssh-rsa', 'sk-ssh-ed25519@openssh.com']))} {blob}"


KEY_INPUTS = st.one_of(
    st.text(),
    st.binary(),
    near_misses(),
    near_misses().map(lambda text: text.encode("utf-8", "surrogatepass")),
    armoured_noise(),
)


@settings(max_examples=600, deadline=None)
@given(KEY_INPUTS)
def test_no_key_input_raises_anything_but_a_partner_error(text: str | bytes) -> None:
    try:
        key = load_public_key(text)
    except PartnerError:
        return
    assert len(key.raw) == 32 and load_public_key(key.spki_pem()) == key


@st.composite
def damaged_base64_signatures(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from([SIG_B64, SIG_URLSAFE, wrap(SIG_B64, 76)]))
    start = draw(st.integers(0, len(text)))
    return text[:start] + draw(st.binary(max_size=3)) + text[start + draw(st.integers(0, 3)) :]


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.binary(max_size=200), damaged_base64_signatures()))
def test_parse_signature_returns_64_bytes_or_a_signature_format_error(blob: bytes) -> None:
    try:
        parsed = parse_signature(blob)
    except SignatureFormatError:
        return
    assert len(parsed) == 64
