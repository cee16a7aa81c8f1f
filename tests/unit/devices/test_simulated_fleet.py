"""A fleet of simulated buildings: the same devices, measurements and noise as one gateway per
building, stepped in one pass; released controls, silent views, bad descriptions."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.devices.fleet_gateway import FleetGateway
from osed.devices.simulated import METER_ID, SimulatedDevice, SimulatedGateway
from osed.devices.simulated_fleet import SimulatedFleet
from osed.domain.devices import Action, Command, DeviceInfo, DeviceKind, Measurement, Quantity
from osed.domain.errors import ConfigurationError
from tests.unit.devices.fleet_buildings import STEPS, household

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP_H = 0.25

Row = tuple[str, Quantity, float]


class Batches:
    def __init__(self) -> None:
        self.batches: list[list[Row]] = []

    async def __call__(self, batch: Sequence[Measurement]) -> None:
        self.batches.append([(m.device_id, m.quantity, m.value) for m in batch])


def fleet_of(buildings: list[list[SimulatedDevice]], seeds: list[int]) -> SimulatedFleet:
    return SimulatedFleet(
        buildings, step_h=STEP_H, start=T0, seeds=seeds, noise=None, period_steps=STEPS
    )


def alone(devices: list[SimulatedDevice], seed: int) -> SimulatedGateway:
    return SimulatedGateway(devices, step_h=STEP_H, start=T0, seed=seed, period_steps=STEPS)


def random_commands(
    rng: np.random.Generator, infos: list[DeviceInfo], step: int, at: datetime
) -> list[Command]:
    """About one device in three gets a command, any it takes, with a value in its range."""
    made = []
    for info in infos:
        if not info.actions or rng.random() < 0.65:
            continue
        actions = sorted(info.actions)
        action = actions[int(rng.integers(len(actions)))]
        limits = info.ranges.get(action)
        value = None if limits is None else float(rng.uniform(limits.minimum, limits.maximum))
        made.append(Command(f"{step}-{info.device_id}-{action}", info.device_id, action, value, at))
    return made


async def play(seed: int, size: int) -> None:
    """The fleet's views and separate gateways under the same commands, step by step."""
    rng = np.random.default_rng(seed)
    buildings = [household(rng, loads=int(rng.integers(1, 10))) for _ in range(size)]
    seeds = [int(s) for s in rng.integers(0, 2**31, size)]
    fleet = fleet_of(buildings, seeds)
    views: list[FleetGateway] = [fleet.gateway(i) for i in range(size)]
    singles = [alone(devices, s) for devices, s in zip(buildings, seeds, strict=True)]
    heard = {id(g): Batches() for g in [*views, *singles]}
    for gateway in [*views, *singles]:
        gateway.on_measurements(heard[id(gateway)])
        await gateway.start()
    orders = [np.random.default_rng([seed, i]) for i in range(size)]
    for step in range(2 * STEPS + 3):
        for i in range(size):
            infos = await singles[i].discover()
            assert infos == await views[i].discover()
            for command in random_commands(orders[i], infos, step, fleet.now):
                assert (await views[i].send(command, timeout_s=0.01)).outcome == (
                    await singles[i].send(command, timeout_s=0.01)
                ).outcome
            if orders[i].random() < 0.1:
                fleet.release(i)
                singles[i].fleet.release(0)
        truth = [g.all_true_values() for g in singles]
        assert [v.all_true_values() for v in views] == truth
        net = fleet.net_kw()
        for i in range(size):
            assert net[i] == truth[i][METER_ID][Quantity.POWER_KW]
        soc = fleet.by_building(DeviceKind.BATTERY, Quantity.SOC)
        for i in range(size):
            expected = truth[i].get("battery", {}).get(Quantity.SOC, math.nan)
            assert soc[i] == expected or (math.isnan(soc[i]) and math.isnan(expected))
        await fleet.advance()
        for single in singles:
            await single.advance()
        assert fleet.step == singles[0].step == step + 1
    for view, single in zip(views, singles, strict=True):
        assert heard[id(view)].batches == heard[id(single)].batches
        assert view.applications == single.applications


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_a_fleet_measures_as_one_gateway_per_building_under_the_same_commands(
    seed: int, size: int
) -> None:
    asyncio.run(play(seed, size))


async def test_release_gives_the_devices_back_their_defaults_and_keeps_pending_commands() -> None:
    rng = np.random.default_rng(4)
    full = household(rng)
    while len({d.kind for d in full}) < 6:  # one of every kind
        full = household(rng)
    buildings = [household(rng), full, household(rng)]
    fleet, untouched = fleet_of(buildings, [1, 2, 3]), fleet_of(buildings, [1, 2, 3])
    view, at = fleet.gateway(1), fleet.now
    for command in [
        Command("b", "battery", Action.SET_POWER_KW, -2.0, at),
        Command("e", "car", Action.SET_POWER_LIMIT_KW, 0.0, at),
        Command("z", "zone", Action.SET_SETPOINT_C, 30.0, at),
        Command("t", "tank", Action.TURN_OFF, None, at),
        Command("p", "roof", Action.SET_POWER_LIMIT_KW, 0.0, at),
    ]:
        await view.send(command)
    view.disconnect()
    late = Command("late", "battery", Action.SET_POWER_KW, 1.0, at)
    await view.send(late, timeout_s=0.01)
    assert view.all_true_values() != untouched.gateway(1).all_true_values()
    fleet.release(1)
    assert view.all_true_values() == untouched.gateway(1).all_true_values()
    assert view.true_values("tank")[Quantity.ON] == 1.0
    assert view.pending() == [late]
    await fleet.advance(STEPS)
    await untouched.advance(STEPS)
    assert view.all_true_values() == untouched.gateway(1).all_true_values()
    await view.reconnect()  # the pending command is still sent, and applied once
    assert view.pending() == []
    assert view.applications["late"] == 1
    assert view.true_values("battery")[Quantity.POWER_KW] > 0


async def test_views_not_started_draw_no_noise_and_send_nothing() -> None:
    rng = np.random.default_rng(11)
    buildings = [household(rng) for _ in range(3)]
    fleet = fleet_of(buildings, [5, 6, 7])
    quiet, listened = Batches(), Batches()
    fleet.gateway(0).on_measurements(quiet)
    fleet.gateway(2).on_measurements(listened)
    await fleet.gateway(2).start()
    await fleet.advance(3)
    assert quiet.batches == []
    assert len(listened.batches) == 4
    assert fleet.gateway(0).liveness()[0].last_seen is None
    # started late, building 0 draws its noise as a gateway that has just started
    await fleet.gateway(0).start()
    fresh = alone(buildings[0], 5)
    first = Batches()
    fresh.on_measurements(first)
    await fresh.start()
    late_truth = fleet.gateway(0).all_true_values()
    fresh_truth = fresh.all_true_values()
    noise_late = [v - late_truth[d][q] for d, q, v in quiet.batches[0] if q is not Quantity.SOC]
    noise_fresh = [v - fresh_truth[d][q] for d, q, v in first.batches[0] if q is not Quantity.SOC]
    assert noise_late == pytest.approx(noise_fresh, abs=1e-9)
    assert any(abs(n) > 0 for n in noise_late)


async def test_by_building_reads_a_kind_or_a_device_and_nan_where_there_is_none() -> None:
    load = SimulatedDevice("a", DeviceKind.LOAD, {"profile_kw": [1.0, 2.0]})
    other = SimulatedDevice("b", DeviceKind.LOAD, {"profile_kw": [5.0]})
    roof = SimulatedDevice("roof", DeviceKind.PV, {"profile_kw": [0.0, 3.0]})
    fleet = fleet_of([[load, other], [roof], [other, load, roof]], [0, 1, 2])
    power = fleet.by_building(DeviceKind.LOAD, Quantity.POWER_KW)
    assert power[[0, 2]].tolist() == [1.0, 5.0]
    assert math.isnan(power[1])
    assert fleet.by_building("load", "power_kw", device_id="a")[[0, 2]].tolist() == [1.0, 1.0]
    await fleet.advance()
    assert fleet.net_kw().tolist() == [7.0, -3.0, 4.0]
    assert fleet.by_building(DeviceKind.METER, Quantity.POWER_KW).tolist() == [7.0, -3.0, 4.0]
    with pytest.raises(ConfigurationError, match="do not measure"):
        fleet.by_building(DeviceKind.PV, Quantity.SOC)


def test_a_bad_device_description_names_its_building_and_device() -> None:
    good = SimulatedDevice("base", DeviceKind.LOAD, {"profile_kw": [1.0]})
    broken = SimulatedDevice("car", DeviceKind.EV, {"arrival_step": 1, "charge_max_kw": "x"})
    with pytest.raises(ConfigurationError) as caught:
        fleet_of([[good], [good, broken]], [0, 1])
    message = str(caught.value)
    assert "building 1" in message
    assert "device 'car': departure_step is missing" in message
    assert "device 'car': charge_max_kw must be a finite number" in message
    with pytest.raises(ConfigurationError, match="'base' is used twice"):
        SimulatedGateway([good, good], step_h=STEP_H, start=T0)
    empty = SimulatedDevice("roof", DeviceKind.PV, {"profile_kw": []})
    with pytest.raises(ConfigurationError, match="device 'roof': profile_kw must be one or more"):
        SimulatedGateway([empty], step_h=STEP_H, start=T0)
    with pytest.raises(ConfigurationError, match="as many seeds"):
        fleet_of([[good]], [1, 2])


async def test_a_closed_view_stops_reporting_and_a_new_agent_hears_it_alone() -> None:
    rng = np.random.default_rng(12)
    fleet = fleet_of([household(rng) for _ in range(2)], [1, 2])
    before, after = Batches(), Batches()
    view = fleet.gateway(1)
    view.on_measurements(before)
    await view.start()
    await fleet.advance()
    await view.close()
    await fleet.advance(2)
    assert len(before.batches) == 2  # at start and after the first step only
    view.on_measurements(after)
    await view.start()
    await fleet.advance()
    assert len(before.batches) == 2
    assert len(after.batches) == 2
