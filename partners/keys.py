"""Partners' Ed25519 public keys: reading what a partner pastes, and checking their signatures.

Invariants:

* A :class:`PublicKey` always holds exactly 32 raw Ed25519 key bytes; its ``key_id`` is the lowercase hex
  SHA-256 of those bytes, so the same key pasted as PEM or as an ``ssh-ed25519`` line has one identity.
* :func:`load_public_key` raises nothing but :class:`~partners.errors.PartnerError` subclasses, whatever
  it is given, and no error message ever echoes the pasted text (it may be secret material).
* :func:`parse_signature` returns exactly 64 bytes or raises :class:`~partners.errors.SignatureFormatError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

from partners.errors import KeyFormatError, PrivateKeyRefused, SignatureFormatError, WrongKeyAlgorithm

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "MAX_KEY_INPUT_BYTES",
    "RAW_KEY_LENGTH",
    "SIGNATURE_LENGTH",
    "PublicKey",
    "load_public_key",
    "parse_signature",
]

MAX_KEY_INPUT_BYTES = 16 * 1024
RAW_KEY_LENGTH = 32
SIGNATURE_LENGTH = 64

_SSH_ED25519 = "ssh-ed25519"
_PUBOUT_COMMAND = "openssl pkey -in private.pem -pubout -out public.pem"
_ACCEPTED_FORMS = (
    "Paste an Ed25519 public key either as PEM ('-----BEGIN PUBLIC KEY-----', as written by "
    f"'{_PUBOUT_COMMAND}') or as a one-line OpenSSH key ('ssh-ed25519 AAAA... comment')."
)

# Every PEM flavour of private key (PKCS#8, encrypted PKCS#8, OpenSSH, RSA/EC/DSA "traditional"),
# the RFC 4716 "SSH2 ENCRYPTED PRIVATE KEY" armour and PuTTY's .ppk files.
_PRIVATE_MARKER = re.compile(r"BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY|PuTTY-User-Key-File-", re.IGNORECASE)
# The body is matched as "no dashes" rather than as base64-with-whitespace: overlapping whitespace
# quantifiers backtrack quadratically on hostile input, and the body is validated separately anyway.
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----([^-]*)-----END \1-----")
_PEM_START = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----")
# An SSH key type is echoed in messages, so only a short, tame token is ever recognised as one.
_SSH_KEY_TYPE = re.compile(r"[a-z0-9][a-z0-9@.-]{0,63}")
_ASCII_WHITESPACE = re.compile(rb"[ \t\r\n\v\f]+")
_OPENSSH_PRIVATE_MAGIC = b"openssh-key-v1\x00"


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key, held as its 32 raw bytes.

    Equality and hashing are by the raw bytes; ``key_id`` is derived from them and never stored apart.
    """

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != RAW_KEY_LENGTH:
            raise KeyFormatError(f"An Ed25519 public key is exactly {RAW_KEY_LENGTH} raw bytes.")

    @property
    def key_id(self) -> str:
        """Lowercase hex SHA-256 of the 32 raw key bytes (64 characters): the key's fingerprint."""
        return hashlib.sha256(self.raw).hexdigest()

    def verify(self, signature: bytes, data: ReadableBuffer) -> bool:
        """Whether ``signature`` is a valid Ed25519 signature of ``data`` by this key.

        Never raises on a bad or wrongly sized signature (returns False). ``data`` may be any bytes-like
        object (bytes, bytearray, memoryview, mmap); it is not copied unless it is a strided view.
        """
        if len(signature) != SIGNATURE_LENGTH:
            return False
        try:
            with memoryview(data) as view:
                # The backend refuses strided views; copying those is the only way to hash them.
                message: bytes | memoryview = view if view.c_contiguous else view.tobytes()
                self._crypto_key().verify(bytes(signature), message)
        except InvalidSignature:
            return False
        return True

    def spki_pem(self) -> str:
        """SubjectPublicKeyInfo PEM, byte for byte what ``openssl pkey -pubout`` writes (trailing newline)."""
        pem = self._crypto_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    def ssh_line(self, comment: str = "") -> str:
        """The one-line OpenSSH form ``ssh-ed25519 AAAA... [comment]``; the comment must fit on one line."""
        comment = comment.strip()
        if "\n" in comment or "\r" in comment:
            raise KeyFormatError("An OpenSSH key comment must fit on one line.")
        blob = _ssh_string(_SSH_ED25519.encode("ascii")) + _ssh_string(self.raw)
        line = f"{_SSH_ED25519} {base64.b64encode(blob).decode('ascii')}"
        return f"{line} {comment}" if comment else line

    def _crypto_key(self) -> ed25519.Ed25519PublicKey:
        return ed25519.Ed25519PublicKey.from_public_bytes(self.raw)


def load_public_key(text: str | bytes) -> PublicKey:
    """Read an Ed25519 public key from SPKI PEM or a one-line ``ssh-ed25519`` key.

    Raises :class:`PrivateKeyRefused` for anything that looks like a private key, :class:`WrongKeyAlgorithm`
    for a readable key of another algorithm and :class:`KeyFormatError` for everything else.
    """
    cleaned = _clean_key_text(text)
    if not cleaned:
        raise KeyFormatError("The key is empty. " + _ACCEPTED_FORMS)
    _refuse_private_key(cleaned)
    if "-----BEGIN" in cleaned:
        return _load_pem(cleaned)
    return _load_ssh_line(cleaned)


def parse_signature(blob: bytes | bytearray | memoryview) -> bytes:
    """The 64 raw bytes of a detached Ed25519 signature given raw or as base64 text.

    A 64-byte blob is always taken as raw: base64 of 64 bytes is 86-88 characters, so it cannot be mistaken.
    Base64 may use the standard or URL-safe alphabet, with or without padding, and may be wrapped across
    lines (``base64`` wraps at 76 columns) or surrounded by whitespace.
    """
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise SignatureFormatError("A signature must be given as bytes.")
    data = bytes(blob)
    if len(data) == SIGNATURE_LENGTH:
        return data
    # Anything much longer than wrapped, padded base64 of 64 bytes cannot be a signature; stop early.
    if len(data) > 256:
        raise SignatureFormatError(_signature_problem(f"it is {len(data)} bytes long"))
    return _decode_signature_base64(_ASCII_WHITESPACE.sub(b"", data))


# --- reading keys -----------------------------------------------------------------------------------


def _clean_key_text(text: str | bytes) -> str:
    """The pasted text as str, without BOM, surrounding whitespace or CR line endings; bounded in size."""
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        _check_key_size(len(raw))
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KeyFormatError("The key is not UTF-8 text. " + _ACCEPTED_FORMS) from None
    elif isinstance(text, str):
        # Characters never outnumber UTF-8 bytes, so the cheap test bounds the encoding work below.
        _check_key_size(len(text))
        _check_key_size(len(text.encode("utf-8", "surrogatepass")))
        decoded = text
    else:
        raise KeyFormatError("A key must be given as text. " + _ACCEPTED_FORMS)
    unified = decoded.replace("\r\n", "\n").replace("\r", "\n")
    return unified.strip().removeprefix("\ufeff").strip()


def _check_key_size(size: int) -> None:
    if size > MAX_KEY_INPUT_BYTES:
        raise KeyFormatError(f"The key text is longer than {MAX_KEY_INPUT_BYTES} bytes; no public key is.")


def _refuse_private_key(text: str) -> None:
    """Raise :class:`PrivateKeyRefused` if the text is recognisably a private key (armoured or bare)."""
    if _PRIVATE_MARKER.search(text) or _is_bare_private_key(text):
        raise PrivateKeyRefused(
            "This is a private key. It has not been stored, and it should now be treated as exposed. "
            "Only the public half is needed; extract it with "
            f"'{_PUBOUT_COMMAND}' (or 'ssh-keygen -y -f <keyfile>' for an OpenSSH key) and paste that."
        )


def _is_bare_private_key(text: str) -> bool:
    """Whether the text is the base64 body of a private key pasted without its BEGIN/END lines."""
    der = _b64decode_strict("".join(text.split()))
    if der is None:
        return False
    if der.startswith(_OPENSSH_PRIVATE_MAGIC):
        return True
    try:
        serialization.load_der_private_key(der, password=None)
    except TypeError:
        return True  # readable, but encrypted: still a private key
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _load_pem(text: str) -> PublicKey:
    start = _PEM_START.search(text)
    label = start.group(1) if start else ""
    if label == "CERTIFICATE":
        raise KeyFormatError(
            "This is a certificate, not a public key. Extract its key with "
            "'openssl x509 -in cert.pem -pubkey -noout' and paste that."
        )
    if label not in ("PUBLIC KEY", "RSA PUBLIC KEY"):
        raise KeyFormatError("The PEM block is not a '-----BEGIN PUBLIC KEY-----' block. " + _ACCEPTED_FORMS)
    block = _PEM_BLOCK.fullmatch(text)
    der = _b64decode_strict("".join(block.group(2).split())) if block else None
    if der is None:
        raise KeyFormatError(
            "The PEM text must be exactly one public key block with nothing before or after it; "
            "this one is damaged, truncated, or has extra text or keys around it."
        )
    return _from_spki_der(der)


def _from_spki_der(der: bytes) -> PublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFormatError("The PEM public key cannot be read: its contents are damaged.") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise _wrong_algorithm(_algorithm_name(key))
    return PublicKey(key.public_bytes_raw())


def _algorithm_name(key: object) -> str:
    """A human name for a readable non-Ed25519 key, for the refusal message."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA ({key.key_size}-bit)"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA on curve {key.curve.name}"
    named = {
        ed448.Ed448PublicKey: "Ed448",
        x25519.X25519PublicKey: "X25519 (a key-agreement key, not a signing key)",
        x448.X448PublicKey: "X448 (a key-agreement key, not a signing key)",
        dsa.DSAPublicKey: "DSA",
    }
    return next((name for cls, name in named.items() if isinstance(key, cls)), "an unknown algorithm")


def _wrong_algorithm(found: str) -> WrongKeyAlgorithm:
    return WrongKeyAlgorithm(
        f"This key uses {found}; an Ed25519 key is required. "
        "Generate one with 'openssl genpkey -algorithm ed25519 -out private.pem' "
        "or 'ssh-keygen -t ed25519', and paste its public half."
    )


def _load_ssh_line(text: str) -> PublicKey:
    if "\n" in text:
        raise KeyFormatError("An OpenSSH public key must be a single line. " + _ACCEPTED_FORMS)
    parts = text.split(maxsplit=2)
    key_type = parts[0] if parts else ""
    blob = _b64decode_strict(parts[1]) if len(parts) > 1 else None
    fields = _ssh_fields(blob) if blob is not None else None
    if not _SSH_KEY_TYPE.fullmatch(key_type) or not fields or fields[0] != key_type.encode("ascii"):
        raise KeyFormatError("The key is neither PEM nor a readable OpenSSH public key. " + _ACCEPTED_FORMS)
    if key_type.endswith("-cert-v01@openssh.com"):
        raise KeyFormatError("This is an OpenSSH certificate, not a plain public key. " + _ACCEPTED_FORMS)
    if key_type.startswith("sk-"):
        # FIDO keys sign a wrapped message, so their signatures are not plain Ed25519 even for ed25519.
        raise _wrong_algorithm(f"the security-key type '{key_type}'")
    if key_type != _SSH_ED25519:
        raise _wrong_algorithm(f"'{key_type}'")
    if len(fields) != 2 or len(fields[1]) != RAW_KEY_LENGTH:
        raise KeyFormatError("The ssh-ed25519 key is damaged: it does not hold one 32-byte key.")
    return PublicKey(fields[1])


def _ssh_fields(blob: bytes) -> list[bytes] | None:
    """Split an SSH wire blob into its length-prefixed strings; None unless it splits exactly."""
    fields: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return None
        (length,) = struct.unpack_from(">I", blob, offset)
        offset += 4
        if offset + length > len(blob):
            return None
        fields.append(blob[offset : offset + length])
        offset += length
    return fields


def _ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def _b64decode_strict(text: str) -> bytes | None:
    """Standard-alphabet base64 with correct padding, or None: lenient decoders would skip bad characters."""
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# --- reading signatures -----------------------------------------------------------------------------


def _decode_signature_base64(text: bytes) -> bytes:
    body = text.rstrip(b"=")
    padding = len(text) - len(body)
    # 64 bytes are 86 base64 characters plus "==", which may be left off but not half written.
    if len(body) != 86 or padding not in (0, 2):
        raise SignatureFormatError(_signature_problem("it is neither 64 raw bytes nor their base64"))
    if re.search(rb"[+/]", body) and re.search(rb"[-_]", body):
        raise SignatureFormatError(_signature_problem("its base64 mixes the standard and URL-safe alphabets"))
    try:
        raw = base64.b64decode(body.translate(bytes.maketrans(b"-_", b"+/")) + b"==", validate=True)
    except (binascii.Error, ValueError):
        raise SignatureFormatError(_signature_problem("its base64 has stray characters")) from None
    # One signature, one spelling: refuse encodings whose unused final bits are set.
    if base64.b64encode(raw).rstrip(b"=") != body.translate(bytes.maketrans(b"-_", b"+/")):
        raise SignatureFormatError(_signature_problem("its base64 is not canonical"))
    return raw


def _signature_problem(reason: str) -> str:
    return (
        f"The signature cannot be read: {reason}. A detached Ed25519 signature is 64 raw bytes, "
        "or their base64 (e.g. from 'openssl pkeyutl -sign -rawin ... | base64')."
    )
