"""``osed building fit-thermal`` as a user runs it: JSON on standard output, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from osed.sim.building_history import zone_history
from tests.unit.cli.terminal import piped


def _document(days: int = 8) -> dict[str, object]:
    zone = zone_history(
        capacitance_kwh_per_k=5.0, resistance_k_per_kw=6.0, cop=2.5, days=days, noise_c=0.05
    )
    indoor: list[float | None] = [round(float(v), 3) for v in zone.indoor_c]
    indoor[10] = None  # a missing reading
    return {
        "step_h": zone.step_h,
        "cop": zone.cop,
        "indoor_c": indoor,
        "outdoor_c": np.round(zone.outdoor_c, 3).tolist(),
        "power_kw": np.round(zone.power_kw, 4).tolist(),
    }


def test_fit_thermal_prints_the_parameters_and_the_held_out_error(tmp_path: Path) -> None:
    path = tmp_path / "zone.json"
    path.write_text(json.dumps(_document()))
    run = piped("building", "fit-thermal", str(path))
    assert run.code == 0, run.err
    result = run.json()
    assert abs(result["capacitance_kwh_per_k"] - 5.0) / 5.0 < 0.05
    assert abs(result["resistance_k_per_kw"] - 6.0) / 6.0 < 0.05
    assert 0 < result["rmse_c"] < 0.15
    assert result["held_out"]["test_days"] == 2
    assert result["held_out"]["test_rmse_c"] < 0.15
    assert run.err == ""


def test_an_invalid_document_names_every_problem_and_prints_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "step_h": 0,
                "indoor_c": [20, "warm", 21],
                "outdoor_c": [5, 5],
                "power_kw": [1, -2, 1],
                "colour": "red",
            }
        )
    )
    run = piped("building", "fit-thermal", str(path))
    assert run.code == 2
    assert run.out == ""
    for where in (
        "$.step_h",
        "$.cop",
        "$.indoor_c[1]",
        "$.power_kw[1]",
        "$.colour",
        "equal lengths",
    ):
        assert where in run.err


def test_series_too_short_to_fit_are_named(tmp_path: Path) -> None:
    path = tmp_path / "short.json"
    path.write_text(
        json.dumps({"step_h": 1, "cop": 3, "indoor_c": [], "outdoor_c": [], "power_kw": [1]})
    )
    run = piped("building", "fit-thermal", str(path))
    assert run.code == 2
    assert run.out == ""
    for where in ("$.indoor_c: needs at least 5", "$.outdoor_c:", "$.power_kw:"):
        assert where in run.err


def test_a_history_that_cannot_determine_the_model_exits_2(tmp_path: Path) -> None:
    document = _document(days=2)
    document["power_kw"] = [2.0] * len(document["indoor_c"])  # type: ignore[arg-type]
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(document))
    run = piped("building", "fit-thermal", str(path))
    assert run.code == 2
    assert run.out == ""
    assert "unidentifiable" in run.err
