"""Documents the hub signs: rendered to a spooled file (in memory while small, on disk when large) and
signed over their exact bytes."""

from __future__ import annotations

import base64
import mmap
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from clearinghouse.hubkey import HubSigner

IN_MEMORY_LIMIT = 4 * 1024 * 1024


@dataclass
class SignedDocument:
    stream: IO[bytes]
    size: int
    signature: bytes

    @property
    def signature_b64(self) -> str:
        return base64.b64encode(self.signature).decode("ascii")

    def read(self) -> bytes:
        self.stream.seek(0)
        return self.stream.read()

    def text(self, limit: int = IN_MEMORY_LIMIT) -> str | None:
        """The document as text when it is small enough to inline in a JSON answer."""
        return self.read().decode("utf-8") if self.size <= limit else None


def sign_chunks(hub: HubSigner, chunks: Iterable[bytes]) -> SignedDocument:
    spool = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_LIMIT)  # noqa: SIM115 - handed to the caller
    size = 0
    for chunk in chunks:
        spool.write(chunk)
        size += len(chunk)
    spool.flush()
    if size <= IN_MEMORY_LIMIT:
        spool.seek(0)
        signature = hub.sign(spool.read())
    else:
        with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as view:
            signature = hub.private_key.sign(view)  # type: ignore[arg-type]
    spool.seek(0)
    return SignedDocument(spool, size, signature)
