"""``osed grid-function run dac FILE`` as a user runs it: the result alone on standard output,
schedules that keep every device equation, the peak at the central minimum; a bad document
exits 2 naming every problem at its JSON path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osed.gridfunctions.builtin._dac_central import central_optimum
from osed.gridfunctions.builtin._dac_document import read_document
from tests.unit.buildings.plan_documents import BATTERY
from tests.unit.cli.terminal import piped
from tests.unit.gridfunctions.dac_check import violations

STEPS = 8
EVENING = [1.0, 1.0, 1.5, 2.0, 4.0, 5.0, 4.0, 2.0]

DOCUMENT: dict[str, Any] = {
    "steps": STEPS,
    "step_h": 1.0,
    "prices": [0.10, 0.10, 0.10, 0.10, 0.30, 0.30, 0.30, 0.10],
    "buildings": [
        {
            "id": "house-1",
            "base_kw": EVENING,
            "devices": [BATTERY],
        },
        {
            "id": "house-2",
            "base_kw": [0.5 * x for x in EVENING],
            "devices": [
                {
                    "id": "ev",
                    "kind": "ev",
                    "arrival_step": 3,
                    "departure_step": 8,
                    "energy_kwh": 10.0,
                    "charge_max_kw": 7.2,
                },
                {
                    "id": "boiler",
                    "kind": "water_heater",
                    "energy_max_kwh": 8.0,
                    "energy_min_kwh": 1.0,
                    "energy_init_kwh": 4.0,
                    "power_max_kw": 3.0,
                    "draw_kw": [0, 0, 0, 0, 0.5, 1.5, 0.5, 0],
                    "loss_kw": 0.05,
                },
            ],
        },
        {
            "id": "house-3",
            "base_kw": [0.8 * x for x in EVENING],
            "devices": [
                {
                    "id": "heat-pump",
                    "kind": "heating",
                    "capacitance_kwh_per_k": 5.0,
                    "resistance_k_per_kw": 4.0,
                    "cop": 3.0,
                    "power_max_kw": 4.0,
                    "temp_init_c": 20.0,
                    "outdoor_c": [0.0] * STEPS,
                    "comfort_min_c": [19.0] * STEPS,
                    "comfort_max_c": [23.0] * STEPS,
                }
            ],
        },
    ],
}


def test_run_dac_prints_only_a_result_at_the_central_peak(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_text(json.dumps(DOCUMENT))
    run = piped("grid-function", "run", "dac", str(path))
    assert run.code == 0, run.err
    result = run.json()  # the whole standard output is the result
    assert result["status"] == "converged"
    assert violations(DOCUMENT, result) == []
    central = central_optimum(read_document(DOCUMENT)).peak_kw
    assert result["peak_after_kw"] < result["peak_before_kw"]
    assert result["peak_after_kw"] <= 1.02 * central
    assert result["peak_after_kw"] == pytest.approx(max(result["aggregate_kw"]))
    assert [b["id"] for b in result["buildings"]] == ["house-1", "house-2", "house-3"]


def test_run_dac_with_a_bad_document_exits_2_naming_every_problem(tmp_path: Path) -> None:
    bad = json.loads(json.dumps(DOCUMENT))
    bad["prices"] = bad["prices"][:-1]
    bad["buildings"][0]["devices"][0]["capacity_kwh"] = -10
    del bad["buildings"][1]["devices"][0]["energy_kwh"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    run = piped("grid-function", "run", "dac", str(path))
    assert run.code == 2
    assert run.out == ""
    for where in (
        "$.prices",
        "$.buildings[0].devices[0].capacity_kwh",
        "$.buildings[1].devices[0].energy_kwh",
    ):
        assert where in run.err
    assert "Traceback" not in run.err
