"""``osed demo`` and ``osed demo sweep`` as a user runs them: a subprocess whose standard output
is parsed whole (JSON when piped), progress and logs on standard error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

OSED = [sys.executable, "-m", "osed.cli"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*OSED, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


def test_demo_writes_the_report_and_data_and_prints_paths_and_kpis(tmp_path: Path) -> None:
    done = run(["demo", "--scenario", "small", "--out", "out"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["scenario"] == "small"
    assert summary["households"] == 10
    report = tmp_path / summary["report"]
    assert report.is_file()
    assert "<svg" in report.read_text()
    for name in ("grid", "buses", "lines", "households", "prices", "activity"):
        assert (tmp_path / summary["data"] / f"{name}.parquet").is_file()
        assert (tmp_path / summary["data"] / f"{name}.csv").is_file()
    grid = pd.read_parquet(tmp_path / summary["data"] / "grid.parquet")
    assert str(grid["time_utc"].dt.tz) == "UTC"
    kpis = summary["kpis"]
    assert kpis["ledger_verified"] is True
    assert kpis["market_imbalance_kwh"] == 0.0
    assert "osed demo small" in done.stderr  # the progress, on standard error


def test_a_bad_scenario_names_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(
        "name: bad\nseed: -1\nstart: 2026-04-14\nresolution_min: 7\n"
        "network: {generated: {households: 0}}\n"
        "households: {shares: {pv: 1.5}}\n"
        "weather: {latitude: 48.1, longitude: 11.6}\n"
    )
    done = run(["demo", "--scenario", str(scenario), "--out", "out"], tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    for path in (
        "$.seed",
        "$.horizon_h",  # 24 h is not a whole number of 7-minute steps
        "$.network.generated.households",
        "$.households.shares.pv",
    ):
        assert path in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_sweep_gives_one_row_per_case_in_case_order(tmp_path: Path) -> None:
    done = run(
        [
            "demo",
            "sweep",
            "--scenario",
            "small",
            "--seeds",
            "0:2",
            "--workers",
            "2",
            "--out",
            "sweep.csv",
        ],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout)
    assert [(row["scenario"], row["seed"]) for row in rows] == [("small", 0), ("small", 1)]
    assert all(row["ledger_verified"] is True for row in rows)
    table = pd.read_csv(tmp_path / "sweep.csv")
    assert list(table["seed"]) == [0, 1]
    assert rows[0]["peak_baseline_kw"] != rows[1]["peak_baseline_kw"]  # the seeds differ
