"""examples/grid: `osed grid estimate` on the CIGRE MV network and its measurement file, as
the README runs it; the estimate agrees with `osed grid powerflow` on the same network."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "examples" / "grid"


def osed(*argv: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "grid", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_estimate_of_the_example_matches_the_power_flow() -> None:
    network = ["--network", "examples/grid/cigre-mv.json"]
    estimate = osed("estimate", *network, "--measurements", "examples/grid/measurements.json")
    truth = {node["id"]: node["u_pu"] for node in osed("powerflow", *network)["nodes"]}
    assert estimate["observability"]["observable"] is True
    assert estimate["residuals"]["chi2_passed"] is True
    assert estimate["bad_data_removed"] == []
    assert estimate["pseudo_measurements"] == []
    assert len(estimate["nodes"]) == len(truth) == 15
    for node in estimate["nodes"]:
        # 50 V (line) of noise on 20 kV: the estimate is within a few thousandths of a pu.
        assert node["u_pu"] == pytest.approx(truth[node["id"]], abs=2e-3)


def test_the_example_network_is_cigre_mv() -> None:
    summary = osed("show", "examples/grid/cigre-mv.json")
    assert summary["components"] == {
        "node": 15,
        "line": 15,
        "transformer": 2,
        "source": 1,
        "sym_load": 18,
    }
    assert summary["unsupported"] == []
    measurements = json.loads((FOLDER / "measurements.json").read_text())["measurements"]
    assert {m["measurand"] for m in measurements} == {
        "voltmagnitude",
        "activepower",
        "reactivepower",
    }
