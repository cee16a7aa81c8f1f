"""A device gateway over simulated devices: the device physics with seeded measurement noise.

The devices are described as for the DAC game and the MPC (:mod:`osed.devices.simulated_document`
reads such a description) and stepped with :mod:`osed.buildings.physics`, all devices of a kind
at once. Time is the simulation's own: ``start + k·step_h``. A test or a study drives it with
:meth:`SimulatedGateway.advance`; with ``realtime`` the gateway steps by itself every
``step_h / speedup`` hours of wall time.

What each kind measures and takes, and does without a command, is in docs/devices.md
("Simulated devices"); :func:`_info` states it in code.

A heating zone's last command decides its mode: a setpoint runs its thermostat, a power
setpoint runs the heat pump at that power. An EV's limit caps whatever it is asked to draw.

Commands pass the device's own check of the range, then :class:`PendingCommands` (each id
applied once). :meth:`disconnect` cuts the link for fault tests: while cut, commands (or, with
``lose="confirmations"``, only their confirmations) are lost and no measurement arrives;
:meth:`reconnect` resends what is pending. The devices remember the command ids they applied,
as a device that confirms by id must, so a resent command is confirmed, not applied again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from osed.buildings.physics import (
    Array,
    Batteries,
    Evs,
    HeatingZones,
    Loads,
    PvSystems,
    WaterHeaters,
)
from osed.devices.commands import refusal
from osed.devices.pending import PendingCommands
from osed.domain.devices import (
    Action,
    Command,
    CommandResult,
    DeviceInfo,
    DeviceKind,
    Liveness,
    Measurement,
    Outcome,
    Quantity,
    Range,
)
from osed.domain.errors import ConfigurationError
from osed.ports.devices import MeasurementHandler

log = logging.getLogger(__name__)

SETPOINT_RANGE_C = Range(5.0, 35.0)
METER_ID = "meter"

DEFAULT_NOISE: dict[Quantity, float] = {
    Quantity.POWER_KW: 0.01,
    Quantity.SOC: 0.002,
    Quantity.ENERGY_KWH: 0.01,
    Quantity.TEMPERATURE_C: 0.05,
    Quantity.OUTDOOR_C: 0.1,
}
"""Standard deviation of the measurement noise per quantity (the others are exact)."""


@dataclass(frozen=True, slots=True)
class SimulatedDevice:
    """One device: ``fields`` as in the DAC document for its kind; ``profile_kw`` for pv and
    load. Series (outdoor_c, comfort band, draw_kw, profile_kw) are per step and repeat."""

    id: str
    kind: DeviceKind
    fields: dict[str, Any]


@dataclass
class _Kind:
    """The devices of one kind: their ids, state and controls, one array element each."""

    ids: list[str]
    state: Array
    power: Array = field(init=False)
    asked: Array = field(init=False)
    """The power asked for (a battery's or heat pump's setpoint, an EV's rate, a tank's on)."""
    limit: Array = field(init=False)
    setpoint: Array = field(init=False)
    by_setpoint: NDArray[np.bool_] = field(init=False)
    """A heating zone runs its thermostat (else its power setpoint)."""

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.power = np.zeros(n)
        self.asked = np.zeros(n)
        self.limit = np.full(n, np.inf)
        self.setpoint = np.zeros(n)
        self.by_setpoint = np.zeros(n, dtype=bool)


class SimulatedGateway:
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
        self.step_h = step_h
        self.start_time = start
        self.step = 0
        self._rng = np.random.default_rng(seed)
        self._noise = DEFAULT_NOISE if noise is None else noise
        self._realtime = realtime
        self._speedup = speedup
        self._handlers: list[MeasurementHandler] = []
        self._pending = PendingCommands()
        self._applied: dict[str, tuple[Outcome, str]] = {}
        self.applications: Counter[str] = Counter()
        """How often the devices applied each command id (1 at most, unless broken)."""
        self._connected = True
        self._lose: Literal["commands", "confirmations"] = "commands"
        self._last_seen: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._period = period_steps if period_steps is not None else max(1, round(24 / step_h))
        self._where: dict[str, tuple[DeviceKind, int]] = {}
        self._infos: dict[str, DeviceInfo] = {}
        self._build(devices)

    # -- the port ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._report()
        if self._realtime:
            self._task = asyncio.create_task(self._run(), name="simulated-devices")

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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- simulation -------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.start_time + timedelta(hours=self.step * self.step_h)

    async def advance(self, steps: int = 1) -> None:
        """Step every device ``steps`` times; measurements go out after each step."""
        for _ in range(steps):
            self._step_devices()
            self.step += 1
            await self._report()

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
        await self._report()

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

    # -- devices ----------------------------------------------------------------------------

    def _build(self, devices: Sequence[SimulatedDevice]) -> None:
        grouped: dict[DeviceKind, list[SimulatedDevice]] = {}
        for device in devices:
            if device.id in self._where or device.id == METER_ID:
                raise ConfigurationError(f"device id {device.id!r} is used twice")
            grouped.setdefault(device.kind, []).append(device)
            self._where[device.id] = (device.kind, len(grouped[device.kind]) - 1)
        fields = {kind: [d.fields for d in group] for kind, group in grouped.items()}
        self._groups = grouped
        self._batteries = Batteries.of(fields.get(DeviceKind.BATTERY, []))
        self._evs = Evs.of(fields.get(DeviceKind.EV, []), self._period)
        self._zones = HeatingZones.of(fields.get(DeviceKind.HEATING, []))
        self._tanks = WaterHeaters.of(fields.get(DeviceKind.WATER_HEATER, []))
        self._pv = PvSystems.of(fields.get(DeviceKind.PV, []))
        self._loads = Loads.of(fields.get(DeviceKind.LOAD, []))
        self._kinds = {
            kind: _Kind([d.id for d in group], _initial_state(kind, group))
            for kind, group in grouped.items()
        }
        for kind, group in grouped.items():
            state = self._kinds[kind]
            for k, device in enumerate(group):
                self._infos[device.id] = _info(device)
                _default_controls(kind, device, state, k)
        self._infos[METER_ID] = DeviceInfo(
            METER_ID, DeviceKind.METER, "building meter", frozenset({Quantity.POWER_KW})
        )
        self._refresh_powers()

    def _deliver(self, command: Command) -> None:
        """The device side: apply a command id once, then confirm it (unless the
        confirmation is lost)."""
        known = self._applied.get(command.command_id)
        if known is None:
            known = (Outcome.APPLIED, "")
            self._apply(command)
            self.applications[command.command_id] += 1
            self._applied[command.command_id] = known
        if self._connected:
            self._pending.settle(command.command_id, known[0], self.now, known[1])

    def _apply(self, command: Command) -> None:
        kind, k = self._where[command.device_id]
        state = self._kinds[kind]
        value = 0.0 if command.value is None else float(command.value)
        if command.action is Action.SET_POWER_KW:
            state.asked[k] = value
            state.by_setpoint[k] = False
        elif command.action is Action.SET_POWER_LIMIT_KW:
            state.limit[k] = value
        elif command.action is Action.SET_SETPOINT_C:
            state.setpoint[k] = value
            state.by_setpoint[k] = True
        elif command.action is Action.TURN_ON:
            state.asked[k] = float(self._tanks.power_max_kw[k])
        elif command.action is Action.TURN_OFF:
            state.asked[k] = 0.0
        self._refresh_powers()

    def _step_devices(self) -> None:
        h, k = self.step_h, self.step
        self._refresh_powers()
        for kind, state in self._kinds.items():
            if kind is DeviceKind.BATTERY:
                state.state, state.power = self._batteries.step(state.state, state.asked, h)
            elif kind is DeviceKind.EV:
                asked = np.minimum(state.asked, state.limit)
                state.state, state.power = self._evs.step(state.state, asked, k, h)
            elif kind is DeviceKind.HEATING:
                state.state, state.power = self._zones.step(state.state, self._zone_kw(), k, h)
            elif kind is DeviceKind.WATER_HEATER:
                state.state, state.power = self._tanks.step(state.state, state.asked, k, h)

    def _zone_kw(self) -> Array:
        zones = self._kinds[DeviceKind.HEATING]
        thermostat = self._zones.thermostat_kw(zones.state, zones.setpoint, self.step, self.step_h)
        return np.where(zones.by_setpoint, thermostat, zones.asked)

    def _refresh_powers(self) -> None:
        """The powers drawn during the coming step (what the devices measure now)."""
        h, k = self.step_h, self.step
        for kind, state in self._kinds.items():
            if kind is DeviceKind.BATTERY:
                _, state.power = self._batteries.step(state.state, state.asked, h)
            elif kind is DeviceKind.EV:
                asked = np.minimum(state.asked, state.limit)
                _, state.power = self._evs.step(state.state, asked, k, h)
            elif kind is DeviceKind.HEATING:
                _, state.power = self._zones.step(state.state, self._zone_kw(), k, h)
            elif kind is DeviceKind.WATER_HEATER:
                _, state.power = self._tanks.step(state.state, state.asked, k, h)
            elif kind is DeviceKind.PV:
                state.power = self._pv.power(k, state.limit)
            elif kind is DeviceKind.LOAD:
                state.power = self._loads.power(k)

    def _readings(self, *, noisy: bool) -> list[Measurement]:
        self._refresh_powers()
        at, k = self.now, self.step
        values: list[tuple[DeviceKind, Quantity, Array]] = []
        net = 0.0
        for kind, state in self._kinds.items():
            for quantity, column in _columns(kind, state, self, k):
                values.append((kind, quantity, column))
            net += float(state.power.sum())
        out: list[Measurement] = []
        for kind, quantity, column in values:
            shown = self._noisy(quantity, column) if noisy else column
            if quantity is Quantity.SOC:
                shown = np.clip(shown, 0.0, 1.0)
            ids = self._kinds[DeviceKind(kind)].ids
            out.extend(
                Measurement(i, quantity, float(v), at) for i, v in zip(ids, shown, strict=True)
            )
        meter = self._noisy(Quantity.POWER_KW, np.array([net])) if noisy else np.array([net])
        out.append(Measurement(METER_ID, Quantity.POWER_KW, float(meter[0]), at))
        return out

    def _noisy(self, quantity: Quantity, column: Array) -> Array:
        std = self._noise.get(quantity, 0.0)
        if std <= 0:
            return column
        noisy: Array = column + self._rng.normal(0.0, std, column.shape)
        return noisy

    async def _report(self) -> None:
        if not self._connected:
            return
        batch = self._readings(noisy=True)
        self._last_seen = self.now
        for handler in self._handlers:
            await handler(batch)

    async def _run(self) -> None:
        period_s = self.step_h * 3600.0 / self._speedup
        while True:
            await asyncio.sleep(period_s)
            try:
                await self.advance()
            except Exception:  # a failing handler must not stop the devices
                log.exception("simulated devices: a measurement handler failed")


def _initial_state(kind: DeviceKind, group: list[SimulatedDevice]) -> Array:
    name = {
        DeviceKind.BATTERY: "soc_init",
        DeviceKind.HEATING: "temp_init_c",
        DeviceKind.WATER_HEATER: "energy_init_kwh",
    }.get(kind)
    if name is None:
        return np.zeros(len(group))
    return np.array([float(d.fields[name]) for d in group])


def _default_controls(kind: DeviceKind, device: SimulatedDevice, state: _Kind, k: int) -> None:
    f = device.fields
    if kind is DeviceKind.EV:
        state.asked[k] = float(f["charge_max_kw"])
    elif kind is DeviceKind.HEATING:
        low, high = np.ravel(f["comfort_min_c"])[0], np.ravel(f["comfort_max_c"])[0]
        state.setpoint[k] = (float(low) + float(high)) / 2
        state.by_setpoint[k] = True
    elif kind is DeviceKind.WATER_HEATER:
        state.asked[k] = float(f["power_max_kw"])


def _info(device: SimulatedDevice) -> DeviceInfo:
    f = device.fields
    q, a = Quantity, Action
    if device.kind is DeviceKind.BATTERY:
        power = Range(-float(f["discharge_max_kw"]), float(f["charge_max_kw"]))
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.SOC}),
            frozenset({a.SET_POWER_KW}),
            {a.SET_POWER_KW: power},
        )
    if device.kind is DeviceKind.EV:
        rate = Range(0.0, float(f["charge_max_kw"]))
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.CONNECTED, q.ENERGY_KWH}),
            frozenset({a.SET_POWER_KW, a.SET_POWER_LIMIT_KW}),
            {a.SET_POWER_KW: rate, a.SET_POWER_LIMIT_KW: rate},
        )
    if device.kind is DeviceKind.HEATING:
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.TEMPERATURE_C, q.SETPOINT_C, q.OUTDOOR_C}),
            frozenset({a.SET_SETPOINT_C, a.SET_POWER_KW}),
            {
                a.SET_SETPOINT_C: SETPOINT_RANGE_C,
                a.SET_POWER_KW: Range(0.0, float(f["power_max_kw"])),
            },
        )
    if device.kind is DeviceKind.WATER_HEATER:
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW, q.ENERGY_KWH, q.ON}),
            frozenset({a.SET_POWER_KW, a.TURN_ON, a.TURN_OFF}),
            {a.SET_POWER_KW: Range(0.0, float(f["power_max_kw"]))},
        )
    if device.kind is DeviceKind.PV:
        peak = float(np.max(np.ravel(f["profile_kw"]), initial=0.0))
        return DeviceInfo(
            device.id,
            device.kind,
            device.id,
            frozenset({q.POWER_KW}),
            frozenset({a.SET_POWER_LIMIT_KW}),
            {a.SET_POWER_LIMIT_KW: Range(0.0, max(peak, 0.0))},
        )
    return DeviceInfo(device.id, device.kind, device.id, frozenset({q.POWER_KW}))


def _columns(
    kind: DeviceKind, state: _Kind, gateway: SimulatedGateway, step: int
) -> list[tuple[Quantity, Array]]:
    """Each quantity the devices of ``kind`` measure, as one column over the devices."""
    q = Quantity
    columns: list[tuple[Quantity, Array]] = [(q.POWER_KW, state.power)]
    if kind is DeviceKind.BATTERY:
        columns.append((q.SOC, state.state))
    elif kind is DeviceKind.EV:
        columns.append((q.CONNECTED, gateway._evs.plugged(step).astype(float)))
        columns.append((q.ENERGY_KWH, state.state))
    elif kind is DeviceKind.HEATING:
        columns.append((q.TEMPERATURE_C, state.state))
        columns.append((q.SETPOINT_C, state.setpoint))
        columns.append((q.OUTDOOR_C, gateway._zones.outdoor(step)))
    elif kind is DeviceKind.WATER_HEATER:
        columns.append((q.ENERGY_KWH, state.state))
        columns.append((q.ON, (state.asked > 0).astype(float)))
    return columns
