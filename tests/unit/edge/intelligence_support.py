"""Helpers of the grid intelligence tests: estimates as the state estimation service publishes
them (node, branch, summary messages), and a site with an EDC manager, the intelligence and a
listener on one memory broker."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.domain.time import ManualClock
from osed.edge.intelligence import GridIntelligence, IntelligenceConfig
from osed.edge.intelligence_areas import AreaMap
from osed.edge.manager import EdcManager
from osed.grid.network import Network
from osed.storage.edc_sqlite import SqliteEdcStateStore
from osed.storage.intelligence_sqlite import SqliteDecisionStore

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PHASE_V = 10_500.0 / math.sqrt(3)  # 1 pu on the radial feeders


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def estimate(
    when: datetime,
    *,
    amps: dict[str, float] | None = None,
    pu: dict[str, float] | None = None,
    status: str = "ok",
    prefix: str = "se",
) -> list[tuple[str, bytes]]:
    """(topic, payload) of one estimate: branch currents, node voltages, then the summary."""
    stamp = when.isoformat(timespec="microseconds")
    out = []
    for node, value in (pu or {}).items():
        readings = [{"measurand": "voltmagnitude", "phase": "ABC", "data": value * PHASE_V}]
        document = {"component": node, "timestamp": stamp, "readings": readings}
        out.append((f"{prefix}/node/{node}", json.dumps(document).encode()))
    for branch, value in (amps or {}).items():
        readings = [
            {"measurand": "currmagnitude", "phase": "ABC", "data": value},
            {"measurand": "activepower", "phase": "ABC", "data": 1e6},
            {"measurand": "currmagnitude_to", "phase": "ABC", "data": value * 0.99},
        ]
        document = {"component": branch, "timestamp": stamp, "readings": readings}
        out.append((f"{prefix}/branch/{branch}", json.dumps(document).encode()))
    summary = {"timestamp": stamp, "network": "radial", "status": status}
    out.append((f"{prefix}/summary", json.dumps(summary).encode()))
    return out


class Site:
    """One broker; managers and intelligences come and go on one SQLite file."""

    def __init__(self, path: Path, network: Network) -> None:
        self.broker = MemoryBroker()
        self.path = path
        self.areas = AreaMap(network)
        self.clock = ManualClock(T0)
        self.decisions: list[dict[str, Any]] = []
        self._seq = 0
        self._running: list[tuple[GridIntelligence, EdcManager, MemoryBus, Any, Any]] = []

    async def listen(self) -> None:
        self.listener = MemoryBus(self.broker)
        await self.listener.start()

        async def record(envelope: Envelope) -> None:
            self.decisions.append(json.loads(envelope.payload))

        await self.listener.subscribe("osed/intelligence/decisions", record)

    async def start(self, config: IntelligenceConfig) -> GridIntelligence:
        bus = MemoryBus(self.broker)
        await bus.start()
        edc_store = SqliteEdcStateStore(self.path)
        decision_store = SqliteDecisionStore(self.path)
        manager = EdcManager(bus, edc_store, clock=self.clock, control_cycle=timedelta(hours=1))
        await manager.start()
        intelligence = GridIntelligence(
            bus, manager, self.areas, decision_store, config, clock=self.clock
        )
        await intelligence.start()
        self._running.append((intelligence, manager, bus, edc_store, decision_store))
        return intelligence

    def manager(self, intelligence: GridIntelligence) -> EdcManager:
        return next(m for i, m, *_ in self._running if i is intelligence)

    def decision_store(self, intelligence: GridIntelligence) -> SqliteDecisionStore:
        store: SqliteDecisionStore = next(d for i, _, _, _, d in self._running if i is intelligence)
        return store

    def stored(self, intelligence: GridIntelligence) -> list[dict[str, Any]]:
        store = self.decision_store(intelligence)
        return [json.loads(document) for _, document in store.recent()]

    async def publish(self, messages: list[tuple[str, bytes]]) -> None:
        envelopes = []
        for topic, payload in messages:
            self._seq += 1
            envelopes.append(Envelope(topic, "estimation", self._seq, payload, self.clock.now()))
        await self.listener.publish_many(envelopes)

    async def stop(self, intelligence: GridIntelligence) -> None:
        for entry in list(self._running):
            if entry[0] is intelligence:
                _, manager, bus, edc_store, decision_store = entry
                await intelligence.stop()
                await manager.stop()
                await bus.stop()
                edc_store.close()
                decision_store.close()
                self._running.remove(entry)

    async def close(self) -> None:
        for entry in list(self._running):
            await self.stop(entry[0])
        await self.listener.stop()
