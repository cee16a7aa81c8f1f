"""Topological observability: islands, the branches between them, and references."""

from __future__ import annotations

from osed.grid.measurements import Measurement, build_sensors
from osed.grid.network import Network, NetworkBuilder
from osed.grid.observability import check_observability
from osed.grid.powerflow import power_flow
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure


def report(network: Network, measurements: list[Measurement]):  # type: ignore[no-untyped-def]
    sensors = build_sensors(measurements, network, symmetric=True)
    return check_observability(network, sensors.data)


def test_voltages_and_every_load_make_a_radial_feeder_observable() -> None:
    network = radial_feeder(31)
    found = report(network, measure(network, power_flow(network)))
    assert found.observable
    assert len(found.islands) == 1


def test_a_missing_load_splits_the_feeder_and_names_the_branches() -> None:
    network = radial_feeder(11)  # one feeder n0 - n1 - ... - n10
    all_measurements = measure(network, power_flow(network))
    without = [m for m in all_measurements if m.element not in ("load5", "load6")]
    found = report(network, without)
    assert not found.observable
    # The loads beyond n6 tie n6..n10 together. Towards the source, the injections at n1..n4
    # give 4 equations for the 5 flows on l1..l5 (the source's injection is not measured):
    # no flow there is determined, nor l6 next to the unmeasured n5 and n6.
    named = {b["id"] for b in found.unmeasured_branches}
    assert named == {"l1", "l2", "l3", "l4", "l5", "l6"}
    assert found.unmeasured_branch_count == 6
    assert len(found.islands) == 7
    assert sorted(found.islands[0].nodes) == ["n10", "n6", "n7", "n8", "n9"]


def test_a_flow_measurement_repairs_what_a_missing_load_broke() -> None:
    network = radial_feeder(11)
    truth = power_flow(network)
    measurements = [m for m in measure(network, truth, flows=["l10"]) if m.element != "load10"]
    assert report(network, measurements).observable


def test_without_any_voltage_magnitude_the_report_says_so() -> None:
    network = radial_feeder(6)
    measurements = [
        m for m in measure(network, power_flow(network)) if m.measurand != "voltmagnitude"
    ]
    found = report(network, measurements)
    assert not found.observable
    assert "no voltage magnitude" in found.summary()


def test_voltage_phasors_tie_islands_together() -> None:
    network = radial_feeder(3)  # n0 - n1 - n2
    state = power_flow(network)
    phasors = measure(network, state, voltage_angles=True)
    only_voltages = [m for m in phasors if m.measurand.startswith("volt")]
    assert report(network, only_voltages).observable


def test_nodes_without_appliances_are_zero_injections_and_dead_nodes_are_left_out() -> None:
    b = NetworkBuilder("t")
    for name in ("a", "b", "c", "island"):
        b.add("node", name, u_rated=400.0)
    b.add("source", "s", node="a", u_ref=1.0)
    b.add("line", "ab", from_node="a", to_node="b", r1=0.1, x1=0.05, c1=0.0, tan1=0.0)
    b.add("line", "bc", from_node="b", to_node="c", r1=0.1, x1=0.05, c1=0.0, tan1=0.0)
    b.add(
        "line",
        "ci",
        from_node="c",
        to_node="island",
        r1=0.1,
        x1=0.05,
        c1=0.0,
        tan1=0.0,
        to_status=0,
    )
    b.add("sym_load", "lc", node="c", type=0, p_specified=1e3, q_specified=0.0)
    network = b.build()
    state = power_flow(network)
    measurements = measure(network, state)
    found = report(network, measurements)
    assert found.observable  # b has no appliance: a zero injection ties ab to bc
    assert found.deenergised_nodes == ["island"]


def test_parts_fed_by_their_own_sources_are_judged_separately() -> None:
    b = NetworkBuilder("two parts")
    for name in ("a", "b", "c", "d"):
        b.add("node", name, u_rated=400.0)
    b.add("source", "s1", node="a", u_ref=1.0)
    b.add("source", "s2", node="c", u_ref=1.0)
    b.add("line", "ab", from_node="a", to_node="b", r1=0.1, x1=0.05, c1=0.0, tan1=0.0)
    b.add("line", "bc", from_node="b", to_node="c", r1=0.1, x1=0.05, c1=0.0, tan1=0.0, to_status=0)
    b.add("line", "cd", from_node="c", to_node="d", r1=0.1, x1=0.05, c1=0.0, tan1=0.0)
    b.add("sym_load", "lb", node="b", type=0, p_specified=1e3, q_specified=0.0)
    b.add("sym_load", "ld", node="d", type=0, p_specified=1e3, q_specified=0.0)
    network = b.build()
    measurements = measure(network, power_flow(network))
    found = report(network, measurements)
    assert found.observable
    assert len(found.islands) == 2
    without_d = [m for m in measurements if m.element != "ld"]
    assert not report(network, without_d).observable


def test_a_ring_of_zero_injections_is_resolved_jointly() -> None:
    """Each load's injection touches two other islands; only together do they fix both."""
    b = NetworkBuilder("triangle")
    for name in ("a", "b", "c"):
        b.add("node", name, u_rated=400.0)
    b.add("source", "s", node="a", u_ref=1.0)
    b.add("line", "ab", from_node="a", to_node="b", r1=0.1, x1=0.05, c1=0.0, tan1=0.0)
    b.add("line", "bc", from_node="b", to_node="c", r1=0.1, x1=0.05, c1=0.0, tan1=0.0)
    b.add("line", "ca", from_node="c", to_node="a", r1=0.1, x1=0.05, c1=0.0, tan1=0.0)
    b.add("sym_load", "lb", node="b", type=0, p_specified=1e3, q_specified=0.0)
    b.add("sym_load", "lc", node="c", type=0, p_specified=1e3, q_specified=0.0)
    network = b.build()
    state = power_flow(network)
    # |V| at a and the loads at b and c; the source's injection at a is not measured
    measurements = [m for m in measure(network, state) if m.element in ("a", "lb", "lc")]
    assert report(network, measurements).observable
    assert not report(network, [m for m in measurements if m.element != "lc"]).observable
