"""The generated low-voltage area: radial, every household bus in it, rated for its load."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.grid.network import Network, NetworkBuilder, check, component_rows
from osed.grid.powerflow import power_flow
from osed.sim.lv_feeder import LV_V, TRANSFORMER_ID, generate_area, transformer_rating_kva


def graph_of(network: Network) -> nx.Graph:
    graph = nx.Graph()
    ids = network.external_ids
    for kind in ("line", "transformer"):
        table = network.table(kind)
        graph.add_edges_from(
            zip(
                (ids[i] for i in table["from_node"]),
                (ids[i] for i in table["to_node"]),
                strict=True,
            )
        )
    return graph


@settings(max_examples=20, deadline=None)
@given(
    households=st.integers(1, 400),
    feeders=st.integers(1, 8),
    per_bus=st.integers(1, 4),
    admd=st.floats(0.5, 6),
    seed=st.integers(0, 2**32),
)
def test_the_area_is_radial_and_holds_every_household(
    households: int, feeders: int, per_bus: int, admd: float, seed: int
) -> None:
    area = generate_area(
        households,
        feeders,
        households_per_bus=per_bus,
        admd_kva=admd,
        rng=np.random.default_rng(seed),
    )
    network = area.network
    graph = graph_of(network)
    assert nx.is_tree(graph)
    assert set(graph.nodes) == set(network.ids("node"))
    assert len(area.household_buses) == households
    assert all(network.kind(bus) == "node" for bus in area.household_buses)
    assert max(area.household_buses.count(b) for b in set(area.household_buses)) <= per_bus
    # The transformer carries every household's after-diversity demand.
    (rating,) = network.table("transformer")["sn"]
    assert rating >= households * admd * 1e3
    assert rating == area.rating_kva * 1e3
    # Every segment carries the demand of the households beyond it.
    beyond = dict.fromkeys(network.ids("node"), 0)
    for bus in area.household_buses:
        beyond[bus] += 1
    tree = nx.bfs_tree(graph, "lv")
    lines = network.table("line")
    ids = network.external_ids
    for to_node, rated in zip((ids[i] for i in lines["to_node"]), lines["i_n"], strict=True):
        downstream = sum(beyond[n] for n in nx.descendants(tree, to_node) | {to_node})
        assert rated >= downstream * admd * 1e3 / (math.sqrt(3) * LV_V) - 1e-9


def test_the_transformer_rating_is_the_smallest_standard_one_that_fits() -> None:
    assert transformer_rating_kva(100, 2.0) == 250
    assert transformer_rating_kva(125, 2.0) == 250
    assert transformer_rating_kva(126, 2.0) == 400
    assert transformer_rating_kva(10_000, 2.0) == 20_000


def test_the_area_passes_the_model_checks_and_a_power_flow_at_full_demand() -> None:
    area = generate_area(100, 4, rng=np.random.default_rng(3))
    check(area.network)
    builder = NetworkBuilder("loaded")
    for kind in area.network.counts():
        for row in component_rows(area.network, kind):
            ident, name = row.pop("id"), row.pop("name", "")
            builder.add(kind, ident, name=name, **row)
    buses = area.household_buses
    builder.add_many(
        "sym_load",
        [f"load{i}" for i in range(len(buses))],
        node=list(buses),
        type=np.zeros(len(buses), dtype=np.int8),
        p_specified=np.full(len(buses), 2.0e3 * 0.95),
        q_specified=np.full(len(buses), 2.0e3 * 0.31),
    )
    state = power_flow(builder.build())
    # Every household at its after-diversity demand: the transformer and cables within their
    # ratings, the voltages within 10 % of nominal.
    assert state.u_pu.min() > 0.9
    assert state.branches.loading.max() <= 1.0
    assert state.branches.loading[state.branches.ids.index(TRANSFORMER_ID)] > 0.5


def test_the_grid_intelligence_sees_one_rated_area_holding_every_household() -> None:
    from osed.edge.intelligence_areas import AreaMap

    area = generate_area(100, 4, rng=np.random.default_rng(0))
    (found,) = AreaMap(area.network).areas()
    assert (found.element, found.kind, found.rating_kw) == (TRANSFORMER_ID, "transformer", 250.0)
    assert set(area.household_buses) <= found.nodes
