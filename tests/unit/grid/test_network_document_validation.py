"""Bad network and measurement files: every problem named at its path in the user's file,
all at once, non-finite values called so, absurd magnitudes rejected, no NumPy warning."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from power_grid_model.utils import json_serialize

from osed.domain.errors import ValidationError
from osed.grid.imports.files import from_document, from_pgm_document, load_network, to_document
from osed.grid.measurements import parse_measurements
from osed.grid.powerflow import CalculationError, power_flow
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure

FEEDER = radial_feeder(4)
DOCUMENT = to_document(FEEDER)


def document(**changes: Any) -> dict[str, Any]:
    copied = copy.deepcopy(DOCUMENT)
    copied.update(changes)
    return copied


def problems(call: Any, *args: Any) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        call(*args)
    return {(problem.path, problem.code) for problem in caught.value.problems}


def test_nan_is_reported_as_not_finite_at_the_documents_path() -> None:
    bad = document()
    bad["components"]["line"][0]["r1"] = float("nan")
    assert problems(from_document, bad) == {("$.components.line[0].r1", "not_finite")}


def test_every_problem_is_named_at_once_at_the_files_paths() -> None:
    bad = document(version=99)
    bad["components"]["line"][0]["r1"] = float("nan")
    bad["components"]["node"][1]["u_rated"] = -5
    bad["components"]["line"][1]["from_status"] = 0.5  # silently cast to 0 before
    assert problems(from_document, bad) == {
        ("$.version", "unsupported_version"),
        ("$.components.line[0].r1", "not_finite"),
        ("$.components.node[1].u_rated", "NotGreaterThanError"),
        ("$.components.line[1].from_status", "bad_value"),
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"frequency_hz": "x"}, ("$.frequency_hz", "out_of_range")),
        ({"frequency_hz": -50}, ("$.frequency_hz", "out_of_range")),
        ({"version": True}, ("$.version", "unsupported_version")),
        ({"name": ["a"]}, ("$.name", "not_a_string")),
    ],
)
def test_the_header_is_checked(change: dict[str, Any], expected: tuple[str, str]) -> None:
    assert problems(from_document, document(**change)) == {expected}


@pytest.mark.parametrize(
    ("attribute", "value", "code"),
    [
        ("r1", True, "not_a_number"),
        ("r1", "abc", "not_a_number"),
        ("r1", 1e308, "too_large"),
        ("from_node", ["n0"], "bad_reference"),
        ("from_status", 1e14, "bad_value"),
        ("from_status", 300, "bad_value"),
    ],
)
def test_row_values_are_checked(attribute: str, value: object, code: str) -> None:
    bad = document()
    bad["components"]["line"][0][attribute] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cast that overflows warned before
        assert problems(from_document, bad) == {(f"$.components.line[0].{attribute}", code)}


def test_an_ideal_source_of_1e18_va_is_accepted() -> None:
    stiff = document()
    stiff["components"]["source"][0]["sk"] = 1e18  # how the pandapower import writes it
    assert from_document(stiff).table("source")["sk"][0] == 1e18


def test_a_rated_voltage_below_a_volt_is_named() -> None:
    bad = document()
    bad["components"]["node"][2]["u_rated"] = 1e-300
    assert problems(from_document, bad) == {("$.components.node[2].u_rated", "too_small")}


def test_coordinates_come_in_pairs_and_duplicates_are_named() -> None:
    bad = document()
    bad["components"]["node"][0]["x"] = 1.0
    bad["components"]["line"].append({**bad["components"]["line"][0]})
    assert problems(from_document, bad) == {
        ("$.components.node[0]", "half_coordinates"),
        ("$.components.line[3].id", "duplicate_id"),
    }


def test_power_grid_model_files_are_named_at_their_own_paths() -> None:
    pgm = json.loads(json_serialize(dict(FEEDER.data)))
    pgm["data"]["node"][2]["u_rated"] = -5
    assert problems(lambda: from_pgm_document(pgm, name="pgm")) == {
        ("$.data.node[2].u_rated", "NotGreaterThanError")
    }


def test_a_network_without_nodes_is_refused_by_the_calculation() -> None:
    empty = from_document(document(components={}))
    with pytest.raises(CalculationError, match="no node"):
        power_flow(empty)


def test_json_nested_too_deeply_is_reported(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert problems(load_network, deep) == {(str(deep), "too_deep")}


def measurements(**changes: Any) -> dict[str, Any]:
    readings = [
        {"element": m.element, "measurand": m.measurand, "value": m.value, "sigma": m.sigma}
        for m in measure(FEEDER, power_flow(FEEDER))
    ]
    readings[0].update(changes)
    return {"measurements": readings}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sigma": 1e-300}, ("$.measurements[0].sigma", "too_small")),
        ({"value": 1e300}, ("$.measurements[0].value", "too_large")),
        ({"value": float("nan")}, ("$.measurements[0].value", "not_finite")),
    ],
)
def test_absurd_readings_are_rejected(change: dict[str, Any], expected: tuple[str, str]) -> None:
    assert problems(parse_measurements, measurements(**change), FEEDER) == {expected}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "osed.cli", "grid", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_cli_names_the_path_prints_nothing_and_warns_nothing(tmp_path: Path) -> None:
    bad = document(version=99)
    bad["components"]["line"][0]["r1"] = 1e300
    network = tmp_path / "network.json"
    network.write_text(json.dumps(bad))
    shown = run_cli("show", str(network))
    assert (shown.returncode, shown.stdout) == (2, "")
    assert "$.components.line[0].r1" in shown.stderr
    assert "$.version" in shown.stderr
    assert "Traceback" not in shown.stderr

    # NaN is no JSON number: the file is refused where the token stands.
    bad["components"]["line"][0]["r1"] = float("nan")
    network.write_text(json.dumps(bad))
    shown = run_cli("show", str(network))
    assert (shown.returncode, shown.stdout) == (2, "")
    assert "line 1 column" in shown.stderr
    assert "not_finite" in shown.stderr

    good = tmp_path / "good.json"
    good.write_text(json.dumps(DOCUMENT))
    readings = tmp_path / "measurements.json"
    readings.write_text(json.dumps(measurements(sigma=1e-300)))
    estimated = run_cli("estimate", "--network", str(good), "--measurements", str(readings))
    assert (estimated.returncode, estimated.stdout) == (2, "")
    assert "$.measurements[0].sigma" in estimated.stderr
    assert "Traceback" not in estimated.stderr
