"""The bus contract on NatsBus against a real nats-server with JetStream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from osed.bus.nats import NatsBus
from osed.domain.time import ManualClock
from osed.ports.bus import Bus
from tests.contract.bus.contract import BusContract, BusFactory, unique
from tests.services.brokers import Broker


@pytest.fixture
async def bus_factory(nats_server: Broker) -> AsyncIterator[BusFactory]:
    buses: list[NatsBus] = []
    clock = ManualClock(datetime(2026, 5, 1, 13, 0, tzinfo=UTC))

    async def make() -> Bus:
        bus = NatsBus(
            f"nats://{nats_server.host}:{nats_server.port}",
            stream="OSED",
            clock=clock,
            name=unique("node-"),
        )
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.stop()


class TestNatsBus(BusContract):
    pass
