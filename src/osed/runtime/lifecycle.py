"""Running services: start in order, report liveness and readiness, stop in reverse on a
signal (graceful shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from typing import Protocol

from osed.runtime.health import HealthServer


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool:
        """Whether the service can do its work now (its broker and database reachable)."""
        ...


class Runner:
    """Starts services, serves their health, and stops them all when told or signalled."""

    def __init__(self, services: Sequence[Service], *, health: HealthServer | None) -> None:
        self.services = list(services)
        self.health = health
        self._stopping = asyncio.Event()
        self._started: list[Service] = []

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop)
        try:
            if self.health is not None:
                await self.health.start(self.readiness)
            for service in self.services:
                await service.start()
                self._started.append(service)
            await self._stopping.wait()
        finally:
            await self._stop_started()
            if self.health is not None:
                await self.health.stop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)

    def readiness(self) -> dict[str, bool]:
        started = {id(service) for service in self._started}
        return {s.name: id(s) in started and s.ready() for s in self.services}

    async def _stop_started(self) -> None:
        while self._started:
            service = self._started.pop()
            await service.stop()
