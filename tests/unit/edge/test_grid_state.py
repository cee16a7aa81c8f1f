"""An estimate cut to what lies at and below an EDC's element, its age, and a grid state put
through the API checked whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from osed.domain.errors import ValidationError
from osed.edge.grid_state import Estimate, freshness
from osed.edge.grid_state_document import read_grid_state
from osed.edge.intelligence_areas import AreaMap
from osed.edge.intelligence_inputs import Observed
from tests.unit.edge.test_intelligence_areas import substation

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
AREAS = AreaMap(substation())


@pytest.mark.parametrize(
    ("element", "nodes", "branches"),
    [
        # a feeder head: everything it feeds, across the transformer t1
        ("l1", {"n1", "n2", "n3", "n7"}, {"l1", "t1", "l2", "l7"}),
        ("t1", {"n2", "n3"}, {"t1", "l2"}),
        # a node: itself and what it feeds; the tie l5 and the open l6 start at n5
        ("n4", {"n4", "n5"}, {"l4", "l5", "l6"}),
        ("n2", {"n2", "n3"}, {"l2"}),
        # the source node: every fed node, every branch that starts at one
        ("n0", {"n0", "n1", "n2", "n3", "n4", "n5", "n7"}, {f"l{i}" for i in range(1, 8)} | {"t1"}),
        # a tie closing a mesh feeds nothing
        ("l5", set(), {"l5"}),
    ],
)
def test_what_lies_below_an_element(element: str, nodes: set[str], branches: set[str]) -> None:
    below = AREAS.below(element)
    assert below is not None
    assert below.element == element
    assert below.nodes == nodes
    assert below.branches == branches


def test_nothing_lies_below_an_unfed_or_unknown_element() -> None:
    assert AREAS.below("n6") is None  # behind the open l6
    assert AREAS.below("nowhere") is None


def test_an_estimate_is_cut_to_the_area_with_its_extremes_and_the_elements_loading() -> None:
    observed = Observed(
        loading={"l1": 0.8, "t1": 1.12, "l3": 0.4, "l7": 0.25},
        voltage_high={"n1": 1.01, "n2": 1.07, "n3": 1.08, "n4": 0.9},
        voltage_low={"n1": 0.97, "n2": 1.06, "n3": 1.05, "n4": 0.85},
    )
    below = AREAS.below("l1")
    assert below is not None
    state = Estimate.of(T0, observed).for_area(below)
    assert state["estimated_at"] == T0.isoformat()
    assert state["grid_state_source"] == "estimate"
    # per node the phase farthest from 1 pu: n1's low phase (0.03 off) beats its high (0.01)
    assert state["voltages_pu"] == pytest.approx({"n1": 0.97, "n2": 1.07, "n3": 1.08})
    assert state["loading"] == pytest.approx({"l1": 0.8, "t1": 1.12, "l7": 0.25})
    assert state["voltage_min_pu"] == pytest.approx(0.97)
    assert state["voltage_max_pu"] == pytest.approx(1.08)
    assert state["element_loading"] == pytest.approx(0.8)
    on_a_node = AREAS.below("n2")
    assert on_a_node is not None
    at_node = Estimate.of(T0, observed).for_area(on_a_node)
    assert at_node["element_loading"] is None
    assert at_node["voltage_min_pu"] == pytest.approx(1.05)
    assert at_node["loading"] == {}


def test_an_empty_cut_has_no_extremes() -> None:
    below = AREAS.below("l5")
    assert below is not None
    state = Estimate.of(T0, Observed(voltage_high={"n1": 1.0})).for_area(below)
    assert state["voltages_pu"] == {}
    assert state["voltage_min_pu"] is None
    assert state["voltage_max_pu"] is None


def test_a_state_older_than_the_maximum_age_is_stale() -> None:
    limit = timedelta(seconds=180)
    fresh = freshness(T0, T0 + timedelta(seconds=180), limit)
    assert fresh == {"grid_state_age_s": pytest.approx(180.0), "grid_state_stale": False}
    old = freshness(T0, T0 + timedelta(seconds=180.5), limit)
    assert old == {"grid_state_age_s": pytest.approx(180.5), "grid_state_stale": True}
    assert freshness(T0, T0 + timedelta(days=9), None)["grid_state_stale"] is False
    assert freshness(None, T0, limit) == {"grid_state_age_s": None, "grid_state_stale": True}


def test_a_put_state_is_read_with_its_extremes() -> None:
    below = AREAS.below("l1")
    document = {
        "estimated_at": "2026-01-05T11:59:00Z",
        "voltages_pu": {"n1": 0.96, "n3": 1.04},
        "loading": {"l1": 1.05, "t1": 0},
    }
    state = read_grid_state(document, element="l1", area=below, checked=True, now=T0)
    assert state == {
        "estimated_at": (T0 - timedelta(minutes=1)).isoformat(),
        "grid_state_source": "api",
        "voltages_pu": {"n1": 0.96, "n3": 1.04},
        "loading": {"l1": 1.05, "t1": 0.0},
        "voltage_min_pu": 0.96,
        "voltage_max_pu": 1.04,
        "element_loading": 1.05,
    }
    arrived = read_grid_state({}, element="l1", area=below, checked=True, now=T0)
    assert arrived["estimated_at"] == T0.isoformat()


def test_every_problem_of_a_put_state_is_named_with_its_path() -> None:
    document = {
        "estimated_at": "2026-01-05T13:00:00+00:00",  # an hour ahead
        "voltages_pu": {"n1": 0, "n3": -1.0, "n4": 1.0, "n2": "1.0", "n7": True, "n9": 1e400},
        "loading": {"l1": -0.1, "l3": 0.5, "t1": 10**400},
        "source": "adms",
    }
    with pytest.raises(ValidationError) as caught:
        read_grid_state(document, element="l1", area=AREAS.below("l1"), checked=True, now=T0)
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("$.estimated_at", "in_future"),
        ("$.voltages_pu.n1", "out_of_range"),
        ("$.voltages_pu.n3", "out_of_range"),
        ("$.voltages_pu.n4", "not_in_area"),  # on the other feeder
        ("$.voltages_pu.n2", "not_a_number"),
        ("$.voltages_pu.n7", "not_a_number"),
        ("$.voltages_pu.n9", "not_in_area"),
        ("$.voltages_pu.n9", "out_of_range"),
        ("$.loading.l1", "out_of_range"),
        ("$.loading.l3", "not_in_area"),
        ("$.loading.t1", "out_of_range"),
        ("$.source", "unexpected_key"),
    }


@pytest.mark.parametrize(
    ("document", "path", "code"),
    [
        ([1.0], "$", "not_an_object"),
        ({"voltages_pu": [1.0]}, "$.voltages_pu", "not_an_object"),
        ({"estimated_at": "2026-01-05 12:00"}, "$.estimated_at", "bad_time"),
        ({"estimated_at": "2026-01-05T12:00:00"}, "$.estimated_at", "bad_time"),  # no zone
        ({"estimated_at": "2026-13-05T12:00:00Z"}, "$.estimated_at", "bad_time"),
        ({"estimated_at": 1767614400}, "$.estimated_at", "bad_time"),
    ],
)
def test_a_malformed_put_state_is_refused(document: object, path: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        read_grid_state(document, element="x", area=None, checked=False, now=T0)
    assert [(p.path, p.code) for p in caught.value.problems] == [(path, code)]


def test_without_a_network_model_any_id_is_taken_and_with_one_an_unfed_element_has_none() -> None:
    document = {"voltages_pu": {"anywhere": 1.0}}
    state = read_grid_state(document, element="x", area=None, checked=False, now=T0)
    assert state["voltages_pu"] == {"anywhere": 1.0}
    with pytest.raises(ValidationError) as caught:
        read_grid_state(document, element="n6", area=None, checked=True, now=T0)
    assert [p.code for p in caught.value.problems] == ["not_in_area"]
