"""Statistics service throughput on the in-memory bus, printing one JSON object.

``--devices`` PMUs each send a SOGNO measurement of 6 readings (voltage magnitude and active
power on phases A, B, C) every 100 ms; period 1 s, lateness 100 ms, default stats. Figures are
best-of-3 readings (values) per second:

- ``service``: envelopes built beforehand and handed to the service (decode, aggregate, encode,
  outbox), without and with a SQLite time-series store;
- ``bus``: a reliable source publishes them on the memory bus and the service consumes them
  through its reliable consumer (timed until the last one is processed).

    .venv/bin/python bench/bench_stats_service.py [--messages 50000] [--devices 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from osed.bus.memory import MemoryBus
from osed.bus.reliable import Publisher
from osed.domain.envelope import Envelope
from osed.grid_services import StatsConfig, StatsService
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore

T0 = datetime(2023, 6, 29, 10, 0, tzinfo=UTC)
REPEATS = 3
READINGS = 6
CONFIG = StatsConfig(
    inputs=("bal/processed",),
    period=timedelta(seconds=1),
    lateness=timedelta(milliseconds=100),
    tick_s=3600.0,
)


def payloads(messages: int, devices: int) -> list[bytes]:
    rng = np.random.default_rng(7)
    out = []
    for k in range(messages):
        step, device = divmod(k, devices)
        at = (T0 + timedelta(milliseconds=100 * step)).isoformat(timespec="microseconds")
        volts = 230.0 + rng.normal(0.0, 1.0, 3)
        watts = 1000.0 + rng.normal(0.0, 50.0, 3)
        readings = [
            {"component": "n1", "measurand": m, "phase": p, "data": float(v)}
            for m, values in (("voltmagnitude", volts), ("activepower", watts))
            for p, v in zip("ABC", values, strict=True)
        ]
        document = {"device": f"pmu{device}", "timestamp": at, "readings": readings}
        out.append(json.dumps(document).encode())
    return out


async def through_service(data: list[bytes], store_dir: Path | None) -> tuple[float, int]:
    bus = MemoryBus()
    await bus.start()
    store = SqliteTimeSeriesStore(store_dir / "ts.sqlite") if store_dir is not None else None
    service = StatsService(CONFIG, bus, store=store, heartbeat=None)
    await service.start()
    envelopes = [
        Envelope("bal/processed", "bridge.pmu", seq, payload, T0)
        for seq, payload in enumerate(data, start=1)
    ]
    start = time.perf_counter()
    for envelope in envelopes:
        await service.accept(envelope)
    await service.drain()
    seconds = time.perf_counter() - start
    windows = service.counters.windows
    await service.stop()
    await bus.stop()
    if store is not None:
        store.close()
    return seconds, windows


async def through_bus(data: list[bytes]) -> tuple[float, int]:
    bus = MemoryBus()
    await bus.start()
    source = Publisher(bus, "bridge.pmu", heartbeat=None)
    await source.start()
    service = StatsService(CONFIG, bus, heartbeat=None)
    await service.start()
    start = time.perf_counter()
    for first in range(0, len(data), 1_000):
        chunk = data[first : first + 1_000]
        await source.publish_many([("bal/processed", payload) for payload in chunk])
    (consumer,) = service._consumers
    while consumer.position("bridge.pmu") < source.last_seq:
        await asyncio.sleep(0.001)
    await service.drain()
    seconds = time.perf_counter() - start
    windows = service.counters.windows
    await service.stop()
    await source.close()
    await bus.stop()
    return seconds, windows


def best(runs: list[tuple[float, int]], values: int) -> dict[str, object]:
    seconds, windows = min(runs)
    return {
        "seconds": round(seconds, 4),
        "values_per_s": round(values / seconds),
        "windows": windows,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=100)
    args = parser.parse_args()
    data = payloads(args.messages, args.devices)
    values = len(data) * READINGS
    figures: dict[str, object] = {
        "cpus": os.cpu_count(),
        "messages": len(data),
        "values": values,
        "devices": args.devices,
        "period_s": 1,
    }
    figures["service"] = best(
        [asyncio.run(through_service(data, None)) for _ in range(REPEATS)], values
    )
    runs = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as folder:
            runs.append(asyncio.run(through_service(data, Path(folder))))
    figures["service_sqlite_store"] = best(runs, values)
    figures["bus"] = best([asyncio.run(through_bus(data)) for _ in range(REPEATS)], values)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
