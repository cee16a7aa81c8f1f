"""Fleet scheduling: N household batteries × 96 steps under shared feeder caps, printing JSON.

Scenarios from ``tests/unit/optimizer/fleet_scenarios.py`` (caps at half the uncontrolled
peaks, so they bind). For each size: the decomposition's seconds, iterations, proven gap and
status within ``--budget`` seconds; the monolithic HiGHS LP's seconds for sizes up to
``--monolithic-max`` (with ``--monolithic-limit`` as its own budget), and the objectives.

    .venv/bin/python bench/bench_fleet.py [--sizes 10 100 1000 10000] [--budget 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import highspy

sys.path.insert(0, str(Path(__file__).parents[1]))

from osed.optimizer.fleet_decomposition import solve_fleet
from osed.optimizer.fleet_model import solve_monolithic
from osed.optimizer.fleet_problem import check_fleet_schedule
from tests.unit.optimizer.fleet_scenarios import fleet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument("--cap-share", type=float, default=0.5, help="caps / uncontrolled peaks")
    parser.add_argument("--monolithic-max", type=int, default=200)
    parser.add_argument("--monolithic-limit", type=float, default=300.0)
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "highs": highspy.Highs().version(),  # type: ignore[no-untyped-call]
        "steps": 96,
        "budget_s": args.budget,
        "sizes": {},
    }
    for size in args.sizes:
        problem = fleet(size, seed=7, cap_share=args.cap_share)
        started = time.perf_counter()
        fast = solve_fleet(problem, time_limit_s=args.budget, gap=args.gap)
        entry: dict[str, Any] = {
            "seconds": time.perf_counter() - started,
            "status": fast.status,
            "iterations": fast.iterations,
            "gap": fast.gap,
            "objective": fast.objective,
            "lower_bound": fast.lower_bound,
            "check": check_fleet_schedule(problem, fast)
            if fast.objective == fast.objective
            else None,
        }
        if size <= args.monolithic_max:
            started = time.perf_counter()
            reference = solve_monolithic(problem, time_limit_s=args.monolithic_limit)
            entry["monolithic_seconds"] = time.perf_counter() - started
            entry["monolithic_status"] = reference.status
            entry["monolithic_objective"] = reference.objective
            entry["speedup"] = entry["monolithic_seconds"] / entry["seconds"]
        figures["sizes"][str(size)] = entry
        print(json.dumps({str(size): entry}), file=sys.stderr)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
