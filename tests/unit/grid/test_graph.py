"""The network graph: topology, layout and the dashboard document."""

from __future__ import annotations

import json
from dataclasses import replace

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from osed.grid.graph import SPRING_MAX_NODES, graph_document, layout, network_graph, refresh_state
from osed.grid.network import Network, NetworkBuilder
from osed.grid.powerflow import power_flow
from osed.sim.feeders import radial_feeder
from tests.unit.grid.conftest import two_voltage_grid


def line(builder: NetworkBuilder, id: str, a: str, b: str) -> None:
    builder.add("line", id, from_node=a, to_node=b, r1=0.2, x1=0.1, c1=1e-7, tan1=0.0)


def switched() -> Network:
    """A source, two lines, an open switch, a three-winding transformer and some sensors."""
    b = NetworkBuilder("switched")
    for node, u in (("a", 10e3), ("b", 10e3), ("c", 10e3), ("d", 10e3), ("h", 110e3)):
        b.add("node", node, u_rated=u, name=node.upper())
    b.add("node", "lv", u_rated=400.0)
    b.add("source", "s", node="h", u_ref=1.0)
    line(b, "l1", "a", "b")
    line(b, "l2", "b", "c")
    b.add("link", "open", from_node="c", to_node="d", to_status=0)
    b.add("link", "closed", from_node="a", to_node="d")
    b.add("three_winding_transformer", "t3", node_1="h", node_2="a", node_3="lv", status_3=0)
    b.add("sym_load", "d1", node="b", type=0, p_specified=1e5, q_specified=1e4)
    b.add("sym_load", "d2", node="b", type=0, p_specified=1e5, q_specified=1e4)
    b.add("sym_gen", "pv", node="c", type=0, p_specified=1e5, q_specified=0.0)
    b.add("sym_voltage_sensor", "vb", measured_object="b", u_sigma=10.0, u_measured=10e3)
    b.add("sym_power_sensor", "pd1", measured_object="d1", measured_terminal_type=4)
    b.add("sym_power_sensor", "pl1", measured_object="l1", measured_terminal_type=0)
    return b.build(validate=False)


# --- the graph ----------------------------------------------------------------------------


def test_the_graph_has_a_node_per_network_node_and_an_edge_per_branch() -> None:
    network = two_voltage_grid()
    graph = network_graph(network)
    assert sorted(graph.nodes) == sorted(network.ids("node"))
    assert graph.number_of_edges() == sum(
        len(network.table(kind)) for kind in ("line", "link", "transformer", "generic_branch")
    )
    assert {key for _, _, key in graph.edges(keys=True)} == {"t1", "l1", "l2", "k1", "g1"}
    assert graph.nodes["mv2"]["appliances"] == {"sym_gen": ["pv"], "shunt": ["c1"]}
    assert graph.nodes["hv"]["u_rated"] == 110e3
    assert graph.graph["name"] == "two-voltage"
    t1 = graph.edges["hv", "mv", "t1"]
    assert (t1["kind"], t1["from_node"], t1["to_node"], t1["in_service"]) == (
        "transformer",
        "hv",
        "mv",
        True,
    )


def test_open_switches_are_edges_out_of_service_and_triangles_stand_for_three_windings() -> None:
    network = switched()
    graph = network_graph(network)
    assert graph.number_of_nodes() == 6
    assert graph.number_of_edges() == 4 + 3  # two lines, two links, a triangle
    assert graph.edges["c", "d", "open"]["in_service"] is False
    assert graph.edges["c", "d", "open"]["closed"] is False
    assert graph.edges["a", "d", "closed"]["closed"] is True
    sides = {
        data["sides"]: data["in_service"]
        for _, _, key, data in graph.edges(keys=True, data=True)
        if key == "t3"
    }
    assert sides == {(1, 2): True, (2, 3): False, (1, 3): False}  # winding 3 is open
    assert graph.has_edge("h", "lv", "t3")
    assert graph.nodes["b"]["appliances"] == {"sym_load": ["d1", "d2"]}
    assert graph.nodes["b"]["name"] == "B"
    assert graph.nodes["b"]["sensors"] == 2  # its voltage and a load's power
    assert graph.nodes["c"]["sensors"] == 0
    assert graph.edges["a", "b", "l1"]["sensors"] == 1


def test_a_radial_feeder_is_a_connected_tree() -> None:
    network = radial_feeder(500, feeder_length=7)
    graph = network_graph(network)
    assert graph.number_of_nodes() == 500
    assert graph.number_of_edges() == 499
    assert nx.is_connected(graph)
    assert nx.is_tree(graph)


def test_ring_feeders_give_cycles() -> None:
    network = radial_feeder(101, feeder_length=10, ring_every=1)
    graph = network_graph(network)
    ties = [key for _, _, key in graph.edges(keys=True) if key.startswith("tie")]
    assert len(ties) == 9
    assert len(nx.cycle_basis(nx.Graph(graph))) == len(ties)


# --- the layout ---------------------------------------------------------------------------


def assert_injective(positions: np.ndarray) -> None:
    assert np.isfinite(positions).all()
    extent = float(np.ptp(positions, axis=0).max())
    distances = cKDTree(positions).query(positions, k=2)[0][:, 1]
    assert distances.min() > 1e-9 * extent


@pytest.mark.parametrize("nodes", [50, 1_000])  # spring-refined and tree-only
def test_a_layout_is_deterministic_finite_and_injective(nodes: int) -> None:
    network = radial_feeder(nodes, ring_every=2)
    first = layout(network, seed=4)
    assert first.shape == (nodes, 2)
    np.testing.assert_array_equal(first, layout(network, seed=4))
    assert_injective(first)


def test_a_thousand_node_feeder_has_no_two_nodes_at_one_point() -> None:
    network = radial_feeder(1_000)
    assert SPRING_MAX_NODES < 1_000
    positions = layout(network)
    assert len(np.unique(positions, axis=0)) == 1_000
    assert_injective(positions)
    # The tree layout puts the source at the centre and each feeder's nodes further out.
    assert positions[0].tolist() == [0.0, 0.0]
    radius = np.hypot(*positions.T)
    assert (np.diff(radius[1:11]) > 0).all()


def test_geographic_coordinates_are_used_as_given() -> None:
    network = two_voltage_grid()
    xy = np.array([[5.0, 50.0], [5.1, 50.2], [5.2, 50.1], [5.3, 50.3], [5.4, 50.0]])
    positions = layout(replace(network, node_xy=xy))
    np.testing.assert_array_equal(positions, xy)
    positions[0] = 0.0
    assert network.node_xy.shape == (5, 2)  # a copy, not the network's array


def test_partial_coordinates_are_kept_and_the_rest_placed_near_their_neighbours() -> None:
    network = radial_feeder(41, feeder_length=10)
    xy = np.full((41, 2), np.nan)
    # Feeders 0 and 1 are located (1 km per line), 2 and 3 only up to their 5th node.
    for node in range(41):
        feeder, position = divmod(node - 1, 10)
        if node == 0:
            xy[node] = (0.0, 0.0)
        elif feeder < 2 or position < 5:
            xy[node] = (1000.0 * (position + 1) * (1 - 2 * (feeder % 2)), 1000.0 * feeder)
    positions = layout(replace(network, node_xy=xy))
    located = np.isfinite(xy).all(axis=1)
    np.testing.assert_array_equal(positions[located], xy[located])
    assert_injective(positions)
    # Node 26 hangs off located node 25: one typical edge length (1 km) from it.
    assert np.hypot(*(positions[26] - positions[25])) == pytest.approx(1000.0)
    for node in range(26, 31):  # a walk, not a jump
        assert np.hypot(*(positions[node] - positions[node - 1])) == pytest.approx(1000.0)


def test_nodes_without_a_source_are_laid_out_in_a_band_below() -> None:
    b = NetworkBuilder("islands")
    for node in ("s", "a", "b", "x", "y", "z", "lonely"):
        b.add("node", node, u_rated=10e3)
    b.add("source", "src", node="s", u_ref=1.0)
    line(b, "l1", "s", "a")
    line(b, "l2", "a", "b")
    line(b, "l3", "x", "y")
    line(b, "l4", "y", "z")
    network = b.build(validate=False)
    for nodes in (
        network,
        replace(network, node_xy=np.array([[0, 0], [1, 0], [2, 0]] + [[np.nan] * 2] * 4)),
    ):
        positions = layout(nodes, seed=1)
        assert_injective(positions)
        assert positions[3:, 1].max() < positions[:3, 1].min()


def test_several_sources_share_the_centre() -> None:
    b = NetworkBuilder("two-sources")
    for node in range(8):
        b.add("node", f"n{node}", u_rated=10e3)
    b.add("source", "s0", node="n0", u_ref=1.0)
    b.add("source", "s4", node="n4", u_ref=1.0)
    for node in range(7):
        line(b, f"l{node}", f"n{node}", f"n{node + 1}")
    assert_injective(layout(b.build(validate=False)))


@settings(max_examples=40, deadline=None)
@given(
    nodes=st.integers(min_value=2, max_value=60),
    feeder_length=st.integers(min_value=1, max_value=30),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_layouts_of_random_radial_feeders_are_finite_and_injective(
    nodes: int, feeder_length: int, seed: int
) -> None:
    network = radial_feeder(nodes, feeder_length=feeder_length, seed=seed)
    positions = layout(network, seed=seed)
    assert positions.shape == (nodes, 2)
    assert_injective(positions)


# --- the document -------------------------------------------------------------------------


def test_the_document_draws_every_node_and_branch() -> None:
    network = switched()
    positions = layout(network)
    document = graph_document(network, positions)
    assert document["network"] == "switched"
    assert document["calculation"] is None
    assert [node["id"] for node in document["nodes"]] == network.ids("node")
    assert document["nodes"][1] == {
        "id": "b",
        "name": "B",
        "x": positions[1, 0],
        "y": positions[1, 1],
        "u_rated": 10e3,
    }
    edges = {(edge["id"], tuple(edge.get("sides", ()))): edge for edge in document["edges"]}
    assert len(edges) == len(document["edges"]) == 7
    assert edges["open", ()] == {
        "id": "open",
        "kind": "link",
        "from": "c",
        "to": "d",
        "in_service": False,
    }
    assert edges["t3", (2, 3)]["from"] == "a"
    assert edges["t3", (2, 3)]["to"] == "lv"
    json.dumps(document, allow_nan=False)


def test_a_document_with_a_state_round_trips_through_refresh() -> None:
    network = radial_feeder(30, ring_every=1)
    positions = layout(network)
    state = power_flow(network)
    document = graph_document(network, positions, state)
    assert document["calculation"] == "power_flow"
    n5 = document["nodes"][5]
    assert n5["u_pu"] == pytest.approx(state.u_pu[5])
    assert n5["p_w"] == pytest.approx(state.p_w[5])
    assert n5["energized"] is True
    first = document["edges"][0]
    assert first["id"] == state.branches.ids[0]
    assert first["loading"] == pytest.approx(state.branches.loading[0])
    assert first["i_from_a"] == pytest.approx(state.branches.i_from_a[0])
    text = json.dumps(document, allow_nan=False)

    # A document drawn without a state, then refreshed, is the same document.
    bare = graph_document(network, positions)
    assert "u_pu" not in bare["nodes"][0]
    assert refresh_state(bare, network, state) is bare
    assert json.dumps(bare, allow_nan=False) == text

    # A new state changes the state fields and nothing else.
    heavier = replace(
        network,
        data={**network.data, "sym_load": network.table("sym_load").copy()},
    )
    heavier.data["sym_load"]["p_specified"] *= 1.5
    refresh_state(document, network, power_flow(heavier))
    again = json.loads(text)
    assert [(n["x"], n["y"]) for n in document["nodes"]] == [
        (n["x"], n["y"]) for n in again["nodes"]
    ]
    assert document["nodes"][5]["u_pu"] < again["nodes"][5]["u_pu"]
    assert document["edges"][0]["p_from_w"] > again["edges"][0]["p_from_w"]


def test_asymmetric_states_give_phases_and_non_finite_numbers_null() -> None:
    network = radial_feeder(12)
    state = power_flow(network, symmetric=False)
    u_pu = state.u_pu.copy()
    u_pu[3, 1] = np.nan
    loading = state.branches.loading.copy()
    loading[0] = np.inf
    state = replace(state, u_pu=u_pu, branches=replace(state.branches, loading=loading))
    document = graph_document(network, layout(network), state)
    node = document["nodes"][3]
    assert len(node["u_pu"]) == len(node["p_w"]) == len(node["u_angle_rad"]) == 3
    assert node["u_pu"][1] is None
    assert node["u_pu"][0] == pytest.approx(state.u_pu[3, 0])
    assert len(document["edges"][0]["p_from_w"]) == 3
    assert document["edges"][0]["loading"] is None
    json.dumps(document, allow_nan=False)


def test_refresh_matches_by_id_and_leaves_what_the_state_lacks_null() -> None:
    network = switched()
    document = graph_document(network, layout(network))
    state = power_flow(two_voltage_grid())  # a state of another network
    with pytest.raises(ValueError, match="two-voltage"):
        refresh_state(document, two_voltage_grid(), state)
    grid = two_voltage_grid()
    document = graph_document(grid, layout(grid))
    shuffled = replace(
        state,
        node_ids=state.node_ids[::-1],
        u_pu=state.u_pu[::-1],
        branches=replace(
            state.branches,
            ids=state.branches.ids[1:],
            p_from_w=state.branches.p_from_w[1:],
        ),
    )
    refresh_state(document, grid, shuffled)
    assert document["nodes"][0]["u_pu"] == pytest.approx(state.u_pu[0])
    by_id = {edge["id"]: edge for edge in document["edges"]}
    assert by_id[state.branches.ids[0]]["p_from_w"] is None
    assert by_id[state.branches.ids[1]]["p_from_w"] == pytest.approx(state.branches.p_from_w[1])


def test_positions_must_match_the_nodes() -> None:
    network = radial_feeder(5)
    with pytest.raises(ValueError, match="shape"):
        graph_document(network, np.zeros((4, 2)))
