"""Measurements: every problem named by path; phases and units mapped to solver sensors."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.grid.measurements import Measurement, build_sensors, parse_measurements
from osed.grid.network import Network
from tests.unit.grid.conftest import two_voltage_grid

FUZZ_GRID = two_voltage_grid()


def problems(document: Any, network: Network) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        parse_measurements(document, network)
    return {(p.path, p.code) for p in caught.value.problems}


def test_every_bad_measurement_is_named(grid: Network) -> None:
    found = problems(
        {
            "measurements": [
                {"element": "nowhere", "measurand": "voltmagnitude", "value": 1.0, "sigma": 1.0},
                {"element": "mv", "measurand": "watts", "value": 1.0, "sigma": 1.0},
                {"element": "mv", "measurand": "voltmagnitude", "value": "high", "sigma": 1.0},
                {"element": "mv", "measurand": "voltmagnitude", "value": 1.0},
                {"element": "l1", "measurand": "activepower", "value": 1.0, "sigma": 1.0},
                {"element": "d1", "measurand": "currmagnitude", "value": 1.0, "sigma": 1.0},
                {"element": "mv", "measurand": "voltmagnitude", "value": 1.0, "sigma": -2},
                {
                    "element": "mv",
                    "measurand": "voltmagnitude",
                    "value": 1.0,
                    "sigma": 1,
                    "phase": "D",
                },
                "text",
            ]
        },
        grid,
    )
    assert found == {
        ("$.measurements[0].element", "unknown_element"),
        ("$.measurements[1].measurand", "unknown_measurand"),
        ("$.measurements[2].value", "not_a_number"),
        ("$.measurements[3].sigma", "required"),
        ("$.measurements[4].side", "required"),
        ("$.measurements[5].element", "wrong_element"),
        ("$.measurements[6].sigma", "not_positive"),
        ("$.measurements[7].phase", "unknown_phase"),
        ("$.measurements[8]", "not_an_object"),
    }


def test_pairs_must_be_complete_and_not_repeated(grid: Network) -> None:
    measurements = [
        Measurement("d1", "activepower", 1.0, 1.0),
        Measurement("mv", "voltmagnitude", 6000.0, 10.0),
        Measurement("mv", "voltmagnitude", 6001.0, 10.0),
    ]
    with pytest.raises(ValidationError) as caught:
        build_sensors(measurements, grid, symmetric=True)
    codes = {p.code for p in caught.value.problems}
    assert codes == {"incomplete", "duplicate"}


def test_symmetric_sensors_take_line_to_line_voltage_and_summed_phases(grid: Network) -> None:
    measurements = [
        Measurement("mv", "voltmagnitude", 6000.0, 30.0),
        *(Measurement("d1", "activepower", 1e6, 1e3, phase=p) for p in "ABC"),
        *(Measurement("d1", "reactivepower", 2e5, 1e3, phase=p) for p in "ABC"),
    ]
    sensors = build_sensors(measurements, grid, symmetric=True)
    voltage = sensors.data["sym_voltage_sensor"][0]
    assert voltage["u_measured"] == pytest.approx(6000.0 * math.sqrt(3))
    assert voltage["u_sigma"] == pytest.approx(30.0 * math.sqrt(3))
    power = sensors.data["sym_power_sensor"][0]
    assert power["p_measured"] == pytest.approx(3e6)
    assert power["p_sigma"] == pytest.approx(1e3 * math.sqrt(3))


def test_asymmetric_sensors_spread_a_three_phase_reading_as_a_balanced_set(grid: Network) -> None:
    measurements = [
        Measurement("mv", "voltmagnitude", 6000.0, 30.0),
        Measurement("mv", "voltangle", 0.1, 0.005),
        Measurement("l1", "activepower", 3e6, 3e3, side="to"),
        Measurement("l1", "reactivepower", 3e5, 3e3, side="to"),
    ]
    sensors = build_sensors(measurements, grid, symmetric=False)
    voltage = sensors.data["asym_voltage_sensor"][0]
    np.testing.assert_allclose(voltage["u_measured"], [6000.0] * 3)
    np.testing.assert_allclose(
        voltage["u_angle_measured"], [0.1, 0.1 - 2 * np.pi / 3, 0.1 + 2 * np.pi / 3]
    )
    power = sensors.data["asym_power_sensor"][0]
    np.testing.assert_allclose(power["p_measured"], [1e6] * 3)
    assert power["measured_terminal_type"] == 1  # branch_to


def test_new_values_land_where_the_first_ones_did(grid: Network) -> None:
    measurements = [
        Measurement("mv", "voltmagnitude", 6000.0, 30.0),
        *(Measurement("d1", "activepower", 1e6, 1e3, phase=p) for p in "ABC"),
        *(Measurement("d1", "reactivepower", 2e5, 1e3, phase=p) for p in "ABC"),
    ]
    sensors = build_sensors(measurements, grid, symmetric=True)
    values = np.array([6100.0, 1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    sensors.update(values)
    fresh = build_sensors(
        [
            Measurement(m.element, m.measurand, float(v), m.sigma, m.phase)
            for m, v in zip(measurements, values, strict=True)
        ],
        grid,
        symmetric=True,
    )
    for kind, table in fresh.data.items():
        for attribute in table.dtype.names or ():
            np.testing.assert_allclose(sensors.data[kind][attribute], table[attribute])


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
fields = st.fixed_dictionaries(
    {},
    optional={
        "element": st.sampled_from(["mv", "l1", "d1", "grid", "nope", 3]),
        "measurand": st.sampled_from(
            ["voltmagnitude", "voltangle", "activepower", "currangle", "x"]
        ),
        "phase": st.sampled_from(["A", "B", "C", "ABC", "N", None]),
        "side": st.sampled_from(["from", "to", "", "up"]),
        "value": json_values,
        "sigma": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(json_values, st.fixed_dictionaries({"measurements": st.lists(fields, max_size=6)}))
)
def test_arbitrary_documents_never_crash(document: Any) -> None:
    network = FUZZ_GRID
    with contextlib.suppress(ValidationError):  # a ValidationError always names its problems
        measurements = parse_measurements(document, network)
        build_sensors(measurements, network, symmetric=True)
        build_sensors(measurements, network, symmetric=False)
