"""``osed grid``, ``osed optimize``, ``osed config show`` and ``osed bus gaps``: JSON when
piped (parsed whole), readable text on a terminal; estimates say when pseudo-measurements
carry their redundancy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osed.bus._positions import SqlitePositions
from osed.codec.gap import GapReport
from osed.grid.imports.files import to_document
from osed.grid.powerflow import power_flow
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure
from tests.unit.cli.terminal import on_terminal, piped

DATA = Path(__file__).parents[2] / "data"
CIGRE_MV = DATA / "grid" / "cigre_mv.json"
PYMFM = DATA / "optimizer" / "pymfm"


def test_show_lists_every_element_id(tmp_path: Path) -> None:
    summary = piped("grid", "show", str(CIGRE_MV)).json()
    elements = summary["elements"]
    assert {kind: len(rows) for kind, rows in elements.items()} == summary["components"]
    assert [row["id"] for row in elements["transformer"]] == ["TR1", "TR2"]
    assert elements["line"][0] == {
        "id": "L12-13",
        "name": "L12-13",
        "from_node": "N12",
        "to_node": "N13",
    }
    shown = on_terminal("grid", "show", str(CIGRE_MV))
    assert shown.code == 0
    assert "transformer (2)" in shown.out
    assert any(line.split()[:2] == ["TR1", "TR1"] for line in shown.out.splitlines())


def test_powerflow_reads_as_tables_on_a_terminal() -> None:
    state = piped("grid", "powerflow", "--network", str(CIGRE_MV)).json()
    shown = on_terminal("grid", "powerflow", "--network", str(CIGRE_MV))
    lines = shown.out.splitlines()
    assert lines[0] == "power flow of CIGRE MV (symmetric)"
    node_rows = {line.split()[0]: line.split() for line in lines[4 : 4 + len(state["nodes"])]}
    for node in state["nodes"]:
        assert float(node_rows[node["id"]][2]) == pytest.approx(node["u_pu"], abs=1e-6)


@pytest.fixture
def sparse_measurements(tmp_path: Path) -> tuple[Path, Path]:
    """Voltages and a few flows of a 31-node feeder: observable only with pseudo-loads."""
    network = radial_feeder(31)
    measured = measure(network, power_flow(network), flows=["l1", "l11", "l21"])[:31]
    document = [
        {"element": m.element, "measurand": m.measurand, "value": m.value, "sigma": m.sigma}
        | ({"side": m.side} if m.side else {})
        for m in measured
    ]
    paths = tmp_path / "feeder.json", tmp_path / "measurements.json"
    paths[0].write_text(json.dumps(to_document(network)))
    paths[1].write_text(json.dumps({"measurements": document}))
    return paths


def test_an_estimate_carried_by_pseudo_measurements_says_so(
    sparse_measurements: tuple[Path, Path],
) -> None:
    network, measurements = (str(path) for path in sparse_measurements)
    run = piped("grid", "estimate", "--network", network, "--measurements", measurements)
    assert run.code == 0, run.err
    result = run.json()
    assert result["redundancy"]["measurements"] == 31
    assert result["redundancy"]["pseudo_measurements"] == 60
    assert result["redundancy"]["from_pseudo_measurements"] is True
    assert result["warnings"]
    assert "warning: the redundancy comes from 60 pseudo-measurements" in run.err
    shown = on_terminal("grid", "estimate", "--network", network, "--measurements", measurements)
    assert "pseudo-measurements  60" in shown.out
    assert "warning: the redundancy comes from" in shown.err


def test_optimize_prints_a_summary_with_the_schedule_as_a_table() -> None:
    request = str(PYMFM / "input_scheduling_rule_based.json")  # rules: no solver involved
    result = piped("optimize", request).json()
    assert result["solver_status"] == "applied"
    shown = on_terminal("optimize", request)
    lines = shown.out.splitlines()
    assert ["solver_status", "applied"] in [line.split() for line in lines]
    header = lines.index("results") + 1
    columns = lines[header].split()
    rows = [line.split() for line in lines[header + 2 :]]
    assert len(rows) == len(result["results"]) == 96
    after = columns.index("P_net_after_kW")
    assert [float(row[after]) for row in rows] == pytest.approx(
        [step["P_net_after_kW"] for step in result["results"]], abs=1e-6
    )


def test_config_show_reads_as_sections_on_a_terminal() -> None:
    settings = piped("config", "show").json()
    assert settings["log"] == {"level": "INFO", "format": "text"}
    shown = on_terminal("config", "show")
    lines = [line.split() for line in shown.out.splitlines()]
    assert ["backend", settings["bus"]["backend"]] in lines
    assert ["log"] in lines


def test_bus_gaps_prints_json_lines_piped_and_a_table_on_a_terminal(tmp_path: Path) -> None:
    path = tmp_path / "positions.sqlite"
    positions = SqlitePositions(path)
    report = GapReport(
        "stats", "bal/#", "pmu-7", 3001, 3351, "unavailable", datetime(2026, 1, 1, tzinfo=UTC)
    )
    positions.save("stats", "pmu-7", 3352, [report])
    positions.close()
    reports = piped("bus", "gaps", "--db", str(path)).json_lines()
    assert [(r["source"], r["first"], r["last"]) for r in reports] == [("pmu-7", 3001, 3351)]
    shown = on_terminal("bus", "gaps", "--db", str(path))
    lines = [line.split() for line in shown.out.splitlines()]
    assert lines[0][:3] == ["consumer", "pattern", "source"]
    assert lines[2][:5] == ["stats", "bal/#", "pmu-7", "3001", "3351"]
