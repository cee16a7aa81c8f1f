"""Raw bus backends on real brokers: publish -> deliver throughput and paced latency.

Starts its own Mosquitto and nats-server in a temporary folder (never the machine's 1883/4222),
runs one publisher and one subscriber in this process, and prints one JSON object:

* ``throughput_msg_s``: 20,000 QoS 1 / JetStream messages of ~200 bytes, many publishes in
  flight (a window, not one await at a time), from the first publish to the last delivery;
* ``latency_ms``: p50/p99/max publish -> handler at a paced 5,000 msg/s.

The window is ``WINDOW`` publishing tasks, each awaiting one ``publish()`` after the other, so
at most ``WINDOW`` are in flight and the harness adds no task or semaphore wake-up per message.
MQTT subscribes with a clean session. NATS subscribes with a durable pull consumer (publish ->
PubAck once in the file stream -> pulled -> handler -> ack); its ``throughput_ephemeral_msg_s``
is the same with an ephemeral ordered push consumer (no acks).

    .venv/bin/python bench/bench_bus_brokers.py [--messages 20000] [--rate 5000]
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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services.brokers

from osed.bus.mqtt import MqttBus
from osed.bus.nats import NatsBus
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.ports.bus import Bus
from tests.services.brokers import Broker, mosquitto_broker, nats_broker, running

WINDOW = 1000  # publishes in flight
PAYLOAD = b'{"p_kw":12.345,"q_kvar":-1.5,"v":231.2,"pad":"' + b"x" * 20 + b'"}'
EVENT_TIME = datetime(2026, 5, 1, 12, tzinfo=UTC)

Sink = Callable[[Envelope], Awaitable[None]]


def envelope(seq: int, topic: str) -> Envelope:
    # One source per topic: JetStream would drop a key it saw in an earlier phase as a duplicate.
    return Envelope(topic, topic.replace("/", "-"), seq, PAYLOAD, EVENT_TIME)


def consumer_name(topic: str, durable: bool) -> str | None:
    return topic.replace("/", "-") if durable else None


async def throughput(
    publisher: Bus, subscriber: Bus, topic: str, count: int, *, durable: bool = False
) -> float:
    done = asyncio.Event()
    received = 0

    async def sink(_: Envelope) -> None:
        nonlocal received
        received += 1
        if received == count:
            done.set()

    subscription = await subscriber.subscribe(topic, sink, durable=consumer_name(topic, durable))
    seqs = iter(range(1, count + 1))

    async def send() -> None:
        for seq in seqs:  # shared: each seq is published once, by whichever task is free
            await publisher.publish(envelope(seq, topic))

    started = time.perf_counter()
    await asyncio.gather(*(send() for _ in range(min(WINDOW, count))))
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - started
    await subscription.close()
    return count / elapsed


async def latency(
    publisher: Bus, subscriber: Bus, topic: str, count: int, rate: float, *, durable: bool = False
) -> dict[str, float]:
    sent_at: dict[int, float] = {}
    delays: list[float] = []
    done = asyncio.Event()

    async def sink(received: Envelope) -> None:
        delays.append(time.perf_counter() - sent_at[received.seq])
        if len(delays) == count:
            done.set()

    subscription = await subscriber.subscribe(topic, sink, durable=consumer_name(topic, durable))
    pending: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    for seq in range(1, count + 1):
        wait = started + seq / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        sent_at[seq] = time.perf_counter()
        task = asyncio.create_task(publisher.publish(envelope(seq, topic)))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.wait_for(done.wait(), 300)
    achieved = count / (time.perf_counter() - started)
    await subscription.close()
    ms = sorted(d * 1000 for d in delays)
    return {
        "offered_msg_s": rate,
        "achieved_msg_s": round(achieved),
        "p50": round(statistics.median(ms), 2),
        "p99": round(ms[int(len(ms) * 0.99) - 1], 2),
        "max": round(ms[-1], 2),
    }


async def measure(
    make: Callable[[str], Bus], count: int, rate: float, *, durable: bool = False
) -> dict[str, object]:
    publisher, subscriber = make("bench-pub"), make("bench-sub")
    await publisher.start()
    await subscriber.start()
    results: dict[str, object] = {}
    try:
        await throughput(publisher, subscriber, "bench/warmup", 2000, durable=durable)
        msg_s = await throughput(publisher, subscriber, "bench/throughput", count, durable=durable)
        results["throughput_msg_s"] = round(msg_s)
        if durable:
            ephemeral = await throughput(publisher, subscriber, "bench/ephemeral", count)
            results["throughput_ephemeral_msg_s"] = round(ephemeral)
        results["latency_ms"] = await latency(
            publisher, subscriber, "bench/latency", count // 2, rate, durable=durable
        )
    finally:
        await publisher.stop()
        await subscriber.stop()
    return results


def mqtt_maker(broker: Broker) -> Callable[[str], Bus]:
    return lambda name: MqttBus(broker.host, broker.port, client_id=name, clock=SystemClock())


def nats_maker(broker: Broker) -> Callable[[str], Bus]:
    url = f"nats://{broker.host}:{broker.port}"
    return lambda name: NatsBus(url, stream="BENCH", clock=SystemClock(), name=name)


async def main(count: int, rate: float) -> dict[str, object]:
    frame_bytes = len(
        json.dumps({"topic": "bench/throughput", "source": "bench", "seq": count}).encode()
    )
    results: dict[str, object] = {
        "messages": count,
        "window": WINDOW,
        "frame_bytes_approx": frame_bytes + 90 + len(PAYLOAD),
        "python": platform.python_version(),
        "note": "publisher, subscriber and their clients share one Python process",
    }
    with tempfile.TemporaryDirectory(prefix="osed-bench-") as folder:
        with running(mosquitto_broker(Path(folder) / "mosquitto")) as broker:
            results["mqtt_mosquitto_qos1"] = await measure(mqtt_maker(broker), count, rate)
        with running(nats_broker(Path(folder) / "nats")) as broker:
            results["nats_jetstream_file"] = await measure(
                nats_maker(broker), count, rate, durable=True
            )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=5_000.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.messages, args.rate)), indent=2))
