"""Helpers: a real `clearinghouse serve` subprocess and a tiny multipart client (stdlib only)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(
        self, database_url: str, key_path: str, threads: int = 8, workers: int = 1, extra: tuple[str, ...] = ()
    ) -> None:
        """``workers`` > 1 runs gunicorn with that many worker processes; ``extra``: more ``serve`` options."""
        self.port = free_port()
        env = dict(os.environ, CLEARINGHOUSE_HUB_KEY_PATH=key_path)
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "clearinghouse"),
                "--db",
                database_url,
                "serve",
                "--port",
                str(self.port),
                "--threads",
                str(threads),
                "--workers",
                str(workers),
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _ = self.get("/api/v1/healthz")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def _conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        c = self._conn()
        c.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = c.getresponse()
        return r.status, r.read()

    def post_json(self, path: str, token: str, body: object = None) -> tuple[int, dict]:
        c = self._conn()
        data = json.dumps(body).encode() if body is not None else b""
        c.request(
            "POST", path, body=data, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        )
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")

    def upload(self, token: str, content: bytes, signature: bytes) -> tuple[int, dict]:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n".encode()
            + content
            + b"\r\n",
            f'--{boundary}\r\nContent-Disposition: form-data; name="signature"\r\n\r\n'.encode()
            + base64.b64encode(signature)
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        c = self._conn()
        c.request(
            "POST",
            "/api/v1/files",
            body=b"".join(parts),
            headers={"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
