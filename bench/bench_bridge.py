"""The MQTT bridge end to end on a real Mosquitto (loopback), against Mosquitto's own C
clients moving the same messages, printing one JSON object.

Each round runs, each on a fresh Mosquitto with the same settings (``max_inflight_messages 0``,
``max_queued_messages 0``, persistence on), first ours, then the C clients' floor, with the same
``--messages`` SOGNO payloads (the same bytes, 237 each) at QoS 1:

* ours: a device in a separate process (the osed MQTT client, payloads made beforehand, 1,000
  publishes in flight) publishes to ``bal/raw/pmu``; the bridge (persistent session on
  ``bal/raw/#``) decodes, runs validate + normalise-units, stores every sample in SQLite time
  series, publishes through the reliable layer (SQLite outbox, both ``synchronous=NORMAL``) on
  an MqttBus, and acknowledges each raw message to the broker once its batch is stored. Timed
  from the device's first publish until the last output is stored, in the outbox and
  acknowledged by the broker;
* the C clients: ``mosquitto_pub -l -q 1`` reads the same payloads, one a line, into
  ``mosquitto_sub -q 1 -C <messages>`` on a persistent session subscribed beforehand (as the
  bridge's is). Timed from starting both until both exited.

Printed: each side's rate per round, min and median, ``ratio_ours_over_c_clients`` (ratio of
the medians), the bridge process' CPU time per message (its median: less sensitive to other
work on the machine than the rates), and, after the rounds, ``latency_ms``: p50/p99/max device
publish -> processed envelope at a subscriber of ``bal/processed``, at a paced ``--rate``
msg/s. ``--in-process-device`` runs our device in the bridge's loop (aiomqtt) instead, as the
first version measured.

    .venv/bin/python bench/bench_bridge.py [--messages 60000] [--repeat 3] [--rate 5000]

Measured (2 shared vCPUs, five runs of 3 rounds each, load average 2-7): before the
batch-wide hot path, ratio 0.43 / 0.71 / 0.63 / 0.40 / 0.43 (median 0.43), 64-85 us of bridge
CPU per message (median 66); now 0.84 / 1.05 / 0.32 / 0.41 / 0.87 (median 0.84), 46-51 us
(median 50). Under load 5-7 the bridge often gets only about a third of a core and the ratio
falls to 0.3-0.4. Details in docs/bridge.md ("Measured").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services.brokers

from _repeat import min_median
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
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"


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
    """The device in a process of its own: says "ready" once connected with its payloads
    made, then on "go" ``messages`` QoS 1 publishes with
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
    conn.send("ready")
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
    broker: Broker, folder: Path, messages: int, rate: float, *, separate: bool, latency: bool
) -> dict[str, object]:
    """One run of ours: throughput, then (``latency``) the paced latency."""
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
    paced = int(rate * 2) if latency else 0
    cpu_before = time.process_time()
    if separate:
        ours, theirs = multiprocessing.get_context("spawn").Pipe()
        device = multiprocessing.get_context("spawn").Process(
            target=device_process,
            args=(broker.host, broker.port, messages, rate if latency else 0.0, theirs),
        )
        device.start()
        await asyncio.to_thread(ours.recv)  # payloads made, connected
        cpu_before = time.process_time()
        ours.send("go")
        while pipeline.stats.published < messages:
            await asyncio.sleep(0.001)
        await pipeline.drain()  # the outputs acknowledged by the broker too
        done = time.time()
        cpu = time.process_time() - cpu_before
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
        cpu = time.process_time() - cpu_before  # the device's share included
    while pipeline.stats.published < messages + paced or len(latencies) < paced:
        await asyncio.sleep(0.005)
    if separate:
        device.join(10)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    stored = len(store.read("pmu0/n1/frequency/A", base, base + timedelta(days=1)))
    await service.stop()
    await bus.stop()
    store.close()
    expected = len(range(0, messages, 10))  # pmu0's throughput messages, stamped in 2026-01-01
    if stored != expected or pipeline.stats.dead_lettered:
        raise RuntimeError(f"stored {stored} of {expected} points of a series")
    result: dict[str, object] = {
        "msg_s": messages / (done - start),
        "device_publish_msg_s": messages / (published - start),
        "cpu_us_per_msg": cpu / messages * 1e6,
    }
    if latency:
        latencies.sort()
        result["latency_ms"] = {
            "rate_msg_s": rate,
            "p50": round(statistics.median(latencies), 2),
            "p99": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
            "max": round(latencies[-1], 2),
        }
    return result


def c_clients(broker: Broker, folder: Path, messages: int) -> float:
    """``mosquitto_pub -l`` into ``mosquitto_sub`` at QoS 1, the same payloads: msg/s."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    lines = folder / "payloads.txt"
    lines.write_bytes(b"".join(payload(k, base + _us(k)) + b"\n" for k in range(messages)))
    where = ["-h", broker.host, "-p", str(broker.port), "-q", "1"]
    subscriber = [MOSQUITTO_SUB, *where, "-c", "-i", "bench-floor", "-t", "bal/raw/#"]
    subprocess.run([*subscriber, "-E"], check=True, timeout=30)  # the session, subscribed
    started = time.perf_counter()
    with subprocess.Popen([*subscriber, "-C", str(messages)], stdout=subprocess.DEVNULL) as sub:
        with lines.open("rb") as source:
            subprocess.run(
                [MOSQUITTO_PUB, *where, "-t", "bal/raw/pmu", "-l"],
                stdin=source,
                check=True,
                timeout=600,
            )
        if sub.wait(timeout=600) != 0:
            raise RuntimeError(f"mosquitto_sub exited with {sub.returncode}")
    return messages / (time.perf_counter() - started)


def _us(k: int) -> timedelta:
    return timedelta(microseconds=k)


def summary(values: list[float]) -> dict[str, object]:
    return {"runs": [round(v) for v in values], **min_median(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of ours, then the C clients")
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--in-process-device", action="store_true")
    args = parser.parse_args()
    ours: list[dict[str, object]] = []
    floor: list[float] = []
    for round_ in range(args.repeat):
        last = round_ == args.repeat - 1
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with running(mosquitto_broker(folder / "mosquitto")) as broker:
                ours.append(
                    asyncio.run(
                        run(
                            broker,
                            folder,
                            args.messages,
                            args.rate,
                            separate=not args.in_process_device,
                            latency=last,
                        )
                    )
                )
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            with running(mosquitto_broker(folder / "mosquitto")) as broker:
                floor.append(c_clients(broker, folder, args.messages))
        print(
            f"round {round_ + 1}: ours {ours[-1]['msg_s']:.0f} msg/s, "
            f"C clients {floor[-1]:.0f} msg/s",
            file=sys.stderr,
        )
    rates = [float(str(run_["msg_s"])) for run_ in ours]
    mine, theirs = summary(rates), summary(floor)
    result: dict[str, object] = {
        "messages": args.messages,
        "payload_bytes": len(payload(0, datetime(2026, 1, 1, tzinfo=UTC))),
        "device": "separate process (osed MQTT client)"
        if not args.in_process_device
        else "in process (aiomqtt)",
        "throughput_msg_s": mine,
        "c_clients_msg_s": theirs,
        "ratio_ours_over_c_clients": round(statistics.median(rates) / statistics.median(floor), 3),
        "bridge_cpu_us_per_msg": round(
            statistics.median(float(str(run_["cpu_us_per_msg"])) for run_ in ours), 1
        ),
        "device_publish_msg_s": round(
            statistics.median(float(str(run_["device_publish_msg_s"])) for run_ in ours)
        ),
        "latency_ms": ours[-1]["latency_ms"],
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
