"""An EDC manager on a memory bus with an SQLite state store, and a building-side view of the
same broker that sees every message on the EDC's channels and dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.edge.manager import EdcManager
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.unit.edge import probe


class Field:
    """The buildings' side: publishes on the inbound channel, records what comes back."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._seq = 0

    async def listen(self) -> None:
        async def record(envelope: Envelope) -> None:
            self.received.append((envelope.topic, json.loads(envelope.payload)))

        await self.bus.subscribe("edc/#", record)
        await self.bus.subscribe("dead-letter/#", record)

    async def send(self, topic: str, message: dict[str, Any] | bytes) -> None:
        self._seq += 1
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        await self.bus.publish(Envelope(topic, "building", self._seq, payload, SystemClock().now()))

    def on(self, prefix: str) -> list[dict[str, Any]]:
        return [m for topic, m in self.received if topic.startswith(prefix)]


async def eventually(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Site:
    """A broker, the field on it, and managers that come and go on one state file."""

    def __init__(self, path: Path) -> None:
        self.broker = MemoryBroker()
        self.path = path
        self.managers: list[tuple[EdcManager, MemoryBus, SqliteEdcStateStore]] = []

    async def manager(self, **options: Any) -> EdcManager:
        bus = MemoryBus(self.broker)
        await bus.start()
        store = SqliteEdcStateStore(self.path)
        options.setdefault("control_cycle", timedelta(hours=1))  # ticks driven by the tests
        manager = EdcManager(
            bus,
            store,
            load_function=probe.load_function,
            function_names=probe.function_names,
            **options,
        )
        await manager.start()
        self.managers.append((manager, bus, store))
        return manager

    async def stop(self, manager: EdcManager) -> None:
        for entry in list(self.managers):
            if entry[0] is manager:
                await manager.stop()
                await entry[1].stop()
                entry[2].close()
                self.managers.remove(entry)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    made = Site(tmp_path / "edc.sqlite")
    yield made
    for manager, _, _ in list(made.managers):
        await made.stop(manager)


@pytest.fixture
async def field(site: Site) -> AsyncIterator[Field]:
    bus = MemoryBus(site.broker)
    await bus.start()
    made = Field(bus)
    await made.listen()
    yield made
    await bus.stop()
