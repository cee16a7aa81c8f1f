"""The EdgeX adapter: events per second in, and command round trips, on a real Mosquitto.

Starts its own Mosquitto in a temporary folder and an emulated EdgeX device service
(``tests/services/edgex_emulator.py``) with ``--devices`` meters and one thermostat, and prints
one JSON object:

* ``decode_events_s``: events (two readings each, base64 payloads) turned into measurements by
  the adapter alone, messages handed to it directly (no broker): its own cost;
* ``end_to_end_events_s``: the same events (built beforehand) published by the device service
  through Mosquitto (QoS 0, as EdgeX publishes by default) until the adapter delivered every
  measurement; both sides share this Python process;
* ``command_round_trip_ms``: p50/p99/max of ``send`` of a setpoint, one at a time, from the
  call until the device service's response settled it (request, apply, response).

    .venv/bin/python bench/bench_edgex.py [--events 20000] [--devices 1000] [--commands 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services

from osed.bus.mqtt_link import MqttEndpoint, MqttMessage
from osed.devices.edgex import EdgexGateway
from osed.devices.edgex_config import load_config
from osed.domain.devices import Action, Command, Measurement, Outcome
from tests.services.brokers import mosquitto_broker, running
from tests.services.edgex_emulator import Device, DeviceService, Resource

BROKER_CONFIG = "set_tcp_nodelay true\n"
SERVICE = "device-modbus"
CONFIG = {
    "client_id": "osed-edgex-bench",
    "profiles": {
        "Meter": {
            "kind": "meter",
            "readings": {
                "ActivePower": {"quantity": "power_kw", "scale": 0.001},
                "Energy": {"quantity": "energy_kwh"},
            },
        },
        "Thermostat": {
            "kind": "heating",
            "readings": {"Setpoint": {"quantity": "setpoint_c"}},
            "commands": {"set_setpoint_c": {"command": "Setpoint", "min": 5, "max": 30}},
        },
    },
    "devices": [
        {"id": "zone-1", "name": "Thermostat-1", "service": SERVICE, "profile": "Thermostat"}
    ],
    "discover": [{"service": SERVICE, "profile": "Meter"}],
}


def meter(i: int) -> Device:
    resources = {
        "ActivePower": Resource("Int32", str(1000 + i)),
        "Energy": Resource("Float64", "1.2e+03"),
    }
    return Device(
        f"Meter-{i:05d}", "Meter", resources, commands={"Power": ["ActivePower", "Energy"]}
    )


def thermostat() -> Device:
    return Device(
        "Thermostat-1", "Thermostat", {"Setpoint": Resource("Float64", "2e+01", writable=True)}
    )


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.goal = 0
        self.reached = asyncio.Event()

    async def __call__(self, batch: Sequence[Measurement]) -> None:
        self.count += len(batch)
        if self.goal and self.count >= self.goal:
            self.reached.set()

    def expect(self, more: int) -> None:
        self.goal = self.count + more
        self.reached.clear()


async def decode_rate(service: DeviceService, events: int) -> float:
    gateway = EdgexGateway(load_config(CONFIG), MqttEndpoint("127.0.0.1", 1))
    counter = Counter()
    gateway.on_measurements(counter)
    messages = [_message(service, 1 + i % (len(service.devices) - 1)) for i in range(events)]
    started = time.perf_counter()
    for first in range(0, events, 1000):
        await gateway.receive(messages[first : first + 1000])
    elapsed = time.perf_counter() - started
    assert counter.count == 2 * events, gateway.refusals()[:3]
    return events / elapsed


def _message(service: DeviceService, i: int) -> MqttMessage:
    topic, payload = service.event_message(list(service.devices)[i], "Power")
    return MqttMessage(topic, payload, 0, 0, False)


async def end_to_end_rate(service: DeviceService, gateway: EdgexGateway, events: int) -> float:
    counter = Counter()
    gateway.on_measurements(counter)
    meters = [name for name, d in service.devices.items() if d.profile == "Meter"]
    messages = [service.event_message(meters[i % len(meters)], "Power") for i in range(events)]
    counter.expect(2 * events)
    started = time.perf_counter()
    for topic, payload in messages:  # built beforehand: what is timed is broker and adapter
        await service.publish_bytes(topic, payload)
    await asyncio.wait_for(counter.reached.wait(), 300)
    return events / (time.perf_counter() - started)


async def round_trips(gateway: EdgexGateway, commands: int, prefix: str) -> dict[str, float]:
    times: list[float] = []
    issued = datetime.now(UTC)
    for i in range(commands):
        command = Command(f"{prefix}-{i}", "zone-1", Action.SET_SETPOINT_C, 18 + i % 6, issued)
        started = time.perf_counter()
        result = await gateway.send(command, timeout_s=10)
        times.append((time.perf_counter() - started) * 1000)
        assert result.outcome is Outcome.APPLIED, result
    ms = sorted(times)
    return {
        "commands": commands,
        "p50": round(statistics.median(ms), 3),
        "p99": round(ms[max(0, int(len(ms) * 0.99) - 1)], 3),
        "max": round(ms[-1], 3),
    }


async def main(events: int, devices: int, commands: int) -> dict[str, object]:
    results: dict[str, object] = {
        "events": events,
        "devices": devices,
        "readings_per_event": 2,
        "python": platform.python_version(),
        "note": "device service, broker client and adapter share one Python process",
        "load_average_1min": round(os.getloadavg()[0], 1),
    }
    with (
        tempfile.TemporaryDirectory(prefix="osed-bench-") as folder,
        running(mosquitto_broker(Path(folder) / "mosquitto", extra_config=BROKER_CONFIG)) as broker,
    ):
        endpoint = MqttEndpoint(broker.host, broker.port)
        service = DeviceService(
            endpoint, SERVICE, [thermostat()] + [meter(i) for i in range(devices)]
        )
        results["decode_events_s"] = round(await decode_rate(service, events))
        gateway = EdgexGateway(load_config(CONFIG), endpoint)
        await service.start()
        await gateway.start()
        try:
            await end_to_end_rate(service, gateway, min(2000, events))  # warm-up
            results["end_to_end_events_s"] = round(await end_to_end_rate(service, gateway, events))
            await round_trips(gateway, 50, "warm-up")
            results["command_round_trip_ms"] = await round_trips(gateway, commands, "bench")
            results["refused"] = gateway.stats.refused
        finally:
            await gateway.close()
            await service.stop()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--devices", type=int, default=1_000)
    parser.add_argument("--commands", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.events, args.devices, args.commands)), indent=2))
