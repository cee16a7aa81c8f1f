"""Running services: start in order, report liveness and readiness, stop in reverse on a
signal (graceful shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Protocol

from osed.runtime.health import HealthServer

log = logging.getLogger(__name__)


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

    def _on_signal(self, signum: signal.Signals) -> None:
        log.info("%s received: stopping", signum.name)
        self.request_stop()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            if self.health is not None:
                await self.health.start(self.readiness)
                where = f"http://{self.health.host}:{self.health.bound_port}"
                log.info("health at %s/healthz, readiness at %s/readyz", where, where)
            for service in self.services:
                await self._start(service)
            log.info("running: %s", ", ".join(s.name for s in self.services))
            await self._stopping.wait()
        finally:
            await self._stop_started()
            if self.health is not None:
                await self.health.stop()
            log.info("stopped")
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)

    def readiness(self) -> dict[str, bool]:
        started = {id(service) for service in self._started}
        return {s.name: id(s) in started and s.ready() for s in self.services}

    async def _start(self, service: Service) -> None:
        log.debug("starting %s", service.name)
        try:
            await service.start()
        except Exception:
            log.exception("%s failed to start", service.name)
            raise
        self._started.append(service)
        log.info("%s started", service.name)

    async def _stop_started(self) -> None:
        while self._started:
            service = self._started.pop()
            log.debug("stopping %s", service.name)
            try:
                await service.stop()
            except Exception:
                log.exception("%s failed to stop cleanly", service.name)
                raise
            log.info("%s stopped", service.name)
