"""Bad balancing documents of every format: each problem named at the path of the user's own
document, all problems at once, non-finite and absurd magnitudes rejected, no NumPy warning."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from osed.domain.errors import ValidationError
from osed.optimizer.documents import Format, detect_format, solve_document
from osed.optimizer.formats import fleet, pymfm
from osed.optimizer.formats import native as osed_format
from tests.unit.optimizer.fleet_scenarios import fleet as fleet_problem
from tests.unit.optimizer.fleet_scenarios import fleet_document

CASES = Path(__file__).parents[2] / "data" / "optimizer" / "pymfm"
SCHEDULING = json.loads((CASES / "input_scheduling_optimization_based.json").read_text())
FLEET = fleet_problem(4, seed=1, cap_share=0.6)


def problems(parse: Any, document: object) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        parse(document)
    return {(problem.path, problem.code) for problem in caught.value.problems}


def native_document(**fields: object) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "feeder",
        "start": "2026-06-01T00:00:00Z",
        "load_kw": [20.0, 19.0, 18.0, 21.0],
        "pv_kw": [0.0, 1.0, 2.0, 0.0],
        "batteries": [
            {
                "id": "b1",
                "capacity_kwh": 100,
                "charge_max_kw": 50,
                "discharge_max_kw": 50,
                "soc_initial_pct": 50,
            }
        ],
    }
    document.update(fields)
    return document


# ---------------------------------------------------------------------- pymfm


def test_an_upper_limit_below_the_lower_is_named_in_the_limitation_list() -> None:
    document = copy.deepcopy(SCHEDULING)
    document["P_net_after_kW_limitation"][3].update(upper_bound=-5, lower_bound=5)
    assert problems(pymfm.parse, document) == {
        ("$.P_net_after_kW_limitation[3].upper_bound", "below_lower")
    }


def test_the_scheduling_problems_checks_are_reported_at_pymfm_paths() -> None:
    document = copy.deepcopy(SCHEDULING)
    document["day_end"] = "2021-04-01T18:05:00Z"  # between two steps
    document["bulk"] = {
        "bulk_start": "2021-03-31T10:00:00Z",
        "bulk_end": "2021-04-01T12:00:00Z",
        "bulk_energy_kWh": -100,
    }
    assert problems(pymfm.parse, document) == {
        ("$.day_end", "off_grid"),
        ("$.bulk", "outside_horizon"),
    }


def test_a_pymfm_document_without_battery_specs_is_told_so() -> None:
    document = copy.deepcopy(SCHEDULING)
    del document["battery_specs"]
    assert detect_format(document) is Format.PYMFM
    with pytest.raises(ValidationError) as caught:
        solve_document(document)
    assert {(p.path, p.code) for p in caught.value.problems} == {("$.battery_specs", "missing")}


def test_a_limitation_list_shorter_than_the_forecast_is_reported() -> None:
    document = copy.deepcopy(SCHEDULING)
    document["P_net_after_kW_limitation"] = document["P_net_after_kW_limitation"][:6]
    with pytest.raises(ValidationError) as caught:
        pymfm.parse(document)
    (problem,) = caught.value.problems
    assert (problem.path, problem.code) == ("$.P_net_after_kW_limitation", "incomplete")
    assert "90 of the 96" in problem.message


def test_limits_off_the_forecast_grid_or_twice_are_reported() -> None:
    document = copy.deepcopy(SCHEDULING)
    limits = document["P_net_after_kW_limitation"]
    limits[4]["timestamp"] = "2021-04-01T01:05:00Z"
    limits[5]["timestamp"] = limits[6]["timestamp"]
    assert problems(pymfm.parse, document) == {
        ("$.P_net_after_kW_limitation[4].timestamp", "off_grid"),
        ("$.P_net_after_kW_limitation[6].timestamp", "duplicate"),
        ("$.P_net_after_kW_limitation", "incomplete"),
    }


def test_a_load_beyond_physical_magnitudes_is_rejected_at_its_path() -> None:
    document = copy.deepcopy(SCHEDULING)
    document["generation_and_load"]["values"][3]["P_load_kW"] = 1e308
    assert problems(pymfm.parse, document) == {
        ("$.generation_and_load.values[3].P_load_kW", "less_than_equal")
    }


def test_no_forecast_value_inside_the_use_case_is_reported() -> None:
    document = copy.deepcopy(SCHEDULING)
    document["uc_start"] = document["uc_end"] = "2021-04-01T00:05:00Z"
    document.pop("day_end")
    assert ("$.generation_and_load.values", "empty") in problems(pymfm.parse, document)


# ---------------------------------------------------------------------- OSED's format


def test_a_step_too_short_to_keep_is_reported_at_step_minutes() -> None:
    assert problems(osed_format.parse, native_document(step_minutes=1e-9)) == {
        ("$.step_minutes", "too_short")
    }
    assert problems(osed_format.parse, native_document(step_minutes=1e300)) == {
        ("$.step_minutes", "too_long")
    }


def test_the_problems_checks_are_reported_at_the_documents_paths() -> None:
    document = native_document(
        net_limits={"upper_kw": [10, 10, -5, 10], "lower_kw": [0, 0, 5, 0]},
        day_end="2026-06-01T00:05:00Z",
    )
    document["batteries"][0].update(soc_min_pct=20, soc_final_pct=10)
    assert problems(osed_format.parse, document) == {
        ("$.net_limits.upper_kw[2]", "below_lower"),
        ("$.day_end", "off_grid"),
        ("$.batteries[0].soc_final_pct", "outside_window"),
    }


def test_union_paths_name_the_document_not_pydantic() -> None:
    document = native_document(objective={"kind": "peak_shaving", "capacity_kw": "lots"})
    assert problems(osed_format.parse, document) == {("$.objective.capacity_kw", "float_parsing")}
    document = native_document(objective={"kind": "peak_shaving", "capacity_kw": {"a": 1}})
    with pytest.raises(ValidationError) as caught:
        osed_format.parse(document)
    (problem,) = caught.value.problems
    assert (problem.path, problem.code) == ("$.objective.capacity_kw", "wrong_type")
    assert "list" in problem.message
    assert "number" in problem.message


def test_a_battery_window_is_reported_beside_field_errors() -> None:
    document = native_document(load_kw=[1.0, "x", 2.0, 3.0])
    document["batteries"][0].update(soc_min_pct=90, soc_max_pct=80, soc_initial_pct=85)
    assert problems(osed_format.parse, document) == {
        ("$.load_kw[1]", "float_parsing"),
        ("$.batteries[0].soc_min_pct", "above_max"),
        ("$.batteries[0].soc_initial_pct", "outside_window"),
    }


# ---------------------------------------------------------------------- fleet


def test_fleet_soc_min_above_max_is_reported_beside_another_problem() -> None:
    document = fleet_document(FLEET)
    households: list[dict[str, Any]] = copy.deepcopy(document["households"])  # type: ignore[arg-type]
    households[0]["battery"].update(soc_min_pct=95, soc_max_pct=90, soc_initial_pct=92)
    households[1]["battery"]["capacity_kwh"] = -5
    document.update(households=households)
    assert problems(fleet.parse, document) == {
        ("$.households[0].battery.soc_min_pct", "above_max"),
        ("$.households[0].battery.soc_initial_pct", "outside_window"),
        ("$.households[1].battery.capacity_kwh", "greater_than"),
    }


@pytest.mark.parametrize(
    ("cap", "expected"),
    [
        (-5, ("$.feeder.import_max_kw", "greater_than_equal")),
        ([1.0, -2.0], ("$.feeder.import_max_kw[1]", "greater_than_equal")),
        (float("nan"), ("$.feeder.import_max_kw", "finite_number")),
        ({"a": 1}, ("$.feeder.import_max_kw", "wrong_type")),
    ],
)
def test_feeder_caps_are_reported_without_pydantic_internals(
    cap: object, expected: tuple[str, str]
) -> None:
    document = fleet_document(FLEET, feeder={"import_max_kw": cap})
    assert problems(fleet.parse, document) == {expected}


# ---------------------------------------------------------------------- hostile input


@pytest.mark.parametrize("efficiency", [1e-300, 1e-9])
def test_hostile_numbers_give_a_result_with_reasons_and_no_warning(efficiency: float) -> None:
    document = copy.deepcopy(SCHEDULING)
    for spec in document["battery_specs"]:
        spec.update(ch_efficiency=efficiency, dis_efficiency=efficiency)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = solve_document(document, time_limit_s=10)
    json.dumps(result, allow_nan=False)
    if result["solver_status"] != "optimal":
        assert result["conflicts"], "a result without a schedule says why"


def test_the_cli_rejects_an_absurd_load_with_its_path_and_prints_nothing(tmp_path: Path) -> None:
    document = copy.deepcopy(SCHEDULING)
    document["generation_and_load"]["values"][3]["P_load_kW"] = 1e308
    request = tmp_path / "request.json"
    request.write_text(json.dumps(document))
    done = subprocess.run(
        [sys.executable, "-W", "error", "-m", "osed.cli", "optimize", str(request)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "$.generation_and_load.values[3].P_load_kW" in done.stderr
    assert "Traceback" not in done.stderr
