"""The generated MV feeder of many LV areas: one transformer per area, radial, solvable, and
the grid intelligence's areas are the transformers'."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.edge.intelligence_areas import AreaMap
from osed.grid.network import Network, NetworkBuilder, check, component_rows
from osed.grid.powerflow import power_flow
from osed.sim.lv_feeder import generate_area
from osed.sim.mv_feeder import default_mv_feeders, generate_network


def closed_graph(network: Network) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(network.ids("node"))
    ids = network.external_ids
    for kind in ("line", "transformer"):
        table = network.table(kind)
        closed = (table["from_status"] == 1) & (table["to_status"] == 1)
        graph.add_edges_from(
            zip(
                (ids[i] for i in table["from_node"][closed]),
                (ids[i] for i in table["to_node"][closed]),
                strict=True,
            )
        )
    return graph


def test_one_area_is_the_single_lv_area_unchanged() -> None:
    grid = generate_network(100, 4, rng=np.random.default_rng(7))
    area = generate_area(100, 4, rng=np.random.default_rng(7))
    assert grid.network.external_ids == area.network.external_ids
    assert grid.network.counts() == area.network.counts()
    assert grid.household_buses == area.household_buses
    assert grid.transformers == ("trafo",)
    for kind in area.network.counts():
        for name in area.network.table(kind).dtype.names or ():
            np.testing.assert_array_equal(
                grid.network.table(kind)[name], area.network.table(kind)[name]
            )


@settings(max_examples=15, deadline=None)
@given(
    households=st.integers(2, 600),
    areas=st.integers(2, 30),
    feeders=st.integers(1, 5),
    per_bus=st.integers(1, 3),
    seed=st.integers(0, 2**32),
)
def test_every_household_is_on_an_lv_bus_of_its_area_and_the_grid_is_radial(
    households: int, areas: int, feeders: int, per_bus: int, seed: int
) -> None:
    areas = min(areas, households)
    grid = generate_network(
        households,
        feeders,
        areas=areas,
        households_per_bus=per_bus,
        rng=np.random.default_rng(seed),
    )
    network = grid.network
    assert nx.is_tree(closed_graph(network))
    assert len(network.table("transformer")) == areas == len(grid.transformers)
    assert len(network.table("source")) == 1
    mv_feeders = default_mv_feeders(areas)
    ties = [i for i in network.ids("line") if i.startswith("mv-tie")]
    assert len(ties) == mv_feeders // 2
    # Households in blocks: area k holds neighbouring households, sizes within one.
    area_of = [bus.split("-")[0] for bus in grid.household_buses]
    sizes = [area_of.count(f"a{k + 1}") for k in range(areas)]
    assert max(sizes) - min(sizes) <= 1
    assert sum(sizes) == households
    assert area_of == sorted(area_of, key=lambda a: int(a[1:]))
    u_rated = dict(zip(network.ids("node"), network.table("node")["u_rated"], strict=True))
    assert all(u_rated[bus] == 400.0 for bus in grid.household_buses)
    for k, rating in enumerate(grid.ratings_kva):
        assert rating >= sizes[k] * 2.0


def loaded(network: Network, buses: tuple[str, ...], kw: float) -> Network:
    builder = NetworkBuilder("loaded")
    for kind in network.counts():
        for row in component_rows(network, kind):
            ident, name = row.pop("id"), row.pop("name", "")
            builder.add(kind, ident, name=name, **row)
    builder.add_many(
        "sym_load",
        [f"load{i}" for i in range(len(buses))],
        node=list(buses),
        type=np.zeros(len(buses), dtype=np.int8),
        p_specified=np.full(len(buses), kw * 1e3 * 0.95),
        q_specified=np.full(len(buses), kw * 1e3 * 0.31),
    )
    return builder.build()


def test_the_feeder_solves_at_full_demand_within_ratings_and_voltage_band() -> None:
    grid = generate_network(2000, 4, areas=20, rng=np.random.default_rng(3))
    check(grid.network)
    state = power_flow(loaded(grid.network, grid.household_buses, 2.0))
    assert state.u_pu.min() > 0.9
    assert state.u_pu.max() < 1.1
    finite = np.isfinite(state.branches.loading)
    assert state.branches.loading[finite].max() <= 1.0
    # Every household's demand arrives at the source, plus the losses.
    source_kw = float(np.sum(state.raw["source"]["p"])) / 1e3
    assert 2000 * 2.0 * 0.95 < source_kw < 2000 * 2.0 * 0.95 * 1.08


def test_the_grid_intelligence_finds_one_rated_area_per_transformer() -> None:
    grid = generate_network(1000, 4, areas=10, mv_feeders=2, rng=np.random.default_rng(0))
    areas = AreaMap(grid.network)
    transformers = [a for a in areas.areas() if a.kind == "transformer"]
    assert sorted(a.element for a in transformers) == sorted(grid.transformers)
    for area, rating in zip(
        (areas.area(t) for t in grid.transformers), grid.ratings_kva, strict=True
    ):
        assert area is not None
        assert area.rating_kw == pytest.approx(rating)
    for k, bus in enumerate(grid.household_buses):
        found = areas.area_of(bus)
        assert found is not None
        assert found.element == f"{bus.split('-')[0]}-trafo", k
    # The MV feeders are areas of their own, headed by their first segments.
    heads = sorted(a.element for a in areas.areas() if a.kind == "line")
    assert heads == ["mv1s1", "mv2s1"]


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="areas"):
        generate_network(5, 2, areas=6, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="MV feeders"):
        generate_network(50, 2, areas=5, mv_feeders=6, rng=np.random.default_rng(0))
