"""The bus contract on the in-memory backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.ports.bus import Bus
from tests.contract.bus.contract import BusContract, BusFactory


@pytest.fixture
async def bus_factory() -> AsyncIterator[BusFactory]:
    broker = MemoryBroker()
    buses: list[MemoryBus] = []

    async def make() -> Bus:
        bus = MemoryBus(broker)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.stop()


class TestMemoryBus(BusContract):
    pass
