"""Normalised residuals of an asymmetric estimate, phase by phase.

The residuals are the solver's own, per sensor and phase (exact for the unbalanced model).
Their covariance ``Ω`` comes from the positive-sequence model of :mod:`osed.grid.residuals`
applied to each phase at that phase's estimated voltages (angles brought into the positive
sequence frame): an approximation that neglects coupling between phases, which changes how
large a normalised residual is, not which measurement stands out. Per-phase readings are
scaled to three-phase equivalents (power ×3, voltage ×√3) so the symmetric per-unit model
applies unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from power_grid_model import DatasetType, MeasuredTerminalType, initialize_array

from osed.grid.admittance import S_BASE, Admittance
from osed.grid.network import Network, Table
from osed.grid.residuals import MeasurementModel, Rows, measurement_model, normalise, row_count

Floats = NDArray[np.float64]
SQRT3 = math.sqrt(3.0)
TO_POSITIVE_SEQUENCE = np.array([0.0, 2.0 * math.pi / 3.0, -2.0 * math.pi / 3.0])


def asymmetric_normalised(
    network: Network,
    adm: Admittance,
    sensors: Mapping[str, Table],
    output: Mapping[str, Table],
    *,
    u_pu: Floats,
    u_angle: Floats,
) -> list[Rows]:
    """Rows of each phase A, B, C."""
    found: list[Rows] = []
    for phase in range(3):
        tables = _phase_tables(sensors, phase)
        model = measurement_model(network, adm, tables)
        voltage = np.zeros(adm.buses, dtype=np.complex128)
        angle = u_angle[:, phase] + TO_POSITIVE_SEQUENCE[phase]
        voltage[adm.bus_of_node] = u_pu[:, phase] * np.exp(1j * angle)
        _, jac = model.linearise(voltage)
        residual = _solver_residuals(model, sensors, output, phase=phase, network=network)
        found.append(normalise(model, residual, jac))
    return found


def _phase_tables(sensors: Mapping[str, Table], phase: int) -> dict[str, Table]:
    shift = TO_POSITIVE_SEQUENCE[phase]
    tables: dict[str, Table] = {}
    for kind, table in sensors.items():
        if not kind.startswith("asym_"):
            continue
        sym = initialize_array(DatasetType.input, kind.removeprefix("a"), len(table))
        for name in ("id", "measured_object", "measured_terminal_type", "angle_measurement_type"):
            if name in (sym.dtype.names or ()):
                sym[name] = table[name]
        if "voltage" in kind:
            sym["u_sigma"] = table["u_sigma"] * SQRT3
            sym["u_measured"] = table["u_measured"][:, phase] * SQRT3
            sym["u_angle_measured"] = table["u_angle_measured"][:, phase] + shift
        elif "power" in kind:
            for name in ("p_measured", "q_measured", "p_sigma", "q_sigma"):
                sym[name] = table[name][:, phase] * 3.0
            sym["power_sigma"] = table["power_sigma"] * 3.0
        else:
            sym["i_measured"] = table["i_measured"][:, phase]
            sym["i_sigma"] = table["i_sigma"]
            local = table["angle_measurement_type"] == 0
            offset = np.where(local, 0.0, shift)  # a local angle is already relative
            sym["i_angle_measured"] = table["i_angle_measured"][:, phase] + offset
            sym["i_angle_sigma"] = table["i_angle_sigma"]
        tables[kind.removeprefix("a")] = sym
    return tables


def _solver_residuals(
    model: MeasurementModel,
    sensors: Mapping[str, Table],
    output: Mapping[str, Table],
    *,
    phase: int,
    network: Network,
) -> Floats:
    """The solver's residual behind each row, in the rows' per-unit."""
    where: dict[int, tuple[str, int]] = {}
    for kind, table in output.items():
        if kind.startswith("asym_") and kind.endswith("sensor"):
            for position, sensor in enumerate(table["id"]):
                where[int(sensor)] = (kind, position)
    nodes = network.table("node")
    u_rated = nodes["u_rated"]
    row_of = np.full(len(network.external_ids), -1, dtype=np.int64)
    row_of[nodes["id"]] = np.arange(len(nodes))
    rows = model.rows
    residual = np.zeros(len(rows.sensor))
    for k, (sensor, quantity) in enumerate(zip(rows.sensor, rows.quantity, strict=True)):
        if sensor < 0:
            continue  # a zero-injection constraint
        total = 0.0
        for member in rows.group.get(sensor, (sensor,)):
            kind, position = where[member]
            reading = _Reading(kind, position, member, quantity, phase)
            total += _one(reading, sensors, output, row_of, u_rated)
        if quantity == "currmagnitude":  # amperes to the row's per unit
            kind, position = where[sensor]
            measured = float(sensors[kind]["i_measured"][position][phase])
            total *= float(model.z[k]) / measured if measured else 0.0
        residual[k] = total
    return residual


@dataclass(frozen=True, slots=True)
class _Reading:
    kind: str
    position: int
    sensor: int
    quantity: str
    phase: int


def _one(
    reading: _Reading,
    sensors: Mapping[str, Table],
    output: Mapping[str, Table],
    row_of: NDArray[np.int64],
    u_rated: Floats,
) -> float:
    kind, phase, quantity = reading.kind, reading.phase, reading.quantity
    result = output[kind][reading.position]
    given = sensors[kind][sensors[kind]["id"] == reading.sensor][0]
    if quantity == "voltmagnitude":
        node = int(row_of[given["measured_object"]])
        return float(result["u_residual"][phase]) * SQRT3 / float(u_rated[node])
    if quantity == "voltangle":
        return float(result["u_angle_residual"][phase])
    if quantity in ("activepower", "reactivepower"):
        value = float(result["p_residual" if quantity == "activepower" else "q_residual"][phase])
        terminal = int(given["measured_terminal_type"])
        sign = -1.0 if terminal == int(MeasuredTerminalType.load) else 1.0
        return sign * 3.0 * value / S_BASE
    if quantity == "currmagnitude":
        return float(result["i_residual"][phase])
    return float(result["i_angle_residual"][phase])


def asymmetric_dof(network: Network, adm: Admittance, sensors: Mapping[str, Table]) -> int:
    """Degrees of freedom of an asymmetric estimate: three phases of rows, less three phases
    of angles and magnitudes, less one angle reference when no phasor fixes it."""
    rows, states = row_count(network, adm, _phase_tables(sensors, 0))
    reference = 2 * adm.buses - states  # 1 without a voltage phasor, else 0
    return 3 * rows - (6 * adm.buses - reference)


def phase_view(sensors: Mapping[str, Table]) -> dict[str, Table]:
    """Phase A of asymmetric sensors as symmetric ones: the rows one phase contributes."""
    return _phase_tables(sensors, 0)
