"""The ``dac`` grid function offline: quality gates, infeasibility and bad documents."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.gridfunctions.builtin._dac_buildings import Buildings
from osed.gridfunctions.builtin._dac_central import central_optimum
from osed.gridfunctions.builtin._dac_document import read_document
from osed.gridfunctions.builtin._dac_play import play
from osed.gridfunctions.builtin._dac_warm import sample_duals
from osed.gridfunctions.registry import load_function
from tests.unit.gridfunctions.dac_check import violations
from tests.unit.gridfunctions.dac_scenarios import area


def run(document: dict[str, Any]) -> dict[str, Any]:
    return load_function("dac").run(copy.deepcopy(document))


def best_response_gaps(document: dict[str, Any], result: dict[str, Any]) -> list[float]:
    """Each building's cost over its own optimum under the final prices, relative to the gross
    bill of that optimum (h Σ prices·|net|: a building whose imports and exports nearly cancel
    has a net cost near zero, which no relative gap can be measured against)."""
    problem = read_document(document)
    prices = np.asarray(result["prices"])
    own = Buildings(problem, workers=1)
    try:
        alone = own.respond(prices).net_kw
    finally:
        own.close()
    gaps = []
    for got, net in zip(result["buildings"], alone, strict=True):
        optimum = problem.step_h * prices @ net
        gross = problem.step_h * prices @ np.abs(net)
        gaps.append((got["cost"] - optimum) / max(abs(optimum), gross, 1e-6))
    return gaps


@pytest.fixture(scope="module")
def twenty() -> tuple[dict[str, Any], dict[str, Any]]:
    document = area(20, 96, seed=3)
    return document, run(document)


def test_the_game_converges_to_the_central_peak_with_valid_best_responses(twenty: Any) -> None:
    document, result = twenty
    central = central_optimum(read_document(document))
    assert result["status"] == "converged"
    assert result["peak_after_kw"] < 0.5 * result["peak_before_kw"]
    assert result["peak_after_kw"] <= 1.02 * central.peak_kw
    assert result["peak_after_kw"] >= central.peak_kw - 1e-6
    assert violations(document, result) == []
    assert max(best_response_gaps(document, result)) <= 0.01
    assert len(result["peak_history_kw"]) == result["iterations"]
    assert result["peak_history_kw"][0] == pytest.approx(result["peak_before_kw"])


def test_a_target_peak_is_met_at_least_cost() -> None:
    document = area(12, 48, seed=5)
    document["peak_window"] = [30, 44]
    free = central_optimum(read_document(document))
    document["target_peak_kw"] = free.peak_kw * 1.1
    result = run(document)
    central = central_optimum(read_document(document))
    assert result["status"] == "converged"
    assert result["peak_after_kw"] <= document["target_peak_kw"] * 1.02
    assert violations(document, result) == []
    assert max(best_response_gaps(document, result)) <= 0.01
    tariff_cost = sum(
        document["step_h"] * np.asarray(document["prices"]) @ np.asarray(b["net_kw"])
        for b in result["buildings"]
    )
    assert tariff_cost == pytest.approx(central.cost, rel=0.01)


def test_the_informed_offline_game_needs_fewer_rounds_for_the_same_quality() -> None:
    document = area(40, 48, seed=7)
    problem = read_document(document)
    informed = play(problem)
    live_like = play(read_document(document), informed=False)
    central = central_optimum(problem)
    assert informed["status"] == live_like["status"] == "converged"
    assert informed["iterations"] < live_like["iterations"]
    assert informed["peak_after_kw"] <= 1.02 * central.peak_kw
    assert violations(document, informed) == []
    assert max(best_response_gaps(document, informed)) <= 0.01


def test_the_sample_duals_price_the_peak_at_the_game_weight() -> None:
    problem = read_document(area(40, 48, seed=7))
    weight = 3.0
    start = sample_duals(problem, weight)
    assert start is not None
    # The peak's price is shared among the steps that reach it: the duals sum to its weight.
    assert start.adders.sum() == pytest.approx(weight, rel=1e-4)
    assert (start.adders[~problem.window] == 0).all()
    assert start.aggregate_kw.shape == (48,)


def test_a_target_the_sample_cannot_meet_starts_the_game_cold() -> None:
    document = area(8, 24, seed=5)
    problem = read_document(document)
    document["target_peak_kw"] = central_optimum(problem).peak_kw * 0.5  # nobody can
    assert sample_duals(read_document(document), 1.0) is None


def test_an_infeasible_device_is_named() -> None:
    document = area(3, 24, seed=1)
    document["buildings"][1]["devices"].append(
        {
            "id": "too-much",
            "kind": "ev",
            "arrival_step": 20,
            "departure_step": 22,
            "energy_kwh": 100.0,
            "charge_max_kw": 7.2,
        }
    )
    result = run(document)
    assert result["status"] == "infeasible"
    assert result["infeasible"] == [{"building": "b1", "device": "too-much"}]


def test_every_problem_of_a_bad_document_is_named_with_its_path() -> None:
    document = area(2, 8, seed=1)
    document["prices"][3] = -1
    document["buildings"][0]["base_kw"] = [1.0] * 7
    document["buildings"][1]["devices"] = [
        {
            "id": "x",
            "kind": "battery",
            "capacity_kwh": 0,
            "soc_init": 2,
            "soc_min": 0.1,
            "soc_max": 0.9,
            "charge_max_kw": 1,
            "discharge_max_kw": 1,
            "charge_efficiency": 0.9,
            "discharge_efficiency": 1.5,
        },
        {"id": "y", "kind": "fridge"},
    ]
    document["peak_window"] = [5, 2]
    with pytest.raises(ValidationError) as caught:
        run(document)
    paths = {p.path for p in caught.value.problems}
    assert {
        "$.prices[3]",
        "$.buildings[0].base_kw",
        "$.buildings[1].devices[0].capacity_kwh",
        "$.buildings[1].devices[0].soc_init",
        "$.buildings[1].devices[0].discharge_efficiency",
        "$.buildings[1].devices[1].kind",
        "$.peak_window",
    } <= paths


def test_a_document_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValidationError) as caught:
        run([1, 2])  # type: ignore[arg-type]
    assert caught.value.problems[0].path == "$"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    buildings=st.integers(2, 5),
    seed=st.integers(0, 10_000),
    steps=st.sampled_from([12, 24]),
)
def test_small_random_areas_meet_the_quality_gates(buildings: int, seed: int, steps: int) -> None:
    document = area(buildings, steps, seed=seed)
    result = run(document)
    assert result["status"] in ("converged", "max_iterations")
    assert violations(document, result) == []
    central = central_optimum(read_document(document))
    assert result["peak_after_kw"] <= central.peak_kw + 0.02 * abs(central.peak_kw) + 1e-6
    assert max(best_response_gaps(document, result)) <= 0.01


def test_an_unreachable_target_stops_at_the_round_limit() -> None:
    document = area(4, 24, seed=2)
    document["target_peak_kw"] = 0.1  # below what the buildings' base loads allow
    document["max_iterations"] = 15
    result = run(document)
    assert result["status"] == "max_iterations"
    assert result["iterations"] == 15
    assert result["peak_after_kw"] > 0.1
    assert violations(document, result) == []
