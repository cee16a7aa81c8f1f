"""The bus contract on MqttBus against a real Mosquitto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from osed.bus.mqtt import MqttBus
from osed.domain.time import ManualClock
from osed.ports.bus import Bus
from tests.contract.bus.contract import BusContract, BusFactory, unique
from tests.services.brokers import Broker


@pytest.fixture
async def bus_factory(mosquitto: Broker) -> AsyncIterator[BusFactory]:
    buses: list[MqttBus] = []
    clock = ManualClock(datetime(2026, 5, 1, 13, 0, tzinfo=UTC))

    async def make() -> Bus:
        bus = MqttBus(mosquitto.host, mosquitto.port, client_id=unique("node-"), clock=clock)
        await bus.start()
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.stop()


class TestMqttBus(BusContract):
    pass
