"""``osed grid-function`` as a user runs it: standard output is the result and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.unit.cli.terminal import on_terminal, piped
from tests.unit.optimizer.balancer_cases import osed_document

XOR = {
    "request_kw": 6,
    "duration_h": 1,
    "prices": [1, 2],
    "bids": [
        {"building": "a", "quantities_kw": [5, 5]},
        {"building": "b", "quantities_kw": [5, 5]},
        {"building": "c", "quantities_kw": [0, 1]},
    ],
}


def test_list_names_every_builtin_with_its_version() -> None:
    run = piped("grid-function", "list")
    assert run.code == 0, run.err
    listed = {row["name"]: row for row in run.json()}
    assert {"xor", "community-balancing", "market"} <= set(listed)
    assert listed["xor"]["version"] == "1.0.0"
    assert listed["xor"]["description"]


def test_list_on_a_terminal_is_a_table() -> None:
    run = on_terminal("grid-function", "list")
    assert run.code == 0
    assert run.out.splitlines()[0].split() == ["name", "version", "description"]


def test_show_prints_the_manifest() -> None:
    run = piped("grid-function", "show", "xor")
    assert run.code == 0, run.err
    manifest = run.json()
    assert {p["name"] for p in manifest["parameters"]} >= {"request_kw", "prices"}
    assert {"price_offer", "bid"} <= {m["name"] for m in manifest["messages"]}


def test_run_prints_only_the_result(tmp_path: Path) -> None:
    path = tmp_path / "round.json"
    path.write_text(json.dumps(XOR))
    run = piped("grid-function", "run", "xor", str(path))
    assert run.code == 0, run.err
    result = run.json()
    assert result["status"] == "optimal"
    assert result["cost"] == 7.0
    assert [w["building"] for w in result["winners"]] == ["a", "c"]


def test_run_reads_standard_input_and_an_infeasible_result_still_exits_0() -> None:
    document = {**XOR, "request_kw": 50}
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "grid-function", "run", "xor", "-"],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "infeasible"
    assert result["shortfall_kw"] == 39.0


def test_an_invalid_document_exits_2_naming_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"request_kw": -1, "prices": [2, 1], "bids": [{"building": 3}]}))
    run = piped("grid-function", "run", "xor", str(path))
    assert run.code == 2
    assert run.out == ""
    for where in (
        "$.request_kw",
        "$.duration_h",
        "$.prices[1]",
        "$.bids[0].building",
        "$.bids[0].quantities_kw",
    ):
        assert where in run.err
    assert "Traceback" not in run.err


def test_a_file_that_is_not_json_exits_2_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"request_kw": 1,\n  "prices": [NaN]}')
    run = piped("grid-function", "run", "xor", str(path))
    assert run.code == 2
    assert run.out == ""
    assert "line 2" in run.err


def test_an_unknown_function_exits_2_with_the_installed_names(tmp_path: Path) -> None:
    path = tmp_path / "round.json"
    path.write_text(json.dumps(XOR))
    for argv in (("run", "nope", str(path)), ("show", "nope")):
        run = piped("grid-function", *argv)
        assert run.code == 2
        assert run.out == ""
        assert "nope" in run.err
        assert "xor" in run.err


def test_the_builtin_balancer_and_market_run_offline(tmp_path: Path) -> None:
    balancing = tmp_path / "balancing.json"
    balancing.write_text(json.dumps(osed_document()))
    run = piped("grid-function", "run", "community-balancing", str(balancing))
    assert run.code == 0, run.err
    assert run.json()["status"] == "optimal"
    auction = tmp_path / "auction.json"
    auction.write_text(
        json.dumps(
            {
                "pricing": "pay-as-clear",
                "bids": [{"id": "b1", "price": 0.3, "quantity": 5}],
                "offers": [{"id": "s1", "price": 0.1, "quantity": 3}],
            }
        )
    )
    run = piped("grid-function", "run", "market", str(auction))
    assert run.code == 0, run.err
    assert run.json()["quantity"] == 3.0


def test_a_third_party_function_is_found_without_touching_osed(tmp_path: Path) -> None:
    """A distribution installed beside OSED (its .dist-info with an entry point on the path)
    adds a function that ``list`` shows and ``run`` runs."""
    site = tmp_path / "site"
    package = site / "peak_echo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from osed.domain.errors import Problem, ValidationError
            from osed.gridfunctions.spec import Manifest, MessageType, Parameter


            class PeakEcho:
                manifest = Manifest(
                    name="peak-echo",
                    version="0.3.1",
                    description="the largest value of a series",
                    parameters=(Parameter("limit_kw", "a limit", unit="kW", minimum=0),),
                    messages=(MessageType("peak", "outbound"),),
                )

                def run(self, document):
                    series = document.get("series") if isinstance(document, dict) else None
                    if not isinstance(series, list) or not series:
                        raise ValidationError(
                            [Problem("$.series", "missing", "a non-empty list")],
                            subject="peak-echo document",
                        )
                    return {"peak_kw": max(series)}

                def open(self, parameters, area, *, resume=None):
                    raise NotImplementedError


            FUNCTION = PeakEcho()
            """
        )
    )
    dist = site / "peak_echo-0.3.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: peak-echo\nVersion: 0.3.1\n")
    (dist / "entry_points.txt").write_text(
        "[osed.grid_functions]\npeak-echo = peak_echo:FUNCTION\n"
    )
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {"PYTHONPATH": path}
    listed = piped("grid-function", "list", env=env)
    assert listed.code == 0, listed.err
    assert {
        "name": "peak-echo",
        "version": "0.3.1",
        "description": "the largest value of a series",
    } in listed.json()
    document = tmp_path / "series.json"
    document.write_text(json.dumps({"series": [1.5, 4.25, 2]}))
    ran = piped("grid-function", "run", "peak-echo", str(document), env=env)
    assert ran.code == 0, ran.err
    assert ran.json() == {"peak_kw": 4.25}
    document.write_text("{}")
    refused = piped("grid-function", "run", "peak-echo", str(document), env=env)
    assert (refused.code, refused.out) == (2, "")
    assert "$.series" in refused.err
    assert "peak-echo" not in piped("grid-function", "list").out


def test_show_on_a_terminal_lists_parameters_and_messages() -> None:
    run = on_terminal("grid-function", "show", "xor")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0].split() == ["name", "xor"]
    assert any(line.split()[:3] == ["request_kw", "number", "kW"] for line in lines)
    assert any(line.split()[:2] == ["bid", "inbound"] for line in lines)


def test_a_function_that_does_not_load_is_named_and_the_others_still_listed(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    dist = site / "broken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[osed.grid_functions]\nbroken = no_such_module_here:FUNCTION\n"
    )
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    run = piped("grid-function", "list", env={"PYTHONPATH": path})
    assert run.code == 1
    assert "xor" in {row["name"] for row in run.json()}
    assert "broken" in run.err
    assert "no_such_module_here" in run.err
