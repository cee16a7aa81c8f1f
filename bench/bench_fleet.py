"""Fleet scheduling: N household batteries × 96 steps under shared feeder caps, printing JSON.

Scenarios from ``tests/unit/optimizer/fleet_scenarios.py`` (seed 7; caps at ``--cap-share`` of
the uncontrolled peak import and export, so that they bind and cost money). For each size:

* ``fast_*``: :func:`osed.optimizer.fleet_decomposition.solve_fleet` with ``--gap``: wall
  and CPU seconds (both pricing threads counted), iterations, proven gap, objective, lower
  bound, status, and the independent checker's verdict (``check_ok``). Its time budget is
  ``--budget`` seconds per 1,000 households (at least ``--budget``);
* ``uncapped_objective``: the optimum without caps (the households alone), to show the caps'
  cost (``--no-uncapped`` skips it);
* ``monolithic_*``: the whole LP in HiGHS (single thread) for sizes up to
  ``--monolithic-max`` (with ``--monolithic-limit`` seconds), and ``speedup``.

    .venv/bin/python bench/bench_fleet.py [--sizes 10 100 1000 10000] [--monolithic-max 100]

Measured on 2 shared vCPUs (load 5–6 from other jobs), 1,000 households, ``--budget 40``:
before the sampled start min 21.7 s / median 22.8 s, 15 rounds, gap 0.076 %; after it min
12.4 s / median 13.1 s, 10 rounds, gap 0.047 %. 10,000 households (``--budget 10``, 100 s):
time_limit at 3.1 % before, 1.2 % after. The master's column pool and the pricing LPs passed
as arrays: 10,000 households (``--budget 100 --no-uncapped``) CPU min 81.3 s / median
85.3 s before, 67.7 s / 69.4 s after, 8 rounds either way. Pricing started from the bases
of the most alike sample households and a one-level sample at gap/5, against that: 10,000
households CPU 56.5 s / 59.9 s → 34.3 s / 40.1 s, wall 45.7 s / 56.3 s → 27.0 s / 37.3 s
(8 → 6 rounds); 1,000 CPU 4.23 s / 4.62 s → 2.69 s / 3.71 s (10 → 7). See
docs/optimizer-fleet.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from osed.optimizer.fleet_check import check_schedule
from osed.optimizer.fleet_decomposition import solve_fleet
from osed.optimizer.fleet_monolithic import solve_monolithic
from osed.optimizer.highs_instance import quiet_highs
from tests.unit.optimizer.fleet_scenarios import fleet


def case(size: int, args: argparse.Namespace) -> dict[str, Any]:
    problem = fleet(size, seed=7, cap_share=args.cap_share)
    budget = max(args.budget, args.budget * size / 1000)
    started, cpu = time.perf_counter(), time.process_time()
    fast = solve_fleet(problem, time_limit_s=budget, gap=args.gap)
    row: dict[str, Any] = {
        "households": size,
        "fast_seconds": round(time.perf_counter() - started, 3),
        "fast_cpu_seconds": round(time.process_time() - cpu, 3),
        "fast_budget_s": budget,
        "fast_status": fast.status,
        "fast_iterations": fast.iterations,
        "fast_gap": fast.gap,
        "fast_objective": fast.objective,
        "fast_lower_bound": fast.lower_bound,
        "check_ok": check_schedule(problem, fast) == [] if fast.feasible else None,
    }
    if not args.uncapped:
        return row
    free = dataclasses.replace(
        problem,
        feeder_import_max_kw=np.full(problem.steps, np.inf),
        feeder_export_max_kw=np.full(problem.steps, np.inf),
    )
    uncapped = solve_fleet(free, time_limit_s=budget)
    row["uncapped_objective"] = uncapped.objective
    feeder = uncapped.feeder_net_kw
    over = (feeder > problem.feeder_import_max_kw + 1e-6) | (
        -feeder > problem.feeder_export_max_kw + 1e-6
    )
    row["steps_over_caps_uncapped"] = int(over.sum())
    if size <= args.monolithic_max:
        started = time.perf_counter()
        reference = solve_monolithic(problem, time_limit_s=args.monolithic_limit)
        row["monolithic_seconds"] = round(time.perf_counter() - started, 3)
        row["monolithic_status"] = reference.status
        row["monolithic_objective"] = reference.objective
        row["speedup"] = round(row["monolithic_seconds"] / row["fast_seconds"], 2)
        if reference.feasible and fast.feasible:
            row["fast_over_optimum"] = (fast.objective - reference.objective) / abs(
                reference.objective
            )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per 1,000")
    parser.add_argument("--gap", type=float, default=1e-3)
    parser.add_argument("--cap-share", type=float, default=0.65)
    parser.add_argument("--monolithic-max", type=int, default=100)
    parser.add_argument("--monolithic-limit", type=float, default=600.0)
    parser.add_argument(
        "--uncapped",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also solve without caps (the caps' cost)",
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "highs": quiet_highs().version(),
        "steps": 96,
        "gap": args.gap,
        "cap_share": args.cap_share,
        "sizes": [],
    }
    for size in args.sizes:
        row = case(size, args)
        print(json.dumps(row), file=sys.stderr, flush=True)
        figures["sizes"].append(row)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
