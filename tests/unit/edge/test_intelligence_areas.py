"""Electric areas from the network model: the nearest transformer above an element, else the
feeder head below the source; ratings as currents at both ends."""

from __future__ import annotations

import math

import pytest

from osed.edge.intelligence_areas import AreaMap
from osed.grid.network import Network, NetworkBuilder
from osed.sim.feeders import radial_feeder

LINE = {"r1": 0.1, "x1": 0.05, "c1": 1e-9, "tan1": 0.0}


def substation() -> Network:
    """n0 (source, 10 kV) ─l1→ n1 ─t1→ n2 (0.4 kV) ─l2→ n3, and n0 ─l3→ n4 ─l4→ n5 (10 kV);
    n1 ─l7→ n7, and a tie l5 from n5 to n7 closes a mesh; l6 (open) hangs n6 off n5."""
    b = NetworkBuilder("substation")
    for node, u in [
        ("n0", 10e3),
        ("n1", 10e3),
        ("n2", 400.0),
        ("n3", 400.0),
        ("n4", 10e3),
        ("n5", 10e3),
        ("n6", 10e3),
        ("n7", 10e3),
    ]:
        b.add("node", node, u_rated=u)
    b.add("line", "l1", from_node="n0", to_node="n1", i_n=300.0, **LINE)
    b.add(
        "transformer",
        "t1",
        from_node="n1",
        to_node="n2",
        u1=10e3,
        u2=400.0,
        sn=400e3,
        uk=0.04,
        pk=4e3,
        i0=0.002,
        p0=600.0,
        winding_from=1,
        winding_to=2,
        clock=5,
        tap_side=0,
        tap_pos=0,
        tap_min=0,
        tap_max=0,
        tap_size=0.0,
    )
    b.add("line", "l2", from_node="n2", to_node="n3", i_n=200.0, **LINE)
    b.add("line", "l3", from_node="n0", to_node="n4", i_n=250.0, **LINE)
    b.add("line", "l4", from_node="n4", to_node="n5", **LINE)  # no rating
    b.add("line", "l7", from_node="n1", to_node="n7", i_n=100.0, **LINE)
    b.add("line", "l5", from_node="n5", to_node="n7", i_n=100.0, **LINE)
    b.add("line", "l6", from_node="n5", to_node="n6", i_n=100.0, from_status=0, **LINE)
    b.add("source", "src", node="n0", u_ref=1.0)
    return b.build()


def test_an_element_belongs_to_the_nearest_transformer_above_it() -> None:
    areas = AreaMap(substation())
    for element in ("t1", "n2", "n3", "l2"):
        found = areas.area_of(element)
        assert found is not None
        assert found.element == "t1"
    t1 = areas.area("t1")
    assert t1 is not None
    assert t1.nodes == {"n2", "n3"}
    assert t1.branches == {"t1", "l2"}
    assert t1.rating_kw == pytest.approx(400.0)


def test_without_a_transformer_the_feeder_head_is_the_area() -> None:
    areas = AreaMap(substation())
    for element, head in [("n1", "l1"), ("l1", "l1"), ("n7", "l1"), ("n5", "l3"), ("l4", "l3")]:
        found = areas.area_of(element)
        assert found is not None, element
        assert found.element == head, element
    l3 = areas.area("l3")
    assert l3 is not None
    assert l3.rating_kw == pytest.approx(math.sqrt(3) * 10e3 * 250.0 / 1e3)
    assert areas.area_of("n0") is None  # the source node
    assert areas.area_of("n6") is None  # behind an open switch
    assert areas.area_of("nowhere") is None


def test_a_branch_outside_the_tree_takes_its_from_end_area() -> None:
    areas = AreaMap(substation())
    for branch in ("l5", "l6"):
        found = areas.area_of(branch)
        assert found is not None
        assert found.element == "l3"


def test_ratings_are_currents_at_both_ends() -> None:
    areas = AreaMap(substation())
    assert areas.branch_amps["l2"] == (200.0, 200.0)
    high, low = areas.branch_amps["t1"]
    assert high == pytest.approx(400e3 / (math.sqrt(3) * 10e3))
    assert low == pytest.approx(400e3 / (math.sqrt(3) * 400.0))
    assert "l4" not in areas.branch_amps


def test_each_feeder_of_a_radial_network_is_an_area() -> None:
    areas = AreaMap(radial_feeder(21, feeder_length=10))
    assert [a.element for a in areas.areas()] == ["l1", "l11"]
    found = areas.area_of("n15")
    assert found is not None
    assert found.element == "l11"
    assert len(found.nodes) == 10
