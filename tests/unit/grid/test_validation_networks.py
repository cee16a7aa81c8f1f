"""Estimation on the bundled pandapower networks: exact with noiseless measurements, and a
gross error found and removed on the 907-bus IEEE European LV feeder."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest

from osed.grid.estimation import estimate
from osed.grid.imports.pandapower import load_pandapower
from osed.grid.measurements import Measurement
from osed.grid.network import Network
from osed.grid.powerflow import power_flow
from osed.sim.measure import measure

NETWORKS = [
    "create_cigre_network_mv",
    "create_cigre_network_lv",
    "mv_oberrhein",
    "kb_extrem_vorstadtnetz_2",
    "create_kerber_landnetz_freileitung_1",
    "ieee_european_lv_asymmetric",
]


@cache
def network(name: str) -> Network:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_pandapower(f"pandapower:{name}")


def relative_gap(
    ours: np.ndarray, theirs: np.ndarray, angle_a: np.ndarray, angle_b: np.ndarray
) -> float:
    va = ours * np.exp(1j * (angle_a - angle_a[..., :1]))
    vb = theirs * np.exp(1j * (angle_b - angle_b[..., :1]))
    return float(np.nanmax(np.abs(va - vb)))


@pytest.mark.parametrize("name", NETWORKS)
def test_noiseless_symmetric_estimate_reproduces_the_power_flow(name: str) -> None:
    grid = network(name)
    truth = power_flow(grid, symmetric=True)
    result = estimate(grid, measure(grid, truth), symmetric=True)
    live = truth.energized
    gap = relative_gap(
        result.state.u_pu[live], truth.u_pu[live], result.state.u_angle[live], truth.u_angle[live]
    )
    assert gap < 1e-6
    assert result.removed == []


def test_noiseless_asymmetric_estimate_reproduces_the_unbalanced_power_flow() -> None:
    grid = network("ieee_european_lv_asymmetric")
    truth = power_flow(grid, symmetric=False)
    found: list[Measurement] = []
    for i, node in enumerate(truth.node_ids):
        for k, phase in enumerate("ABC"):
            found.append(Measurement(node, "voltmagnitude", float(truth.u_v[i, k]), 0.2, phase))
    for kind in ("asym_load", "sym_load", "asym_gen", "sym_gen"):
        output = truth.raw.get(kind)
        if output is None:
            continue
        for row in output:
            element = grid.external_ids[int(row["id"])]
            for measurand, column in (("activepower", "p"), ("reactivepower", "q")):
                values = np.broadcast_to(row[column], (3,)) / (1 if np.ndim(row[column]) else 3)
                for k, phase in enumerate("ABC"):
                    found.append(Measurement(element, measurand, float(values[k]), 10.0, phase))
    result = estimate(grid, found, symmetric=False)
    assert result.state.u_pu.shape == truth.u_pu.shape
    assert float(np.abs(result.state.u_pu - truth.u_pu).max()) < 1e-6


def test_a_gross_error_on_the_907_bus_feeder_is_found_and_removed() -> None:
    grid = network("ieee_european_lv_asymmetric")
    truth = power_flow(grid, symmetric=True)
    rng = np.random.default_rng(5)
    measurements = measure(grid, truth, voltage_sigma_v=0.23, power_sigma_va=100.0, rng=rng)
    clean = estimate(grid, measurements, symmetric=True)
    at = next(i for i, m in enumerate(measurements) if m.element == truth.node_ids[450])
    bad = measurements[at]
    measurements[at] = Measurement(bad.element, bad.measurand, bad.value + 0.1 * 230.0, bad.sigma)
    result = estimate(grid, measurements, symmetric=True)
    assert [r.measurements for r in result.removed] == [[bad.label()]]
    assert result.chi2_passed
    assert float(np.abs(result.state.u_pu - clean.state.u_pu).max()) < 1e-4


def unbalanced_measurements(grid: Network) -> tuple[list[Measurement], np.ndarray]:
    truth = power_flow(grid, symmetric=False)
    found: list[Measurement] = []
    for i, node in enumerate(truth.node_ids):
        for k, phase in enumerate("ABC"):
            found.append(Measurement(node, "voltmagnitude", float(truth.u_v[i, k]), 0.2, phase))
    for row in truth.raw["asym_load"]:
        element = grid.external_ids[int(row["id"])]
        for measurand, column in (("activepower", "p"), ("reactivepower", "q")):
            for k, phase in enumerate("ABC"):
                found.append(Measurement(element, measurand, float(row[column][k]), 10.0, phase))
    return found, truth.u_pu


def test_a_gross_error_in_one_phase_is_removed_from_the_asymmetric_estimate() -> None:
    grid = network("ieee_european_lv_asymmetric")
    measurements, truth = unbalanced_measurements(grid)
    node = grid.external_ids[int(grid.table("asym_load")["node"][-1])]
    at = next(
        i
        for i, m in enumerate(measurements)
        if m.element == node and m.phase == "B" and m.measurand == "voltmagnitude"
    )
    bad = measurements[at]
    measurements[at] = Measurement(bad.element, bad.measurand, bad.value + 23.0, bad.sigma, "B")
    result = estimate(grid, measurements, symmetric=False)
    # the meter goes: its three phases are one sensor
    assert [r.measurements for r in result.removed] == [
        [f"voltmagnitude[{p}] {node}" for p in "ABC"]
    ]
    assert result.chi2_passed
    assert float(np.abs(result.state.u_pu - truth).max()) < 1e-6
