"""Helpers of the state-estimation service tests: a synthetic feeder with its power flow, its
measurements as SOGNO messages, a running service on the memory bus with a manual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from osed.bus.memory import MemoryBus
from osed.bus.reliable import InMemoryOutbox, InMemoryPositions, Outbox, Publisher
from osed.domain.time import ManualClock
from osed.grid.measurements import Measurement
from osed.grid.network import Network
from osed.grid.powerflow import power_flow
from osed.grid.state import GridState
from osed.grid_services.estimation_config import EstimationConfig
from osed.grid_services.estimation_sensors import SensorSpec
from osed.grid_services.estimation_service import EstimationService
from osed.ports.timeseries import TimeSeriesStore
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure
from tests.unit.grid_services.stats_support import Listener, listen

T0 = datetime(2023, 6, 29, 10, 0, tzinfo=UTC)
SIGMA_V = 50.0 / 3**0.5
SIGMA_VA = 10e3


@dataclass(frozen=True)
class Feeder:
    network: Network
    state: GridState
    measurements: list[Measurement]  # noiseless: a voltage per node, P and Q per load

    def sensors(self, sigma: bool = True) -> tuple[SensorSpec, ...]:
        """Every measurement listed; the reading's component is ``dev-<element>``."""
        return tuple(
            SensorSpec(
                f"dev-{m.element}",
                m.measurand,
                element=m.element,
                sigma=m.sigma if sigma else None,
            )
            for m in self.measurements
        )


def feeder(nodes: int = 31, *, seed: int = 0) -> Feeder:
    network = radial_feeder(nodes, seed=seed)
    state = power_flow(network)
    measurements = measure(network, state, voltage_sigma_v=SIGMA_V, power_sigma_va=SIGMA_VA)
    return Feeder(network, state, measurements)


def sogno(device: str, at: datetime, readings: Iterable[tuple[str, str, str, float]]) -> bytes:
    return json.dumps(
        {
            "device": device,
            "timestamp": at.isoformat(timespec="microseconds"),
            "readings": [
                {"component": c, "measurand": m, "phase": p, "data": d} for c, m, p, d in readings
            ],
        }
    ).encode()


def messages(
    measurements: Sequence[Measurement],
    at: datetime,
    *,
    prefix: str = "dev-",
    changed: dict[tuple[str, str], float] | None = None,
) -> list[bytes]:
    """One SOGNO message per measured element (device ``pmu-<element>``), readings named
    ``<prefix><element>``; ``changed`` overrides values by (element, measurand)."""
    by_element: dict[str, list[tuple[str, str, str, float]]] = {}
    for m in measurements:
        value = (changed or {}).get((m.element, m.measurand), m.value)
        by_element.setdefault(m.element, []).append(
            (f"{prefix}{m.element}", m.measurand, m.phase, value)
        )
    return [sogno(f"pmu-{element}", at, r) for element, r in by_element.items()]


@dataclass
class Rig:
    bus: MemoryBus
    clock: ManualClock
    source: Publisher
    service: EstimationService
    nodes: Listener
    branches: Listener
    summaries: Listener
    dead: Listener
    positions: InMemoryPositions
    outbox: Outbox

    async def send(self, payloads: Iterable[bytes], topic: str = "bal/processed") -> None:
        for payload in payloads:
            await self.source.publish(topic, payload)

    async def settle(self) -> None:
        """Let the bus deliver, then process what the service queued."""
        for _ in range(3):
            await asyncio.sleep(0)
        for subscription in list(self.bus._subscriptions):
            await subscription.drain()
        await self.service.drain()
        for subscription in list(self.bus._subscriptions):
            await subscription.drain()

    def latest_nodes(self) -> dict[str, dict[str, Any]]:
        """The newest node message per node, by timestamp."""
        out: dict[str, dict[str, Any]] = {}
        for document in self.nodes.documents:
            known = out.get(document["component"])
            if known is None or known["timestamp"] <= document["timestamp"]:
                out[document["component"]] = document
        return out

    async def close(self) -> None:
        await self.service.stop()
        await self.source.close()
        await self.bus.stop()


async def make_rig(
    config: EstimationConfig,
    network: Network,
    *,
    store: TimeSeriesStore | None = None,
    graph_path: Path | None = None,
    outbox: Outbox | None = None,
    positions: InMemoryPositions | None = None,
    clock: ManualClock | None = None,
    bus: MemoryBus | None = None,
) -> Rig:
    clock = clock or ManualClock(T0)
    if bus is None:
        bus = MemoryBus(clock=clock)
        await bus.start()
    nodes = await listen(bus, "se/node/#")
    branches = await listen(bus, "se/branch/#")
    summaries = await listen(bus, "se/summary")
    dead = await listen(bus, "dead-letter/#")
    source = Publisher(bus, "bridge.pmu", InMemoryOutbox(), clock=clock, heartbeat=None)
    await source.start()
    positions = positions if positions is not None else InMemoryPositions()
    outbox = outbox if outbox is not None else InMemoryOutbox()
    service = EstimationService(
        config,
        network,
        bus,
        store=store,
        outbox=outbox,
        positions=positions,
        clock=clock,
        graph_path=graph_path,
        heartbeat=None,
    )
    await service.start()
    return Rig(bus, clock, source, service, nodes, branches, summaries, dead, positions, outbox)


def snapshot_config(feeder: Feeder, **options: Any) -> EstimationConfig:
    values: dict[str, Any] = {
        "network": "test",
        "inputs": ("bal/processed",),
        "sensors": feeder.sensors(),
        "trigger": "snapshot",
        "tick_s": 3600.0,
    }
    values.update(options)
    return EstimationConfig(**values)


def shifted(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=seconds)


async def estimate_once(
    bus: Any,
    service: EstimationService,
    clock: ManualClock,
    measurements: Sequence[Measurement],
    at: datetime,
) -> None:
    """Publish ``measurements`` at ``at`` as a PMU bridge does, wait until the running
    ``service`` received them all, and let it estimate once (10 s later)."""
    device = Publisher(bus, "bridge.pmu", clock=clock, heartbeat=None)
    await device.start()
    payloads = messages(measurements, at, prefix="")
    for payload in payloads:
        await device.publish("bal/processed", payload)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if service.counters.received == len(payloads):
            break
    clock.advance(timedelta(seconds=10))
    assert await service.tick()
    await device.close()
