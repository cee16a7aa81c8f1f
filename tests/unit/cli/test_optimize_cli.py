"""``osed optimize FILE``: the result JSON in the input's format, clear failures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from osed.cli import main
from tests.unit.optimizer.balancer_cases import osed_document
from tests.unit.optimizer.fleet_scenarios import fleet, fleet_document

CASES = Path(__file__).parents[2] / "data" / "optimizer" / "pymfm"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["optimize", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def test_a_pymfm_file_gives_pymfms_result_with_objective_and_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, result, _ = run(capsys, str(CASES / "input_scheduling_optimization_based.json"))
    assert code == 0
    assert result["solver_status"] == "optimal"
    assert math.isclose(result["objective_value"], 2158.0643009715773, rel_tol=1e-6)
    assert len(result["results"]) == 96


def test_an_osed_document_comes_back_as_osed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(osed_document()))
    code, result, _ = run(capsys, str(path), "--format", "osed")
    assert code == 0
    assert result["status"] == "optimal"
    assert result["objective"]["kind"] == "grid_interaction"
    # 40 kWh out for the evening load, 40 kWh back from the 70 kWh surplus: 30 kWh exported,
    # spread to keep the export peak low.
    assert result["grid"]["net_kw"] == pytest.approx([0, 0, -15, -15], abs=1e-9)
    assert result["batteries"][0]["soc_pct"][-1] == pytest.approx(50)


def test_an_infeasible_request_exits_1_with_the_conflicts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = osed_document(net_limits={"upper_kw": [0, 0, 0, 0], "lower_kw": [0, 0, 0, 0]})
    document["batteries"][0]["soc_final_pct"] = 90
    path = tmp_path / "request.json"
    path.write_text(json.dumps(document))
    code, result, _ = run(capsys, str(path))
    assert code == 1
    assert result["status"] == "infeasible"
    assert result["conflicts"]
    assert "grid" not in result


def test_malformed_input_exits_2_naming_every_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = osed_document(load_kw=[1, 2, "x", 4], pv_kw=[0, 0])
    document["batteries"][0]["charge_max_kw"] = -5
    path = tmp_path / "request.json"
    path.write_text(json.dumps(document))
    code, result, err = run(capsys, str(path))
    assert code == 2
    assert result is None
    assert "$.load_kw[2]" in err
    assert "$.batteries[0].charge_max_kw" in err


def test_broken_json_names_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text('{"id": "x",\n "start": }')
    code, _, err = run(capsys, str(path))
    assert code == 2
    assert "line 2" in err


def test_rules_and_near_real_time_in_the_osed_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(osed_document(mode="rules")))
    code, result, _ = run(capsys, str(path))
    assert code == 0
    assert result["method"] == "rules"
    assert result["grid"]["net_kw"] == pytest.approx([0, 0, 0, 0], abs=1e-9)
    document = osed_document(
        mode="near_real_time",
        near_real_time={"measured_net_kw": -25.7, "request_kw": 20, "duration_h": 0.25},
    )
    document["batteries"][0].update(capacity_kwh=800, charge_max_kw=300, soc_initial_pct=20)
    path.write_text(json.dumps(document))
    code, result, _ = run(capsys, str(path))
    assert code == 0
    assert result["power_kw"] == pytest.approx(45.7)
    assert result["soc_pct"] == pytest.approx(21.428125)


def test_a_fleet_document_is_scheduled_or_explained(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(fleet_document(fleet(6, seed=1))))
    code, result, _ = run(capsys, str(path))
    assert code == 0
    assert result["status"] == "optimal"
    assert [len(h["power_kw"]) for h in result["households"]] == [96] * 6
    path.write_text(json.dumps(fleet_document(fleet(6, seed=1), feeder={"import_max_kw": 0})))
    code, result, _ = run(capsys, str(path), "--format", "fleet")
    assert code == 1
    assert result["status"] == "infeasible"
    assert result["report"]
    path.write_text(json.dumps(fleet_document(fleet(6, seed=1), households=[])))
    code, result, err = run(capsys, str(path))
    assert code == 2
    assert "$.households" in err
