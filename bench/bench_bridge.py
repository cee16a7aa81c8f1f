"""The MQTT bridge end to end on a real Mosquitto (loopback), printing one JSON object.

A plain MQTT client plays the device (SOGNO payloads, QoS 1, many publishes in flight); the
bridge runs validate + normalise-units, publishes through the reliable layer (SQLite outbox,
synchronous NORMAL) on an MqttBus, and stores every sample in SQLite time series. Measured:

* ``throughput_msg_s``: ``--messages`` device messages, first publish to last message
  processed (stored and handed to the outbox and the broker);
* ``latency_ms``: p50/p99/max device publish -> processed envelope at a subscriber of
  ``bal/processed``, at a paced ``--rate`` msg/s.

    .venv/bin/python bench/bench_bridge.py [--messages 20000] [--rate 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services.brokers

from osed.bridge import BridgeService, load_config
from osed.bridge.mqtt_raw import RawMqttFeed, endpoint
from osed.bus.mqtt import MqttBus
from osed.bus.reliable import SqliteOutbox, SqlitePositions
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.brokers import Broker, mosquitto_broker, running

CONFIG = """
batch: {max_points: 500, max_delay_ms: 100}
pipelines:
  - name: pmu
    subscribe: [bal/raw/#]
    format: sogno
    steps: [validate, normalise-units]
    publish: bal/processed
    store: {series: "{device}/{component}/{measurand}/{phase}"}
"""
WINDOW = 1000


def payload(k: int, at: datetime) -> bytes:
    # Two readings per message; the timestamp is the send time (latency) and unique per k.
    return json.dumps(
        {
            "device": f"pmu{k % 10}",
            "timestamp": at.isoformat(timespec="microseconds"),
            "readings": [
                {"component": "n1", "measurand": "voltmagnitude", "phase": "A", "data": 230.1},
                {"component": "n1", "measurand": "frequency", "phase": "A", "data": 50.01},
            ],
        }
    ).encode()


async def run(broker: Broker, folder: Path, messages: int, rate: float) -> dict[str, object]:
    clock = SystemClock()
    bus = MqttBus(broker.host, broker.port, client_id="bench-bridge", clock=clock)
    await bus.start()
    latencies: list[float] = []

    async def on_processed(envelope: Envelope) -> None:
        sent = datetime.fromisoformat(json.loads(envelope.payload)["timestamp"])
        latencies.append((datetime.now(UTC) - sent).total_seconds() * 1000)

    store = SqliteTimeSeriesStore(folder / "ts.sqlite", synchronous="NORMAL")
    service = BridgeService(
        load_config(CONFIG),
        bus,
        raw_feed=RawMqttFeed(endpoint(broker.host, broker.port), client_id="bench-raw"),
        store=store,
        outboxes=lambda s: SqliteOutbox(folder / "outbox.sqlite", s, synchronous="NORMAL"),
        positions=SqlitePositions(folder / "positions.sqlite"),
        clock=clock,
    )
    await service.start()
    pipeline = service.pipelines["pmu"]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with aiomqtt.Client(
        broker.host, broker.port, identifier="bench-device", max_inflight_messages=WINDOW
    ) as device:
        device.pending_calls_threshold = 2**31
        # Throughput: as fast as the window allows.
        start = time.perf_counter()
        for first in range(0, messages, WINDOW):
            last = min(first + WINDOW, messages)
            await asyncio.gather(
                *(
                    device.publish(
                        "bal/raw/pmu", payload(k, base.replace(microsecond=0) + _us(k)), qos=1
                    )
                    for k in range(first, last)
                )
            )
        published_s = time.perf_counter() - start
        while pipeline.stats.published < messages:
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - start
        # Latency: paced, timestamps are the send times.
        await bus.subscribe("bal/processed", on_processed)
        paced = int(rate * 2)
        done = pipeline.stats.published
        start = time.perf_counter()
        for k in range(paced):
            target = start + k / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await device.publish("bal/raw/pmu", payload(k, datetime.now(UTC)), qos=0)
        while pipeline.stats.published < done + paced or len(latencies) < paced:
            await asyncio.sleep(0.005)
    stored = len(store.read("pmu0/n1/frequency/A", base, base.replace(year=2027)))
    await service.stop()
    await bus.stop()
    store.close()
    latencies.sort()
    return {
        "throughput_msg_s": round(messages / elapsed),
        "messages": messages,
        "device_publish_msg_s": round(messages / published_s),
        "points_stored_per_device_series": stored,
        "latency_ms": {
            "rate_msg_s": rate,
            "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
            "max": round(latencies[-1], 2),
        },
        "dead_lettered": pipeline.stats.dead_lettered,
    }


def _us(k: int) -> timedelta:
    return timedelta(microseconds=k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=5_000.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with running(mosquitto_broker(folder / "mosquitto")) as broker:
            result = asyncio.run(run(broker, folder, args.messages, args.rate))
    result |= {"python": platform.python_version(), "machine": platform.machine()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
