"""HTTP Message Signatures (RFC 9421) with Ed25519, as the hub accepts them from partners. Pure: no Flask, no
database; the request plumbing is ``clearinghouse.api.common.authenticated``.

A partner signs a request by sending two Structured Field Dictionaries (RFC 8941) under one label::

    Signature-Input: sig1=("@method" "@target-uri" "content-digest" "content-type");created=1796270400;\
nonce="3f1c...";keyid="<hex SHA-256 of the raw key>";alg="ed25519"
    Signature: sig1=:<base64 of the 64-byte Ed25519 signature>:

over the signature base (RFC 9421 §2.5): one line per covered component, ``"<name>": <value>``, and last the
``"@signature-params"`` line, whose value is the inner list above serialized as RFC 8941 §4 says.

What the hub requires on top of RFC 9421 (:func:`check_policy`): exactly one signature; ``@method``;
``@target-uri`` or all of ``@authority``, ``@path`` and ``@query``; ``content-digest`` and ``content-type``
whenever the request has a body (the digest is checked against the exact body, RFC 9530); the ``created``,
``nonce`` and ``keyid`` parameters; ``alg``, when present, ``"ed25519"``; ``created`` within a window of the
hub's clock and ``expires``, when present, still ahead.

Every function here raises nothing but :class:`SignatureRejected` (an ``Unauthorized`` with one of the
``SIGNATURE_*`` / ``CONTENT_DIGEST_MISMATCH`` codes) on anything a client sends.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeAlias
from urllib.parse import quote, unquote_to_bytes, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clearinghouse.errors import Unauthorized

__all__ = [
    "ALGORITHM",
    "DEFAULT_WINDOW_SECONDS",
    "MAX_FIELD_LENGTH",
    "MAX_NONCE_LENGTH",
    "Received",
    "RequestParts",
    "SfError",
    "SignatureRejected",
    "SignedRequest",
    "check_content_digest",
    "check_policy",
    "content_digest",
    "parse_dictionary",
    "parse_signed_request",
    "request_path",
    "serialize_inner_list",
    "sign",
    "signature_base",
]

ALGORITHM = "ed25519"
DEFAULT_WINDOW_SECONDS = 300
MAX_FIELD_LENGTH = 8192  # of Signature-Input, Signature or Content-Digest, all lines together
MAX_NONCE_LENGTH = 128
MAX_COMPONENTS = 32
KEY_ID = re.compile(r"[0-9a-f]{64}")
DERIVED = ("@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query")
DIGESTS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


# ------------------------------------------------------------------ errors
class SignatureRejected(Unauthorized):
    """A signed request the hub refuses; ``code`` says why (always a 401)."""

    code = "SIGNATURE_INVALID"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def _malformed(message: str) -> SignatureRejected:
    return SignatureRejected("SIGNATURE_MALFORMED", message)


# ------------------------------------------------------------------ RFC 8941 structured fields
class SfError(ValueError):
    """Text that is not a valid structured field."""


@dataclass(frozen=True)
class Token:
    value: str


BareItem: TypeAlias = int | Decimal | str | bytes | bool | Token
Params = dict[str, BareItem]


@dataclass(frozen=True)
class Item:
    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    items: tuple[Item, ...]
    params: Params = field(default_factory=dict)


Member = Item | InnerList

_KEY_START = set("abcdefghijklmnopqrstuvwxyz*")
_KEY_CHARS = _KEY_START | set("0123456789_-.")
_TOKEN_START = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz*")
_TCHAR = set("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TOKEN_CHARS = _TCHAR | set(":/")
_BASE64_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class _Parser:
    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise SfError("structured fields are ASCII")
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise SfError("unexpected end of field")
        self.pos += 1
        return char

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def dictionary(self) -> dict[str, Member]:
        self.skip(" ")
        result: dict[str, Member] = {}
        while not self.done():
            key = self.key()
            member: Member
            if self.peek() == "=":
                self.pos += 1
                member = self.member()
            else:
                member = Item(True, self.params())
            result.pop(key, None)  # RFC 8941 §4.2.2: a repeated key keeps its last value, in the last place
            result[key] = member
            self.skip(" \t")
            if self.done():
                return result
            if self.take() != ",":
                raise SfError("dictionary members are separated by commas")
            self.skip(" \t")
            if self.done():
                raise SfError("trailing comma")
        return result

    def member(self) -> Member:
        if self.peek() == "(":
            return self.inner_list()
        return Item(self.bare_item(), self.params())

    def inner_list(self) -> InnerList:
        self.take()
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.params())
            items.append(Item(self.bare_item(), self.params()))
            if self.peek() not in (" ", ")"):
                raise SfError("inner list items are separated by spaces")

    def params(self) -> Params:
        result: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            result.pop(key, None)
            result[key] = value
        return result

    def key(self) -> str:
        start = self.pos
        if self.peek() not in _KEY_START or not self.peek():
            raise SfError("a key starts with a lowercase letter or *")
        while self.peek() and self.peek() in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == "-" or (char and char.isdigit()):
            return self.number()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char and char in _TOKEN_START:
            return self.token()
        raise SfError("not a bare item")

    def number(self) -> int | Decimal:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        if not self.peek().isdigit() or not self.peek():
            raise SfError("a number needs digits")
        while self.peek() and (self.peek().isdigit() or self.peek() == "."):
            self.pos += 1
        text = self.text[start : self.pos]
        digits = text.lstrip("-")
        if "." not in digits:
            if len(digits) > 15:
                raise SfError("an integer has at most 15 digits")
            return int(text)
        whole, _, fraction = digits.partition(".")
        if "." in fraction or not whole or len(whole) > 12 or not 1 <= len(fraction) <= 3:
            raise SfError("a decimal has 1-12 digits, a dot and 1-3 digits")
        return Decimal(text)

    def string(self) -> str:
        self.take()
        chars: list[str] = []
        while True:
            char = self.take()
            if char == "\\":
                escaped = self.take()
                if escaped not in '"\\':
                    raise SfError('only \\" and \\\\ are escapes')
                chars.append(escaped)
            elif char == '"':
                return "".join(chars)
            elif not " " <= char <= "~":
                raise SfError("strings hold printable ASCII")
            else:
                chars.append(char)

    def token(self) -> Token:
        start = self.pos
        self.pos += 1
        while self.peek() and self.peek() in _TOKEN_CHARS:
            self.pos += 1
        return Token(self.text[start : self.pos])

    def byte_sequence(self) -> bytes:
        self.take()
        end = self.text.find(":", self.pos)
        if end < 0:
            raise SfError("a byte sequence ends with ':'")
        body = self.text[self.pos : end]
        self.pos = end + 1
        if not set(body) <= _BASE64_CHARS:
            raise SfError("a byte sequence is base64")
        stripped = body.rstrip("=")
        if "=" in stripped:
            raise SfError("'=' only pads the end of a byte sequence")
        try:  # RFC 8941 §4.2.7: padding may be left out
            return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SfError("a byte sequence is base64") from exc

    def boolean(self) -> bool:
        self.take()
        char = self.take()
        if char not in "01":
            raise SfError("a boolean is ?0 or ?1")
        return char == "1"


def parse_dictionary(text: str) -> dict[str, Member]:
    """An RFC 8941 Dictionary (field lines already joined with ", "); :class:`SfError` when it is not one."""
    if len(text) > MAX_FIELD_LENGTH:
        raise SfError(f"longer than {MAX_FIELD_LENGTH} characters")
    parser = _Parser(text)
    result = parser.dictionary()
    parser.skip(" ")
    if not parser.done():
        raise SfError("text after the dictionary")
    return result


def serialize_bare_item(value: BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        text = format(value.quantize(Decimal("0.001")).normalize(), "f")
        return text if "." in text else text + ".0"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    return value.value


def serialize_params(params: Mapping[str, BareItem]) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={serialize_bare_item(value)}" for key, value in params.items()
    )


def serialize_inner_list(items: Iterable[str], params: Mapping[str, BareItem]) -> str:
    """``("a" "b");k=v``: covered components (as plain strings, no component parameters) and parameters."""
    return "(" + " ".join(serialize_bare_item(item) for item in items) + ")" + serialize_params(params)


# ------------------------------------------------------------------ what was signed
@dataclass(frozen=True)
class SignedRequest:
    """The one signature of a request: its label, covered components, parameters and the 64 bytes."""

    label: str
    components: tuple[str, ...]
    params: dict[str, BareItem]
    signature: bytes

    @property
    def signature_params(self) -> str:
        """The value of ``@signature-params``: the inner list, serialized (RFC 8941 §4.1.1.1)."""
        return serialize_inner_list(self.components, self.params)

    @property
    def key_id(self) -> str:
        return str(self.params["keyid"])

    @property
    def nonce(self) -> str:
        return str(self.params["nonce"])

    @property
    def created(self) -> int:
        value = self.params["created"]
        assert isinstance(value, int)
        return value


def parse_signed_request(signature_input: str, signature: str) -> SignedRequest:
    """The signature named by both fields (already joined across lines with ", ").

    Refuses (``SIGNATURE_MALFORMED``) anything that is not two Dictionaries naming exactly one label, an inner
    list of distinct, lowercase component names without component parameters (which the hub does not
    support), and a 64-byte byte sequence; parameters of the wrong type are refused too."""
    try:
        inputs = parse_dictionary(signature_input)
        signatures = parse_dictionary(signature)
    except SfError as exc:
        raise _malformed(f"Signature-Input and Signature must be structured field dictionaries: {exc}") from None
    if len(inputs) != 1 or len(signatures) != 1:
        raise _malformed("send exactly one signature: one label in Signature-Input and Signature")
    ((label, member),) = inputs.items()
    if label not in signatures:
        raise _malformed(f"Signature has no signature labelled {label!r}")
    value = signatures[label]
    if not isinstance(value, Item) or not isinstance(value.value, bytes) or len(value.value) != 64:
        raise _malformed("the signature must be a byte sequence of 64 bytes (:base64:)")
    if not isinstance(member, InnerList):
        raise _malformed("Signature-Input must give an inner list of components: sig1=(...);created=...")
    if len(member.items) > MAX_COMPONENTS:
        raise _malformed(f"at most {MAX_COMPONENTS} covered components")
    components: list[str] = []
    for item in member.items:
        name = item.value
        if not isinstance(name, str) or not name or name != name.lower():
            raise _malformed("covered components are lowercase strings")
        if item.params:
            raise _malformed(f"component parameters (;sf, ;key, ;bs, ;req, ;name...) are not supported: {name!r}")
        if name.startswith("@") and name not in DERIVED:
            raise _malformed(f"derived component {name!r} is not supported here")
        if not name.startswith("@") and not set(name) <= _TCHAR:
            raise _malformed("a covered field name is a token")
        if name in components:
            raise _malformed(f"component {name!r} is covered twice")
        components.append(name)
    for param, kind in (("created", int), ("expires", int), ("nonce", str), ("keyid", str), ("alg", str)):
        got = member.params.get(param)
        if got is not None and (not isinstance(got, kind) or isinstance(got, bool)):
            raise _malformed(f"the {param} parameter must be a{'n integer' if kind is int else ' string'}")
    return SignedRequest(label, tuple(components), dict(member.params), value.value)


# ------------------------------------------------------------------ the hub's policy
def check_policy(signed: SignedRequest, *, now: int, has_body: bool, window: int = DEFAULT_WINDOW_SECONDS) -> None:
    """The hub's requirements (module docstring), in the order a client most needs to hear about them."""
    covered = set(signed.components)
    wanted = ["@method"]
    if "@target-uri" not in covered:
        wanted += ["@authority", "@path", "@query"] if covered & {"@authority", "@path", "@query"} else ["@target-uri"]
    if has_body:
        wanted += ["content-digest", "content-type"]
    missing = [name for name in wanted if name not in covered]
    if missing:
        raise SignatureRejected(
            "SIGNATURE_MISSING_COMPONENT",
            f"the signature must cover {', '.join(repr(name) for name in missing)}",
        )
    for param in ("created", "nonce", "keyid"):
        if param not in signed.params:
            raise SignatureRejected("SIGNATURE_MISSING_COMPONENT", f"the signature needs the {param} parameter")
    alg = signed.params.get("alg")
    if alg is not None and alg != ALGORITHM:
        raise SignatureRejected("SIGNATURE_INVALID", f'alg must be "{ALGORITHM}" (or left out)')
    nonce = signed.nonce
    if not 1 <= len(nonce) <= MAX_NONCE_LENGTH:
        raise _malformed(f"the nonce is 1 to {MAX_NONCE_LENGTH} characters")
    if not KEY_ID.fullmatch(signed.key_id):
        raise SignatureRejected(
            "SIGNATURE_KEY_UNKNOWN", "keyid must be the key id the hub shows: the hex SHA-256 of the raw key"
        )
    created = signed.created
    if created > now + window:
        raise SignatureRejected(
            "SIGNATURE_NOT_YET_VALID", f"created is more than {window} s ahead of the hub's clock ({now})"
        )
    if created < now - window:
        raise SignatureRejected("SIGNATURE_EXPIRED", f"created is more than {window} s behind the hub's clock ({now})")
    expires = signed.params.get("expires")
    if isinstance(expires, int) and not isinstance(expires, bool) and expires <= now:
        raise SignatureRejected("SIGNATURE_EXPIRED", f"the signature expired at {expires} (hub clock {now})")


def usable_until(signed: SignedRequest, *, window: int = DEFAULT_WINDOW_SECONDS) -> int:
    """The last second at which this signature passes :func:`check_policy`; its nonce may be forgotten after."""
    last = signed.created + window
    expires = signed.params.get("expires")
    if isinstance(expires, int) and not isinstance(expires, bool):
        last = min(last, expires - 1)
    return last


# ------------------------------------------------------------------ the signature base
@dataclass(frozen=True)
class RequestParts:
    """A request as the signature base sees it. ``path`` is as sent (percent-encoded), ``query`` the text
    after ``?`` or None when the target has no ``?``; ``fields`` maps lowercase field names to their lines."""

    method: str
    scheme: str
    authority: str
    path: str
    query: str | None
    fields: Mapping[str, Sequence[str]]

    def component(self, name: str) -> str:
        if name == "@method":
            return self.method
        if name == "@scheme":
            return self.scheme.lower()
        if name == "@authority":
            return normalize_authority(self.authority, self.scheme)
        if name == "@path":
            return self.path or "/"
        if name == "@query":
            return "?" + (self.query or "")
        if name == "@request-target":
            return (self.path or "/") + ("?" + self.query if self.query is not None else "")
        if name == "@target-uri":
            return f"{self.scheme.lower()}://{self.component('@authority')}{self.component('@request-target')}"
        lines = self.fields.get(name)
        if not lines:
            raise SignatureRejected("SIGNATURE_INVALID", f"the covered field {name!r} is not in the request")
        # RFC 9421 §2.1: each line trimmed, lines joined with ", "
        return ", ".join(line.strip(" \t") for line in lines)


def normalize_authority(authority: str, scheme: str) -> str:
    """Lowercase host; the scheme's default port left out (RFC 9110 §4.2.3)."""
    host = authority.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme.lower())
    if default and host.endswith(default):
        host = host[: -len(default)]
    return host


def signature_base(signed: SignedRequest, request: RequestParts) -> bytes:
    """RFC 9421 §2.5: ``"<component>": <value>`` per covered component, then ``"@signature-params": ...``."""
    lines = []
    for name in signed.components:
        value = request.component(name)
        if "\n" in value or "\r" in value or not value.isascii():
            raise SignatureRejected("SIGNATURE_INVALID", f"the value of {name!r} cannot be signed (not ASCII)")
        lines.append(f'"{name}": {value}')
    lines.append(f'"@signature-params": {signed.signature_params}')
    return "\n".join(lines).encode("ascii")


def request_path(raw_uri: str | None, script_name: str, path_info: str) -> str:
    """The path as the client sent it: the raw request target when the server gives it (``REQUEST_URI`` /
    ``RAW_URI``) and it decodes to the routed path; else the routed path percent-encoded again."""
    routed = (script_name + path_info).encode("latin-1", "replace")
    if raw_uri:
        try:
            target = raw_uri if raw_uri.startswith("/") else urlsplit(raw_uri).path
        except ValueError:
            target = ""
        path = target.partition("?")[0].partition("#")[0]
        if path and path.isascii() and unquote_to_bytes(path) == routed:
            return path
    return quote(routed, safe="/!$&'()*+,;=:@-._~") or "/"


# ------------------------------------------------------------------ RFC 9530 Content-Digest
def content_digest(body: bytes, algorithm: str = "sha-256") -> str:
    """The ``Content-Digest`` field value for ``body``: ``sha-256=:<base64>:``."""
    return f"{algorithm}=:{base64.b64encode(DIGESTS[algorithm](body).digest()).decode('ascii')}:"


def check_content_digest(header: str | None, digests: Mapping[str, bytes]) -> None:
    """The field against the body's digests (``{"sha-256": ..., "sha-512": ...}``): at least one algorithm the
    hub knows must be present, and every one the hub knows must match; unknown algorithms are ignored."""
    if header is None:
        raise SignatureRejected("CONTENT_DIGEST_MISMATCH", "the request has a body but no Content-Digest")
    try:
        members = parse_dictionary(header)
    except SfError as exc:
        raise _malformed(f"Content-Digest must be a structured field dictionary: {exc}") from None
    known = {name: member for name, member in members.items() if name in digests}
    if not known:
        raise SignatureRejected("CONTENT_DIGEST_MISMATCH", "Content-Digest must carry sha-256 (or sha-512)")
    for name, member in known.items():
        if not isinstance(member, Item) or member.value != digests[name]:
            raise SignatureRejected("CONTENT_DIGEST_MISMATCH", f"the body does not match Content-Digest {name}")


# ------------------------------------------------------------------ for clients and tests
@dataclass(frozen=True)
class Received:
    """What a signer needs of a request (the same as :class:`RequestParts`, built from a URL)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""

    def parts(self) -> RequestParts:
        split = urlsplit(self.url)
        return RequestParts(
            method=self.method,
            scheme=split.scheme,
            authority=split.netloc,
            path=split.path or "/",
            query=split.query if "?" in self.url else None,
            fields={name.lower(): [value] for name, value in self.headers.items()},
        )


def sign(
    key: Ed25519PrivateKey,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    created: int,
    nonce: str,
    key_id: str | None = None,
    components: Sequence[str] | None = None,
    expires: int | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """The headers to add (``Content-Digest`` when there is a body, ``Signature-Input``, ``Signature``)."""
    added: dict[str, str] = {}
    all_headers = dict(headers or {})
    if body:
        added["Content-Digest"] = all_headers["Content-Digest"] = content_digest(body)
    if components is None:
        components = ["@method", "@target-uri"] + (["content-digest", "content-type"] if body else [])
    if key_id is None:
        key_id = hashlib.sha256(key.public_key().public_bytes_raw()).hexdigest()
    params: dict[str, BareItem] = {"created": created}
    if expires is not None:
        params["expires"] = expires
    params.update({"nonce": nonce, "keyid": key_id, "alg": ALGORITHM})
    signed = SignedRequest(label, tuple(components), params, b"\0" * 64)
    base = signature_base(signed, Received(method, url, all_headers, body).parts())
    added["Signature-Input"] = f"{label}={signed.signature_params}"
    added["Signature"] = f"{label}=:{base64.b64encode(key.sign(base)).decode('ascii')}:"
    return added
