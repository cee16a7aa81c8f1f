"""OSED's fleet document: read into the same problem, solved to the monolithic optimum, the
result consistent with the problem, and bad documents rejected with every problem's path."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from osed.domain.errors import ValidationError
from osed.optimizer.documents import Format, detect_format, solve_document
from osed.optimizer.fleet_monolithic import solve_monolithic
from osed.optimizer.formats import fleet
from tests.unit.optimizer.fleet_scenarios import fleet as fleet_problem
from tests.unit.optimizer.fleet_scenarios import fleet_document

PROBLEM = fleet_problem(12, seed=4, cap_share=0.6, final_share=0.5)


def test_the_document_reads_back_as_the_problem() -> None:
    document = fleet_document(PROBLEM)
    assert detect_format(document) is Format.FLEET
    read = fleet.to_problem(fleet.parse(document))
    for name in ("net_load_kw", "capacity_kwh", "soc_min_kwh", "soc_initial_kwh", "soc_final_kwh"):
        np.testing.assert_allclose(getattr(read, name), getattr(PROBLEM, name), rtol=1e-12)
    np.testing.assert_array_equal(read.feeder_import_max_kw, PROBLEM.feeder_import_max_kw)
    assert read.dt_h == PROBLEM.dt_h


@pytest.mark.parametrize("method", ["decomposition", "monolithic"])
def test_the_result_is_the_optimum_and_consistent(method: str) -> None:
    optimum = solve_monolithic(PROBLEM).objective
    result = solve_document(fleet_document(PROBLEM, method=method, gap=1e-4))
    assert result["status"] == "optimal"
    assert result["method"] == method
    objective = result["objective"]
    assert objective["bound"] <= optimum + 1e-7 <= objective["value"] + 2e-7
    assert objective["value"] - optimum <= 1e-4 * abs(optimum)
    households = result["households"]
    assert [h["id"] for h in households] == [f"house-{i}" for i in range(12)]
    meter = np.array([h["meter_kw"] for h in households])
    power = np.array([h["power_kw"] for h in households])
    # The meter sees the net load plus the battery; the feeder the sum of the meters.
    np.testing.assert_allclose(meter, PROBLEM.net_load_kw + power, atol=1e-9)
    np.testing.assert_allclose(result["feeder"]["net_kw"], meter.sum(axis=0), atol=1e-9)
    assert max(result["feeder"]["net_kw"]) <= PROBLEM.feeder_import_max_kw[0] + 1e-6
    assert min(result["feeder"]["net_kw"]) >= -PROBLEM.feeder_export_max_kw[0] - 1e-6
    soc = np.array([h["soc_pct"] for h in households])
    assert soc.shape == (12, PROBLEM.steps + 1)
    assert soc.min() >= 10 - 1e-6
    assert soc.max() <= 90 + 1e-6
    assert soc[:, -1].min() >= 50 - 1e-6  # the final target
    # Bills plus the cycling cost make up the objective.
    discharged = np.clip(-power, 0, None).sum() * PROBLEM.dt_h * PROBLEM.cycling_cost
    bills = sum(h["bill"] for h in households)
    assert bills + discharged == pytest.approx(objective["value"], rel=1e-9)


def test_an_infeasible_fleet_is_explained_without_a_schedule() -> None:
    document = fleet_document(PROBLEM, feeder={"import_max_kw": 0.0, "export_max_kw": 0.0})
    result = solve_document(document)
    assert result["status"] == "infeasible"
    assert result["report"]
    assert all(isinstance(line, str) for line in result["report"])
    assert result["objective"]["value"] is None
    assert "households" not in result
    assert "feeder" not in result


def problems_of(document: Any) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        fleet.parse(document)
    return {(problem.path, problem.code) for problem in caught.value.problems}


def test_field_errors_name_every_path() -> None:
    document = fleet_document(PROBLEM)
    households: list[dict[str, Any]] = copy.deepcopy(document["households"])  # type: ignore[arg-type]
    households[1]["battery"]["capacity_kwh"] = -5
    households[2]["net_load_kw"][3] = "lots"
    del households[3]["battery"]["soc_initial_pct"]
    households[4]["meter_import_max_kw"] = -1
    document.update(households=households, step_minutes=0, colour="blue")
    assert problems_of(document) == {
        ("$.households[1].battery.capacity_kwh", "greater_than"),
        ("$.households[2].net_load_kw[3]", "float_parsing"),
        ("$.households[3].battery.soc_initial_pct", "missing"),
        ("$.households[4].meter_import_max_kw", "greater_than_equal"),
        ("$.step_minutes", "greater_than"),
        ("$.colour", "extra_forbidden"),
    }


def test_lengths_and_ids_are_checked_across_fields() -> None:
    document = fleet_document(PROBLEM, start="2026-07-01T00:00:00")
    households: list[dict[str, Any]] = copy.deepcopy(document["households"])  # type: ignore[arg-type]
    households[2]["net_load_kw"] = households[2]["net_load_kw"][:-1]
    households[5]["id"] = "house-0"
    document.update(households=households, export_price=[0.1] * 95)
    assert problems_of(document) == {
        ("$.start", "naive"),
        ("$.export_price", "length"),
        ("$.households[2].net_load_kw", "length"),
        ("$.households[5].id", "duplicate"),
    }


def test_the_problems_rules_are_reported_at_the_documents_paths() -> None:
    document = fleet_document(PROBLEM)
    households: list[dict[str, Any]] = copy.deepcopy(document["households"])  # type: ignore[arg-type]
    households[0]["battery"].update(soc_min_pct=95, soc_max_pct=90)
    households[1]["battery"].update(soc_initial_pct=5)
    households[2]["battery"].update(soc_final_pct=95)
    export_price: list[float] = list(document["export_price"])  # type: ignore[call-overload]
    export_price[7] = 10.0
    document.update(households=households, export_price=export_price)
    assert problems_of(document) == {
        ("$.households[0].battery.soc_min_pct", "above_max"),
        ("$.households[0].battery.soc_initial_pct", "outside_window"),
        ("$.households[1].battery.soc_initial_pct", "outside_window"),
        ("$.households[2].battery.soc_final_pct", "above_max"),
        ("$.export_price[7]", "above_import"),
    }


def test_not_an_object_is_rejected() -> None:
    assert problems_of([1, 2]) == {("$", "model_type")}
