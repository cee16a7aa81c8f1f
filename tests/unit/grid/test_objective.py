"""The objective kept per sensor set, and the snapshot write of measurement values, against
their plain definitions: equal bit for bit, whatever the values."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from power_grid_model import DatasetType, initialize_array
from scipy.sparse import csr_matrix

from osed.grid.measurements import ValueMap
from osed.grid.network import Table
from osed.grid.objective import ResidualWeights, weighted_residuals

KINDS = ("voltage", "power", "current")


def plain_objective(output: dict[str, Table], sensors: dict[str, Table]) -> tuple[float, float]:
    """``J = Σ (r/σ)²`` and the largest ``|r/σ|``, written term by term from the definition."""
    total = 0.0
    largest = 0.0

    def add(weighted: np.ndarray[Any, Any]) -> None:
        nonlocal total, largest
        values = np.abs(np.asarray(weighted, dtype=np.float64))
        values = values[np.isfinite(values)]
        total += float(np.sum(values**2))
        largest = max(largest, float(np.max(values, initial=0.0)))

    for kind, table in sensors.items():
        result = output.get(kind)
        if result is None or not len(table):
            continue
        on = result["energized"].astype(bool)
        if "voltage" in kind:
            sigma = table["u_sigma"][on]
            if table["u_measured"].ndim > 1:
                sigma = sigma[:, None]
            add(result["u_residual"][on] / sigma)
            relative = sigma / table["u_measured"][on]
            angle = table["u_angle_measured"][on]
            add(np.where(np.isnan(angle), 0.0, result["u_angle_residual"][on] / relative))
        elif "power" in kind:
            fallback = table["power_sigma"][on]
            if fallback.ndim < table["p_sigma"].ndim:
                fallback = fallback[:, None]
            for name in ("p", "q"):
                sigma = table[f"{name}_sigma"][on]
                add(result[f"{name}_residual"][on] / np.where(np.isnan(sigma), fallback, sigma))
        else:
            i_sigma, a_sigma = table["i_sigma"][on], table["i_angle_sigma"][on]
            if table["i_measured"].ndim > 1:
                i_sigma, a_sigma = i_sigma[:, None], a_sigma[:, None]
            add(result["i_residual"][on] / i_sigma)
            add(result["i_angle_residual"][on] / a_sigma)
    return total, largest


def sensor_case(seed: int, symmetric: bool, rows: int) -> tuple[dict[str, Table], dict[str, Table]]:
    """Sensor tables and solver output of every sensor kind, with unmeasured angles, unset
    P/Q sigmas, de-energised sensors and residuals that are not finite."""
    rng = np.random.default_rng(seed)
    prefix = "sym" if symmetric else "asym"
    output_type = DatasetType.sym_output if symmetric else DatasetType.asym_output
    sensors: dict[str, Table] = {}
    output: dict[str, Table] = {}

    def spoil(
        values: np.ndarray[Any, Any], share: float, by: tuple[float, ...] = (np.nan,)
    ) -> np.ndarray[Any, Any]:
        bad = rng.random(values.shape) < share
        return np.where(bad, rng.choice(by, values.shape), values)

    for family in KINDS:
        kind = f"{prefix}_{family}_sensor"
        table = initialize_array(DatasetType.input, kind, rows)
        result = initialize_array(output_type, kind, rows)
        result["energized"] = rng.random(rows) < rng.choice([0.8, 1.0])  # 1.0: all energized
        for name in table.dtype.names or ():
            if name.endswith("sigma"):
                table[name] = rng.uniform(0.01, 2.0, table[name].shape)
            elif name.endswith("measured"):
                table[name] = rng.normal(1.0, 0.5, table[name].shape)
        for name in result.dtype.names or ():
            if name.endswith("residual"):
                residual = rng.normal(0.0, 3.0, result[name].shape)
                result[name] = spoil(residual, 0.05, (np.nan, np.inf, -np.inf))
        if family == "voltage":
            table["u_angle_measured"] = spoil(table["u_angle_measured"], 0.5)
        if family == "power":
            table["p_sigma"] = spoil(table["p_sigma"], 0.3)
            table["q_sigma"] = spoil(table["q_sigma"], 0.3)
        sensors[kind] = table
        output[kind] = result
    return sensors, output


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.integers(0, 40))
def test_the_objective_equals_its_definition_bit_for_bit(
    seed: int, symmetric: bool, rows: int
) -> None:
    sensors, output = sensor_case(seed, symmetric, rows)
    expected = plain_objective(output, sensors)
    assert weighted_residuals(output, sensors) == expected
    assert ResidualWeights(sensors).total(output) == expected[0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_the_objective_reads_new_values_from_the_snapshot_columns(
    seed: int, no_angle: bool
) -> None:
    sensors, output = sensor_case(seed, True, 25)
    table = sensors["sym_voltage_sensor"]
    if no_angle:
        table["u_angle_measured"] = np.nan
    current = {
        ("sym_voltage_sensor", "u_measured"): np.array(table["u_measured"]),
        ("sym_voltage_sensor", "u_angle_measured"): np.array(table["u_angle_measured"]),
    }
    weights = ResidualWeights(sensors, current)
    rng = np.random.default_rng(seed)
    for column in current.values():  # a new snapshot, written where the estimator writes it
        column[:] = rng.normal(1.0, 0.5, column.shape)
    table["u_measured"] = current[("sym_voltage_sensor", "u_measured")]
    table["u_angle_measured"] = current[("sym_voltage_sensor", "u_angle_measured")]
    assert weights.objective(output) == plain_objective(output, sensors)


def value_map(seed: int, cells: int, measurements: int, weighted: bool, dense: bool) -> ValueMap:
    rng = np.random.default_rng(seed)
    # dense: some cells combine several measurements, some none
    terms = rng.integers(0, 3, cells) if dense else np.ones(cells, dtype=np.int64)
    row = np.repeat(np.arange(cells), terms)
    if dense or rng.random() < 0.5:
        column = rng.integers(0, measurements, len(row))
    else:  # evenly spaced, as a list ordered by measurand gives them
        step = int(rng.integers(1, 3))
        column = rng.integers(0, 2) + step * np.arange(len(row))
    weights = (
        rng.choice([1.0, -1.0, np.sqrt(3.0), 1 / 3], len(row)) if weighted else np.ones(len(row))
    )
    matrix = csr_matrix((weights, (row, column)), shape=(cells, measurements))
    offset = rng.choice([0.0, -0.0, 0.5, -2.0 * np.pi / 3.0], cells)
    order = rng.permutation(cells) if rng.random() < 0.3 else np.arange(cells)
    return ValueMap("sym_power_sensor", "p_measured", order, np.full(cells, -1), matrix, offset)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 30),
    st.booleans(),
    st.booleans(),
    st.lists(st.sampled_from([0.0, -0.0, 1.5, -7.25, np.nan, np.inf, 1e300]), max_size=6),
)
def test_snapshot_values_land_as_the_sparse_product_puts_them(
    seed: int, cells: int, weighted: bool, dense: bool, specials: list[float]
) -> None:
    measurements = 64
    mapping = value_map(seed, cells, measurements, weighted, dense)
    rng = np.random.default_rng(seed + 1)
    values = rng.normal(0.0, 100.0, measurements)
    values[: len(specials)] = specials
    expected = initialize_array(DatasetType.input, "sym_power_sensor", cells)
    expected["p_measured"][mapping.rows] = mapping.matrix @ values + mapping.offset
    given_values = values.copy()
    written = initialize_array(DatasetType.input, "sym_power_sensor", cells)
    mapping.apply(written, values)
    assert values.tobytes() == given_values.tobytes()  # read, never written
    for name in written.dtype.names or ():  # the bits of each field (not the padding)
        assert written[name].tobytes() == expected[name].tobytes(), name
