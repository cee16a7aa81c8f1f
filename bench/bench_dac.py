"""DAC price game: B buildings × 96 steps, printing JSON.

Areas from ``tests/unit/gridfunctions/dac_scenarios.py`` (seed 7: evening peak, a random mix of
batteries, EVs, heat pumps and water heaters). For each size:

* ``game_*``: the ``dac`` function's own run (2 worker threads): wall seconds, rounds, status,
  the uncoordinated and the final peak;
* ``central_*``: the LP over every building's devices at once (HiGHS interior point, one
  thread) for sizes up to ``--central-max``: its seconds and minimum peak, and
  ``peak_over_central`` (the game's peak over that minimum, the 2 % gate);
* ``violations``: equations a schedule breaks (independent checker); ``worst_best_response_gap``:
  the largest cost of a building over its own optimum under the final prices, relative to
  its gross bill (the 1 % gate);
* ``game_over_central_seconds``: the game's time over the central LP's, measured one after the
  other in this process (the ratio carries from machine to machine; the seconds do not).

    .venv/bin/python bench/bench_dac.py [--sizes 100 1000] [--central-max 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from osed.gridfunctions.builtin._dac_central import central_optimum
from osed.gridfunctions.builtin._dac_document import read_document
from osed.gridfunctions.registry import load_function
from tests.unit.gridfunctions.dac_check import violations
from tests.unit.gridfunctions.dac_scenarios import area
from tests.unit.gridfunctions.test_dac import best_response_gaps


def case(size: int, args: argparse.Namespace) -> dict[str, Any]:
    document = area(size, args.steps, seed=7)
    dac = load_function("dac")
    started = time.perf_counter()
    result = dac.run(document)
    row: dict[str, Any] = {
        "buildings": size,
        "steps": args.steps,
        "game_seconds": round(time.perf_counter() - started, 3),
        "game_status": result["status"],
        "game_rounds": result["iterations"],
        "peak_before_kw": round(result["peak_before_kw"], 3),
        "peak_after_kw": round(result["peak_after_kw"], 3),
        "violations": len(violations(document, result)),
        "worst_best_response_gap": max(best_response_gaps(document, result)),
    }
    if size <= args.central_max:
        central = central_optimum(read_document(document))
        row["central_seconds"] = round(central.seconds, 3)
        row["central_status"] = central.status
        row["central_peak_kw"] = round(central.peak_kw, 3)
        row["peak_over_central"] = result["peak_after_kw"] / central.peak_kw - 1
        # Machine-independent: the game's time over the central LP's on the same machine.
        row["game_over_central_seconds"] = round(row["game_seconds"] / central.seconds, 3)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--central-max", type=int, default=1000)
    args = parser.parse_args()
    rows = [case(size, args) for size in args.sizes]
    print(
        json.dumps(
            {
                "benchmark": "dac",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "cases": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
