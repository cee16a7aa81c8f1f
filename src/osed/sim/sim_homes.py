"""The study's households: their devices in one simulated fleet, each household's building
agent on its gateway (the fleet's view of its devices), and what the run records of them every
step.

The fleet plays the household's devices with ``base_kw`` as it happens; the agent is told
``forecast_kw``. Every household's gateway draws its measurement noise from its own seed,
derived from the study's, so a household behaves the same whatever else the study holds. A
household without an agent has its devices on their own control and nobody reading them: it
costs the run only its share of the fleet's array pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from osed.devices.fleet_gateway import FleetGateway
from osed.devices.simulated_document import BASE_LOAD_ID, devices_of
from osed.devices.simulated_fleet import SimulatedFleet
from osed.domain.devices import Command, DeviceKind, Quantity
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


@dataclass
class Home:
    household: Household
    agent: BuildingAgent | None = None
    """None: the household has no agent running (its devices on their own control)."""


class Homes:
    def __init__(
        self,
        study: Study,
        bus: Bus,
        clock: Clock,
        channels: Mapping[str, Mapping[str, Channel]],
        *,
        replan_every: int = 4,
        on_demand: bool = False,
    ) -> None:
        """``channels``: per household, the grid functions it takes part in (none in the
        baseline: its agent plans against the tariff alone). ``on_demand``: only households
        with a channel get an agent, the others one when they :meth:`join` a function."""
        self.settings = AgentSettings(
            study.steps,
            study.step_h,
            study.tariff_per_kwh,
            replan_every=replan_every,
            plan_time_limit_s=None,  # the same plans on a slow machine as on a fast one
        )
        self.bus = bus
        self.clock = clock
        self.on_demand = on_demand
        self.fleet = SimulatedFleet(
            [devices_of(h.building) for h in study.households],
            step_h=study.step_h,
            start=study.start,
            seeds=[_seed(study.seed, i) for i in range(len(study.households))],
        )
        self.homes: list[Home] = []
        for index, household in enumerate(study.households):
            home = Home(household)
            if household.id in channels or not on_demand:
                home.agent = self._agent(index, household, channels.get(household.id, {}), 0)
            self.homes.append(home)
        self.comfort_c = _comfort_bands(study)
        """(2, households, steps): the first zone's comfort band (NaN without a zone)."""
        self.step_h = study.step_h
        self.started_agents = 0
        """Agents started during the run (households that joined a function)."""
        self.out_of_supply: set[int] = set()
        """Households (by index) without supply now (an outage)."""

    def gateway(self, index: int) -> FleetGateway:
        """Household ``index``'s devices as its agent sees them."""
        return self.fleet.gateway(index)

    def _agent(
        self, index: int, household: Household, channels: Mapping[str, Channel], step: int
    ) -> BuildingAgent:
        told = replace(household.building, base_kw=np.asarray(household.forecast_kw))
        return BuildingAgent(
            told,
            self.gateway(index),
            self.bus,
            channels,
            self.settings,
            clock=self.clock,
            step=step,
        )

    async def start(self) -> None:
        for home in self.homes:
            if home.agent is not None:
                await home.agent.start()

    async def stop(self) -> None:
        for index, home in enumerate(self.homes):
            if home.agent is not None:
                await home.agent.stop()
                await self.gateway(index).close()

    @property
    def with_agent(self) -> list[int]:
        """The households (by index) whose agent runs."""
        return [i for i, h in enumerate(self.homes) if h.agent is not None]

    async def join(self, index: int, function: str, channel: Channel, step: int) -> None:
        """Household ``index`` takes part in ``function`` from ``step`` on; without an agent
        yet, its agent starts now."""
        home = self.homes[index]
        if home.agent is None:
            home.agent = self._agent(index, home.household, {}, step)
            await home.agent.start()
            self.started_agents += 1
        await home.agent.join(function, channel)

    async def leave(self, index: int, edc_id: str) -> None:
        """Household ``index`` leaves every function it takes part in through ``edc_id``; an
        agent started on demand with nothing left stops, and the devices go back to their own
        control."""
        agent = self.homes[index].agent
        if agent is None:
            return
        for function, channel in list(agent.channels.items()):
            if channel.edc_id == edc_id:
                await agent.leave(function)
        if self.on_demand and not agent.channels:
            await agent.stop()
            await self.gateway(index).close()
            self.homes[index].agent = None
            self.fleet.release(index)

    async def cycle(self) -> None:
        """The control cycle of every agent whose house has supply (their solves run in
        parallel)."""
        await asyncio.gather(
            *(
                h.agent.cycle()
                for i, h in enumerate(self.homes)
                if h.agent is not None and i not in self.out_of_supply
            )
        )

    async def advance(self) -> None:
        """The devices step; their measurements go out (in household order)."""
        await self.fleet.advance()

    async def supply(self, indices: Sequence[int], *, on: bool, at: datetime) -> None:
        """Cut (or restore) the supply of these households. Cut, every controllable device
        stops and the agent stands still (its house is dark); what the house would still draw
        is not served. Restored, the agent cycles again from the state the outage left, and
        devices without an agent go back to their own control at once: the cold load pickup."""
        for index in indices:
            home = self.homes[index]
            if on:
                self.out_of_supply.discard(index)
                if home.agent is None:
                    self.fleet.release(index)
                continue
            self.out_of_supply.add(index)
            gateway = self.gateway(index)
            found = {info.device_id: info for info in await gateway.discover()}
            for device in home.household.building.devices:
                info = found.get(device.id)
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
                    await gateway.send(command, timeout_s=1.0)

    def net_kw(self) -> Array:
        """Every household's net power during the coming step (0 without supply)."""
        return self._supplied(self.fleet.net_kw())

    def record(self, step: int) -> Array:
        """(households, len(RECORDED)): net and base power during ``step``, the devices' state
        at its start, the comfort band of that step."""
        fleet, q = self.fleet, Quantity
        columns = [
            self.net_kw(),
            fleet.by_building(DeviceKind.LOAD, q.POWER_KW, device_id=BASE_LOAD_ID),
            fleet.by_building(DeviceKind.BATTERY, q.SOC),
            fleet.by_building(DeviceKind.EV, q.ENERGY_KWH),
            fleet.by_building(DeviceKind.HEATING, q.TEMPERATURE_C),
            self.comfort_c[0][:, step],
            self.comfort_c[1][:, step],
            fleet.by_building(DeviceKind.WATER_HEATER, q.ENERGY_KWH),
        ]
        return np.column_stack(columns)

    def ev_unserved_kwh(self) -> float:
        """The EV energy the households asked for and did not get (kWh, all EVs)."""
        asked = np.array(
            [
                float(device["energy_kwh"])
                for home in self.homes
                for device in home.household.building.devices
                if device.kind == "ev"
            ]
        )
        charged = self.fleet.column(DeviceKind.EV, Quantity.ENERGY_KWH)
        return float(np.sum(np.maximum(0.0, asked - charged)))

    def _supplied(self, net: Array) -> Array:
        for index in self.out_of_supply:
            net[index] = 0.0
        return net


def _comfort_bands(study: Study) -> Array:
    """(2, households, steps): each household's first heating zone's comfort band."""
    band = np.full((2, len(study.households), study.steps), np.nan)
    for i, household in enumerate(study.households):
        zone = next((d for d in household.building.devices if d.kind == "heating"), None)
        if zone is not None:
            for k, name in enumerate(("comfort_min_c", "comfort_max_c")):
                values = np.ravel(np.asarray(zone[name], dtype=float))
                band[k, i] = np.resize(values, study.steps)
    return band


def _seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
