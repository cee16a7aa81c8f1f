"""The state-estimation service over a real Mosquitto: a 31-node feeder's measurements from a
reliable source in, the estimated state on the bus and in SQLite, equal to the power flow;
a restart mid-stream publishes no estimate twice."""

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from osed.bus.mqtt import MqttBus
from osed.bus.reliable import Publisher, SqliteOutbox, SqlitePositions
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.grid_services.estimation_service import EstimationService
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.brokers import Broker
from tests.unit.grid_services.estimation_support import T0, feeder, messages, snapshot_config

FEEDER = feeder(31)
CONFIG = snapshot_config(FEEDER, tick_s=0.1)
SNAPSHOTS = 8
RESTART_AT = 4
U_PHASE = 10_500.0 / 3**0.5


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_estimates_over_mosquitto_survive_a_restart(
    mosquitto: Broker, tmp_path: Path
) -> None:
    clock = SystemClock()
    source_bus = MqttBus(mosquitto.host, mosquitto.port, client_id="bridge", clock=clock)
    service_bus = MqttBus(mosquitto.host, mosquitto.port, client_id="estimation", clock=clock)
    await source_bus.start()
    await service_bus.start()
    published: list[Envelope] = []

    async def keep(envelope: Envelope) -> None:
        published.append(envelope)

    await source_bus.subscribe("se/#", keep)
    source = Publisher(source_bus, "bridge.pmu", clock=clock, heartbeat=1.0)
    await source.start()
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    files: list[SqliteOutbox | SqlitePositions] = []

    def estimation_service() -> EstimationService:
        outbox = SqliteOutbox(tmp_path / "outbox.sqlite", "estimation", synchronous="NORMAL")
        positions = SqlitePositions(tmp_path / "positions.sqlite")
        files.extend((outbox, positions))
        return EstimationService(
            CONFIG,
            FEEDER.network,
            service_bus,
            store=store,
            outbox=outbox,
            positions=positions,
            clock=clock,
            graph_path=tmp_path / "estimation-graph.json",
        )

    service = estimation_service()
    await service.start()
    try:
        for k in range(SNAPSHOTS):
            payloads = messages(FEEDER.measurements, T0 + timedelta(seconds=k))
            for index, payload in enumerate(payloads):
                if k == RESTART_AT and index == len(payloads) // 2:  # away mid snapshot
                    await service.stop()
                    while files:
                        files.pop().close()
                await source.publish("bal/processed", payload)
            if k == RESTART_AT:
                service = estimation_service()
                await service.start()
        (consumer,) = service._consumers
        await _until(lambda: consumer.committed("bridge.pmu") == source.last_seq)
        summaries = lambda: [e for e in published if e.topic == "se/summary"]  # noqa: E731
        await _until(lambda: len(summaries()) == SNAPSHOTS)
    finally:
        await service.stop()
        while files:
            files.pop().close()
        await source.close()
        await service_bus.stop()
        await source_bus.stop()

    assert len({e.key for e in published}) == len(published)  # nothing twice
    nodes = Counter(e.event_time for e in published if e.topic.startswith("se/node/"))
    assert sorted(nodes.values()) == [31] * SNAPSHOTS
    for k in range(SNAPSHOTS):
        at = T0 + timedelta(seconds=k)
        for i, node in enumerate(FEEDER.state.node_ids):
            (point,) = store.read(
                f"se/node/{node}/voltmagnitude/ABC", at, at + timedelta(seconds=1)
            )
            assert abs(point.value / U_PHASE - FEEDER.state.u_pu[i]) < 1e-6
    assert (tmp_path / "estimation-graph.json").exists()
    store.close()
