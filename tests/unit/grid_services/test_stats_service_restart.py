"""Stopping or crashing the statistics service mid-stream and starting it again publishes no
window twice and loses none: the aggregates equal compute_stats over every value sent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.bus.reliable import InMemoryOutbox, InMemoryPositions, Publisher
from osed.codec.gap import GapReport
from osed.domain.errors import IntegrityError
from osed.domain.time import ManualClock
from osed.grid_services import StatsConfig, StatsService
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.grid_services.stats_support import T0, aggregates, expected, listen, pmu

PERIOD = timedelta(seconds=10)
CONFIG = StatsConfig(
    inputs=("bal/processed",), period=PERIOD, lateness=timedelta(seconds=2), tick_s=3600.0
)
DEVICES = ("pmu1", "pmu2", "pmu3")
SECONDS = 60


class FlakyPositions(InMemoryPositions):
    """Positions whose save of the service's horizon fails while ``failing`` is set."""

    failing = False

    def save(self, consumer: str, source: str, seq: int, gaps: Sequence[GapReport] = ()) -> None:
        if self.failing and consumer.endswith(".windows"):
            raise IntegrityError("disk full")
        super().save(consumer, source, seq, gaps)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def value(device: str, second: int) -> float:
    return 230.0 + (second * 37 + int(device[-1]) * 11) % 100 / 10


@pytest.mark.parametrize("how", ["stop", "crash", "crash-after-publish"])
async def test_no_window_twice_and_none_lost_across_a_restart(how: str, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    broker = MemoryBroker()
    bus = MemoryBus(broker, clock=clock)  # the bridge's and the test's
    await bus.start()
    out = await listen(bus, "bal/stats/#")
    source = Publisher(bus, "bridge.pmu", InMemoryOutbox(), clock=clock, heartbeat=None)
    await source.start()
    outbox = InMemoryOutbox()  # the service's: it survives, as its SQLite file would
    positions = FlakyPositions()
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    sent: list[tuple[str, datetime, str, str, str, float]] = []

    async def send(second: int) -> None:
        at = T0 + timedelta(seconds=second)
        for device in DEVICES:
            volts = value(device, second)
            await source.publish("bal/processed", pmu(device, at, volts, watts=float(second)))
            sent.append((device, at, "n1", "voltmagnitude", "A", volts))
            sent.append((device, at, "n1", "activepower", "A", float(second)))

    async def run_service() -> tuple[MemoryBus, StatsService]:
        service_bus = MemoryBus(broker, clock=clock)  # its own connection, as a process has
        await service_bus.start()
        service = StatsService(
            CONFIG,
            service_bus,
            store=store,
            outbox=outbox,
            positions=positions,
            clock=clock,
            heartbeat=None,
        )
        await service.start()
        return service_bus, service

    service_bus, service = await run_service()
    for second in range(35):
        if how == "crash-after-publish" and second == 30:
            positions.failing = True  # 10:00:20 goes out, its inputs are never committed
        await send(second)
        await asyncio.sleep(0)
    await until(lambda: service.counters.received == 35 * len(DEVICES))
    with contextlib.suppress(IntegrityError):  # the batch fails wherever it was processed
        await service.drain()
    assert service.ready() is (how != "crash-after-publish")
    await until(lambda: len(out.envelopes) >= 3 * len(DEVICES))  # 10:00:00, :10, :20

    if how == "stop":
        await service.stop()
        await service_bus.stop()
    else:  # the process dies: no processing of what is queued, no commit, no goodbye
        await service_bus.stop()
        await service._cancel_timers()
        for consumer in service._consumers:
            await consumer.close()
    positions.failing = False

    for second in range(35, 45):  # while it is away: the broker keeps them
        await send(second)

    service_bus, service = await run_service()
    for second in range(45, SECONDS):
        await send(second)
    # The inputs after the last commit come again: replayed from the bridge's outbox.
    (consumer,) = service._consumers
    await until(lambda: consumer.position("bridge.pmu") == source.last_seq)
    await service.drain()
    clock.advance(timedelta(hours=1))
    assert await service.tick()  # the last window, by the timer
    await until(lambda: len(out.envelopes) == SECONDS // 10 * len(DEVICES))

    keys = [e.key for e in out.envelopes]
    assert len(keys) == len(set(keys))
    assert [e.key for e in outbox.read(1, outbox.last_seq())] == keys
    assert aggregates(out.documents) == expected(sent, PERIOD)
    if how == "crash-after-publish":
        assert service.counters.duplicates > 0  # recomputed, recognised, not published again
    stored = store.read("pmu2/n1/voltmagnitude_count/A", T0, T0 + timedelta(hours=1))
    assert [p.value for p in stored] == [10.0] * (SECONDS // 10)

    await service.stop()
    await service_bus.stop()
    await source.close()
    await bus.stop()
    store.close()
