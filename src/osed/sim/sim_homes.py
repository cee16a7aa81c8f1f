"""The study's households: each one's devices behind a simulated device gateway and its
building agent, and what the run records of them every step.

The gateway plays the household's devices with ``base_kw`` as it happens; the agent is told
``forecast_kw``. Every gateway draws its measurement noise from its own seed, derived from the
study's, so a household behaves the same whatever else the study holds.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from osed.buildings.devices_schema import Building
from osed.devices.simulated import METER_ID, SimulatedGateway
from osed.devices.simulated_document import BASE_LOAD_ID, devices_of
from osed.domain.devices import Command, Quantity
from osed.domain.time import Clock
from osed.edge.building.actuation import orders
from osed.edge.building.agent import AgentSettings, BuildingAgent, Channel
from osed.ports.bus import Bus
from osed.sim.results import TABLES
from osed.sim.study import Household, Study

Array = NDArray[np.float64]
RECORDED = TABLES["households"][3:-1]  # after time, run and household; before the cost
"""What :meth:`Homes.record` gives per household, in this order."""
CONTROLLABLE = ("battery", "ev", "heating", "water_heater")


@dataclass(frozen=True, slots=True)
class _Watched:
    """The first device of each recorded kind (None: the household has none)."""

    battery: str | None
    ev: str | None
    zone: str | None
    tank: str | None
    comfort_min_c: Array | None
    comfort_max_c: Array | None


@dataclass
class Home:
    household: Household
    gateway: SimulatedGateway
    agent: BuildingAgent
    watched: _Watched


class Homes:
    def __init__(
        self,
        study: Study,
        bus: Bus,
        clock: Clock,
        channels: Mapping[str, Mapping[str, Channel]],
        *,
        replan_every: int = 4,
    ) -> None:
        """``channels``: per household, the grid functions it takes part in (none in the
        baseline: its agent plans against the tariff alone)."""
        settings = AgentSettings(
            study.steps, study.step_h, study.tariff_per_kwh, replan_every=replan_every
        )
        self.homes: list[Home] = []
        for index, household in enumerate(study.households):
            gateway = SimulatedGateway(
                devices_of(household.building),
                step_h=study.step_h,
                start=study.start,
                seed=_seed(study.seed, index),
            )
            told = replace(household.building, base_kw=np.asarray(household.forecast_kw))
            agent = BuildingAgent(
                told, gateway, bus, channels.get(household.id, {}), settings, clock=clock
            )
            self.homes.append(Home(household, gateway, agent, _watch(household.building)))
        self.step_h = study.step_h
        self.out_of_supply: set[int] = set()
        """Households (by index) without supply now (an outage)."""

    async def start(self) -> None:
        for home in self.homes:
            await home.agent.start()

    async def stop(self) -> None:
        for home in self.homes:
            await home.agent.stop()
            await home.gateway.close()

    async def cycle(self) -> None:
        """The control cycle of every agent whose house has supply (their solves run in
        parallel)."""
        await asyncio.gather(
            *(h.agent.cycle() for i, h in enumerate(self.homes) if i not in self.out_of_supply)
        )

    async def advance(self) -> None:
        """The devices step; their measurements go out (in household order)."""
        for home in self.homes:
            await home.gateway.advance()

    async def supply(self, indices: Sequence[int], *, on: bool, at: datetime) -> None:
        """Cut (or restore) the supply of these households. Cut, every controllable device
        stops and the agent stands still (its house is dark); what the house would still draw
        is not served. Restored, the agent cycles again from the state the outage left: the
        cold load pickup."""
        for index in indices:
            if on:
                self.out_of_supply.discard(index)
                continue
            self.out_of_supply.add(index)
            home = self.homes[index]
            for device in home.household.building.devices:
                info = home.agent.found.get(device.id)
                if info is None or device.kind not in CONTROLLABLE:
                    continue
                made = orders(device, info, 0.0, indoor_c=None, cycle_h=self.step_h)
                for n, order in enumerate(made):
                    command = Command(
                        f"outage-{home.household.id}-{device.id}-{at:%Y%m%dT%H%M%S}-{n}",
                        order.device_id,
                        order.action,
                        order.value,
                        at,
                    )
                    await home.gateway.send(command, timeout_s=1.0)

    def net_kw(self) -> Array:
        """Every household's net power during the coming step (0 without supply)."""
        net = np.array(
            [h.gateway.true_values(METER_ID).get(Quantity.POWER_KW, math.nan) for h in self.homes]
        )
        return self._supplied(net)

    def record(self, step: int) -> Array:
        """(households, len(RECORDED)): net and base power during ``step``, the devices' state
        at its start, the comfort band of that step."""
        rows = np.full((len(self.homes), len(RECORDED)), np.nan)
        for i, home in enumerate(self.homes):
            values = home.gateway.all_true_values()
            w = home.watched
            rows[i, 0] = values[METER_ID].get(Quantity.POWER_KW, math.nan)
            rows[i, 1] = values.get(BASE_LOAD_ID, {}).get(Quantity.POWER_KW, math.nan)
            if w.battery is not None:
                rows[i, 2] = values[w.battery].get(Quantity.SOC, math.nan)
            if w.ev is not None:
                rows[i, 3] = values[w.ev].get(Quantity.ENERGY_KWH, math.nan)
            if w.zone is not None:
                rows[i, 4] = values[w.zone].get(Quantity.TEMPERATURE_C, math.nan)
                if w.comfort_min_c is not None and w.comfort_max_c is not None:
                    rows[i, 5] = w.comfort_min_c[step]
                    rows[i, 6] = w.comfort_max_c[step]
            if w.tank is not None:
                rows[i, 7] = values[w.tank].get(Quantity.ENERGY_KWH, math.nan)
        rows[:, 0] = self._supplied(rows[:, 0])
        return rows

    def ev_unserved_kwh(self) -> float:
        """The EV energy the households asked for and did not get (kWh, all EVs)."""
        short = 0.0
        for home in self.homes:
            for device in home.household.building.devices:
                if device.kind != "ev":
                    continue
                charged = home.gateway.true_values(device.id).get(Quantity.ENERGY_KWH, 0.0)
                short += max(0.0, float(device["energy_kwh"]) - charged)
        return short

    def _supplied(self, net: Array) -> Array:
        for index in self.out_of_supply:
            net[index] = 0.0
        return net


def _watch(building: Building) -> _Watched:
    def first(kind: str) -> str | None:
        return next((d.id for d in building.devices if d.kind == kind), None)

    zone = next((d for d in building.devices if d.kind == "heating"), None)
    return _Watched(
        battery=first("battery"),
        ev=first("ev"),
        zone=None if zone is None else zone.id,
        tank=first("water_heater"),
        comfort_min_c=None if zone is None else np.asarray(zone["comfort_min_c"], dtype=float),
        comfort_max_c=None if zone is None else np.asarray(zone["comfort_max_c"], dtype=float),
    )


def _seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
