"""Measurements for state estimation, in the SOGNO vocabulary, turned into solver sensors.

A measurement names the measured element by its external id (a node, a branch end, an
appliance, or a sensor the network defines), a SOGNO measurand and phase, a value and its
standard deviation ``sigma`` in the value's unit:

=============== =========================================== =============================
measurand       element                                     unit (per phase / ``ABC``)
=============== =========================================== =============================
voltmagnitude   node                                        V phase-to-ground
voltangle       node (with voltmagnitude: a PMU phasor)     rad
activepower     node (injection), appliance, branch ``side`` W per phase / W in total
reactivepower   as activepower                              var per phase / var in total
currmagnitude   branch ``side``                             A
currangle       branch ``side`` (global angle)              rad
=============== =========================================== =============================

Phase ``ABC`` is the three-phase quantity: voltage and current as the mean phase magnitude
(phase A's angle), powers as totals — the convention of :mod:`osed.grid.power`. A symmetric
estimate takes ``ABC`` readings, or ``A``, ``B`` and ``C`` together (summed powers, mean
magnitudes); an asymmetric one takes per-phase readings, or ``ABC`` spread as a balanced set.

Signs: node ``activepower`` is the injection into the grid (generation positive); a load's
is its consumption, a generator's or source's its generation; a branch end's is the power
flowing from that end's node into the branch.

A voltage angle is weighted with the magnitude's relative sigma (power-grid-model measures a
phasor with one sigma). Active and reactive power are measured as a pair by one sensor, and
so are a current's magnitude and angle.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from power_grid_model import DatasetType, MeasuredTerminalType, initialize_array
from scipy.sparse import csr_matrix

from osed.domain.errors import Problem, ValidationError
from osed.grid.network import BRANCHES, BRANCHES3, SENSORS, Network, Table

MEASURANDS = (
    "voltmagnitude",
    "voltangle",
    "activepower",
    "reactivepower",
    "currmagnitude",
    "currangle",
)
PHASES = ("A", "B", "C", "ABC")
SIDES = ("from", "to", "1", "2", "3")  # 1-3: the ends of a three-winding transformer
SQRT3 = math.sqrt(3.0)
PHASE_SHIFT = np.array([0.0, -2.0 * math.pi / 3.0, 2.0 * math.pi / 3.0])

_APPLIANCE_TERMINAL = {
    "source": MeasuredTerminalType.source,
    "shunt": MeasuredTerminalType.shunt,
    "sym_load": MeasuredTerminalType.load,
    "asym_load": MeasuredTerminalType.load,
    "sym_gen": MeasuredTerminalType.generator,
    "asym_gen": MeasuredTerminalType.generator,
}


_SIDE_OF_TERMINAL = {
    MeasuredTerminalType.branch_from: "from",
    MeasuredTerminalType.branch_to: "to",
    MeasuredTerminalType.branch3_1: "1",
    MeasuredTerminalType.branch3_2: "2",
    MeasuredTerminalType.branch3_3: "3",
}
_TERMINAL_OF_SIDE = {side: int(terminal) for terminal, side in _SIDE_OF_TERMINAL.items()}


@dataclass(frozen=True, slots=True)
class Measurement:
    element: str
    measurand: str
    value: float
    sigma: float
    phase: str = "ABC"
    side: str = ""
    pseudo: bool = False  # a forecast or profile value standing in for a measurement
    local_angle: bool = False  # currangle: voltage angle minus current angle at that end
    sensor: str = ""  # the meter, when one element has several (a network sensor's id)

    def label(self) -> str:
        side = f"@{self.side}" if self.side else ""
        return f"{self.measurand}[{self.phase}] {self.element}{side}"


@dataclass(frozen=True, slots=True)
class SensorRow:
    """Which measurements one solver sensor carries, for naming residuals and bad data."""

    kind: str  # a power-grid-model sensor kind
    solver_id: int
    quantities: tuple[str, ...]  # e.g. ("voltmagnitude", "voltangle")
    members: tuple[int, ...]  # indices into the measurement list


@dataclass(frozen=True)
class SensorSet:
    data: dict[str, Table]
    rows: tuple[SensorRow, ...]
    by_solver_id: dict[int, SensorRow] = field(default_factory=dict)
    value_maps: list[ValueMap] = field(default_factory=list)

    def update(self, values: NDArray[np.float64]) -> None:
        """Put a new snapshot of the same measurements (in the same order) into the tables."""
        for value_map in self.value_maps:
            value_map.apply(self.data[value_map.kind], values)


def parse_measurements(document: object, network: Network) -> list[Measurement]:
    """Read ``{"measurements": [...]}`` (or a bare list); every problem named by its path."""
    problems: list[Problem] = []
    items: object = document
    base = "$"
    if isinstance(document, Mapping):
        items = document.get("measurements")
        base = "$.measurements"
    if not isinstance(items, list):
        raise ValidationError(
            [Problem(base, "not_a_list", "expected a list of measurements")],
            subject="measurements",
        )
    measurements: list[Measurement] = []
    for position, item in enumerate(items):
        path = f"{base}[{position}]"
        found = _parse_one(item, path, network, problems)
        if found is not None:
            measurements.append(found)
    if problems:
        raise ValidationError(problems, subject="measurements")
    return measurements


# Bounds of a meaningful reading (SI units, radians): beyond them the estimator's squared,
# weighted residuals overflow instead of meaning anything.
MAGNITUDE_LIMIT = 1e15
SIGMA_MIN = 1e-9


def _parse_one(
    item: object, path: str, network: Network, problems: list[Problem]
) -> Measurement | None:
    if not isinstance(item, Mapping):
        problems.append(Problem(path, "not_an_object", "expected an object"))
        return None
    start = len(problems)
    element = item.get("element", item.get("component"))
    measurand = item.get("measurand")
    phase = item.get("phase", "ABC")
    side = item.get("side", "")
    value = _number(item.get("value", item.get("data")), f"{path}.value", problems)
    sigma_given = item.get("sigma")
    if not isinstance(element, str) or not element:
        problems.append(Problem(f"{path}.element", "required", "element must name a component"))
    elif not network.has(element):
        problems.append(
            Problem(f"{path}.element", "unknown_element", f"{element!r} is not in the network")
        )
    if measurand not in MEASURANDS:
        problems.append(
            Problem(
                f"{path}.measurand", "unknown_measurand", f"measurand must be one of {MEASURANDS}"
            )
        )
    if phase not in PHASES:
        problems.append(Problem(f"{path}.phase", "unknown_phase", f"phase must be one of {PHASES}"))
    if side not in ("", *SIDES):
        problems.append(Problem(f"{path}.side", "unknown_side", "side must be 'from' or 'to'"))
    sigma = math.nan
    if sigma_given is not None:
        sigma = _number(sigma_given, f"{path}.sigma", problems)
        if math.isfinite(sigma) and sigma <= 0:
            problems.append(Problem(f"{path}.sigma", "not_positive", "sigma must be > 0"))
        elif math.isfinite(sigma) and sigma < SIGMA_MIN:
            problems.append(
                Problem(
                    f"{path}.sigma",
                    "too_small",
                    f"sigma below {SIGMA_MIN:g} claims a "
                    "precision no meter has, and makes the weights overflow",
                )
            )
    if len(problems) > start:
        return None
    assert isinstance(element, str)
    assert isinstance(measurand, str)
    reference = item.get("angle_reference", "global")
    if reference not in ("global", "local"):
        problems.append(
            Problem(f"{path}.angle_reference", "unknown_reference", "'global' or 'local'")
        )
        return None
    measurement = Measurement(
        element, measurand, value, sigma, str(phase), str(side), local_angle=reference == "local"
    )
    measurement = _through_sensor(measurement, network)
    if not math.isfinite(measurement.sigma):
        problems.append(
            Problem(f"{path}.sigma", "required", "sigma is required (no network sensor gives one)")
        )
        return None
    _check_placement(measurement, network, path, problems)
    return measurement if len(problems) == start else None


def _number(raw: object, path: str, problems: list[Problem]) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.append(Problem(path, "not_a_number", "expected a number"))
        return math.nan
    value = float(raw)
    if not math.isfinite(value):
        problems.append(Problem(path, "not_finite", "expected a finite number"))
    elif abs(value) > MAGNITUDE_LIMIT:
        problems.append(Problem(path, "too_large", f"{value:g} is beyond {MAGNITUDE_LIMIT:g}"))
    return value


def _through_sensor(measurement: Measurement, network: Network) -> Measurement:
    """A measurement that names a sensor of the network takes its object and sigma."""
    kind = network.kind(measurement.element)
    if kind not in SENSORS:
        return measurement
    row = network.table(kind)[network.table(kind)["id"] == network.solver_id(measurement.element)][
        0
    ]
    target = network.external_ids[int(row["measured_object"])]
    side = measurement.side
    if "measured_terminal_type" in row.dtype.names:
        terminal = int(row["measured_terminal_type"])
        side = _SIDE_OF_TERMINAL.get(MeasuredTerminalType(terminal), side)
    sigma = measurement.sigma
    if not math.isfinite(sigma):
        sigma = _sensor_sigma(kind, row, measurement.measurand)
    local = measurement.local_angle
    if "angle_measurement_type" in (row.dtype.names or ()):
        local = int(row["angle_measurement_type"]) == 0
    return replace(
        measurement,
        element=target,
        side=side,
        sigma=sigma,
        local_angle=local,
        sensor=measurement.sensor or measurement.element,
    )


def _sensor_sigma(kind: str, row: np.void, measurand: str) -> float:
    names = row.dtype.names or ()
    if "voltage" in kind:
        sigma = float(row["u_sigma"])
        return sigma / SQRT3 if kind.startswith("sym") else sigma
    if "current" in kind:
        return float(row["i_angle_sigma" if measurand == "currangle" else "i_sigma"])
    specific = "p_sigma" if measurand == "activepower" else "q_sigma"
    value = float(np.max(row[specific])) if specific in names else math.nan
    return value if math.isfinite(value) else float(np.max(row["power_sigma"]))


def _check_placement(
    measurement: Measurement, network: Network, path: str, problems: list[Problem]
) -> None:
    kind = network.kind(measurement.element)
    quantity = measurement.measurand
    if quantity.startswith("volt") and kind != "node":
        problems.append(
            Problem(
                f"{path}.element",
                "wrong_element",
                f"{quantity} is measured at a node, not a {kind}",
            )
        )
    elif quantity.startswith("curr") and kind not in (*BRANCHES, *BRANCHES3):
        problems.append(
            Problem(
                f"{path}.element",
                "wrong_element",
                f"{quantity} is measured at a branch end, not a {kind}",
            )
        )
    elif quantity.endswith("power") and kind not in (
        "node",
        *BRANCHES,
        *BRANCHES3,
        *_APPLIANCE_TERMINAL,
    ):
        problems.append(
            Problem(
                f"{path}.element", "wrong_element", f"{quantity} cannot be measured at a {kind}"
            )
        )
    sides = {**dict.fromkeys(BRANCHES, ("from", "to")), **dict.fromkeys(BRANCHES3, ("1", "2", "3"))}
    allowed = sides.get(kind, ())
    if allowed and measurement.side not in allowed:
        problems.append(
            Problem(
                f"{path}.side",
                "required",
                f"a {kind} measurement needs side {' or '.join(map(repr, allowed))}",
            )
        )
    if not allowed and measurement.side:
        problems.append(
            Problem(
                f"{path}.side",
                "not_a_branch",
                f"side is only for branches, {measurement.element!r} is a {kind}",
            )
        )


Key = tuple[str, str, str, str]  # element, side, family (voltage | power | current), meter


def build_sensors(
    measurements: Sequence[Measurement], network: Network, *, symmetric: bool
) -> SensorSet:
    """Group measurements into power-grid-model sensors; every pairing problem is reported."""
    groups: dict[Key, dict[tuple[str, str], int]] = defaultdict(dict)
    problems: list[Problem] = []
    for index, m in enumerate(measurements):
        family = m.measurand[:4]  # volt | acti | reac | curr
        family = "power" if family in ("acti", "reac") else family
        slot = (m.measurand, m.phase)
        key = (m.element, m.side, family, m.sensor)
        if slot in groups[key]:
            problems.append(
                Problem(f"$.measurements[{index}]", "duplicate", f"{m.label()} is given twice")
            )
        groups[key][slot] = index
    builders = _SensorTables(
        network, symmetric, start=len(network.external_ids), count=len(measurements)
    )
    for (element, side, family, _), slots in groups.items():
        builders.add(
            element, side, family, slots=slots, measurements=measurements, problems=problems
        )
    if problems:
        raise ValidationError(problems, subject="measurements")
    rows = tuple(builders.rows)
    return SensorSet(
        builders.tables(),
        rows,
        {row.solver_id: row for row in rows},
        builders.value_maps(),
    )


Terms = list[tuple[list[tuple[int, float]], float]]  # per component: ((index, weight)...), offset


@dataclass(frozen=True, eq=False)
class ValueMap:
    """Where measurement values land in the sensor tables: ``cells = matrix @ values + offset``.

    Lets an estimator take a new snapshot of the same measurements by one sparse product per
    attribute instead of rebuilding its sensors.
    """

    kind: str
    attribute: str
    rows: NDArray[np.int64]
    phases: NDArray[np.int64]  # -1 for a symmetric attribute
    matrix: csr_matrix
    offset: NDArray[np.float64]

    def apply(self, table: Table, values: NDArray[np.float64]) -> None:
        """Put the cells of ``values`` into ``table`` (a sensor table, or an update array of
        the same rows)."""
        single = self._single
        if single is None:
            self._write(table, self.matrix @ values + self.offset)
            return
        # One term per cell: w·v + offset, bit for bit the product's 0.0 + w·v + offset once a
        # zero offset is +0.0 (which turns a -0.0 term into +0.0 as the product's sum does).
        columns, weights = single
        picked = values[columns]  # a view of ``values`` when ``columns`` is a slice
        if weights is not None:
            copied = not isinstance(columns, slice)
            picked = np.multiply(picked, weights, out=picked if copied else None)
        if self.phases[0] < 0 and self._every_row and len(table) == len(self.rows):
            np.add(picked, self._positive_offset, out=table[self.attribute])
        else:
            self._write(table, picked + self._positive_offset)

    def _write(self, table: Table, cells: NDArray[np.float64]) -> None:
        if self.phases[0] < 0:
            table[self.attribute][self.rows] = cells
        else:
            table[self.attribute][self.rows, self.phases] = cells

    @cached_property
    def _single(self) -> tuple[NDArray[np.int64] | slice, NDArray[np.float64] | None] | None:
        """The measurement of each cell (a slice when they are evenly spaced, as a list in
        order of measurand or element gives them) and its weight (None: all 1), when every
        cell is one weighted measurement."""
        matrix = self.matrix
        if not np.array_equal(matrix.indptr, np.arange(matrix.shape[0] + 1)):
            return None
        weights = np.asarray(matrix.data, dtype=np.float64)
        unit = bool(np.all(weights == 1.0))
        indices = matrix.indices.astype(np.int64)
        columns: NDArray[np.int64] | slice = indices
        steps = np.diff(indices)
        if len(steps) and steps[0] > 0 and bool(np.all(steps == steps[0])):
            first, step = int(indices[0]), int(steps[0])
            columns = slice(first, first + step * len(steps) + 1, step)
        return columns, None if unit else weights.copy()

    @cached_property
    def _positive_offset(self) -> NDArray[np.float64] | float:
        if not self.offset.any():
            return 0.0
        offset: NDArray[np.float64] = self.offset + 0.0  # -0.0 becomes +0.0
        return offset

    @cached_property
    def _every_row(self) -> bool:
        """The cells are the rows of the table in order (a whole symmetric column)."""
        return bool(np.array_equal(self.rows, np.arange(len(self.rows))))


class _SensorTables:
    def __init__(self, network: Network, symmetric: bool, start: int, count: int) -> None:
        self.network = network
        self.symmetric = symmetric
        self.prefix = "sym" if symmetric else "asym"
        self.next_id = start
        self.count = count
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.rows: list[SensorRow] = []
        # (kind, attribute) -> [(row, phase, terms of one component)]
        self.cells: dict[tuple[str, str], list[tuple[int, int, list[tuple[int, float]], float]]] = (
            defaultdict(list)
        )

    def tables(self) -> dict[str, Table]:
        out: dict[str, Table] = {}
        for kind, records in self.records.items():
            table = initialize_array(DatasetType.input, kind, len(records))
            attributes = {attribute for record in records for attribute in record}
            for attribute in attributes:
                column = table[attribute]
                for position, record in enumerate(records):
                    if attribute in record:
                        column[position] = record[attribute]
            out[kind] = table
        return out

    def value_maps(self) -> list[ValueMap]:
        maps: list[ValueMap] = []
        for (kind, attribute), cells in self.cells.items():
            rows, cols, weights = [], [], []
            for cell, (_, _, terms, _) in enumerate(cells):
                for index, weight in terms:
                    rows.append(cell)
                    cols.append(index)
                    weights.append(weight)
            matrix = csr_matrix((weights, (rows, cols)), shape=(len(cells), self.count))
            maps.append(
                ValueMap(
                    kind,
                    attribute,
                    np.array([c[0] for c in cells], dtype=np.int64),
                    np.array([c[1] for c in cells], dtype=np.int64),
                    matrix,
                    np.array([c[3] for c in cells]),
                )
            )
        return maps

    def add(
        self,
        element: str,
        side: str,
        family: str,
        *,
        slots: Mapping[tuple[str, str], int],
        measurements: Sequence[Measurement],
        problems: list[Problem],
    ) -> None:
        measurands = {measurand for measurand, _ in slots}
        pairs = {
            "volt": ("voltmagnitude", "voltangle"),
            "power": ("activepower", "reactivepower"),
            "curr": ("currmagnitude", "currangle"),
        }[family]
        members = tuple(sorted(slots.values()))
        first = f"$.measurements[{members[0]}]"
        required = pairs if family != "volt" else pairs[:1]
        for needed in required:
            if needed not in measurands:
                problems.append(
                    Problem(
                        first,
                        "incomplete",
                        f"{element}: {needed} is needed with {sorted(measurands)}",
                    )
                )
                return
        values: dict[str, tuple[NDArray[np.float64], NDArray[np.float64], Terms]] = {}
        for measurand in sorted(measurands):
            phased = {phase: i for (m, phase), i in slots.items() if m == measurand}
            converted = self._phases(
                measurand,
                phased,
                measurements=measurements,
                path=first,
                element=element,
                problems=problems,
            )
            if converted is None:
                return
            values[measurand] = converted
        solver_object = self.network.solver_id(element)
        sensor_id = self.next_id
        self.next_id += 1
        local_angle = any(
            measurements[i].local_angle for (m, _), i in slots.items() if m == "currangle"
        )
        kind, record, sources = self._record(
            family, element, side, solver_object, values, local_angle=local_angle
        )
        record["id"] = sensor_id
        row = len(self.records[kind])
        self.records[kind].append(record)
        for attribute, (terms, scale) in sources.items():
            for phase, (term, offset) in enumerate(terms):
                self.cells[(kind, attribute)].append(
                    (
                        row,
                        -1 if self.symmetric else phase,
                        [(i, w * scale) for i, w in term],
                        offset * scale,
                    )
                )
        self.rows.append(SensorRow(kind, sensor_id, tuple(sorted(measurands)), members))

    def _phases(
        self,
        measurand: str,
        phased: Mapping[str, int],
        *,
        measurements: Sequence[Measurement],
        path: str,
        element: str,
        problems: list[Problem],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], Terms] | None:
        """(value, sigma, terms) per phase (asymmetric) or as one three-phase number."""
        power = measurand.endswith("power")
        angle = measurand.endswith("angle")
        if "ABC" in phased:
            if len(phased) > 1:
                problems.append(
                    Problem(
                        path,
                        "mixed_phases",
                        f"{element}: {measurand} given both per phase and as ABC",
                    )
                )
                return None
            i = phased["ABC"]
            m = measurements[i]
            if self.symmetric:
                return np.array(m.value), np.array(m.sigma), [([(i, 1.0)], 0.0)]
            if power:
                return (
                    np.full(3, m.value / 3),
                    np.full(3, m.sigma / SQRT3),
                    [([(i, 1.0 / 3.0)], 0.0)] * 3,
                )
            if angle:
                shifts = [float(x) for x in PHASE_SHIFT]
                return m.value + PHASE_SHIFT, np.full(3, m.sigma), [([(i, 1.0)], x) for x in shifts]
            return np.full(3, m.value), np.full(3, m.sigma), [([(i, 1.0)], 0.0)] * 3
        missing = [p for p in "ABC" if p not in phased]
        if missing:
            problems.append(
                Problem(
                    path, "missing_phase", f"{element}: {measurand} lacks phase {','.join(missing)}"
                )
            )
            return None
        index = [phased[p] for p in "ABC"]
        value = np.array([measurements[i].value for i in index])
        sigma = np.array([measurements[i].sigma for i in index])
        if not self.symmetric:
            return value, sigma, [([(i, 1.0)], 0.0) for i in index]
        if power:
            total = [(i, 1.0) for i in index]
            return (
                np.array(value.sum()),
                np.array(math.sqrt(float((sigma**2).sum()))),
                [(total, 0.0)],
            )
        if angle:
            return np.array(value[0]), np.array(sigma.mean()), [([(index[0], 1.0)], 0.0)]
        mean = [(i, 1.0 / 3.0) for i in index]
        return np.array(value.mean()), np.array(sigma.mean() / SQRT3), [(mean, 0.0)]

    def _record(
        self,
        family: str,
        element: str,
        side: str,
        solver_object: int,
        values: Mapping[str, tuple[NDArray[np.float64], NDArray[np.float64], Terms]],
        *,
        local_angle: bool = False,
    ) -> tuple[str, dict[str, Any], dict[str, tuple[Terms, float]]]:
        record: dict[str, Any] = {"measured_object": solver_object}
        sources: dict[str, tuple[Terms, float]] = {}
        if family == "volt":
            magnitude, sigma, terms = values["voltmagnitude"]
            scale = SQRT3 if self.symmetric else 1.0  # symmetric sensors measure line-to-line
            record["u_measured"] = magnitude * scale
            record["u_sigma"] = float(np.max(sigma)) * scale
            sources["u_measured"] = (terms, scale)
            if "voltangle" in values:
                record["u_angle_measured"] = values["voltangle"][0]
                sources["u_angle_measured"] = (values["voltangle"][2], 1.0)
            return f"{self.prefix}_voltage_sensor", record, sources
        record["measured_terminal_type"] = self._terminal(element, side)
        if family == "power":
            p, p_sigma, p_terms = values["activepower"]
            q, q_sigma, q_terms = values["reactivepower"]
            record |= {"p_measured": p, "q_measured": q, "p_sigma": p_sigma, "q_sigma": q_sigma}
            sources["p_measured"] = (p_terms, 1.0)
            sources["q_measured"] = (q_terms, 1.0)
            return f"{self.prefix}_power_sensor", record, sources
        i, i_sigma, i_terms = values["currmagnitude"]
        angle, angle_sigma, angle_terms = values["currangle"]
        record |= {
            "angle_measurement_type": 0 if local_angle else 1,
            "i_measured": i,
            "i_sigma": float(np.max(i_sigma)),
            "i_angle_measured": angle,
            "i_angle_sigma": float(np.max(angle_sigma)),
        }
        sources["i_measured"] = (i_terms, 1.0)
        sources["i_angle_measured"] = (angle_terms, 1.0)
        return f"{self.prefix}_current_sensor", record, sources

    def _terminal(self, element: str, side: str) -> int:
        kind = self.network.kind(element)
        if kind == "node":
            return int(MeasuredTerminalType.node)
        if kind in BRANCHES or kind in BRANCHES3:
            return _TERMINAL_OF_SIDE[side]
        return int(_APPLIANCE_TERMINAL[kind])


def measurements_from_sensors(network: Network) -> list[Measurement]:
    """The readings stored in the network's own sensors (power-grid-model input files)."""
    found: list[Measurement] = []
    for kind in SENSORS:
        for row in network.table(kind):
            sensor = network.external_ids[int(row["id"])]
            symmetric = kind.startswith("sym")
            phases = ("ABC",) if symmetric else ("A", "B", "C")
            for position, phase in enumerate(phases):
                for measurand, value, sigma in _readings(kind, row, position, symmetric):
                    if math.isfinite(value):
                        found.append(
                            _through_sensor(
                                Measurement(sensor, measurand, value, sigma, phase), network
                            )
                        )
    return found


def _readings(kind: str, row: np.void, k: int, symmetric: bool) -> list[tuple[str, float, float]]:
    def at(name: str) -> float:
        value = row[name]
        return float(value if np.ndim(value) == 0 else value[k])

    if "voltage" in kind:
        scale = 1.0 / SQRT3 if symmetric else 1.0  # line-to-line in, phase-to-ground out
        magnitude = at("u_measured")
        sigma = at("u_sigma") * scale
        readings = [("voltmagnitude", magnitude * scale, sigma)]
        angle = at("u_angle_measured")
        if math.isfinite(angle):
            readings.append(("voltangle", angle, at("u_sigma") / magnitude))
        return readings
    if "power" in kind:
        p_sigma, q_sigma = at("p_sigma"), at("q_sigma")
        if not (math.isfinite(p_sigma) and math.isfinite(q_sigma)):
            # power_sigma is the apparent power's: shared equally by P and Q
            p_sigma = q_sigma = at("power_sigma") / math.sqrt(2.0)
        return [
            ("activepower", at("p_measured"), p_sigma),
            ("reactivepower", at("q_measured"), q_sigma),
        ]
    return [
        ("currmagnitude", at("i_measured"), at("i_sigma")),
        ("currangle", at("i_angle_measured"), at("i_angle_sigma")),
    ]


def describe(rows: Iterable[SensorRow], measurements: Sequence[Measurement]) -> dict[int, str]:
    return {row.solver_id: "; ".join(measurements[i].label() for i in row.members) for row in rows}
