"""A field device that outlives its broker: plain SOGNO payloads (no OSED envelope) published
with QoS 1 on a clean session, each sent again on the next connection until the broker
acknowledged it, as a device with a small send buffer does.

Message ``i`` is the measurement of ``pmu1`` at ``BASE + i`` seconds (as ``source_process``),
published on ``field/pmu1`` at about ``--rate`` per second. Every acknowledged message is
appended to ``--acks`` as ``<i> <sent> <acked>``: Unix times of sending the copy the broker
acknowledged and of its PUBACK, so the broker accepted it in between. "published through
<count>" is logged at the end.

    python acked_device_process.py --port 1883 --count 4000 --rate 1000 --acks acks.txt
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # for tests.*

from osed.bus._mqtt_client import ConnectionLostError, MqttConnection
from tests.integration.faults.source_process import TOPIC, measurement

WINDOW = 100  # publishes awaiting their PUBACK at once
RETRY_S = 0.02  # between connection attempts while the broker is down


class Device:
    def __init__(self, port: int, count: int, rate: float, acks: TextIO) -> None:
        self.port = port
        self.rate = rate
        self.acks = acks
        self.unacknowledged = dict.fromkeys(range(1, count + 1))  # in publishing order
        self.began = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.began = loop.time()
        while self.unacknowledged:
            try:
                connection = await MqttConnection.open(
                    "127.0.0.1", self.port, client_id="raw-pmu1", clean_session=True, timeout=2
                )
            except (ConnectionLostError, OSError, TimeoutError):
                await asyncio.sleep(RETRY_S)
                continue
            await self.send(connection)
            if connection.lost is None:
                await connection.disconnect()

    async def send(self, connection: MqttConnection) -> None:
        """Sends what is not acknowledged yet, paced, until done or the connection ends."""
        loop = asyncio.get_running_loop()
        window = asyncio.Semaphore(WINDOW)

        async def one(index: int) -> None:
            sent = time.time()
            try:
                await connection.publish(TOPIC, measurement(index), qos=1)
            except ConnectionLostError:
                return  # stays unacknowledged: sent again on the next connection
            finally:
                window.release()
            acked = time.time()
            del self.unacknowledged[index]
            self.acks.write(f"{index} {sent:.6f} {acked:.6f}\n")
            self.acks.flush()

        sending = []
        for index in list(self.unacknowledged):
            delay = self.began + index / self.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await window.acquire()
            if connection.lost is not None:
                window.release()
                break
            sending.append(asyncio.create_task(one(index)))
        await asyncio.gather(*sending)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--acks", type=Path, required=True)
    args = parser.parse_args()
    with args.acks.open("a") as acks:
        asyncio.run(Device(args.port, args.count, args.rate, acks).run())
    print(f"published through {args.count}", flush=True)


if __name__ == "__main__":
    main()
