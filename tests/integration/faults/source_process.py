"""A SOGNO measurement source as its own process: an OSED reliable Publisher with a SQLite
outbox over MqttBus, so whatever the broker loses can be replayed from the outbox.

Message ``i`` (seq ``i``) is the measurement of device ``pmu1`` at ``BASE + i`` seconds.
The process resumes after the outbox's last seq when restarted, publishes up to ``--count``
messages at about ``--rate`` per second, then keeps serving replays until SIGTERM.

    python source_process.py --port 1883 --outbox outbox.sqlite --count 10000 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime, timedelta

from osed.bus.mqtt import MqttBus
from osed.bus.reliable import Publisher, SqliteOutbox, replay_topic
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock

BASE = datetime(2026, 7, 1, tzinfo=UTC)
SOURCE = "field.pmu1"
TOPIC = "field/pmu1"
CHUNK = 10  # messages per outbox transaction


def timestamp(index: int) -> datetime:
    return BASE + timedelta(seconds=index)


def measurement(index: int) -> bytes:
    return json.dumps(
        {
            "device": "pmu1",
            "timestamp": timestamp(index).isoformat(),
            "readings": [
                {
                    "component": "node-1",
                    "measurand": "voltmagnitude",
                    "phase": "A",
                    "data": 230.0 + (index % 100) * 0.01,
                },
                {
                    "component": "node-1",
                    "measurand": "frequency",
                    "phase": "A",
                    "data": 50.0 + (index % 50) * 0.001,
                },
            ],
        }
    ).encode()


async def run(port: int, outbox_path: str, count: int, rate: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    bus = MqttBus("127.0.0.1", port, client_id="fault-source", clock=SystemClock())
    await bus.start()
    outbox = SqliteOutbox(outbox_path, SOURCE, synchronous="NORMAL")
    publisher = Publisher(bus, SOURCE, outbox, heartbeat=1.0)
    await publisher.start()

    async def log_replay_request(envelope: Envelope) -> None:
        request = json.loads(envelope.payload)
        print(f"replay requested: {request['first']}..{request['last']}", flush=True)

    # Only to show in the log that replays happened; the publisher serves them itself.
    await bus.subscribe(replay_topic(SOURCE), log_replay_request)
    print(f"started at seq {publisher.last_seq + 1}", flush=True)
    began = loop.time()
    sent = 0
    while publisher.last_seq < count and not stop.is_set():
        first = publisher.last_seq + 1
        last = min(count, first + CHUNK - 1)
        await publisher.publish_many([(TOPIC, measurement(i)) for i in range(first, last + 1)])
        sent += last - first + 1
        delay = began + sent / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    print(f"published through seq {publisher.last_seq}", flush=True)
    await stop.wait()
    await publisher.close()
    await bus.stop()
    outbox.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--outbox", required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1_000.0)
    args = parser.parse_args()
    asyncio.run(run(args.port, args.outbox, args.count, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
