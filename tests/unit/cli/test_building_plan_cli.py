"""``osed building plan FILE`` as a user runs it: the result alone on standard output (parsed
whole), least cost under the import limit, infeasibility named, every problem of a bad
document at its JSON path with exit 2 and nothing on standard output."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.buildings.plan_documents import STEPS, as_dac, document
from tests.unit.buildings.plan_reference import least_cost
from tests.unit.cli.terminal import piped
from tests.unit.gridfunctions.dac_check import violations


def test_plan_prints_only_the_least_cost_schedule(tmp_path: Path) -> None:
    doc = document()
    path = tmp_path / "evening.json"
    path.write_text(json.dumps(doc))
    run = piped("building", "plan", str(path))
    assert run.code == 0, run.err
    result = run.json()  # the whole standard output is the result
    assert set(result) == {"status", "cost", "net_kw", "devices"}
    assert result["status"] == "optimal"
    assert [d["id"] for d in result["devices"]] == ["battery", "ev", "heat-pump", "boiler"]
    assert violations(*as_dac(doc, result)) == []
    assert max(result["net_kw"]) <= 9.0 + 1e-7
    expected = least_cost(doc)
    assert abs(result["cost"] - expected) <= 1e-6 * abs(expected)


def test_a_limit_per_step_and_an_infeasible_step(tmp_path: Path) -> None:
    doc = document()
    doc["import_limit_kw"] = [9.0] * STEPS
    doc["import_limit_kw"][5] = 0.5
    path = tmp_path / "tight.json"
    path.write_text(json.dumps(doc))
    run = piped("building", "plan", str(path))
    assert run.code == 1, run.err
    assert run.json() == {
        "status": "infeasible",
        "infeasible": [{"step": 5, "limit": "import_limit_kw"}],
    }


def test_a_bad_document_exits_2_naming_every_problem(tmp_path: Path) -> None:
    doc = document()
    doc["prices"] = doc["prices"][:-1]
    doc["import_limit_kw"] = "high"
    doc["colour"] = "blue"
    devices = doc["building"]["devices"]
    devices[0]["capacity_kwh"] = -10
    del devices[1]["energy_kwh"]
    devices[2]["kind"] = "sauna"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    run = piped("building", "plan", str(path))
    assert run.code == 2
    assert run.out == ""
    for where in (
        "$.prices",
        "$.import_limit_kw",
        "$.colour",
        "$.building.devices[0].capacity_kwh",
        "$.building.devices[1].energy_kwh",
        "$.building.devices[2].kind",
    ):
        assert where in run.err, where
    assert "Traceback" not in run.err


def test_not_json_and_a_missing_building(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"steps": 2,')
    run = piped("building", "plan", str(path))
    assert (run.code, run.out) == (2, "")
    path.write_text(json.dumps({"steps": 2, "step_h": 1, "prices": [0.1, 0.2]}))
    run = piped("building", "plan", str(path))
    assert (run.code, run.out) == (2, "")
    assert "$.building" in run.err
