"""Bus benchmark: in-memory bus, and reliable delivery on it, publish + deliver to 1 subscriber.

Prints one JSON object. Messages carry ~100-byte payloads; "memory_bus" publishes prebuilt
envelopes (the bus's own cost), "reliable" publishes payloads through a Publisher with an
in-memory outbox to a Consumer (numbering, envelope, outbox, sequencing, positions included).
Rates are the best of ``--repeat`` runs, since other processes share this machine.

    .venv/bin/python bench/bench_bus.py [--messages 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import time
from datetime import UTC, datetime

from osed.bus.memory import MemoryBus
from osed.bus.reliable import Consumer, InMemoryOutbox, Publisher
from osed.domain.envelope import Envelope

T0 = datetime(2026, 1, 1, tzinfo=UTC)
# ~100 bytes, like a meter reading
PAYLOAD = b'{"meter":"m-0001","kw":12.345,"kvar":1.234,"v":230.1,"at":"2026-01-01T00:00:00Z"}'
PAYLOAD = PAYLOAD.ljust(100)


class Counter:
    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        self.count += 1
        if self.count == self.target:
            self.done.set()


async def memory_bus_rate(messages: int) -> float:
    envelopes = [Envelope("bench/raw", "m1", k, PAYLOAD, T0) for k in range(1, messages + 1)]
    bus = MemoryBus()
    await bus.start()
    counter = Counter(messages)
    await bus.subscribe("bench/#", counter)
    gc.collect()
    start = time.perf_counter()
    for envelope in envelopes:
        await bus.publish(envelope)
    await counter.done.wait()
    elapsed = time.perf_counter() - start
    await bus.stop()
    return messages / elapsed


async def reliable_rate(messages: int) -> float:
    bus = MemoryBus()
    await bus.start()
    counter = Counter(messages)
    consumer = Consumer(bus, "bench-consumer", "bench/#", counter)
    publisher = Publisher(bus, "m1", InMemoryOutbox(), heartbeat=None)
    await consumer.start()
    await publisher.start()
    gc.collect()
    start = time.perf_counter()
    for _ in range(messages):
        await publisher.publish("bench/raw", PAYLOAD, event_time=T0)
    await counter.done.wait()
    elapsed = time.perf_counter() - start
    assert consumer.gaps == []
    assert consumer.position("m1") == messages
    await publisher.close()
    await consumer.close()
    await bus.stop()
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    memory = [asyncio.run(memory_bus_rate(args.messages)) for _ in range(args.repeat)]
    reliable = [asyncio.run(reliable_rate(args.messages)) for _ in range(args.repeat)]
    print(
        json.dumps(
            {
                "messages": args.messages,
                "payload_bytes": len(PAYLOAD),
                "subscribers": 1,
                "memory_bus_msg_per_s": round(max(memory)),
                "reliable_memory_outbox_msg_per_s": round(max(reliable)),
                "runs": args.repeat,
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
