"""The statistics service over a real Mosquitto: measurements from a reliable source in,
aggregates on the bus and in SQLite, equal to compute_stats over the same values."""

import asyncio
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from osed.bus.mqtt import MqttBus
from osed.bus.reliable import Publisher, SqliteOutbox, SqlitePositions
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.grid_services import StatsConfig, StatsService
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.brokers import Broker
from tests.unit.grid_services.stats_support import T0, expected, measurement

PERIOD = timedelta(seconds=10)
DEVICES = ("pmu1", "pmu2", "pmu3")
STEPS = 300  # 100 ms apart: 30 s of event time, three windows per series
CONFIG = StatsConfig(
    inputs=("bal/processed/#",),
    period=PERIOD,
    lateness=timedelta(milliseconds=500),
    idle=timedelta(seconds=2),
    fields=("min", "max", "mean", "stdev", "s2", "sum", "diff"),
    tick_s=0.1,
)


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_stored_aggregates_equal_compute_stats_on_the_same_values(
    mosquitto: Broker, tmp_path: Path
) -> None:
    await _run(mosquitto, tmp_path, restart_at=None)


async def test_a_restart_mid_stream_publishes_no_window_twice_and_loses_none(
    mosquitto: Broker, tmp_path: Path
) -> None:
    await _run(mosquitto, tmp_path, restart_at=STEPS // 2 + 7)


async def _run(mosquitto: Broker, tmp_path: Path, *, restart_at: int | None) -> None:
    clock = SystemClock()  # the data is from 2023: the timer closes the last window once idle
    source_bus = MqttBus(mosquitto.host, mosquitto.port, client_id="bridge", clock=clock)
    stats_bus = MqttBus(mosquitto.host, mosquitto.port, client_id="stats", clock=clock)
    await source_bus.start()
    await stats_bus.start()
    published: list[Envelope] = []

    async def keep(envelope: Envelope) -> None:
        published.append(envelope)

    await source_bus.subscribe("bal/stats/#", keep)
    source = Publisher(source_bus, "bridge.pmu", clock=clock, heartbeat=1.0)
    await source.start()
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")

    files: list[SqliteOutbox | SqlitePositions] = []

    def stats_service() -> StatsService:
        outbox = SqliteOutbox(tmp_path / "outbox.sqlite", "stats", synchronous="NORMAL")
        positions = SqlitePositions(tmp_path / "positions.sqlite")
        files.extend((outbox, positions))
        return StatsService(
            CONFIG, stats_bus, store=store, outbox=outbox, positions=positions, clock=clock
        )

    service = stats_service()
    await service.start()

    rng = random.Random(11)
    sent: list[tuple[str, datetime, str, str, str, float]] = []
    try:
        for step in range(STEPS):
            if step == restart_at:  # the service goes away mid-window and comes back later
                await service.stop()
                while files:
                    files.pop().close()
            if restart_at is not None and step == restart_at + 20:
                service = stats_service()
                await service.start()
            at = T0 + timedelta(milliseconds=100 * step)
            for device in DEVICES:
                readings = [
                    ("n1", "voltmagnitude", "A", 230.0 + rng.gauss(0.0, 1.5)),
                    ("n1", "activepower", "ABC", rng.uniform(-5e3, 5e3)),
                ]
                await source.publish(f"bal/processed/{device}", measurement(device, at, readings))
                sent += [(device, at, c, m, p, v) for c, m, p, v in readings]
        (consumer,) = service._consumers
        await _until(lambda: consumer.committed("bridge.pmu") == source.last_seq)
        await _until(lambda: len(published) == 3 * len(DEVICES))
    finally:
        await service.stop()
        while files:
            files.pop().close()
        await source.close()
        await stats_bus.stop()
        await source_bus.stop()

    want = expected(sent, PERIOD, ("min", "max", "mean", "stdev", "s2", "sum", "diff"))
    stored: dict[tuple[str, str, str, str], Any] = {}
    for info in store.series():
        device, component, measurand, phase = info.series_id.split("/")
        for point in store.read(info.series_id, T0, T0 + timedelta(hours=1)):
            assert point.belief_time - point.event_time == PERIOD
            assert point.source == "stats"
            key = (device, point.event_time.isoformat(timespec="microseconds"))
            value = int(point.value) if measurand.endswith("_count") else point.value
            stored[(*key, f"{component}/{phase}", measurand)] = value
    assert stored == want  # bit for bit: the same values, reduced in the same order
    assert len({e.key for e in published}) == len(published)
    if restart_at is None:
        assert service.counters.late == 0
        assert service.counters.stored == len(want)
    store.close()
