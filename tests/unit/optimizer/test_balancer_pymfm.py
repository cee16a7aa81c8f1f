"""pymfm's three shipped examples give pymfm's observed results."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from osed.domain.errors import ValidationError
from osed.optimizer.check import check_schedule
from osed.optimizer.documents import solve_document
from osed.optimizer.formats import pymfm
from osed.optimizer.optimize import optimize

CASES = Path(__file__).parents[2] / "data" / "optimizer" / "pymfm"


def load(name: str) -> Any:
    return json.loads((CASES / name).read_text())


def grid_interaction(records: list[dict[str, Any]]) -> float:
    net = [r["P_net_after_kW"] for r in records]
    imports = [max(p, 0.0) for p in net]
    exports = [max(-p, 0.0) for p in net]
    return sum(imports) + sum(exports) + max(imports) + max(exports)


def test_optimisation_reproduces_pymfms_objective() -> None:
    observed = load("observed_output_scheduling_optimization_based_scip.json")
    result = solve_document(load("input_scheduling_optimization_based.json"))
    expected = grid_interaction(observed["results"])
    assert result["solver_status"] == "optimal"
    assert math.isclose(result["objective_value"], expected, rel_tol=1e-6)
    assert math.isclose(grid_interaction(result["results"]), expected, rel_tol=1e-6)
    assert [r["timestamp"] for r in result["results"]] == [
        r["timestamp"] for r in observed["results"]
    ]
    assert result["results"][0].keys() == observed["results"][0].keys()


def test_optimisation_schedule_meets_every_constraint() -> None:
    data = pymfm.parse(load("input_scheduling_optimization_based.json"))
    problem = pymfm.to_problem(data)
    schedule = optimize(problem)
    assert check_schedule(problem, schedule) == []
    # The reported targets: the community battery at 70 % at the start of the last step,
    # the household batteries full at day_end (18:00).
    records = {r["timestamp"]: r for r in pymfm.schedule_output(data, problem, schedule)["results"]}
    assert records["2021-04-01T23:45:00.000000Z"]["SoC_bat_1_%"] == pytest.approx(70.0)
    assert records["2021-04-01T18:00:00.000000Z"]["SoC_bat_2_%"] == pytest.approx(65.0)
    assert records["2021-04-01T18:00:00.000000Z"]["SoC_bat_3_%"] == pytest.approx(87.5)


def test_native_mode_does_better_and_says_by_how_much() -> None:
    result = solve_document(load("input_scheduling_optimization_based.json"), native=True)
    assert result["solver_status"] == "optimal"
    assert result["compatible_objective_value"] == pytest.approx(2158.0643009715773, rel=1e-6)
    assert result["objective_value"] < result["compatible_objective_value"]
    gain = 1 - result["objective_value"] / result["compatible_objective_value"]
    assert result["improvement_over_compatible"] == pytest.approx(gain)


def test_rule_based_scheduling_reproduces_pymfm() -> None:
    observed = load("observed_output_scheduling_rule_based.json")["results"]
    result = solve_document(load("input_scheduling_rule_based.json"))
    assert result["solver_status"] == "applied"
    assert len(result["results"]) == len(observed)
    for ours, theirs in zip(result["results"], observed, strict=True):
        assert ours.keys() == theirs.keys()
        assert ours["timestamp"] == theirs["timestamp"]
        for key in ("P_net_before_kW", "P_net_after_kW", "P_bat_1_kW", "SoC_bat_1_%"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-9), key


def test_near_real_time_reproduces_pymfm() -> None:
    observed = load("observed_output_near_real_time_rule_based.json")
    result = solve_document(load("input_near_real_time_rule_based.json"))
    for key in ("initial_SoC_bat_%", "SoC_bat_%", "P_bat_kW", "P_net_meas_kW", "P_net_after_kW"):
        assert result[key] == pytest.approx(observed[key], abs=1e-12), key
    assert result["timestamp"] == observed["timestamp"]


def test_missing_day_end_is_berlins_sunset() -> None:
    document = load("input_scheduling_optimization_based.json")
    del document["day_end"]
    problem = pymfm.to_problem(pymfm.parse(document))
    assert problem.day_end is not None
    assert problem.day_end.isoformat() == "2021-04-01T17:45:00+00:00"  # sunset 17:41 UTC


def test_a_malformed_pymfm_input_names_every_problem() -> None:
    document = load("input_scheduling_optimization_based.json")
    document["battery_specs"][1]["P_ch_max_kW"] = "fast"
    document["battery_specs"][2]["initial_SoC"] = 120
    document["generation_and_load"]["values"][5]["P_load_kW"] = None
    del document["uc_end"]
    with pytest.raises(ValidationError) as caught:
        solve_document(document)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.battery_specs[1].P_ch_max_kW",
        "$.battery_specs[2].initial_SoC",
        "$.generation_and_load.values[5].P_load_kW",
        "$.uc_end",
    }


def test_an_irregular_forecast_is_rejected_with_its_position() -> None:
    document = load("input_scheduling_rule_based.json")
    del document["generation_and_load"]["values"][10]
    with pytest.raises(ValidationError) as caught:
        solve_document(document)
    assert [p.path for p in caught.value.problems] == ["$.generation_and_load.values[10].timestamp"]
