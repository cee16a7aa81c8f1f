"""``osed optimize`` as a user runs it: standard output is the result JSON and nothing else.

HiGHS prints a banner on standard output when a process makes its first solver; only a fresh
process shows it, so these run the command as a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.optimizer.balancer_cases import osed_document
from tests.unit.optimizer.fleet_scenarios import fleet, fleet_document

CASES = Path(__file__).parents[2] / "data" / "optimizer" / "pymfm"


def osed_optimize(path: Path, *options: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "optimize", str(path), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize(
    "case", ["input_scheduling_optimization_based.json", "input_scheduling_rule_based.json"]
)
def test_a_pymfm_result_is_the_whole_of_standard_output(case: str) -> None:
    code, out, _ = osed_optimize(CASES / case)
    assert code == 0
    assert json.loads(out)["id"]


def test_an_osed_result_is_the_whole_of_standard_output(tmp_path: Path) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(osed_document()))
    code, out, _ = osed_optimize(path, "--format", "osed")
    assert code == 0
    assert json.loads(out)["status"] == "optimal"


def test_a_fleet_result_is_the_whole_of_standard_output(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(fleet_document(fleet(households=6, steps=8, seed=3))))
    code, out, err = osed_optimize(path, "--format", "fleet")
    assert code == 0, err
    assert json.loads(out)["status"] in {"optimal", "gap_reached"}
