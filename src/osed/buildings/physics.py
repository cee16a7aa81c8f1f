"""One time step of the devices behind the meter, vectorised over many devices of a kind.

The equations are the DAC document's (docs/grid-functions.md, ``dac``), with the same field
names, so a device described for the DAC game or the MPC behaves the same in simulation:

- battery: s(t+1) = s(t) + h (ec c − d/ed), c = max(p, 0), d = max(−p, 0), the energy kept in
  [soc_min E, soc_max E] and the power in [−discharge_max, charge_max];
- ev: 0 ≤ p ≤ charge_max while plugged in (arrival ≤ k < departure), 0 otherwise; the energy
  delivered grows by h p until it reaches ``energy_kwh``;
- heating: T(t+1) = T(t) + h/C ((Tout(t) − T(t))/R + cop p(t)), 0 ≤ p ≤ power_max;
- water_heater: W(t+1) = W(t) + h (p − draw(t) − loss), 0 ≤ p ≤ power_max, W ≤ energy_max;
- pv: the profile's generation (curtailed to a limit), fed in as negative power;
- load: the profile, drawn as positive power.

A model plans with the equations; a device obeys physics as well. Where a command asks for
more than a device can do (charge a full battery, heat a full tank), the step gives what it
can: the power is cut to the limit the state allows, so the equations hold with the power
actually drawn. Profiles (outdoor temperature, draws, PV, load) repeat with their length, so a
one-day description runs for as many days as a study needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Fields = Mapping[str, Any]
"""One device's fields, named as in the DAC document (``capacity_kwh``, ``outdoor_c``, …)."""


def _column(devices: Sequence[Fields], name: str) -> Array:
    return np.array([float(d[name]) for d in devices], dtype=float)


def _profiles(devices: Sequence[Fields], name: str) -> Profiles:
    return Profiles.of([np.asarray(d[name], dtype=float).reshape(-1) for d in devices])


@dataclass(frozen=True, slots=True)
class Profiles:
    """Per-device series, each repeating with its own length. Series of equal length are
    stacked step-major, so the values of all devices at a step are one row per length."""

    size: int
    groups: tuple[tuple[NDArray[np.intp], Array], ...]
    """(the devices' positions, their series as (length, devices)), one per length."""

    @classmethod
    def of(cls, series: Sequence[Array]) -> Profiles:
        lengths = np.array([s.size for s in series], dtype=np.intp)
        groups = []
        for length in np.unique(lengths):
            positions = np.flatnonzero(lengths == length)
            stacked = np.stack([series[int(j)] for j in positions], axis=1)
            groups.append((positions, np.ascontiguousarray(stacked)))
        return cls(len(series), tuple(groups))

    def at(self, step: int) -> Array:
        """Each device's value at ``step``."""
        if len(self.groups) == 1:
            _, stacked = self.groups[0]
            row: Array = stacked[step % stacked.shape[0]].copy()
            return row
        values = np.empty(self.size)
        for positions, stacked in self.groups:
            values[positions] = stacked[step % stacked.shape[0]]
        return values


@dataclass(frozen=True, slots=True)
class Batteries:
    capacity_kwh: Array
    soc_min: Array
    soc_max: Array
    charge_max_kw: Array
    discharge_max_kw: Array
    charge_efficiency: Array
    discharge_efficiency: Array

    @classmethod
    def of(cls, devices: Sequence[Fields]) -> Batteries:
        return cls(
            *(
                _column(devices, name)
                for name in (
                    "capacity_kwh",
                    "soc_min",
                    "soc_max",
                    "charge_max_kw",
                    "discharge_max_kw",
                    "charge_efficiency",
                    "discharge_efficiency",
                )
            )
        )

    def step(self, soc: Array, power_kw: Array, step_h: float) -> tuple[Array, Array]:
        """(new state of charge, power drawn) after one step asked to draw ``power_kw``
        (charge positive)."""
        energy = soc * self.capacity_kwh
        room = np.maximum(self.soc_max * self.capacity_kwh - energy, 0.0)
        stored = np.maximum(energy - self.soc_min * self.capacity_kwh, 0.0)
        charge = np.minimum(
            np.clip(power_kw, 0.0, self.charge_max_kw), room / (step_h * self.charge_efficiency)
        )
        discharge = np.minimum(
            np.clip(-power_kw, 0.0, self.discharge_max_kw),
            stored * self.discharge_efficiency / step_h,
        )
        energy = energy + step_h * (
            self.charge_efficiency * charge - discharge / self.discharge_efficiency
        )
        return energy / self.capacity_kwh, charge - discharge


@dataclass(frozen=True, slots=True)
class Evs:
    arrival_step: NDArray[np.int64]
    departure_step: NDArray[np.int64]
    energy_kwh: Array
    charge_max_kw: Array
    period: NDArray[np.int64]
    """Steps after which a session repeats (the profile length: a day, say)."""

    @classmethod
    def of(cls, devices: Sequence[Fields], period: int | Sequence[int]) -> Evs:
        periods = np.broadcast_to(np.asarray(period, dtype=np.int64), (len(devices),)).copy()
        return cls(
            np.array([int(d["arrival_step"]) for d in devices], dtype=np.int64),
            np.array([int(d["departure_step"]) for d in devices], dtype=np.int64),
            _column(devices, "energy_kwh"),
            _column(devices, "charge_max_kw"),
            periods,
        )

    def plugged(self, step: int) -> NDArray[np.bool_]:
        k = step % self.period
        plugged: NDArray[np.bool_] = (self.arrival_step <= k) & (k < self.departure_step)
        return plugged

    def step(
        self, delivered_kwh: Array, power_kw: Array, step: int, step_h: float
    ) -> tuple[Array, Array]:
        """(energy delivered in the session, power drawn) after step ``step``. A session starts
        at its arrival with nothing delivered and takes at most ``energy_kwh``."""
        k = step % self.period
        delivered = np.where(k == self.arrival_step, 0.0, delivered_kwh)
        missing = np.maximum(self.energy_kwh - delivered, 0.0)
        power = np.where(
            self.plugged(step),
            np.minimum(np.clip(power_kw, 0.0, self.charge_max_kw), missing / step_h),
            0.0,
        )
        return delivered + step_h * power, power


@dataclass(frozen=True, slots=True)
class HeatingZones:
    capacitance_kwh_per_k: Array
    resistance_k_per_kw: Array
    cop: Array
    power_max_kw: Array
    outdoor_c: Profiles

    @classmethod
    def of(cls, devices: Sequence[Fields]) -> HeatingZones:
        return cls(
            _column(devices, "capacitance_kwh_per_k"),
            _column(devices, "resistance_k_per_kw"),
            _column(devices, "cop"),
            _column(devices, "power_max_kw"),
            _profiles(devices, "outdoor_c"),
        )

    def outdoor(self, step: int) -> Array:
        return self.outdoor_c.at(step)

    def step(
        self, temperature_c: Array, power_kw: Array, step: int, step_h: float
    ) -> tuple[Array, Array]:
        """(indoor temperature at the end of the step, electric power drawn)."""
        power = np.clip(power_kw, 0.0, self.power_max_kw)
        loss = (self.outdoor(step) - temperature_c) / self.resistance_k_per_kw
        gain = step_h / self.capacitance_kwh_per_k * (loss + self.cop * power)
        return temperature_c + gain, power

    def thermostat_kw(
        self, temperature_c: Array, setpoint_c: Array, step: int, step_h: float
    ) -> Array:
        """The power that brings each zone to its setpoint by the end of the step, within
        [0, power_max] (a zone above its setpoint gets none)."""
        loss = (self.outdoor(step) - temperature_c) / self.resistance_k_per_kw
        needed = (self.capacitance_kwh_per_k * (setpoint_c - temperature_c) / step_h - loss) / (
            self.cop
        )
        return np.clip(needed, 0.0, self.power_max_kw)


@dataclass(frozen=True, slots=True)
class WaterHeaters:
    energy_max_kwh: Array
    power_max_kw: Array
    loss_kw: Array
    draw_kw: Profiles

    @classmethod
    def of(cls, devices: Sequence[Fields]) -> WaterHeaters:
        return cls(
            _column(devices, "energy_max_kwh"),
            _column(devices, "power_max_kw"),
            _column(devices, "loss_kw"),
            _profiles(devices, "draw_kw"),
        )

    def step(
        self, energy_kwh: Array, power_kw: Array, step: int, step_h: float
    ) -> tuple[Array, Array]:
        """(stored energy at the end of the step, power drawn). The tank's thermostat stops
        heating at ``energy_max``; draws beyond what is stored find cold water (the energy
        stops at 0)."""
        outflow = self.draw_kw.at(step) + self.loss_kw
        room = np.maximum(self.energy_max_kwh - energy_kwh, 0.0) / step_h + outflow
        power = np.minimum(np.clip(power_kw, 0.0, self.power_max_kw), room)
        return np.maximum(energy_kwh + step_h * (power - outflow), 0.0), power


@dataclass(frozen=True, slots=True)
class PvSystems:
    profile_kw: Profiles
    """Generation (≥ 0) per step of the profile."""

    @classmethod
    def of(cls, devices: Sequence[Fields]) -> PvSystems:
        return cls(_profiles(devices, "profile_kw"))

    def power(self, step: int, limit_kw: Array | None = None) -> Array:
        """Power at ``step``: generation fed in, negative; at most ``limit_kw`` (curtailment)."""
        generation = np.maximum(self.profile_kw.at(step), 0.0)
        if limit_kw is not None:
            generation = np.minimum(generation, np.maximum(limit_kw, 0.0))
        return -generation


@dataclass(frozen=True, slots=True)
class Loads:
    profile_kw: Profiles

    @classmethod
    def of(cls, devices: Sequence[Fields]) -> Loads:
        return cls(_profiles(devices, "profile_kw"))

    def power(self, step: int) -> Array:
        return self.profile_kw.at(step)
