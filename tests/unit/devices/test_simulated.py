"""Simulated devices: the document, the physics behind the measurements, seeded noise, lost
confirmations, real time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from osed.devices.configured import configured_gateway
from osed.devices.simulated import METER_ID, SimulatedGateway
from osed.devices.simulated_document import devices_of, read_simulation
from osed.domain.devices import Action, Command, DeviceKind, Measurement, Outcome, Quantity
from osed.domain.errors import ValidationError
from osed.gridfunctions.builtin._dac_document import read_document

N = 4
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "steps": N,
        "step_h": 0.25,
        "start": "2026-01-05T00:00:00+00:00",
        "seed": 7,
        "building": {
            "id": "house-1",
            "base_kw": [0.3] * N,
            "devices": [
                {
                    "id": "zone",
                    "kind": "heating",
                    "capacitance_kwh_per_k": 3.0,
                    "resistance_k_per_kw": 6.0,
                    "cop": 3.0,
                    "power_max_kw": 3.0,
                    "temp_init_c": 19.0,
                    "outdoor_c": [2.0] * N,
                    "comfort_min_c": [20.0] * N,
                    "comfort_max_c": [22.0] * N,
                },
                {"id": "roof", "kind": "pv", "profile_kw": [0.0, 1.0, 2.0, 1.0]},
                {
                    "id": "car",
                    "kind": "ev",
                    "arrival_step": 1,
                    "departure_step": 3,
                    "energy_kwh": 0.5,
                    "charge_max_kw": 7.0,
                },
            ],
        },
    }
    doc.update(changes)
    return doc


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[Measurement]] = []

    async def __call__(self, batch: Sequence[Measurement]) -> None:
        self.batches.append(list(batch))

    def last(self, device: str, quantity: Quantity) -> float:
        return next(
            m.value for m in self.batches[-1] if m.device_id == device and m.quantity is quantity
        )


def test_the_document_reads_dac_devices_pv_and_the_base_load() -> None:
    simulation = read_simulation(document())
    assert [d.id for d in simulation.devices] == ["zone", "roof", "car", "base"]
    assert simulation.start == T0
    assert simulation.building_id == "house-1"


def test_every_problem_is_named_with_its_path_in_this_document() -> None:
    doc = document(noise={"power_kw": -1, "colour": 2}, extra=1)
    devices = doc["building"]["devices"]
    devices[0]["cop"] = -1
    devices[1]["profile_kw"] = [0.0, -1.0, 2.0]
    devices[2]["charge_max_kw"] = "fast"
    with pytest.raises(ValidationError) as caught:
        read_simulation(doc)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.extra",
        "$.noise.power_kw",
        "$.noise.colour",
        "$.building.devices[0].cop",
        "$.building.devices[1].profile_kw",
        "$.building.devices[1].profile_kw[1]",
        "$.building.devices[2].charge_max_kw",
    }


async def test_measurements_follow_the_device_equations_and_the_meter_sums_them() -> None:
    gateway = read_simulation(document(noise={})).gateway()
    batches = Batches()
    gateway.on_measurements(batches)
    await gateway.start()
    assert batches.last("zone", Quantity.TEMPERATURE_C) == pytest.approx(19.0)
    power = batches.last("zone", Quantity.POWER_KW)
    await gateway.advance()
    expected = 19.0 + 0.25 / 3.0 * ((2.0 - 19.0) / 6.0 + 3.0 * power)
    assert batches.last("zone", Quantity.TEMPERATURE_C) == pytest.approx(expected)
    assert power == pytest.approx(3.0)  # its thermostat, 2 K below the setpoint: full power
    assert batches.last("car", Quantity.CONNECTED) == 1.0
    assert batches.last("roof", Quantity.POWER_KW) == pytest.approx(-1.0)
    net = sum(
        m.value
        for m in batches.batches[-1]
        if m.quantity is Quantity.POWER_KW and m.device_id != METER_ID
    )
    assert batches.last(METER_ID, Quantity.POWER_KW) == pytest.approx(net)
    await gateway.advance(2)
    assert batches.last("car", Quantity.ENERGY_KWH) == pytest.approx(0.5)
    assert batches.batches[-1][0].at == datetime(2026, 1, 5, 0, 45, tzinfo=UTC)


async def test_the_same_seed_gives_the_same_noise_and_the_noise_is_there() -> None:
    runs = []
    for _ in range(2):
        gateway = read_simulation(document()).gateway()
        batches = Batches()
        gateway.on_measurements(batches)
        await gateway.start()
        await gateway.advance(3)
        runs.append([m.value for b in batches.batches for m in b])
    assert runs[0] == runs[1]
    exact = read_simulation(document(noise={})).gateway()
    batches = Batches()
    exact.on_measurements(batches)
    await exact.start()
    await exact.advance(3)
    assert runs[0] != [m.value for b in batches.batches for m in b]


async def test_a_power_setpoint_overrides_the_thermostat_until_a_setpoint_comes_back() -> None:
    gateway = read_simulation(document(noise={})).gateway()
    await gateway.start()
    at = gateway.now
    result = await gateway.send(Command("c1", "zone", Action.SET_POWER_KW, 0.0, at))
    assert result.outcome is Outcome.APPLIED
    await gateway.advance()
    cooled = gateway.true_values("zone")[Quantity.TEMPERATURE_C]
    assert cooled < 19.0
    await gateway.send(Command("c2", "zone", Action.SET_SETPOINT_C, cooled + 0.2, at))
    await gateway.advance()
    assert gateway.true_values("zone")[Quantity.TEMPERATURE_C] == pytest.approx(cooled + 0.2)


async def test_lost_confirmations_are_resent_and_the_device_applies_the_command_once() -> None:
    gateway = read_simulation(document(noise={})).gateway()
    await gateway.start()
    gateway.disconnect(lose="confirmations")
    sent = Command("c9", "roof", Action.SET_POWER_LIMIT_KW, 0.5, gateway.now)
    assert (await gateway.send(sent, timeout_s=0.05)).outcome is Outcome.PENDING
    assert gateway.applications["c9"] == 1  # applied, not confirmed
    assert gateway.pending() == [sent]
    await gateway.reconnect()
    assert gateway.pending() == []
    assert (await gateway.send(sent)).outcome is Outcome.APPLIED
    assert gateway.applications["c9"] == 1
    await gateway.advance()
    assert gateway.true_values("roof")[Quantity.POWER_KW] == pytest.approx(-0.5)


async def test_while_cut_off_no_measurement_arrives_and_the_devices_show_offline() -> None:
    gateway = read_simulation(document()).gateway()
    batches = Batches()
    gateway.on_measurements(batches)
    await gateway.start()
    gateway.disconnect()
    await gateway.advance(2)
    assert len(batches.batches) == 1
    assert not any(s.online for s in gateway.liveness())
    await gateway.reconnect()
    assert all(s.online and s.last_seen == gateway.now for s in gateway.liveness())


async def test_in_real_time_the_devices_step_by_themselves() -> None:
    gateway = read_simulation(document()).gateway(realtime=True, speedup=0.25 * 3600 / 0.02)
    batches = Batches()
    gateway.on_measurements(batches)
    await gateway.start()
    async with asyncio.timeout(5):
        while gateway.step < 3:
            await asyncio.sleep(0.01)
    await gateway.close()
    assert len(batches.batches) >= 4


def test_a_dac_building_runs_as_simulated_devices_with_its_base_load() -> None:
    dac = read_document(
        {
            "steps": N,
            "step_h": 0.25,
            "prices": [0.2] * N,
            "buildings": [
                {
                    "id": "b",
                    "base_kw": [0.5, 0.6, 0.7, 0.8],
                    "devices": [document()["building"]["devices"][0]],
                }
            ],
        }
    )
    devices = devices_of(dac.buildings[0])
    assert [(d.id, d.kind) for d in devices] == [
        ("zone", DeviceKind.HEATING),
        ("base", DeviceKind.LOAD),
    ]
    assert devices[1].fields["profile_kw"] == [0.5, 0.6, 0.7, 0.8]


def test_a_configuration_names_its_adapter_and_every_problem_of_both_parts() -> None:
    gateway = configured_gateway({"adapter": "simulated", "realtime": False, **document()})
    assert isinstance(gateway, SimulatedGateway)
    with pytest.raises(ValidationError) as caught:
        configured_gateway({"adapter": "simulated", "speedup": 0, **document(seed=-1)})
    assert {p.path for p in caught.value.problems} == {"$.speedup", "$.seed"}
    with pytest.raises(ValidationError) as caught:
        configured_gateway({"adapter": "zigbee"})
    assert [p.path for p in caught.value.problems] == ["$.adapter"]
