"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: every service is
ready) over plain HTTP, for Kubernetes probes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

Readiness = Callable[[], dict[str, bool]]


class HealthServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._readiness: Readiness = dict

    @property
    def bound_port(self) -> int:
        """The port actually listened on (``port=0`` picks a free one)."""
        if self._server is None:
            return self.port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, readiness: Readiness) -> None:
        self._readiness = readiness
        self._server = await asyncio.start_server(self._answer, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass  # headers are not needed
            parts = request_line.decode("latin-1").split()
            path = parts[1] if len(parts) >= 2 else ""
            status, body = self._route(path)
            payload = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _route(self, path: str) -> tuple[str, object]:
        if path == "/healthz":
            return "200 OK", {"status": "alive"}
        if path == "/readyz":
            services = self._readiness()
            ready = all(services.values())
            status = "200 OK" if ready else "503 Service Unavailable"
            return status, {"ready": ready, "services": services}
        return "404 Not Found", {"error": "not found", "paths": ["/healthz", "/readyz"]}
