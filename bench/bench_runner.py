"""The study runner: both runs (baseline and managed) of one day at 15-minute resolution on a
low-voltage feeder, printing JSON with the wall seconds per stage.

Households from ``tests/unit/sim/small_study.py`` (half with a battery, all with a heat-pump
zone; seeded load profiles), the DAC game, a double auction every step and a DSO capacity limit
on the feeder head from 17:00 to 21:00 at 2 kW per household.

With ``--scenarios`` it times ``osed demo``'s path on bundled scenarios instead: reading and
materialising the scenario, both runs (their stages), writing the data files and the report.

    .venv/bin/python bench/bench_runner.py [--sizes 20 100] [--scenarios default]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from osed.sim.outputs import write_outputs
from osed.sim.report import write_report
from osed.sim.runner import run_study
from osed.sim.scenario import bundled_scenario, load_study
from osed.sim.study import Event, FunctionSpec, MarketSpec
from tests.unit.sim.small_study import HEAD, small_study


def measure(households: int) -> dict[str, Any]:
    study = small_study(
        households,
        steps=96,
        step_h=0.25,
        nodes=11,
        functions=(FunctionSpec("dac", {"max_iterations": 60}),),
        market=MarketSpec("double-auction", 1),
        events=(Event("capacity_limit", 68, 84, HEAD, limit_kw=2.0 * households),),
        amps=max(150.0, 6.0 * households),
        r_ohm=0.02 * min(1.0, 20.0 / households),
    )
    started = time.perf_counter()
    result = run_study(study)
    seconds = time.perf_counter() - started
    return {
        "households": households,
        "steps": study.steps,
        "seconds": round(seconds, 2),
        "baseline_stages_s": {k: round(v, 2) for k, v in result.baseline.seconds.items()},
        "managed_stages_s": {k: round(v, 2) for k, v in result.managed.seconds.items()},
        "kpis": result.kpis,
    }


def measure_scenario(name: str) -> dict[str, Any]:
    """``osed demo --scenario NAME``'s stages, in one process."""
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        study = load_study(bundled_scenario(name))
        read = time.perf_counter()
        result = run_study(study)
        ran = time.perf_counter()
        write_outputs(result, Path(folder) / "data")
        written = time.perf_counter()
        write_report(result, Path(folder) / "report.html")
        reported = time.perf_counter()
    return {
        "scenario": name,
        "households": len(study.households),
        "steps": study.steps,
        "seconds": round(reported - began, 2),
        "stages_s": {
            "scenario": round(read - began, 2),
            "runs": round(ran - read, 2),
            "outputs": round(written - ran, 2),
            "report": round(reported - written, 2),
        },
        "baseline_stages_s": {k: round(v, 2) for k, v in result.baseline.seconds.items()},
        "managed_stages_s": {k: round(v, 2) for k, v in result.managed.seconds.items()},
        "kpis": result.kpis,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100])
    parser.add_argument("--scenarios", nargs="+", help="bundled scenarios (default, small)")
    args = parser.parse_args()
    if args.scenarios:
        rows = [measure_scenario(name) for name in args.scenarios]
    else:
        rows = [measure(n) for n in args.sizes]
    machine = {"python": platform.python_version(), "cores": os.cpu_count()}
    print(json.dumps({"machine": machine, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
