"""One building of a simulated fleet as a device gateway.

The devices live in the fleet's arrays (:mod:`osed.devices.simulated_fleet`); the view holds
what belongs to the link: the handlers, the commands by id, the link's state and the building's
measurement noise, drawn from its own seed. What each kind measures and takes, and does without
a command, is in docs/devices.md ("Simulated devices").

A heating zone's last command decides its mode: a setpoint runs its thermostat, a power
setpoint runs the heat pump at that power. An EV's limit caps whatever it is asked to draw.

Commands pass the device's own check of the range, then :class:`PendingCommands` (each id
applied once). :meth:`FleetGateway.disconnect` cuts the link for fault tests: while cut,
commands (or, with ``lose="confirmations"``, only their confirmations) are lost and no
measurement arrives; :meth:`FleetGateway.reconnect` resends what is pending. The devices
remember the command ids they applied, as a device that confirms by id must, so a resent
command is confirmed, not applied again.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import numpy as np

from osed.devices.commands import refusal
from osed.devices.pending import PendingCommands
from osed.devices.simulated_devices import MEASURES, METER_ID, device_info, meter_info
from osed.domain.devices import (
    Command,
    CommandResult,
    DeviceInfo,
    Liveness,
    Measurement,
    Outcome,
    Quantity,
)
from osed.ports.devices import MeasurementHandler

if TYPE_CHECKING:
    from osed.devices.simulated_fleet import SimulatedFleet


class FleetGateway:
    def __init__(self, fleet: SimulatedFleet, index: int, *, report_always: bool = False) -> None:
        """Building ``index`` of ``fleet``. A view reports after each step once started;
        with ``report_always`` from the start, and it draws its noise even without handlers
        (a gateway of its own that nobody listens to yet)."""
        self.fleet = fleet
        self.index = index
        self._rng = np.random.default_rng(fleet.seeds[index])
        self._report_always = report_always
        self._started = False
        self._handlers: list[MeasurementHandler] = []
        self._pending = PendingCommands()
        self._applied: dict[str, tuple[Outcome, str]] = {}
        self.applications: Counter[str] = Counter()
        """How often the devices applied each command id (1 at most, unless broken)."""
        self._connected = True
        self._lose: Literal["commands", "confirmations"] = "commands"
        self._last_seen: datetime | None = None
        self._where = fleet.positions_of(index)
        self._layout = [
            (kind, span, quantity)
            for kind in fleet.kinds_of(index)
            for span in [fleet.span(kind, index)]
            for quantity in MEASURES[kind]
        ]
        """The columns a batch of measurements reads, in the order it lists them."""
        self._reads: list[tuple[str, Quantity]] = [
            (device_id, quantity)
            for kind, span, quantity in self._layout
            for device_id in fleet.ids(kind, span)
        ]
        self._reads.append((METER_ID, Quantity.POWER_KW))
        std = np.array([fleet.noise.get(q, 0.0) for _, q in self._reads], dtype=float)
        self._noisy = np.flatnonzero(std > 0)
        self._std = std[self._noisy]
        self._soc = np.flatnonzero([q is Quantity.SOC for _, q in self._reads])
        self._infos: dict[str, DeviceInfo] = {d.id: device_info(d) for d in fleet.buildings[index]}
        self._infos[METER_ID] = meter_info()
        fleet.attach(self)
        if report_always:
            fleet.reports(self)

    # -- the port ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._started = True
        self.fleet.reports(self)
        await self.report()

    async def discover(self) -> list[DeviceInfo]:
        return list(self._infos.values())

    def on_measurements(self, handler: MeasurementHandler) -> None:
        self._handlers.append(handler)

    async def send(self, command: Command, *, timeout_s: float = 10.0) -> CommandResult:
        earlier = self._pending.admit(command)
        if earlier is not None:
            return earlier
        reason = refusal(self._infos, command)
        if reason is not None:
            self._pending.settle(command.command_id, Outcome.REJECTED, self.now, reason)
        elif self._connected or self._lose == "confirmations":
            self._deliver(command)
        return await self._pending.wait(command.command_id, timeout_s, self.now)

    def liveness(self) -> list[Liveness]:
        return [Liveness(i, self._connected, self._last_seen) for i in self._infos]

    async def close(self) -> None:
        """Stop reporting and forget the handlers (the agent on this gateway has gone); started
        again, the view reports to the handlers registered since."""
        self._started = False
        self._handlers.clear()
        if not self._report_always:
            self.fleet.unreport(self)

    # -- simulation -------------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.fleet.step

    @property
    def step_h(self) -> float:
        return self.fleet.step_h

    @property
    def start_time(self) -> datetime:
        return self.fleet.start_time

    @property
    def now(self) -> datetime:
        return self.fleet.now

    def disconnect(self, *, lose: Literal["commands", "confirmations"] = "commands") -> None:
        """Cut the link: commands sent from now on (or only their confirmations) are lost and
        no measurement arrives, until :meth:`reconnect`."""
        self._connected = False
        self._lose = lose

    async def reconnect(self) -> None:
        """Restore the link and resend every pending command, in the order first sent."""
        self._connected = True
        for command in self._pending.pending():
            self._deliver(command)
        await self.report()

    def true_values(self, device_id: str) -> dict[Quantity, float]:
        """The device's state without measurement noise (what a test compares against)."""
        return self.all_true_values().get(device_id, {})

    def all_true_values(self) -> dict[str, dict[Quantity, float]]:
        """Every device's state without measurement noise, by device id (the meter's too), read
        once: what a simulation records each step."""
        found: dict[str, dict[Quantity, float]] = {}
        for m in self._readings(noisy=False):
            found.setdefault(m.device_id, {})[m.quantity] = m.value
        return found

    def pending(self) -> list[Command]:
        return self._pending.pending()

    async def report(self) -> None:
        """The measurements of now to the handlers (nothing while cut off or not started)."""
        if not self._connected or not (self._started or self._report_always):
            return
        self._last_seen = self.now
        if not self._handlers and not self._report_always:
            return
        batch = self._readings(noisy=True)
        for handler in self._handlers:
            await handler(batch)

    # -- devices ----------------------------------------------------------------------------

    def _deliver(self, command: Command) -> None:
        """The device side: apply a command id once, then confirm it (unless the
        confirmation is lost)."""
        known = self._applied.get(command.command_id)
        if known is None:
            known = (Outcome.APPLIED, "")
            kind, position = self._where[command.device_id]
            value = 0.0 if command.value is None else float(command.value)
            self.fleet.apply(kind, position, command.action, value)
            self.applications[command.command_id] += 1
            self._applied[command.command_id] = known
        if self._connected:
            self._pending.settle(command.command_id, known[0], self.now, known[1])

    def _readings(self, *, noisy: bool) -> list[Measurement]:
        """The building's measurements of now, each column of the fleet read once; the noise
        of all of them drawn in one call, in the order they are listed."""
        fleet, at = self.fleet, self.now
        columns = [fleet.column(kind, quantity, span) for kind, span, quantity in self._layout]
        net = 0.0
        for (_, _, quantity), column in zip(self._layout, columns, strict=True):
            if quantity is Quantity.POWER_KW:
                net += _added(column.tolist())
        columns.append(np.array([net]))
        values = np.concatenate(columns)
        if noisy and self._noisy.size:
            values[self._noisy] += self._rng.normal(0.0, self._std)
        if self._soc.size:
            values[self._soc] = np.clip(values[self._soc], 0.0, 1.0)
        return [
            Measurement(device_id, quantity, value, at)
            for (device_id, quantity), value in zip(self._reads, values.tolist(), strict=True)
        ]


def _added(values: list[float]) -> float:
    """The values added in order: a building's devices of a kind as the fleet adds them."""
    total = 0.0
    for value in values:
        total += value
    return total
