"""Measurements of a gateway streamed to a real Mosquitto (MqttBus) and SQLite time series."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.bus.mqtt import MqttBus
from osed.devices.simulated import SimulatedDevice, SimulatedGateway
from osed.devices.streaming import (
    MeasurementStream,
    building_topic,
    liveness_topic,
    series_id,
)
from osed.domain.devices import DeviceKind, Quantity
from osed.domain.envelope import Envelope
from osed.domain.time import ManualClock
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.services.brokers import Broker

T0 = datetime(2026, 4, 1, tzinfo=UTC)
DEVICES = [
    SimulatedDevice("roof", DeviceKind.PV, {"profile_kw": [0.0, 2.0, 4.0, 2.0]}),
    SimulatedDevice(
        "tank",
        DeviceKind.WATER_HEATER,
        {
            "energy_max_kwh": 6.0,
            "energy_min_kwh": 0.5,
            "energy_init_kwh": 3.0,
            "power_max_kw": 2.0,
            "draw_kw": [0.5, 0.5, 1.0, 0.0],
            "loss_kw": 0.05,
        },
    ),
]


async def test_measurements_reach_the_bus_and_the_store_in_batches(
    mosquitto: Broker, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    gateway = SimulatedGateway(DEVICES, step_h=0.25, start=T0, noise={})
    publishing = MqttBus(mosquitto.host, mosquitto.port, client_id="stream-pub", clock=clock)
    listening = MqttBus(mosquitto.host, mosquitto.port, client_id="stream-sub", clock=clock)
    await publishing.start()
    await listening.start()
    got: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        got.append(envelope)

    await listening.subscribe("buildings/house-7/devices/#", collect)
    store = SqliteTimeSeriesStore(tmp_path / "series.db")
    stream = MeasurementStream(
        gateway,
        building_id="house-7",
        bus=publishing,
        store=store,
        clock=clock,
        max_batch=10_000,
        max_delay_s=3600.0,
        liveness_every_s=3600.0,
    )
    await stream.start()
    await gateway.start()
    await gateway.advance(3)
    assert stream.published == 0  # below max_batch and before max_delay: still buffered
    await stream.flush()
    await stream.publish_liveness()
    async with asyncio.timeout(30):
        while len(got) < 4:  # roof, tank, meter, liveness
            await asyncio.sleep(0.01)
    by_topic = {e.topic: e for e in got}
    roof = json.loads(by_topic["buildings/house-7/devices/roof/measurements"].payload)
    assert roof["building"] == "house-7"
    assert [m["value"] for m in roof["measurements"]] == pytest.approx([0.0, -2.0, -4.0, -2.0])
    assert {m["unit"] for m in roof["measurements"]} == {"kW"}
    assert {e.source for e in got} == {"devices.house-7"}
    assert sorted(e.seq for e in got) == [1, 2, 3, 4]
    liveness = json.loads(by_topic[liveness_topic("house-7")].payload)
    assert {d["device"] for d in liveness["devices"]} == {"roof", "tank", "meter"}
    assert all(d["online"] for d in liveness["devices"])
    energy = store.read(
        series_id("house-7", "tank", Quantity.ENERGY_KWH), T0, T0 + timedelta(hours=1)
    )
    assert [p.unit for p in energy] == ["kWh"] * 4
    assert [p.event_time for p in energy] == [T0 + timedelta(minutes=15 * k) for k in range(4)]
    assert energy[1].value == pytest.approx(3.0 + 0.25 * (2.0 - 0.5 - 0.05))
    assert stream.stored == 4 * (1 + 3 + 1)  # roof: power; tank: power, energy, on; meter
    await stream.close()
    await gateway.close()
    await listening.stop()
    await publishing.stop()
    store.close()


async def test_a_full_buffer_flushes_without_waiting_for_the_timer(tmp_path: Path) -> None:
    gateway = SimulatedGateway(DEVICES, step_h=0.25, start=T0, noise={})
    store = SqliteTimeSeriesStore(tmp_path / "series.db")
    stream = MeasurementStream(
        gateway, building_id="b", store=store, max_batch=5, max_delay_s=3600.0
    )
    await stream.start()
    await gateway.start()
    async with asyncio.timeout(30):
        while stream.stored < 5:
            await asyncio.sleep(0.01)
    await stream.close()
    store.close()


async def test_per_building_one_envelope_carries_every_device_of_a_flush(
    mosquitto: Broker,
) -> None:
    clock = ManualClock(T0)
    gateway = SimulatedGateway(DEVICES, step_h=0.25, start=T0, noise={})
    publishing = MqttBus(mosquitto.host, mosquitto.port, client_id="pb-pub", clock=clock)
    listening = MqttBus(mosquitto.host, mosquitto.port, client_id="pb-sub", clock=clock)
    await publishing.start()
    await listening.start()
    got: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        got.append(envelope)

    await listening.subscribe(building_topic("house-8"), collect)
    stream = MeasurementStream(
        gateway, building_id="house-8", bus=publishing, max_delay_s=3600.0, per_building=True
    )
    await stream.start()
    await gateway.start()
    await gateway.advance(1)
    await stream.flush()
    async with asyncio.timeout(30):
        while not got:
            await asyncio.sleep(0.01)
    payload = json.loads(got[0].payload)
    assert len(got) == 1
    assert {d["device"] for d in payload["devices"]} == {"roof", "tank", "meter"}
    tank = next(d for d in payload["devices"] if d["device"] == "tank")
    assert len(tank["measurements"]) == 2 * 3  # two steps of power, energy, on
    await stream.close()
    await listening.stop()
    await publishing.stop()
