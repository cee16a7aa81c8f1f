"""A throw-away Redis server for tests: never the machine's own.

``RedisServer.start()`` runs Debian's ``redis-server`` on a free loopback port with its data
folder in a fresh temporary directory, append-only file on with ``fsync always`` (so a kill
-9 test sees what Redis promises durable), and waits until it answers ``PING``. ``kill`` and
``restart`` simulate a crash and the restart after it. ``command`` speaks RESP over a plain
socket, so the fixture needs no client library.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services.brokers import free_port

_HINT = (
    "redis-server was not found; install it "
    "(Debian: apt-get install redis-server; `scripts/test` does it)"
)
Reply = bytes | int | list["Reply"] | None


@dataclass
class RedisServer:
    port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(cls) -> RedisServer:
        if shutil.which("redis-server") is None:
            raise RuntimeError(_HINT)
        server = cls(free_port(), Path(tempfile.mkdtemp(prefix="osed-redis-")))
        server.launch()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def launch(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                if self.command("PING") == b"PONG":
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def command(self, *parts: str | bytes) -> Reply:
        """One command, its reply (errors raise RuntimeError)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5.0) as connection:
            connection.sendall(_encode(parts))
            reader = connection.makefile("rb")
            return _read(reader)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.kill()
        self.launch()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)


def _encode(parts: tuple[str | bytes, ...]) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def _read(reader: object) -> Reply:
    line: bytes = reader.readline()  # type: ignore[attr-defined]
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        raise RuntimeError(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data: bytes = reader.read(size + 2)  # type: ignore[attr-defined]
        return data[:-2]
    if kind == b"*":
        count = int(body)
        return None if count < 0 else [_read(reader) for _ in range(count)]
    raise RuntimeError(f"unexpected reply {line!r}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    try:
        yield server
    finally:
        server.stop()
