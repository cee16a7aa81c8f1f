"""Stopping or crashing the state-estimation service mid-stream and starting it again
publishes no estimate twice and loses none: every snapshot is estimated and published once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Sequence

import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.bus.reliable import InMemoryOutbox, InMemoryPositions, Publisher
from osed.codec.gap import GapReport
from osed.domain.envelope import Envelope
from osed.domain.errors import IntegrityError
from osed.domain.time import ManualClock
from osed.grid_services.estimation_service import EstimationService
from tests.unit.grid_services.estimation_support import (
    T0,
    feeder,
    messages,
    shifted,
    snapshot_config,
)
from tests.unit.grid_services.stats_support import listen

FEEDER = feeder(31)
CONFIG = snapshot_config(FEEDER)
SNAPSHOTS = 6


class FlakyPositions(InMemoryPositions):
    """Positions whose save of the service's horizon fails while ``failing`` is set."""

    failing = False

    def save(self, consumer: str, source: str, seq: int, gaps: Sequence[GapReport] = ()) -> None:
        if self.failing and consumer.endswith(".estimates"):
            raise IntegrityError("disk full")
        super().save(consumer, source, seq, gaps)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def snapshot(k: int) -> list[bytes]:
    """The k-th snapshot: every load a little heavier than in the one before."""
    changed = {
        (m.element, m.measurand): m.value * (1 + 0.01 * k)
        for m in FEEDER.measurements
        if m.element.startswith("load")
    }
    return messages(FEEDER.measurements, shifted(T0, k), changed=changed)


@pytest.mark.parametrize("how", ["stop", "crash", "crash-after-publish"])
async def test_no_estimate_twice_and_none_lost_across_a_restart(how: str) -> None:
    clock = ManualClock(T0)
    broker = MemoryBroker()
    bus = MemoryBus(broker, clock=clock)
    await bus.start()
    nodes = await listen(bus, "se/node/#")
    summaries = await listen(bus, "se/summary")
    source = Publisher(bus, "bridge.pmu", InMemoryOutbox(), clock=clock, heartbeat=None)
    await source.start()
    outbox = InMemoryOutbox()  # the service's: it survives, as its SQLite file would
    positions = FlakyPositions()

    async def run_service() -> tuple[MemoryBus, EstimationService]:
        service_bus = MemoryBus(broker, clock=clock)  # its own connection, as a process has
        await service_bus.start()
        service = EstimationService(
            CONFIG,
            FEEDER.network,
            service_bus,
            outbox=outbox,
            positions=positions,
            clock=clock,
            heartbeat=None,
        )
        await service.start()
        return service_bus, service

    async def send(payloads: list[bytes]) -> None:
        for payload in payloads:
            await source.publish("bal/processed", payload)
            await asyncio.sleep(0)

    service_bus, service = await run_service()
    for k in range(3):
        if how == "crash-after-publish" and k == 2:
            positions.failing = True  # 10:00:02 goes out, its inputs are never committed
        await send(snapshot(k))
        await until(lambda: service.counters.received == source.last_seq)
        with contextlib.suppress(IntegrityError):
            await service.drain()
    third = snapshot(3)
    if how == "crash":
        await send(third[:10])  # the process dies mid snapshot
        await until(lambda: service.counters.received == source.last_seq)
        third = third[10:]
    assert service.ready() is (how != "crash-after-publish")
    await until(lambda: len(summaries.envelopes) == 3)

    if how == "stop":
        await service.stop()
        await service_bus.stop()
    else:  # no processing of what is queued, no commit, no goodbye
        await service_bus.stop()
        await service._cancel_timers()
        for consumer in service._consumers:
            await consumer.close()
    positions.failing = False

    await send(third)  # while it is away: the broker keeps them
    service_bus, service = await run_service()
    await send(snapshot(4))
    await send(snapshot(5))
    (consumer,) = service._consumers
    await until(lambda: consumer.position("bridge.pmu") == source.last_seq)
    await service.drain()
    await until(lambda: len(summaries.envelopes) == SNAPSHOTS)

    keys = [e.key for e in nodes.envelopes + summaries.envelopes]
    assert len(keys) == len(set(keys))
    stamps = [d["timestamp"][11:19] for d in summaries.documents]
    assert stamps == [f"10:00:0{k}" for k in range(SNAPSHOTS)]
    assert {d["status"] for d in summaries.documents} == {"ok"}
    per_stamp = Counter(d["timestamp"] for d in nodes.documents)
    assert set(per_stamp.values()) == {31}
    if how == "crash-after-publish":
        assert service.counters.duplicates > 0  # recomputed, recognised, not published again
    assert consumer.committed("bridge.pmu") == source.last_seq

    await service.stop()
    await service_bus.stop()
    await source.close()
    await bus.stop()


async def test_the_horizon_makes_replayed_readings_late() -> None:
    """After a restart a reading at or before the last snapshot opens no snapshot again."""
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    positions = InMemoryPositions()
    service = EstimationService(
        CONFIG, FEEDER.network, bus, positions=positions, clock=clock, heartbeat=None
    )
    await service.start()
    payloads = snapshot(0)
    for seq, payload in enumerate(payloads, start=1):
        await service.accept(Envelope("bal/processed", "x", seq, payload, T0))
    await service.drain()
    assert service.horizon == T0
    await service.stop()

    again = EstimationService(
        CONFIG, FEEDER.network, bus, positions=positions, clock=clock, heartbeat=None
    )
    await again.start()
    assert again.horizon == T0
    for seq, payload in enumerate(payloads, start=1):
        await again.accept(Envelope("bal/processed", "x", seq, payload, T0))
    await again.drain()
    assert again.counters.estimates == 0
    assert again.counters.late == len(FEEDER.measurements)
    await again.stop()
    await bus.stop()
