"""A field device as its own process: plain SOGNO payloads (no OSED envelope) published with
QoS 1 through aiomqtt, as a third-party device would.

Message ``i`` is the measurement of ``pmu1`` at ``BASE + i`` seconds (as ``source_process``),
published on ``field/pmu1`` at about ``--rate`` per second; "published through <count>" is
logged at the end.

    python raw_device_process.py --port 1883 --count 10000 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import aiomqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # for tests.*

from tests.integration.faults.source_process import TOPIC, measurement

WINDOW = 100  # publishes awaiting their PUBACK at once


async def run(port: int, count: int, rate: float) -> None:
    loop = asyncio.get_running_loop()
    window = asyncio.Semaphore(WINDOW)
    async with aiomqtt.Client("127.0.0.1", port, identifier="raw-pmu1") as device:

        async def send(index: int) -> None:
            try:
                await device.publish(TOPIC, measurement(index), qos=1)
            finally:
                window.release()

        began = loop.time()
        sends = []
        for index in range(1, count + 1):
            delay = began + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await window.acquire()
            sends.append(asyncio.create_task(send(index)))
        await asyncio.gather(*sends)
    print(f"published through {count}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    args = parser.parse_args()
    asyncio.run(run(args.port, args.count, args.rate))


if __name__ == "__main__":
    main()
