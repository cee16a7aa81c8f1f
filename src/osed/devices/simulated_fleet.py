"""The devices of many buildings, stepped in one array pass.

All devices of a kind across the fleet live in one array, in building order, with the index
of their building (``owner``) and each building's slice (``starts``). One step of the fleet
is one call of each kind's equations in :mod:`osed.buildings.physics`; what a building
measures is a slice of those arrays. Per-building figures (the net power, the first battery's
state of charge) come from segment sums and precomputed indices, never from a loop over the
buildings, so a step costs the same whether ten or ten thousand buildings are watched.

A building's devices are reached as a device gateway through :meth:`SimulatedFleet.gateway`
(:class:`~osed.devices.fleet_gateway.FleetGateway`); only views that were started take part
in a step's reporting, each with the measurement noise of its own seed.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from osed.devices.fleet_gateway import FleetGateway
from osed.devices.simulated_devices import (
    DEFAULT_NOISE,
    MEASURES,
    SIMULATED_KINDS,
    SimulatedDevice,
    check_building,
    default_setpoint_c,
    initial_state,
)
from osed.domain.devices import Action, DeviceKind, Quantity
from osed.domain.errors import ConfigurationError

Index = NDArray[np.intp]


_CODE = {kind: j for j, kind in enumerate(SIMULATED_KINDS)}


@dataclass
class KindArrays:
    """The devices of one kind across the fleet: one array element each, in building order."""

    ids: list[str]
    owner: Index
    """The building of each device."""
    starts: Index
    """Building i's devices are ``starts[i]:starts[i + 1]``."""
    state: Array
    default_asked: Array
    default_setpoint: Array
    default_by_setpoint: NDArray[np.bool_]
    power: Array = field(init=False)
    asked: Array = field(init=False)
    """The power asked for (a battery's or heat pump's setpoint, an EV's rate, a tank's on)."""
    limit: Array = field(init=False)
    setpoint: Array = field(init=False)
    by_setpoint: NDArray[np.bool_] = field(init=False)
    """A heating zone runs its thermostat (else its power setpoint)."""
    first: Index = field(init=False)
    """Each building's first device of the kind (valid where ``present``)."""
    present: NDArray[np.bool_] = field(init=False)
    by_rank: list[tuple[Index, Index]] = field(init=False)
    """For each rank r: the devices that are their building's r-th of the kind, and their
    buildings."""

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.power = np.zeros(n)
        self.asked = self.default_asked.copy()
        self.limit = np.full(n, np.inf)
        self.setpoint = self.default_setpoint.copy()
        self.by_setpoint = self.default_by_setpoint.copy()
        self.present = self.starts[1:] > self.starts[:-1]
        self.first = self.starts[:-1].copy()
        rank = np.arange(n) - self.starts[self.owner]
        self.by_rank = []
        for r in range(int(rank.max(initial=-1)) + 1):
            ranked = np.flatnonzero(rank == r)
            self.by_rank.append((ranked, self.owner[ranked]))

    def release(self, span: slice) -> None:
        self.asked[span] = self.default_asked[span]
        self.limit[span] = np.inf
        self.setpoint[span] = self.default_setpoint[span]
        self.by_setpoint[span] = self.default_by_setpoint[span]

    def per_building_sum(self, values: Array) -> Array:
        """Each building's sum of ``values`` over its devices of this kind (0 without any),
        added in device order (as NumPy sums fewer than 8 values)."""
        sums = np.zeros(self.present.size)
        for ranked, owners in self.by_rank:
            sums[owners] += values[ranked]
        return sums


class SimulatedFleet:
    def __init__(
        self,
        buildings: Sequence[Sequence[SimulatedDevice]],
        *,
        step_h: float,
        start: datetime,
        seeds: Sequence[int],
        noise: dict[Quantity, float] | None = None,
        period_steps: int | None = None,
    ) -> None:
        """``seeds``: one per building, for its measurement noise; ``period_steps``: after how
        many steps an EV's session repeats (default a day)."""
        if step_h <= 0:
            raise ConfigurationError("step_h of a simulation must be > 0")
        if len(seeds) != len(buildings):
            raise ConfigurationError(
                f"a fleet of {len(buildings)} buildings needs as many seeds, not {len(seeds)}"
            )
        self.step_h = step_h
        self.start_time = start
        self.step = 0
        self.noise = DEFAULT_NOISE if noise is None else noise
        self.seeds = [int(s) for s in seeds]
        self.buildings = [tuple(devices) for devices in buildings]
        self.period_steps = period_steps if period_steps is not None else max(1, round(24 / step_h))
        self._views: dict[int, FleetGateway] = {}
        self._reporting: list[int] = []
        """The views that report after each step, in building order."""
        self._dirty = True
        """The powers must be computed again (a step or a command changed their inputs)."""
        self._net: Array | None = None
        self._per_step: dict[Quantity, Array] = {}
        self._device_positions: dict[tuple[DeviceKind, str], Index] = {}
        self._build()

    # -- the buildings' views ----------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.buildings)

    @property
    def now(self) -> datetime:
        return self.start_time + timedelta(hours=self.step * self.step_h)

    def gateway(self, index: int) -> FleetGateway:
        """Building ``index``'s devices as a device gateway (the same view on every call)."""
        view = self._views.get(index)
        if view is None:
            if not 0 <= index < self.size:
                raise ConfigurationError(f"building {index} is not in a fleet of {self.size}")
            view = FleetGateway(self, index)
        return view

    def attach(self, view: FleetGateway) -> None:
        """Register ``view`` as its building's gateway."""
        if view.index in self._views:
            raise ConfigurationError(f"building {view.index} has a gateway already")
        self._views[view.index] = view

    def reports(self, view: FleetGateway) -> None:
        """``view`` receives measurements after every step from now on."""
        at = bisect.bisect_left(self._reporting, view.index)
        if at == len(self._reporting) or self._reporting[at] != view.index:
            self._reporting.insert(at, view.index)

    def unreport(self, view: FleetGateway) -> None:
        """``view`` receives no more measurements."""
        at = bisect.bisect_left(self._reporting, view.index)
        if at < len(self._reporting) and self._reporting[at] == view.index:
            del self._reporting[at]

    # -- simulation --------------------------------------------------------------------------

    async def advance(self, steps: int = 1) -> None:
        """Step every device of every building ``steps`` times; after each step the reporting
        views send their measurements, in building order."""
        for _ in range(steps):
            self._step_devices()
            for index in self._reporting:
                await self._views[index].report()

    def release(self, index: int) -> None:
        """Building ``index``'s devices do again what they do without a command (its pending
        commands stay as they are)."""
        for kind, arrays in self._kinds.items():
            arrays.release(self.span(kind, index))
        self._changed()

    def net_kw(self) -> Array:
        """(buildings,) each building's true net power during the coming step."""
        self._refresh_powers()
        if self._net is None:
            sums = np.concatenate(
                [
                    self._kinds[kind].per_building_sum(self._kinds[kind].power)
                    for kind in SIMULATED_KINDS
                ]
            )
            # added kind by kind in the building's own order, as its meter adds them
            net = np.zeros(self.size)
            for at in self._kind_order_flat:
                net += sums[at]
            self._net = net
        return self._net.copy()

    def by_building(
        self, kind: DeviceKind | str, quantity: Quantity | str, device_id: str | None = None
    ) -> Array:
        """(buildings,) the true ``quantity`` of each building's first device of ``kind`` (or
        of its device ``device_id``); NaN where the building has none. The meter's power is
        the net power."""
        kind, quantity = DeviceKind(kind), Quantity(quantity)
        if kind is DeviceKind.METER and quantity is Quantity.POWER_KW:
            return self.net_kw()
        if kind not in self._kinds or quantity not in MEASURES[kind]:
            raise ConfigurationError(f"simulated {kind} devices do not measure {quantity}")
        arrays = self._kinds[kind]
        column = self.column(kind, quantity)
        found = np.full(self.size, np.nan)
        if device_id is None:
            found[arrays.present] = column[arrays.first[arrays.present]]
        else:
            positions = self._positions(kind, device_id)
            found[arrays.owner[positions]] = column[positions]
        return found

    # -- what the views read and change ------------------------------------------------------

    def span(self, kind: DeviceKind, index: int) -> slice:
        starts = self._kinds[kind].starts
        return slice(int(starts[index]), int(starts[index + 1]))

    def kinds_of(self, index: int) -> list[DeviceKind]:
        """The kinds of building ``index``'s devices, in the order they first appear."""
        return [SIMULATED_KINDS[c] for c in self._kind_order[index, : self._kind_count[index]]]

    def positions_of(self, index: int) -> dict[str, tuple[DeviceKind, int]]:
        """Each device of building ``index``: its kind and position in the kind's arrays."""
        next_at = {kind: int(self._kinds[kind].starts[index]) for kind in SIMULATED_KINDS}
        found: dict[str, tuple[DeviceKind, int]] = {}
        for device in self.buildings[index]:
            found[device.id] = (device.kind, next_at[device.kind])
            next_at[device.kind] += 1
        return found

    def ids(self, kind: DeviceKind, span: slice) -> list[str]:
        return self._kinds[kind].ids[span]

    def column(self, kind: DeviceKind, quantity: Quantity, span: slice = slice(None)) -> Array:
        """The true ``quantity`` of the devices of ``kind`` (those in ``span``)."""
        self._refresh_powers()
        arrays = self._kinds[kind]
        if quantity is Quantity.POWER_KW:
            return arrays.power[span]
        if quantity is Quantity.CONNECTED or quantity is Quantity.OUTDOOR_C:
            return self._step_column(quantity)[span]
        if quantity is Quantity.SETPOINT_C:
            return arrays.setpoint[span]
        if quantity is Quantity.ON:
            on: Array = (arrays.asked[span] > 0).astype(float)
            return on
        return arrays.state[span]

    def apply(self, kind: DeviceKind, position: int, action: Action, value: float) -> None:
        """A command the device took: its control changes from now on."""
        arrays = self._kinds[kind]
        if action is Action.SET_POWER_KW:
            arrays.asked[position] = value
            arrays.by_setpoint[position] = False
        elif action is Action.SET_POWER_LIMIT_KW:
            arrays.limit[position] = value
        elif action is Action.SET_SETPOINT_C:
            arrays.setpoint[position] = value
            arrays.by_setpoint[position] = True
        elif action is Action.TURN_ON:
            arrays.asked[position] = float(self._tanks.power_max_kw[position])
        elif action is Action.TURN_OFF:
            arrays.asked[position] = 0.0
        self._changed()

    # -- the arrays and the physics ----------------------------------------------------------

    def _build(self) -> None:
        fields: dict[DeviceKind, list[dict[str, object]]] = {k: [] for k in SIMULATED_KINDS}
        members: dict[DeviceKind, list[SimulatedDevice]] = {k: [] for k in SIMULATED_KINDS}
        owners: dict[DeviceKind, list[int]] = {k: [] for k in SIMULATED_KINDS}
        self._kind_order = np.empty((self.size, len(SIMULATED_KINDS)), dtype=np.intp)
        self._kind_count = np.zeros(self.size, dtype=np.intp)
        for index, devices in enumerate(self.buildings):
            check_building(devices, f"building {index}: " if self.size > 1 else "")
            codes: list[int] = []
            for device in devices:
                members[device.kind].append(device)
                fields[device.kind].append(device.fields)
                owners[device.kind].append(index)
                code = _CODE[device.kind]
                if code not in codes:
                    codes.append(code)
            self._kind_count[index] = len(codes)
            self._kind_order[index] = codes + [c for c in range(len(_CODE)) if c not in codes]
        self._kind_order_flat = list(self._kind_order.T * self.size + np.arange(self.size))
        """Per place in the buildings' kind order, each building's kind's position in the
        kinds' per-building sums laid end to end."""
        self._kinds = {
            kind: self._arrays(kind, members[kind], owners[kind]) for kind in SIMULATED_KINDS
        }
        self._batteries = Batteries.of(fields[DeviceKind.BATTERY])
        self._evs = Evs.of(fields[DeviceKind.EV], self.period_steps)
        self._zones = HeatingZones.of(fields[DeviceKind.HEATING])
        self._tanks = WaterHeaters.of(fields[DeviceKind.WATER_HEATER])
        self._pv = PvSystems.of(fields[DeviceKind.PV])
        self._loads = Loads.of(fields[DeviceKind.LOAD])

    def _arrays(
        self, kind: DeviceKind, devices: list[SimulatedDevice], owners: list[int]
    ) -> KindArrays:
        owner = np.array(owners, dtype=np.intp)
        n = len(devices)
        asked, setpoint = np.zeros(n), np.zeros(n)
        by_setpoint = np.zeros(n, dtype=bool)
        if kind is DeviceKind.EV:
            asked = np.array([float(d.fields["charge_max_kw"]) for d in devices])
        elif kind is DeviceKind.WATER_HEATER:
            asked = np.array([float(d.fields["power_max_kw"]) for d in devices])
        elif kind is DeviceKind.HEATING:
            setpoint = np.array([default_setpoint_c(d) for d in devices])
            by_setpoint[:] = True
        return KindArrays(
            ids=[d.id for d in devices],
            owner=owner,
            starts=np.searchsorted(owner, np.arange(self.size + 1)).astype(np.intp),
            state=np.array([initial_state(d) for d in devices], dtype=float),
            default_asked=asked.astype(float),
            default_setpoint=setpoint.astype(float),
            default_by_setpoint=by_setpoint,
        )

    def _positions(self, kind: DeviceKind, device_id: str) -> Index:
        key = (kind, device_id)
        found = self._device_positions.get(key)
        if found is None:
            ids = np.asarray(self._kinds[kind].ids, dtype=object)
            found = np.flatnonzero(ids == device_id).astype(np.intp)
            self._device_positions[key] = found
        return found

    def _step_column(self, quantity: Quantity) -> Array:
        """A quantity that depends on the step alone (an EV plugged in, the outdoor air)."""
        found = self._per_step.get(quantity)
        if found is None:
            if quantity is Quantity.CONNECTED:
                found = self._evs.plugged(self.step).astype(float)
            else:
                found = self._zones.outdoor(self.step)
            self._per_step[quantity] = found
        return found

    def _changed(self) -> None:
        self._dirty = True
        self._net = None

    def _step_devices(self) -> None:
        """One step of every device: the states at its end, the powers drawn during it."""
        for kind, (state, power) in self._next().items():
            self._kinds[kind].state, self._kinds[kind].power = state, power
        self.step += 1
        self._per_step.clear()
        self._changed()

    def _refresh_powers(self) -> None:
        """The powers drawn during the coming step (what the devices measure now)."""
        if not self._dirty:
            return
        for kind, (_, power) in self._next().items():
            self._kinds[kind].power = power
        pv, loads = self._kinds[DeviceKind.PV], self._kinds[DeviceKind.LOAD]
        if pv.ids:
            pv.power = self._pv.power(self.step, pv.limit)
        if loads.ids:
            loads.power = self._loads.power(self.step)
        self._dirty = False

    def _next(self) -> dict[DeviceKind, tuple[Array, Array]]:
        """Each kind with a state, of which the fleet has devices: (its state at the end of
        the coming step, the power drawn during it)."""
        h, k = self.step_h, self.step
        found: dict[DeviceKind, tuple[Array, Array]] = {}
        b = self._kinds[DeviceKind.BATTERY]
        if b.ids:
            found[DeviceKind.BATTERY] = self._batteries.step(b.state, b.asked, h)
        e = self._kinds[DeviceKind.EV]
        if e.ids:
            found[DeviceKind.EV] = self._evs.step(e.state, np.minimum(e.asked, e.limit), k, h)
        z = self._kinds[DeviceKind.HEATING]
        if z.ids:
            thermostat = self._zones.thermostat_kw(z.state, z.setpoint, k, h)
            asked = np.where(z.by_setpoint, thermostat, z.asked)
            found[DeviceKind.HEATING] = self._zones.step(z.state, asked, k, h)
        w = self._kinds[DeviceKind.WATER_HEATER]
        if w.ids:
            found[DeviceKind.WATER_HEATER] = self._tanks.step(w.state, w.asked, k, h)
        return found
