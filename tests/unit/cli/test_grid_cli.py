"""``osed grid show|powerflow|estimate``: the JSON contract and clear failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osed.cli import main
from osed.grid.imports.files import to_document
from osed.grid.powerflow import power_flow
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    network = radial_feeder(31)
    truth = power_flow(network)
    measurements = measure(network, truth, flows=["l1", "l11", "l21"])
    document = [
        {"element": m.element, "measurand": m.measurand, "value": m.value, "sigma": m.sigma}
        | ({"side": m.side} if m.side else {})
        for m in measurements
    ]
    document[7]["value"] += 600.0  # n7: +0.1 pu of the phase voltage
    paths = {
        "network": tmp_path / "feeder.json",
        "measurements": tmp_path / "measurements.json",
        "partial": tmp_path / "partial.json",
        "broken": tmp_path / "broken.json",
    }
    paths["network"].write_text(json.dumps(to_document(network)))
    paths["measurements"].write_text(json.dumps({"measurements": document}))
    paths["partial"].write_text(json.dumps({"measurements": document[:31]}))
    paths["broken"].write_text(
        json.dumps({"measurements": [{"element": "n1", "measurand": "volts"}]})
    )
    return paths


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["grid", *argv])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_show_summarises_and_exports(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    exported = tmp_path / "copy.json"
    code, summary, _ = run(capsys, "show", str(files["network"]), "--export", str(exported))
    assert code == 0
    assert summary["components"] == {"node": 31, "line": 30, "source": 1, "sym_load": 30}
    assert summary["unsupported"] == []
    code, again, _ = run(capsys, "show", str(exported))
    assert again["components"] == summary["components"]


def test_powerflow_prints_every_node_and_branch(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, state, _ = run(capsys, "powerflow", "--network", str(files["network"]))
    assert code == 0
    assert state["calculation"] == "power_flow"
    assert len(state["nodes"]) == 31
    assert len(state["branches"]) == 30
    assert {"id", "u_pu", "u_angle_rad", "u_v", "p_w", "q_var", "energized"} <= set(
        state["nodes"][0]
    )


def test_estimate_removes_the_gross_error_and_matches_the_power_flow(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, estimate, _ = run(
        capsys,
        "estimate",
        "--network",
        str(files["network"]),
        "--measurements",
        str(files["measurements"]),
    )
    assert code == 0
    assert [r["measurements"] for r in estimate["bad_data_removed"]] == [["voltmagnitude[ABC] n7"]]
    assert estimate["residuals"]["chi2_passed"]
    _, flow, _ = run(capsys, "powerflow", "--network", str(files["network"]))
    ours = np.array([n["u_pu"] for n in estimate["nodes"]])
    theirs = np.array([n["u_pu"] for n in flow["nodes"]])
    assert np.abs(ours - theirs).max() < 1e-6


def test_unobservable_prints_the_report_and_fails(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, err = run(
        capsys,
        "estimate",
        "--network",
        str(files["network"]),
        "--measurements",
        str(files["partial"]),
        "--no-pseudo",
    )
    assert code == 1
    assert report["error"] == "not_observable"
    assert report["observability"]["observable"] is False
    assert "not observable" in err
    code, estimate, _ = run(
        capsys,
        "estimate",
        "--network",
        str(files["network"]),
        "--measurements",
        str(files["partial"]),
    )
    assert code == 0
    assert len(estimate["pseudo_measurements"]) == 60


def test_bad_measurements_name_their_paths(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys,
        "estimate",
        "--network",
        str(files["network"]),
        "--measurements",
        str(files["broken"]),
    )
    assert code == 2
    assert "$.measurements[0].measurand" in err
    assert "$.measurements[0].value" in err
