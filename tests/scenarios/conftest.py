"""An EDC manager with the installed grid functions, driven through its REST API, and the
buildings' side of the same broker: on the memory bus, or on a real Mosquitto."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.bus.mqtt import MqttBus
from osed.domain.time import ManualClock, SystemClock
from osed.edge.api import create_app
from osed.edge.manager import EdcManager
from osed.ports.bus import Bus
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.scenarios.support import Grid
from tests.services.brokers import Broker, mosquitto
from tests.unit.edge.conftest import Field

__all__ = ["mosquitto"]

START = datetime(2026, 1, 5, 16, tzinfo=UTC)


@asynccontextmanager
async def grid_on(edc_bus: Bus, field_bus: Bus, state: Path) -> AsyncIterator[Grid]:
    await edc_bus.start()
    await field_bus.start()
    clock = ManualClock(START)
    stores: list[SqliteEdcStateStore] = []

    async def manager() -> tuple[EdcManager, httpx.AsyncClient]:
        """A manager on the state file (resuming what it holds) and a client of its API."""
        stores.append(SqliteEdcStateStore(state))
        # Control cycles are driven by the tests (tick), on the manual clock.
        made = EdcManager(
            edc_bus,
            stores[-1],
            clock=clock,
            control_cycle=timedelta(hours=1),
            response_deadline=timedelta(seconds=30),
        )
        await made.start()
        transport = httpx.ASGITransport(app=create_app(made))
        return made, httpx.AsyncClient(transport=transport, base_url="http://edc")

    first, client = await manager()
    field = Field(field_bus)  # type: ignore[arg-type]  # any bus will do
    grid = Grid(client, first, field, clock, start_manager=manager)
    try:
        await field.listen()
        yield grid
    finally:
        await grid.client.aclose()
        await grid.manager.stop()
        await field_bus.stop()
        await edc_bus.stop()
        for store in stores:
            store.close()


@pytest.fixture
async def grid(tmp_path: Path) -> AsyncIterator[Grid]:
    broker = MemoryBroker()
    async with grid_on(MemoryBus(broker), MemoryBus(broker), tmp_path / "edc.sqlite") as made:
        yield made


@pytest.fixture
async def grid_on_mosquitto(mosquitto: Broker, tmp_path: Path) -> AsyncIterator[Grid]:
    clock = SystemClock()
    edc_bus = MqttBus(mosquitto.host, mosquitto.port, client_id="edc", clock=clock)
    field_bus = MqttBus(mosquitto.host, mosquitto.port, client_id="buildings", clock=clock)
    async with grid_on(edc_bus, field_bus, tmp_path / "edc.sqlite") as made:
        yield made
