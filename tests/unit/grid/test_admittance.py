"""The per-unit branch model behind bad-data analysis equals the solver's own model."""

from __future__ import annotations

import numpy as np

from osed.grid.admittance import S_BASE, build_admittance
from osed.grid.network import Network
from osed.grid.powerflow import power_flow
from osed.sim.feeders import radial_feeder


def flows_match(network: Network) -> None:
    state = power_flow(network)
    adm = build_admittance(network)
    v = np.zeros(adm.buses, dtype=complex)
    v[adm.bus_of_node] = state.u_pu * np.exp(1j * state.u_angle)
    s_from = (adm.cf @ v) * np.conj(adm.yf @ v) * S_BASE
    s_to = (adm.ct @ v) * np.conj(adm.yt @ v) * S_BASE
    position = {int(b): k for k, b in enumerate(adm.branches.ids)}
    for kind in ("line", "transformer", "generic_branch"):
        output = state.raw.get(kind)
        if output is None:
            continue
        rows = [position[int(i)] for i in output["id"]]
        # power-grid-model gives a link a tiny impedance; the linear model merges its nodes,
        # so flows next to a link differ by a few parts per million.
        scale = (np.abs(output["p_from"]).max() + 1.0) * 10
        np.testing.assert_allclose(s_from[rows].real, output["p_from"], atol=1e-6 * scale)
        np.testing.assert_allclose(s_from[rows].imag, output["q_from"], atol=1e-6 * scale)
        np.testing.assert_allclose(s_to[rows].real, output["p_to"], atol=1e-6 * scale)
        np.testing.assert_allclose(s_to[rows].imag, output["q_to"], atol=1e-6 * scale)


def test_branch_flows_equal_the_solver_on_a_feeder() -> None:
    flows_match(radial_feeder(40, ring_every=1))


def test_transformer_taps_phase_shift_and_generic_branches_match(grid: Network) -> None:
    flows_match(grid)


def test_links_merge_their_nodes_into_one_bus(grid: Network) -> None:
    adm = build_admittance(grid)
    rows = {n: i for i, n in enumerate(grid.ids("node"))}
    assert adm.buses == 4
    assert adm.bus_of_node[rows["mv3"]] == adm.bus_of_node[rows["mv4"]]
