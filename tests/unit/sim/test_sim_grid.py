"""The study's grid step: the power flow carries exactly the households' nets, node by node,
and the estimate follows the true state within the measurement noise."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from osed.sim.sim_grid import GridSim
from tests.unit.sim.small_study import lv_feeder

NODES = 6
BUSES = ["n1", "n2", "n2", "n3", "n5", "n5", "n5"]
NETWORK = lv_feeder(NODES)


def grid(seed: int = 1) -> GridSim:
    return GridSim(
        NETWORK,
        BUSES,
        voltage_sigma_pu=0.002,
        power_sigma_kw=0.05,
        rng=np.random.default_rng(seed),
    )


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, len(BUSES), elements=st.floats(-8.0, 12.0)))
def test_every_node_balances_the_households_at_it(net_kw: np.ndarray) -> None:
    step = grid().step(net_kw, estimate=False)
    expected = np.zeros(NODES)
    np.add.at(expected, [int(b[1:]) for b in BUSES], net_kw)
    np.testing.assert_allclose(step.injected_kw, expected, atol=1e-9)
    # Kirchhoff at each node: what the lines bring equals what its households take.
    lines = NETWORK.table("line")
    ids = {int(i): NETWORK.external_ids[int(i)] for i in NETWORK.table("node")["id"]}
    inflow = np.zeros(NODES)
    for k, row in enumerate(lines):
        a, b = int(ids[int(row["from_node"])][1:]), int(ids[int(row["to_node"])][1:])
        inflow[a] -= step.p_from_kw[k]
        inflow[b] -= step.p_to_kw[k]
    np.testing.assert_allclose(inflow[1:], expected[1:], atol=1e-6)
    assert np.isclose(step.area_import_kw, -inflow[0], atol=1e-6)  # the source feeds it all


def test_the_estimate_follows_the_power_flow_within_the_noise() -> None:
    sim = grid(seed=4)
    rng = np.random.default_rng(9)
    for _ in range(5):
        step = sim.step(rng.uniform(0.0, 6.0, len(BUSES)))
        assert step.observed is not None
        np.testing.assert_allclose(step.estimated_voltage_pu, step.voltage_pu, atol=0.01)
        assert set(step.observed.loading) == {f"l{i}" for i in range(1, NODES)}
