"""Buildings with simulated devices and building agents on a real EDC manager (memory bus,
SQLite state store), for the closed-loop tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from osed.buildings.devices_schema import Building
from osed.bus.memory import MemoryBroker, MemoryBus
from osed.devices.simulated import SimulatedGateway
from osed.devices.simulated_document import devices_of
from osed.domain.devices import DeviceKind
from osed.domain.time import ManualClock
from osed.edge.building.agent import AgentSettings, BuildingAgent, Channel
from osed.edge.coordinator import Coordinator
from osed.edge.manager import EdcManager
from osed.gridfunctions.builtin._dac_document import read_document
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.unit.buildings.plan_documents import BATTERY

STEPS = 24
STEP_H = 1.0
START = datetime(2026, 1, 12, tzinfo=UTC)
TARIFF = np.array([0.10] * 7 + [0.30] * 3 + [0.20] * 7 + [0.40] * 4 + [0.15] * 3)


def battery(soc: float = 0.5) -> dict[str, Any]:
    return {**BATTERY, "soc_init": soc}


def heating(outdoor_c: float = 2.0, temp_c: float = 21.0) -> dict[str, Any]:
    return {
        "id": "zone",
        "kind": "heating",
        "capacitance_kwh_per_k": 3.0,
        "resistance_k_per_kw": 10.0,
        "cop": 3.0,
        "power_max_kw": 3.0,
        "temp_init_c": temp_c,
        "outdoor_c": [outdoor_c] * STEPS,
        "comfort_min_c": [20.0] * STEPS,
        "comfort_max_c": [23.0] * STEPS,
    }


def building(ident: str, base_kw: Sequence[float], devices: list[dict[str, Any]]) -> Building:
    document = {
        "steps": STEPS,
        "step_h": STEP_H,
        "prices": TARIFF.tolist(),
        "buildings": [{"id": ident, "base_kw": list(base_kw), "devices": devices}],
    }
    return read_document(document).buildings[0]


def gateway(house: Building, actual_base_kw: Sequence[float] | None = None) -> SimulatedGateway:
    """The building's devices simulated; its base load as forecast, or ``actual_base_kw``."""
    devices = devices_of(house)
    if actual_base_kw is not None:
        devices = [
            replace(d, fields={"profile_kw": list(actual_base_kw)})
            if d.kind is DeviceKind.LOAD
            else d
            for d in devices
        ]
    return SimulatedGateway(devices, step_h=STEP_H, start=START, seed=3)


@dataclass
class Member:
    agent: BuildingAgent
    gateway: SimulatedGateway
    bus: MemoryBus


class Neighbourhood:
    """An EDC on a memory broker and the building agents enrolled in it."""

    def __init__(self, path: Path) -> None:
        self.broker = MemoryBroker()
        self.path = path
        self.members: list[Member] = []
        self.clock = ManualClock(START)
        """The EDC's and the agents' time: the tests move it."""
        self.edc: Coordinator | None = None
        self._manager: tuple[EdcManager, MemoryBus, SqliteEdcStateStore] | None = None

    async def open(
        self,
        functions: dict[str, dict[str, Any]],
        houses: list[Building],
        listen: Sequence[str] = (),
    ) -> None:
        """An EDC with ``houses`` enrolled, then ``functions`` assigned (name -> parameters);
        the agents take part in those and in ``listen`` (functions assigned later)."""
        bus = MemoryBus(self.broker)
        await bus.start()
        store = SqliteEdcStateStore(self.path)
        manager = EdcManager(bus, store, clock=self.clock, control_cycle=timedelta(hours=1))
        await manager.start()
        self._manager = (manager, bus, store)
        edc, _ = await manager.create("area-1", "trafo-1", idempotency_key="k")
        self.edc = edc
        tokens = {h.id: await edc.enrol(h.id, None) for h in houses}
        for house in houses:
            await self.join(house, gateway(house), tokens[house.id], [*functions, *listen])
        for name, parameters in functions.items():
            await edc.assign(name, parameters)

    async def join(
        self, house: Building, devices: SimulatedGateway, token: str, functions: list[str]
    ) -> BuildingAgent:
        bus = MemoryBus(self.broker)
        await bus.start()
        channels = {f: Channel("area-1", token) for f in functions}
        settings = AgentSettings(STEPS, STEP_H, TARIFF, replan_every=4)
        agent = BuildingAgent(house, devices, bus, channels, settings, clock=self.clock)
        await agent.start()
        self.members.append(Member(agent, devices, bus))
        return agent

    async def close(self) -> None:
        for member in self.members:
            await member.agent.stop()
            await member.gateway.close()
            await member.bus.stop()
        if self._manager is not None:
            manager, bus, store = self._manager
            await manager.stop()
            await bus.stop()
            store.close()
