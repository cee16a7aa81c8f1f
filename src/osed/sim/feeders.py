"""Synthetic radial distribution feeders with a known power-flow state.

One 10.5 kV source feeds ``nodes - 1`` nodes arranged as radial feeders of ``feeder_length``
nodes each; every line is 0.8–1.2 km of r = 0.206 Ω/km, x = 0.079 Ω/km, c = 0.4 µF/km and
every node but the source carries one load of 0.2–0.4 MW at Q = 0.33 P. The same seed gives
the same feeder. With ``ring_every`` the ends of neighbouring feeders are tied by an extra
line, so the grid is meshed.
"""

from __future__ import annotations

import itertools

import numpy as np

from osed.grid.network import Network, NetworkBuilder

U_RATED_V = 10_500.0


def radial_feeder(
    nodes: int,
    *,
    feeder_length: int = 10,
    seed: int = 0,
    ring_every: int = 0,
    loads_per_node: int = 1,
) -> Network:
    if nodes < 2:
        raise ValueError("a feeder needs at least 2 nodes")
    rng = np.random.default_rng(seed)
    builder = NetworkBuilder(f"radial-{nodes}", source=f"osed.sim.feeders(seed={seed})")
    node_ids = [f"n{i}" for i in range(nodes)]
    builder.add_many("node", node_ids, u_rated=np.full(nodes, U_RATED_V))
    children = np.arange(1, nodes)
    position = (children - 1) % feeder_length
    parents = np.where(position == 0, 0, children - 1)
    length_km = rng.uniform(0.8, 1.2, nodes - 1)
    line_ids = [f"l{i}" for i in children]
    builder.add_many(
        "line",
        line_ids,
        from_node=[node_ids[p] for p in parents],
        to_node=[node_ids[c] for c in children],
        r1=0.206 * length_km,
        x1=0.079 * length_km,
        c1=0.4e-6 * length_km,
        tan1=np.zeros(nodes - 1),
        r0=0.206 * 3 * length_km,
        x0=0.079 * 3 * length_km,
        c0=0.25e-6 * length_km,
        tan0=np.zeros(nodes - 1),
        i_n=np.full(nodes - 1, 400.0),
    )
    if ring_every:
        ends = children[position == feeder_length - 1]
        ties = [(a, b) for a, b in itertools.pairwise(ends)][::ring_every]
        if ties:
            builder.add_many(
                "line",
                [f"tie{a}_{b}" for a, b in ties],
                from_node=[node_ids[a] for a, _ in ties],
                to_node=[node_ids[b] for _, b in ties],
                r1=np.full(len(ties), 0.3),
                x1=np.full(len(ties), 0.1),
                c1=np.full(len(ties), 0.4e-6),
                tan1=np.zeros(len(ties)),
            )
    # A stiff source: the feeders, not the upstream grid, should shape the voltages.
    builder.add("source", "source", node="n0", u_ref=1.0, u_ref_angle=0.0, sk=1e12)
    for k in range(loads_per_node):
        p = rng.uniform(0.2e6, 0.4e6, nodes - 1) / loads_per_node
        builder.add_many(
            "sym_load",
            [f"load{i}" + (f"_{k}" if k else "") for i in children],
            node=[node_ids[c] for c in children],
            type=np.zeros(nodes - 1, dtype=np.int8),
            p_specified=p,
            q_specified=0.33 * p,
        )
    return builder.build(validate=False)
