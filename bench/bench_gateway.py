"""One MQTT JSON device gateway with 10,000 devices on a real Mosquitto, printing one JSON object.

The devices are emulated by a separate process: each device publishes its state (power, state
of charge, its own time stamp) once every ``--period`` seconds, the devices evenly spread over
the period, over ``--connections`` MQTT connections at QoS 1. The gateway (this process) reads
every message with the configured mappings and hands the measurements to a handler, as a
building agent or the measurement stream would get them; with ``--stream`` the stream also
writes them to SQLite time series and publishes them on the bus (Mosquitto).

Measured over ``--seconds`` after one warm-up period:

* ``messages_per_s``: device messages the gateway read, per second;
* ``latency_ms``: p50 / p99 / max from the device's time stamp to the handler;
* ``gateway_cpu_share``: the gateway process's CPU time (user + system, from
  ``resource.getrusage``) over wall time, as a share of one core; also the broker's, from
  ``/proc/<pid>/stat``.

    .venv/bin/python bench/bench_gateway.py [--devices 10000] [--period 10] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services

from osed.bus.mqtt import MqttBus
from osed.bus.mqtt_link import MqttConnection
from osed.devices.mqtt_json import MqttJsonGateway
from osed.devices.mqtt_json_config import read_config
from osed.devices.streaming import MeasurementStream
from osed.domain.devices import Measurement
from osed.domain.time import SystemClock
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.brokers import Broker, mosquitto_broker, running
from tests.services.mqtt_devices import gateway_config

TICK_S = 0.01


def device_ids(count: int) -> list[str]:
    return [f"dev-{k:05d}" for k in range(count)]


def emulate_devices(port: int, plan: tuple[int, float, float, int], pipe: Connection) -> None:
    """The devices' process: publish every device once per period until ``seconds`` ran out;
    ``plan`` is (devices, period, seconds, connections)."""
    pipe.send(asyncio.run(_publish(port, *plan)))


async def _publish(port: int, count: int, period: float, seconds: float, links: int) -> int:
    clients = [
        await MqttConnection.open(
            "127.0.0.1", port, client_id=f"bench-devices-{k}", clean_session=True
        )
        for k in range(links)
    ]
    topics = [f"devices/{i}/state" for i in device_ids(count)]
    rate = count / period
    start = time.monotonic()
    sent = 0
    inflight: list[asyncio.Future[None]] = []
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = min(int(elapsed * rate) + 1, int(seconds * rate))
        while sent < due:
            payload = {"power_w": 1000 + sent % 500, "soc_pct": 50.0, "ts": time.time()}
            client = clients[sent % links]
            inflight.append(
                client.publish(topics[sent % count], json.dumps(payload).encode(), qos=1)
            )
            sent += 1
        if len(inflight) > 5000:
            await asyncio.gather(*inflight)
            inflight.clear()
        await asyncio.sleep(TICK_S)
    await asyncio.gather(*inflight)
    for client in clients:
        await client.disconnect()
    return sent


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Latencies:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self.recording = False
        self.messages = 0

    async def __call__(self, batch: Sequence[Measurement]) -> None:
        now = time.time()
        if self.recording:
            # Two quantities per message: count each message once, by its power reading.
            for m in batch:
                if m.quantity == "power_kw":
                    self.samples.append(now - m.at.timestamp())
                    self.messages += 1


class GcPauses:
    """Garbage collector pauses of the gateway process (a long one stalls every message)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)


async def loop_lag(lags: list[float]) -> None:
    """How late a 10 ms sleep wakes up: the time the event loop was busy with other work."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(TICK_S)
        lags.append(loop.time() - before - TICK_S)


async def run(args: argparse.Namespace, broker: Broker, folder: Path) -> dict[str, Any]:
    ids = device_ids(args.devices)
    started = time.perf_counter()
    config = read_config(gateway_config(broker.host, broker.port, ids))
    read_s = time.perf_counter() - started
    gateway = MqttJsonGateway(config)
    latencies = Latencies()
    gateway.on_measurements(latencies)
    stream = None
    bus = None
    store = None
    if args.stream != "none":
        if args.stream.startswith(("bus", "both")):
            bus = MqttBus(broker.host, broker.port, client_id="bench-stream", clock=SystemClock())
            await bus.start()
        if args.stream.startswith(("store", "both")):
            store = SqliteTimeSeriesStore(folder / "series.db", synchronous="NORMAL")
        stream = MeasurementStream(
            gateway,
            building_id="bench",
            bus=bus,
            store=store,
            per_building=args.stream.endswith("per-building"),
        )
        await stream.start()
    started = time.perf_counter()
    await gateway.start()
    start_s = time.perf_counter() - started
    if args.gc_freeze:
        gc.freeze()  # start-up objects (10,000 device descriptions) leave the collector's scans

    receive, send = multiprocessing.Pipe(duplex=False)
    total_s = args.period + args.seconds
    devices = multiprocessing.Process(
        target=emulate_devices,
        args=(broker.port, (args.devices, args.period, total_s, args.connections), send),
    )
    devices.start()
    await asyncio.sleep(args.period)  # warm-up: every device once
    assert broker.process is not None
    latencies.recording = True
    lags: list[float] = []
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    watching = asyncio.create_task(loop_lag(lags))
    wall0, cpu0, broker0 = time.perf_counter(), cpu_s(), proc_cpu_s(broker.process.pid)
    messages0 = gateway.stats["messages"]
    await asyncio.sleep(args.seconds)
    wall = time.perf_counter() - wall0
    cpu = cpu_s() - cpu0
    broker_cpu = proc_cpu_s(broker.process.pid) - broker0
    messages = gateway.stats["messages"] - messages0
    latencies.recording = False
    watching.cancel()
    gc.callbacks.remove(pauses)
    sent = await asyncio.to_thread(receive.recv)
    devices.join()
    deadline = time.monotonic() + 30
    while gateway.stats["messages"] < sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if stream is not None:
        await stream.close()
    await gateway.close()
    if bus is not None:
        await bus.stop()
    if store is not None:
        store.close()
    ms = sorted(x * 1000 for x in latencies.samples)
    return {
        "benchmark": "device gateway, MQTT JSON",
        "devices": args.devices,
        "period_s": args.period,
        "offered_msg_s": round(args.devices / args.period, 1),
        "measured_s": round(wall, 2),
        "messages_per_s": round(messages / wall, 1),
        "latency_ms": {
            "p50": round(statistics.median(ms), 2),
            "p99": round(ms[int(0.99 * (len(ms) - 1))], 2),
            "max": round(ms[-1], 2),
        },
        "loop_lag_ms": {
            "p50": round(statistics.median(lags) * 1000, 2),
            "p99": round(sorted(lags)[int(0.99 * (len(lags) - 1))] * 1000, 2),
        },
        "gc_pause_ms": {
            "count": len(pauses.pauses),
            "max": round(max(pauses.pauses, default=0.0) * 1000, 2),
            "total": round(sum(pauses.pauses) * 1000, 1),
        },
        "gateway_cpu_share": round(cpu / wall, 4),
        "broker_cpu_share": round(broker_cpu / wall, 4),
        "sent": sent,
        "received": gateway.stats["messages"],
        "lost": sent - gateway.stats["messages"],
        "config_read_s": round(read_s, 3),
        "gateway_start_s": round(start_s, 3),
        "stream": args.stream,
        "gc_freeze": args.gc_freeze,
        "stored_points": stream.stored if stream is not None else None,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument(
        "--period", type=float, default=10.0, help="seconds between a device's messages"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time")
    parser.add_argument("--connections", type=int, default=10, help="publisher connections")
    parser.add_argument(
        "--stream",
        choices=("none", "store", "bus", "both", "bus-per-building", "both-per-building"),
        default="none",
        help="also stream the measurements to SQLite time series, the bus, or both",
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() once the gateway has started"
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as folder,
        running(mosquitto_broker(Path(folder) / "mosquitto")) as broker,
    ):
        result = asyncio.run(run(args, broker, Path(folder)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
