"""The platform API served by a real uvicorn on a free port, its parts built in the server's
thread (SQLite connections belong to the thread that opened them)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from tests.services.brokers import free_port
from tests.unit.api.conftest import Platform, build


@dataclass
class Served:
    url: str
    platform: Platform
    loop: asyncio.AbstractEventLoop

    def call(self, function: Any, *args: Any) -> None:
        """Run ``function(*args)`` in the server's event loop."""
        self.loop.call_soon_threadsafe(function, *args)


@contextmanager
def served(tmp_path: Path, **options: Any) -> Iterator[Served]:
    """``options``: as :func:`build` takes them."""
    port = free_port()
    ready: list[Served] = []
    servers: list[uvicorn.Server] = []

    def run() -> None:
        async def serve() -> None:
            for platform in build(tmp_path, **options):
                config = uvicorn.Config(
                    platform.app, host="127.0.0.1", port=port, log_level="error"
                )
                server = uvicorn.Server(config)
                servers.append(server)
                await platform.start()
                ready.append(
                    Served(f"http://127.0.0.1:{port}", platform, asyncio.get_running_loop())
                )
                try:
                    await server.serve()
                finally:
                    await platform.stop()

        asyncio.run(serve())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (servers and servers[0].started and ready):
        assert thread.is_alive(), "the API did not start"
        assert time.monotonic() < deadline, "the API did not start in time"
        time.sleep(0.02)
    try:
        yield ready[0]
    finally:
        servers[0].should_exit = True
        thread.join(timeout=10)
