"""State estimation: exactness, agreement with pandapower, bad data, observability."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.grid.estimation import (
    BadDataOptions,
    Estimator,
    PseudoOptions,
    UnobservableError,
    estimate,
)
from osed.grid.measurements import Measurement
from osed.grid.network import Network
from osed.grid.objective import weighted_residuals
from osed.grid.powerflow import CalculationError, power_flow
from osed.grid.state import GridState
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure


def phasor_gap(a: GridState, b: GridState) -> float:
    """Largest |ΔV| in pu with both angle references on the first node."""
    va = a.u_pu * np.exp(1j * (a.u_angle - a.u_angle[0]))
    vb = b.u_pu * np.exp(1j * (b.u_angle - b.u_angle[0]))
    return float(np.abs(va - vb).max())


def heads(nodes: int) -> list[str]:
    return [f"l{i}" for i in range(1, nodes, 10)]


@pytest.mark.parametrize("method", ["newton_raphson", "iterative_linear"])
@pytest.mark.parametrize("ring", [0, 1])
def test_noiseless_measurements_reproduce_the_power_flow(method: str, ring: int) -> None:
    network = radial_feeder(201, ring_every=ring)
    truth = power_flow(network)
    result = estimate(network, measure(network, truth, flows=heads(201)), method=method)
    assert phasor_gap(result.state, truth) < 1e-6
    assert result.removed == []
    assert result.objective < 1e-6


def test_noiseless_asymmetric_estimate_reproduces_the_power_flow() -> None:
    network = radial_feeder(41)
    truth = power_flow(network, symmetric=False)
    measurements = measure(network, power_flow(network), flows=heads(41))
    result = estimate(network, measurements, symmetric=False)
    assert result.state.u_pu.shape == (41, 3)
    assert np.abs(result.state.u_pu - truth.u_pu).max() < 1e-6


def test_the_estimate_agrees_with_pandapower_on_noisy_measurements() -> None:
    from pandapower.estimation import estimate as pandapower_estimate

    from osed.sim.pandapower_twin import add_measurements, to_pandapower

    network = radial_feeder(301)
    truth = power_flow(network)
    measurements = measure(network, truth, flows=heads(301), rng=np.random.default_rng(4))
    ours = estimate(network, measurements)
    net, bus = to_pandapower(network)
    add_measurements(net, network, bus, measurements)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = pandapower_estimate(net, init="flat", tolerance=1e-10)
    assert outcome["success"]
    np.testing.assert_allclose(net.res_bus_est.vm_pu.values, ours.state.u_pu, atol=1e-4)
    angles = np.radians(net.res_bus_est.va_degree.values)
    np.testing.assert_allclose(
        angles - angles[0], ours.state.u_angle - ours.state.u_angle[0], atol=1e-4
    )
    # The two minimise the same objective: they agree far closer than the 1e-4 demanded.
    assert np.abs(net.res_bus_est.vm_pu.values - ours.state.u_pu).max() < 1e-8


@pytest.mark.parametrize("noise", [None, 7])
def test_a_gross_voltage_error_is_found_removed_and_the_estimate_recovers(
    noise: int | None,
) -> None:
    network = radial_feeder(101)
    truth = power_flow(network)
    rng = None if noise is None else np.random.default_rng(noise)
    measurements = measure(network, truth, flows=heads(101), rng=rng)
    clean = estimate(network, measurements)
    at = next(i for i, m in enumerate(measurements) if m.element == "n37")
    bad = measurements[at]
    measurements[at] = Measurement(
        bad.element, bad.measurand, bad.value + 0.1 * 10_500 / np.sqrt(3), bad.sigma
    )
    result = estimate(network, measurements)
    assert [r.measurements for r in result.removed] == [["voltmagnitude[ABC] n37"]]
    assert result.removed[0].normalised_residual > 10
    assert result.chi2_passed
    assert np.abs(result.state.u_pu - clean.state.u_pu).max() < 2e-4
    without_analysis = estimate(network, measurements, bad_data=BadDataOptions(enabled=False))
    assert not without_analysis.chi2_passed
    assert np.abs(without_analysis.state.u_pu - clean.state.u_pu).max() > 1e-3


def test_a_critical_measurement_is_reported_as_a_suspect_not_removed() -> None:
    network = radial_feeder(11)
    truth = power_flow(network)
    measurements = measure(network, truth)
    # load10 is the only information about the flow on l10: critical. Corrupt it.
    at = next(
        i
        for i, m in enumerate(measurements)
        if m.element == "load10" and m.measurand == "activepower"
    )
    measurements[at] = Measurement(
        "load10", "activepower", measurements[at].value * 3, measurements[at].sigma
    )
    result = estimate(network, measurements)
    assert all("load10" not in " ".join(r.measurements) for r in result.removed)


def test_an_unobservable_grid_gets_a_report_not_a_crash() -> None:
    network = radial_feeder(21)
    truth = power_flow(network)
    measurements = [m for m in measure(network, truth) if m.element not in ("load4", "load5")]
    with pytest.raises(UnobservableError) as caught:
        estimate(network, measurements, pseudo=PseudoOptions(enabled=False))
    report = caught.value.report
    assert not report.observable
    assert report.unmeasured_branch_count > 0
    assert "observable islands" in str(caught.value)


def test_pseudo_measurements_from_a_forecast_make_it_observable() -> None:
    network = radial_feeder(21)
    truth = power_flow(network)
    measurements = [m for m in measure(network, truth) if m.element not in ("load4", "load5")]
    loads = {
        network.external_ids[int(r["id"])]: (float(r["p"]), float(r["q"]))
        for r in truth.raw["sym_load"]
    }
    forecast = {name: (p * 1.2, q * 1.2) for name, (p, q) in loads.items()}
    result = estimate(network, measurements, pseudo=PseudoOptions(forecast=forecast))
    labels = {m.element for m in result.pseudo}
    assert labels == {"load4", "load5"}
    assert result.observability.observable
    assert phasor_gap(result.state, truth) < 5e-3  # a forecast 20% off, weighted loosely


def test_a_new_snapshot_through_the_estimator_equals_a_fresh_estimate() -> None:
    network = radial_feeder(61)
    truth = power_flow(network)
    base = measure(network, truth, flows=heads(61))
    estimator = Estimator(network, base)

    @settings(max_examples=15, deadline=None)
    @given(st.integers(0, 2**32 - 1))
    def check(seed: int) -> None:
        noisy = measure(network, truth, flows=heads(61), rng=np.random.default_rng(seed))
        values = np.array([m.value for m in noisy])
        repeated = estimator.run(values)
        fresh = estimate(network, noisy)
        np.testing.assert_allclose(repeated.state.u_pu, fresh.state.u_pu, atol=1e-12)
        assert repeated.objective == pytest.approx(fresh.objective, rel=1e-9)

    check()


@pytest.mark.parametrize("symmetric", [True, False])
def test_a_snapshot_with_voltage_angles_gives_the_fresh_estimate(symmetric: bool) -> None:
    """The snapshot path (positional update, residual sigmas kept, tables written when read)
    gives the numbers of an estimator built for the new values: the very same when symmetric
    (asymmetric sensors take a three-phase reading as value × 1/3 by snapshot and value / 3
    when built, which can differ in the last bit)."""
    network = radial_feeder(41)
    truth = power_flow(network)

    def snapshot(seed: int) -> list[Measurement]:
        rng = np.random.default_rng(seed)
        return measure(network, truth, flows=heads(41), voltage_angles=True, rng=rng)

    options = {"symmetric": symmetric, "bad_data": BadDataOptions(enabled=False)}
    estimator = Estimator(network, snapshot(0), **options)
    for seed in (1, 2):
        noisy = snapshot(seed)
        repeated = estimator.run(np.array([m.value for m in noisy]))
        fresh = Estimator(network, noisy, **options)
        again = fresh.run()
        if symmetric:
            assert repeated.objective == again.objective
            assert np.array_equal(repeated.state.u_pu, again.state.u_pu)
        else:
            assert repeated.objective == pytest.approx(again.objective, rel=1e-9)
            np.testing.assert_allclose(repeated.state.u_pu, again.state.u_pu, atol=1e-12)
        objective, _ = weighted_residuals(repeated.state.raw, estimator.sensors.data)
        assert repeated.objective == objective
        for kind, table in fresh.sensors.data.items():
            for name in table.dtype.names or ():
                mine, built = estimator.sensors.data[kind][name], table[name]
                if symmetric:
                    assert np.array_equal(mine, built, equal_nan=True)
                else:
                    np.testing.assert_allclose(mine, built, rtol=1e-15)


def test_the_chi_square_statistic_has_its_expected_mean() -> None:
    network = radial_feeder(201)
    truth = power_flow(network)
    estimator = Estimator(network, measure(network, truth, flows=heads(201)))
    rng = np.random.default_rng(2)
    objectives = [
        estimator.run(
            np.array([m.value for m in measure(network, truth, flows=heads(201), rng=rng)])
        ).objective
        for _ in range(30)
    ]
    dof = estimator.dof
    # mean of chi-square(dof) is dof, its standard deviation sqrt(2 dof); 30 draws
    assert abs(np.mean(objectives) - dof) < 4 * np.sqrt(2 * dof / 30)


def test_wrong_sized_snapshots_and_absurd_measurements_fail_clearly() -> None:
    network = radial_feeder(11)
    truth = power_flow(network)
    measurements = measure(network, truth)
    estimator = Estimator(network, measurements)
    with pytest.raises(ValueError, match="expected"):
        estimator.run(np.zeros(3))
    absurd = [
        Measurement(
            m.element, m.measurand, m.value * (-50 if "power" in m.measurand else 1), m.sigma
        )
        for m in measurements
    ]
    with pytest.raises(CalculationError):
        estimate(network, absurd, bad_data=BadDataOptions(enabled=False), max_iterations=5)


def test_results_serialise_to_the_cli_contract(grid: Network) -> None:
    truth = power_flow(grid)
    measurements = measure(grid, truth, flows=["l1", "l2", "t1"])
    document = estimate(grid, measurements).to_dict()
    assert {n["id"] for n in document["nodes"]} == {"hv", "mv", "mv2", "mv3", "mv4"}
    assert {b["id"] for b in document["branches"]} == {"l1", "l2", "t1", "k1", "g1"}
    assert set(document["residuals"]) == {
        "objective",
        "degrees_of_freedom",
        "chi2_threshold",
        "chi2_passed",
        "largest_normalised",
    }
    assert document["bad_data_removed"] == []
    assert document["observability"]["observable"]


def test_a_lone_error_hidden_in_a_passing_objective_is_still_removed() -> None:
    """11 sigma on one of 3,000 measurements leaves the chi-square test passing; the limit on
    a single residual (about 4.5 sigma at this size) catches it."""
    network = radial_feeder(1001)
    truth = power_flow(network)
    measurements = measure(network, truth, flows=heads(1001), rng=np.random.default_rng(8))
    at = next(i for i, m in enumerate(measurements) if m.element == "n500")
    bad = measurements[at]
    measurements[at] = Measurement(
        bad.element, bad.measurand, bad.value + 11 * bad.sigma, bad.sigma
    )
    result = estimate(network, measurements)
    assert [r.measurements for r in result.removed] == [["voltmagnitude[ABC] n500"]]


def test_clean_noisy_snapshots_lose_no_measurement() -> None:
    network = radial_feeder(301)
    truth = power_flow(network)
    estimator = Estimator(network, measure(network, truth, flows=heads(301)))
    rng = np.random.default_rng(21)
    for _ in range(10):
        noisy = measure(network, truth, flows=heads(301), rng=rng)
        assert estimator.run(np.array([m.value for m in noisy])).removed == []
