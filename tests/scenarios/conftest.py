"""An EDC manager with the installed grid functions on a memory bus, driven through its REST
API, and the buildings' side of the same broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.time import ManualClock
from osed.edge.api import create_app
from osed.edge.manager import EdcManager
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.scenarios.support import Grid
from tests.unit.edge.conftest import Field

START = datetime(2026, 1, 5, 16, tzinfo=UTC)


@pytest.fixture
async def grid(tmp_path: Path) -> AsyncIterator[Grid]:
    broker = MemoryBroker()
    edc_bus, field_bus = MemoryBus(broker), MemoryBus(broker)
    await edc_bus.start()
    await field_bus.start()
    clock = ManualClock(START)
    store = SqliteEdcStateStore(tmp_path / "edc.sqlite")
    # Control cycles are driven by the tests (tick), on the manual clock.
    manager = EdcManager(
        edc_bus,
        store,
        clock=clock,
        control_cycle=timedelta(hours=1),
        response_deadline=timedelta(seconds=30),
    )
    await manager.start()
    field = Field(field_bus)
    await field.listen()
    transport = httpx.ASGITransport(app=create_app(manager))
    async with httpx.AsyncClient(transport=transport, base_url="http://edc") as client:
        yield Grid(client, manager, field, clock)
    await manager.stop()
    await field_bus.stop()
    await edc_bus.stop()
    store.close()
