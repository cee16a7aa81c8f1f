"""Small grids shared by the grid tests."""

from __future__ import annotations

import pytest

from osed.grid.network import Network, NetworkBuilder


def two_voltage_grid() -> Network:
    """110 kV source, a tapped YNd5 transformer, lines, a generic branch, a shunt, a link."""
    b = NetworkBuilder("two-voltage")
    b.add("node", "hv", u_rated=110e3)
    for name in ("mv", "mv2", "mv3", "mv4"):
        b.add("node", name, u_rated=10.5e3)
    b.add("source", "grid", node="hv", u_ref=1.02, sk=1e12)
    b.add(
        "transformer",
        "t1",
        from_node="hv",
        to_node="mv",
        u1=110e3,
        u2=10.5e3,
        sn=40e6,
        uk=0.12,
        pk=150e3,
        i0=0.002,
        p0=30e3,
        winding_from=1,
        winding_to=2,
        clock=5,
        tap_side=0,
        tap_pos=2,
        tap_min=-9,
        tap_max=9,
        tap_nom=0,
        tap_size=1650.0,
    )
    b.add("line", "l1", from_node="mv", to_node="mv2", r1=0.5, x1=0.3, c1=2e-7, tan1=0.01)
    b.add("line", "l2", from_node="mv2", to_node="mv3", r1=0.4, x1=0.2, c1=1e-7, tan1=0.0)
    b.add("link", "k1", from_node="mv3", to_node="mv4")
    b.add("sym_load", "d1", node="mv3", type=0, p_specified=3e6, q_specified=1e6)
    b.add("sym_load", "d2", node="mv4", type=0, p_specified=2e6, q_specified=1e6)
    b.add("sym_gen", "pv", node="mv2", type=0, p_specified=1e6, q_specified=0.0)
    b.add("shunt", "c1", node="mv2", g1=0.0, b1=0.002)
    b.add(
        "generic_branch",
        "g1",
        from_node="mv",
        to_node="mv3",
        r1=2.0,
        x1=1.0,
        g1=1e-6,
        b1=2e-6,
        k=1.0,
        theta=0.0,
    )
    return b.build()


@pytest.fixture
def grid() -> Network:
    return two_voltage_grid()
