"""Buildings' device models as one HiGHS linear program (columns and rows as arrays).

Per building: net[N] (free) with rows net − Σ device powers = base; then per device:

- battery: charge c[N] ∈ [0, c_max], discharge d[N] ∈ [0, d_max], energy s[N] (after each
  step) ∈ [soc_min E, soc_max E], the last ≥ soc_final_min E; rows
  s(t+1) − s(t) − h ec c(t) + h d(t) / ed = 0 (s(0) = soc_init E on the right). Power c − d;
- ev: p[N] ∈ [0, max] in [arrival, departure), 0 outside; one row h Σ p = energy;
- heating: p[N] ∈ [0, max], temperature T[N] (end of each step) within the comfort band; rows
  T(t+1) − (1 − h/(RC)) T(t) − h cop/C p(t) = h/(RC) Tout(t);
- water_heater: p[N] ∈ [0, max], energy W[N] ∈ [min, max]; rows
  W(t+1) − W(t) − h p(t) = −h (draw(t) + loss);
- pv: p[N] = −forecast, or ∈ [−forecast, 0] when curtailable (generation lowers the net);
- load: p[N] = forecast.

A battery that charges and discharges in the same step wastes energy; a tiny cost per kWh
discharged (``cycling_cost``) keeps an optimum from doing so while prices are positive (and
:func:`device_powers` turns any such step into the one power with the same energy change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from osed.buildings.devices_schema import Array, Building, Device
from osed.optimizer.highs import INF, LinearProgram

Index = NDArray[np.int64]

CYCLING_COST = 1e-6
"""Per kWh discharged (currency): breaks ties against wasting energy in a battery."""


@dataclass(frozen=True, slots=True)
class DeviceColumns:
    building: int
    """Index of the building within the block."""
    device: Device
    power: Index
    """(N,) the device's power columns (a battery's charge)."""
    discharge: Index | None = None
    """(N,) a battery's discharge columns."""
    state: Index | None = None
    """(N,) the energy or temperature after each step."""
    rows: Index | None = None
    """The device's own rows: (N,) its state recursion, or an EV's one energy row."""


@dataclass
class BlockModel:
    """The LP of several buildings side by side (no rows couple them)."""

    program: LinearProgram
    net: Index
    """(buildings, N) net power columns."""
    devices: list[DeviceColumns]
    balance: Index
    """(buildings, N) the rows net − Σ device powers = base."""
    net_blocks: list[int]
    """Per building, the position of its net columns among the program's column blocks."""

    def bound_net(self, building: int, lower: Array, upper: Array) -> None:
        """Keep a building's net power within [lower, upper] (kW per step, ±inf: free)."""
        block = self.net_blocks[building]
        self.program.col_lower[block] = np.asarray(lower, dtype=float).copy()
        self.program.col_upper[block] = np.asarray(upper, dtype=float).copy()


def block_model(
    buildings: Sequence[Building],
    *,
    steps: int,
    step_h: float,
    prices: Array,
    cycling_cost: float = CYCLING_COST,
) -> BlockModel:
    """The buildings' LP with their tariff cost h·prices·net (``prices`` per kWh, (N,))."""
    program = LinearProgram()
    n, h = steps, step_h
    nets = np.empty((len(buildings), n), dtype=np.int64)
    balance = np.empty((len(buildings), n), dtype=np.int64)
    placed: list[DeviceColumns] = []
    net_blocks: list[int] = []
    for i, building in enumerate(buildings):
        net_blocks.append(len(program.col_lower))
        net = program.add_columns(n, lower=-INF, upper=INF, cost=h * prices)
        rows = program.add_rows(n, lower=building.base_kw, upper=building.base_kw)
        program.add_entries(rows, net, 1.0)
        nets[i], balance[i] = net, rows
        for device in building.devices:
            columns = _add_device(program, device, i, steps=n, step_h=h, cycling_cost=cycling_cost)
            program.add_entries(rows, columns.power, -1.0)
            if columns.discharge is not None:
                program.add_entries(rows, columns.discharge, 1.0)
            placed.append(columns)
    return BlockModel(program, nets, placed, balance, net_blocks)


@dataclass(frozen=True, slots=True)
class DeviceValues:
    """The numbers a device puts into the LP from its fields, series and state: the bounds of
    its columns, the right-hand sides of its rows and the coefficients of its recursion. The
    model is built from them, and a loaded model is changed to another step's with them."""

    power: tuple[Array, Array]
    """(N,) lower and upper bounds of the power columns (a battery's charge)."""
    discharge_max: float | None = None
    """A battery's discharge bound (its discharge columns lie in [0, it])."""
    state: tuple[Array, Array] | None = None
    """(N,) lower and upper bounds of the state columns."""
    rhs: Array | None = None
    """The right-hand sides of the device's rows: (N,) its recursion, or an EV's (1,)."""
    keep: float = 1.0
    """A recursion's state(t+1) − keep·state(t)."""
    gain: float = 0.0
    """The coefficient of the power columns in the device's rows."""
    discharge_gain: float = 0.0
    """A battery's coefficient of its discharge columns in its recursion."""

    def coefficients(self) -> tuple[float, float, float]:
        """The matrix entries that depend on the device's fields: −keep, gain, discharge's."""
        return -self.keep, self.gain, self.discharge_gain


def device_values(d: Device, *, steps: int, step_h: float) -> DeviceValues:
    """What ``d`` puts into the LP over ``steps`` steps of ``step_h`` hours."""
    n, h = steps, step_h
    if d.kind == "battery":
        e = d["capacity_kwh"]
        lower = np.full(n, d["soc_min"] * e)
        lower[-1] = max(lower[-1], d["soc_final_min"] * e)
        rhs = np.zeros(n)
        rhs[0] = initial_rhs(d, h)
        return DeviceValues(
            (np.zeros(n), np.full(n, float(d["charge_max_kw"]))),
            float(d["discharge_max_kw"]),
            (lower, np.full(n, d["soc_max"] * e)),
            rhs,
            gain=-h * d["charge_efficiency"],
            discharge_gain=h / d["discharge_efficiency"],
        )
    if d.kind == "ev":
        upper = np.zeros(n)
        upper[d["arrival_step"] : d["departure_step"]] = d["charge_max_kw"]
        return DeviceValues((np.zeros(n), upper), rhs=np.full(1, initial_rhs(d, h)), gain=h)
    if d.kind == "heating":
        c, r = d["capacitance_kwh_per_k"], d["resistance_k_per_kw"]
        rhs = h / (r * c) * d["outdoor_c"]
        rhs[0] = initial_rhs(d, h)
        band = (_series(d["comfort_min_c"], n), _series(d["comfort_max_c"], n))
        return DeviceValues(
            (np.zeros(n), np.full(n, float(d["power_max_kw"]))),
            state=band,
            rhs=rhs,
            keep=1.0 - h / (r * c),
            gain=-h * d["cop"] / c,
        )
    if d.kind == "water_heater":
        rhs = -h * (d["draw_kw"] + d["loss_kw"])
        rhs[0] = initial_rhs(d, h)
        energy = (_series(d["energy_min_kwh"], n), _series(d["energy_max_kwh"], n))
        return DeviceValues(
            (np.zeros(n), np.full(n, float(d["power_max_kw"]))),
            state=energy,
            rhs=rhs,
            gain=-h,
        )
    forecast = np.asarray(d["power_kw"], dtype=float)
    if d.kind == "pv":
        lower = -forecast
        return DeviceValues((lower, np.zeros(n) if d["curtailable"] else lower))
    if d.kind == "load":
        return DeviceValues((forecast, forecast))
    raise ValueError(f"device {d.id!r}: unknown kind {d.kind!r}")


def _add_device(
    program: LinearProgram, d: Device, i: int, *, steps: int, step_h: float, cycling_cost: float
) -> DeviceColumns:
    n, h = steps, step_h
    values = device_values(d, steps=n, step_h=h)
    power = program.add_columns(n, lower=values.power[0], upper=values.power[1])
    discharge = None
    if values.discharge_max is not None:
        discharge = program.add_columns(n, upper=values.discharge_max, cost=h * cycling_cost)
    state = None
    if values.state is not None:
        state = program.add_columns(n, lower=values.state[0], upper=values.state[1])
    rows = None
    if values.rhs is not None and state is not None:
        rows = _add_recursion(program, state, values.rhs, keep=values.keep)
        program.add_entries(rows, power, values.gain)
        if discharge is not None:
            program.add_entries(rows, discharge, values.discharge_gain)
    elif values.rhs is not None:  # an EV's one energy row
        rows = program.add_rows(1, lower=values.rhs, upper=values.rhs)
        program.add_entries(np.repeat(rows, n), power, values.gain)
    return DeviceColumns(i, d, power, discharge, state, rows)


def _series(value: float | Array, n: int) -> Array:
    """A number or a series as (N,) floats."""
    return np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()


def initial_rhs(d: Device, h: float) -> float:
    """The right-hand side of the row that holds the device's initial state: its first
    recursion row (battery, heating, water heater), or an EV's energy row."""
    if d.kind == "battery":
        return float(d["soc_init"] * d["capacity_kwh"])
    if d.kind == "ev":
        return float(d["energy_kwh"])
    if d.kind == "heating":
        ratio = h / (d["resistance_k_per_kw"] * d["capacitance_kwh_per_k"])
        return float(ratio * d["outdoor_c"][0] + (1.0 - ratio) * d["temp_init_c"])
    if d.kind == "water_heater":
        return float(d["energy_init_kwh"] - h * (d["draw_kw"][0] + d["loss_kw"]))
    raise ValueError(f"device {d.id!r} ({d.kind}) has no state")


def initial_rows(
    model: BlockModel, devices: Sequence[Device], step_h: float
) -> tuple[NDArray[np.int32], Array]:
    """The rows that hold the devices' initial states, and their right-hand sides for
    ``devices`` (aligned with ``model.devices``: the same devices at another state)."""
    rows: list[int] = []
    rhs: list[float] = []
    for placed, device in zip(model.devices, devices, strict=True):
        if placed.rows is not None:
            rows.append(int(placed.rows[0]))
            rhs.append(initial_rhs(device, step_h))
    return np.asarray(rows, dtype=np.int32), np.asarray(rhs, dtype=float)


def _add_recursion(program: LinearProgram, state: Index, rhs: Array, *, keep: float) -> Index:
    """Rows state(t+1) − keep·state(t) − (inputs, added by the caller) = rhs(t)."""
    n = state.size
    rows = program.add_rows(n, lower=rhs, upper=rhs)
    program.add_entries(rows, state, 1.0)
    program.add_entries(rows[1:], state[:-1], -keep)
    return rows


def device_powers(model: BlockModel, x: Array) -> list[Array]:
    """Each device's power (N,) in ``model.devices`` order, from a solution ``x``.

    A battery step with both charge c and discharge d becomes the single power whose energy
    change is the same (ec·c − d/ed): the energy path is unchanged and the net power is lower.
    """
    powers = []
    for placed in model.devices:
        if placed.device.kind in ("pv", "load"):
            powers.append(np.asarray(x[placed.power], dtype=float))
            continue
        power = np.maximum(x[placed.power], 0.0)
        if placed.discharge is not None:
            discharge = np.maximum(x[placed.discharge], 0.0)
            ec = placed.device["charge_efficiency"]
            ed = placed.device["discharge_efficiency"]
            gain = ec * power - discharge / ed
            power = np.where(gain >= 0, gain / ec, gain * ed)
        powers.append(power)
    return powers
