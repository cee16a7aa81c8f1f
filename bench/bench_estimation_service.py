"""State-estimation service throughput and latency on the in-memory bus, printing one JSON object.

A ``--nodes`` radial feeder (osed.sim.feeders) is measured from its power flow: a voltage at
every node, P and Q of every load (3 readings per node). Each snapshot's readings go out as
SOGNO messages of ``--per-message`` readings from a reliable source; the service (snapshot
trigger, every sensor listed, Newton-Raphson with bad-data analysis, the graph file written
after each estimate) estimates and publishes one message per node and branch and a summary.
The loads change a little from one snapshot to the next, so every estimate is a real solve
with the same sensor layout (one estimator).

- ``throughput``: ``--snapshots`` snapshots published back to back; estimates per second from
  the first message out to the last summary in;
- ``latency``: one snapshot at a time; from publishing its last message to its summary
  arriving (the node and branch messages go out before the summary): median and 95th
  percentile over ``--snapshots`` snapshots.

Both without a store and with a SQLite time-series store (``store``).

    .venv/bin/python bench/bench_estimation_service.py [--nodes 1000] [--snapshots 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from osed.bus.memory import MemoryBus
from osed.bus.reliable import Publisher
from osed.domain.envelope import Envelope
from osed.grid.measurements import Measurement
from osed.grid.powerflow import power_flow
from osed.grid_services.estimation_config import EstimationConfig
from osed.grid_services.estimation_sensors import SensorSpec
from osed.grid_services.estimation_service import EstimationService
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore

T0 = datetime(2023, 6, 29, 10, 0, tzinfo=UTC)


def snapshot(measurements: list[Measurement], k: int, per_message: int) -> list[bytes]:
    at = (T0 + timedelta(seconds=k)).isoformat(timespec="microseconds")
    scale = 1.0 + 0.001 * (k % 50)
    readings = [
        {
            "component": f"dev-{m.element}",
            "measurand": m.measurand,
            "phase": m.phase,
            "data": m.value * scale if m.element.startswith("load") else m.value,
        }
        for m in measurements
    ]
    return [
        json.dumps(
            {"device": f"rtu{i}", "timestamp": at, "readings": readings[i : i + per_message]}
        ).encode()
        for i in range(0, len(readings), per_message)
    ]


async def run(
    config: EstimationConfig, measurements: list[Measurement], args: argparse.Namespace, store: bool
) -> dict[str, Any]:
    network = radial_feeder(args.nodes)
    folder = Path(tempfile.mkdtemp(prefix="bench-se-"))
    bus = MemoryBus()
    await bus.start()
    arrived: dict[str, float] = {}

    async def summary(envelope: Envelope) -> None:
        arrived[json.loads(envelope.payload)["timestamp"]] = time.perf_counter()

    await bus.subscribe("se/summary", summary)
    series = SqliteTimeSeriesStore(folder / "ts.sqlite") if store else None
    service = EstimationService(
        config, network, bus, store=series, graph_path=folder / "graph.json", heartbeat=None
    )
    await service.start()
    source = Publisher(bus, "bridge.rtu", heartbeat=None)
    await source.start()

    async def until(count: int) -> None:
        while len(arrived) < count:
            await asyncio.sleep(0.0005)

    # Warm up: the estimator of the layout is built on the first snapshot.
    for payload in snapshot(measurements, 0, args.per_message):
        await source.publish("bal/processed", payload)
    await until(1)

    start = time.perf_counter()
    for k in range(1, args.snapshots + 1):
        for payload in snapshot(measurements, k, args.per_message):
            await source.publish("bal/processed", payload)
    await until(1 + args.snapshots)
    seconds = time.perf_counter() - start

    latencies = []
    for k in range(args.snapshots + 1, 2 * args.snapshots + 1):
        payloads = snapshot(measurements, k, args.per_message)
        for payload in payloads[:-1]:
            await source.publish("bal/processed", payload)
        await asyncio.sleep(0.02)  # the rest is in: only the last message is waited for
        sent = time.perf_counter()
        await source.publish("bal/processed", payloads[-1])
        await until(k + 1)
        stamp = (T0 + timedelta(seconds=k)).isoformat(timespec="microseconds")
        latencies.append(arrived[stamp] - sent)
    counters = service.counters
    await source.close()
    await service.stop()
    await bus.stop()
    if series is not None:
        series.close()
    assert counters.layouts == 1, counters
    assert counters.failed == 0, counters
    latencies.sort()
    return {
        "estimates_per_s": round(args.snapshots / seconds, 2),
        "latency_ms_median": round(1000 * statistics.median(latencies), 1),
        "latency_ms_p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        "messages_per_estimate": counters.published // counters.estimates,
        "stored_points": counters.stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--snapshots", type=int, default=50)
    parser.add_argument("--per-message", type=int, default=30)
    args = parser.parse_args()
    network = radial_feeder(args.nodes)
    measurements = measure(network, power_flow(network))
    config = EstimationConfig(
        network="bench",
        inputs=("bal/processed",),
        sensors=tuple(
            SensorSpec(f"dev-{m.element}", m.measurand, element=m.element, sigma=m.sigma)
            for m in measurements
        ),
        trigger="snapshot",
        tick_s=3600.0,
    )
    results = {
        "nodes": args.nodes,
        "readings_per_snapshot": len(measurements),
        "messages_per_snapshot": -(-len(measurements) // args.per_message),
        "cpus": os.cpu_count(),
        "memory_bus": asyncio.run(run(config, measurements, args, store=False)),
        "memory_bus_sqlite_store": asyncio.run(run(config, measurements, args, store=True)),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
