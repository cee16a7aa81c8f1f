"""A REST app served by uvicorn inside the runtime's event loop (the runtime owns the
signals), started and stopped as part of a service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn  # the api extra; this module is imported only when a REST service runs

from osed.domain.errors import ConfigurationError


class EmbeddedApi:
    def __init__(self, app: Any, host: str, port: int, *, what: str) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._what = what
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        class EmbeddedServer(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield  # the runtime owns SIGINT and SIGTERM

        server = EmbeddedServer(
            uvicorn.Config(self._app, host=self._host, port=self._port, log_level="warning")
        )
        self._server = server
        self._task = asyncio.get_running_loop().create_task(server.serve())
        while not server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            await self.stop()
            raise ConfigurationError(f"the {self._what} cannot listen on {self._host}:{self._port}")

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(BaseException):
                await self._task
        self._server = self._task = None

    def ready(self) -> bool:
        return self._server is not None and bool(self._server.started)
