"""The benchmark suite's quick mode as ``scripts/bench --quick`` runs it: every benchmark
still runs and prints JSON, and the one results file holds them all (figures not asserted:
a smoke run on a shared machine says nothing about speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[3]
sys.path.insert(0, str(ROOT / "bench"))

import suite  # noqa: E402 - bench/ is not a package


def test_every_benchmark_script_is_in_the_suite() -> None:
    scripts = {path.stem for path in (ROOT / "bench").glob("bench_*.py")}
    assert scripts == {benchmark.name for benchmark in suite.SUITE}


def test_ratios_are_found_by_their_names_and_nothing_else() -> None:
    figures = {
        "feeder": {"ratio_min": 1.05, "iterations": 3, "verify_over_floor": 2.5},
        "runs": [{"speedup": 3.0, "steps_over_1s": 4, "dac_iterations": 35}],
        "ratios": {"p99": 0.9},
    }
    assert dict(suite.ratios(figures)) == {
        "feeder.ratio_min": 1.05,
        "feeder.verify_over_floor": 2.5,
        "runs[0].speedup": 3.0,
        "ratios.p99": 0.9,
    }


def test_the_quick_run_of_every_benchmark_writes_one_file_of_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench-results.json"
    command = [sys.executable, str(ROOT / "bench" / "suite.py"), "--quick", "--smoke"]
    done = subprocess.run(
        [*command, "--jobs", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=tmp_path,
    )
    summary = json.loads(done.stdout)  # standard output is that one document, nothing else
    assert summary == {"out": str(out), "failed": []}, done.stderr[-6000:]
    assert done.returncode == 0
    results = json.loads(out.read_text())
    smoke = [benchmark.name for benchmark in suite.SUITE if benchmark.smoke]
    assert list(results["benchmarks"]) == smoke
    for name, entry in results["benchmarks"].items():
        assert "error" not in entry, name
        assert isinstance(entry["figures"], dict | list), name
        assert entry["figures"], name
        assert entry["wall_s"] > 0
    assert results["quick"] is True
    assert all(isinstance(value, float) for value in results["ratios"].values())
