"""A device gateway over simulated devices: the device physics with seeded measurement noise.

The devices are described as for the DAC game and the MPC (:mod:`osed.devices.simulated_document`
reads such a description) and stepped with :mod:`osed.buildings.physics`, as a fleet of one
building (:mod:`osed.devices.simulated_fleet`). Time is the simulation's own:
``start + k·step_h``. A test or a study drives it with :meth:`SimulatedGateway.advance`; with
``realtime`` the gateway steps by itself every ``step_h / speedup`` hours of wall time.

What each kind measures and takes, and does without a command, is in docs/devices.md
("Simulated devices"); :mod:`osed.devices.simulated_devices` states it in code. Commands,
faults and measurements are those of :class:`~osed.devices.fleet_gateway.FleetGateway`. The
gateway measures from its construction, started or not, and draws its noise whether anybody
listens or not, so a seed gives the same measurements however the gateway is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from osed.devices.fleet_gateway import FleetGateway
from osed.devices.simulated_devices import (
    DEFAULT_NOISE,
    METER_ID,
    SETPOINT_RANGE_C,
    SimulatedDevice,
)
from osed.devices.simulated_fleet import SimulatedFleet
from osed.domain.devices import Quantity
from osed.domain.errors import ConfigurationError

__all__ = [
    "DEFAULT_NOISE",
    "METER_ID",
    "SETPOINT_RANGE_C",
    "SimulatedDevice",
    "SimulatedGateway",
]

log = logging.getLogger(__name__)


class SimulatedGateway(FleetGateway):
    def __init__(
        self,
        devices: Sequence[SimulatedDevice],
        *,
        step_h: float,
        start: datetime,
        seed: int = 0,
        noise: dict[Quantity, float] | None = None,
        realtime: bool = False,
        speedup: float = 1.0,
        period_steps: int | None = None,
    ) -> None:
        """``period_steps``: after how many steps an EV's session repeats (default a day)."""
        if step_h <= 0 or speedup <= 0:
            raise ConfigurationError("step_h and speedup of a simulation must be > 0")
        fleet = SimulatedFleet(
            [devices],
            step_h=step_h,
            start=start,
            seeds=[seed],
            noise=noise,
            period_steps=period_steps,
        )
        super().__init__(fleet, 0, report_always=True)
        self._realtime = realtime
        self._speedup = speedup
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        if self._realtime and self._task is None:
            self._task = asyncio.create_task(self._run(), name="simulated-devices")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def advance(self, steps: int = 1) -> None:
        """Step every device ``steps`` times; measurements go out after each step."""
        await self.fleet.advance(steps)

    async def _run(self) -> None:
        period_s = self.step_h * 3600.0 / self._speedup
        while True:
            await asyncio.sleep(period_s)
            try:
                await self.advance()
            except Exception:  # a failing handler must not stop the devices
                log.exception("simulated devices: a measurement handler failed")
