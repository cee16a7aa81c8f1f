"""The MQTT bridge end to end on a real Mosquitto (loopback), printing one JSON object.

An MQTT client plays the device (SOGNO payloads, QoS 1, many publishes in flight) in a
separate process, so the harness does not share the bridge's event loop
(``--in-process-device`` runs it in the bridge's loop as before, through aiomqtt); the bridge
runs validate + normalise-units, publishes through the reliable layer (SQLite outbox,
synchronous NORMAL) on an MqttBus, and stores every sample in SQLite time series. Measured:

* ``throughput_msg_s``: ``--messages`` device messages, first publish until the last output
  is stored, in the outbox and acknowledged by the broker (60,000 by default, so that start-up
  and the last batch weigh little);
* ``latency_ms``: p50/p99/max device publish -> processed envelope at a subscriber of
  ``bal/processed``, at a paced ``--rate`` msg/s.

    .venv/bin/python bench/bench_bridge.py [--messages 60000] [--rate 5000] [--in-process-device]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services.brokers

from osed.bridge import BridgeService, load_config
from osed.bridge.mqtt_raw import RawMqttFeed, endpoint
from osed.bus.mqtt import MqttBus
from osed.bus.mqtt_link import MqttConnection
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


def device_process(host: str, port: int, messages: int, rate: float, conn: Connection) -> None:
    """The device in a process of its own: on "go" ``messages`` QoS 1 publishes with
    ``WINDOW`` unacknowledged at most (payloads made beforehand, so the device measures the
    wire, not JSON), then reports (first publish, all acknowledged) wall-clock times; on
    "paced" ``2 * rate`` QoS 0 publishes paced at ``rate`` msg/s, each stamped with its send
    time."""
    asyncio.run(_device(host, port, messages, rate, conn))


async def _device(host: str, port: int, messages: int, rate: float, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    client = await MqttConnection.open(host, port, client_id="bench-device", clean_session=True)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    payloads = [payload(k, base + _us(k)) for k in range(messages)]
    window = asyncio.Semaphore(WINDOW)
    await loop.run_in_executor(None, conn.recv)
    started = time.time()
    for body in payloads:
        await window.acquire()
        client.publish("bal/raw/pmu", body, qos=1).add_done_callback(lambda _: window.release())
    for _ in range(WINDOW):
        await window.acquire()
    conn.send((started, time.time()))
    await loop.run_in_executor(None, conn.recv)
    paced = int(rate * 2)
    started = time.perf_counter()
    for k in range(paced):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        client.publish("bal/raw/pmu", payload(k, datetime.now(UTC)), qos=0)
    conn.send(paced)
    await client.disconnect()


async def in_process_device(
    broker: Broker,
    messages: int,
    rate: float,
    processed: Callable[[], int],
    before_paced: Callable[[], Awaitable[object]],
) -> tuple[float, float, float]:
    """The device in the bridge's own event loop (aiomqtt), as the first version measured."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    async with aiomqtt.Client(
        broker.host, broker.port, identifier="bench-device", max_inflight_messages=WINDOW
    ) as device:
        device.pending_calls_threshold = 2**31
        start = time.time()
        for first in range(0, messages, WINDOW):
            last = min(first + WINDOW, messages)
            await asyncio.gather(
                *(
                    device.publish("bal/raw/pmu", payload(k, base + _us(k)), qos=1)
                    for k in range(first, last)
                )
            )
        published = time.time()
        while processed() < messages:
            await asyncio.sleep(0.001)
        done = time.time()
        await before_paced()
        paced = int(rate * 2)
        begin = time.perf_counter()
        for k in range(paced):
            delay = begin + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await device.publish("bal/raw/pmu", payload(k, datetime.now(UTC)), qos=0)
    return start, published, done


async def run(
    broker: Broker, folder: Path, messages: int, rate: float, separate: bool
) -> dict[str, object]:
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
    paced = int(rate * 2)
    if separate:
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        device = multiprocessing.get_context("spawn").Process(
            target=device_process, args=(broker.host, broker.port, messages, rate, theirs)
        )
        device.start()
        ours.send("go")
        while pipeline.stats.published < messages:
            await asyncio.sleep(0.001)
        await pipeline.drain()  # the outputs acknowledged by the broker too
        done = time.time()
        start, published = await asyncio.to_thread(ours.recv)
        await bus.subscribe("bal/processed", on_processed)
        ours.send("paced")
        await asyncio.to_thread(ours.recv)
    else:
        start, published, done = await in_process_device(
            broker,
            messages,
            rate,
            lambda: pipeline.stats.published,
            lambda: bus.subscribe("bal/processed", on_processed),
        )
    while pipeline.stats.published < messages + paced or len(latencies) < paced:
        await asyncio.sleep(0.005)
    if separate:
        device.join(10)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    stored = len(store.read("pmu0/n1/frequency/A", base, base.replace(year=2027)))
    await service.stop()
    await bus.stop()
    store.close()
    latencies.sort()
    return {
        "throughput_msg_s": round(messages / (done - start)),
        "messages": messages,
        "device": "separate process (osed MQTT client)" if separate else "in process (aiomqtt)",
        "device_publish_msg_s": round(messages / (published - start)),
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
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--in-process-device", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with running(mosquitto_broker(folder / "mosquitto")) as broker:
            result = asyncio.run(
                run(broker, folder, args.messages, args.rate, not args.in_process_device)
            )
    result |= {"python": platform.python_version(), "machine": platform.machine()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
