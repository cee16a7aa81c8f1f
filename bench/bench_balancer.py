"""Balancer optimizer on pymfm's examples and variants of them, printing JSON.

Cases (96 steps of 15 min): pymfm's three shipped examples in compatible mode, the
optimisation example in native mode, its one-battery variant (the community battery only),
a lossy variant (η = 0.95 everywhere, no islanding hours: the LP answer is kept when no battery
charges and discharges at once, else the MILP runs; the method says which) and a
20-battery variant. Figures are best-of-``--repeats`` seconds of ``solve_document`` (parsing,
model building, solving, result document), with the objective and the method.

With ``--pymfm-python PATH`` (a Python with ``pymfm==0.5.5`` and ``pyscipopt``), the same
files are run through pymfm itself in that interpreter (``bench/pymfm_runner.py``, SCIP in
place of Gurobi) and its times and objectives are printed beside ours. The one-battery
variant took 366 s with SCIP; add ``--pymfm-slow`` to include it.

    .venv/bin/python bench/bench_balancer.py [--repeats 5] [--pymfm-python venv/bin/python]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from osed.optimizer.documents import solve_document
from osed.optimizer.highs_instance import quiet_highs

HERE = Path(__file__).parent
CASES = HERE.parent / "tests" / "data" / "optimizer" / "pymfm"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CASES / name).read_text())
    return document


def variants() -> dict[str, tuple[dict[str, Any], bool]]:
    """name → (pymfm document, native)."""
    optimisation = load("input_scheduling_optimization_based.json")
    one_battery = copy.deepcopy(optimisation)
    one_battery["battery_specs"] = one_battery["battery_specs"][:1]
    lossy = copy.deepcopy(optimisation)
    for spec in lossy["battery_specs"]:
        spec["ch_efficiency"] = spec["dis_efficiency"] = 0.95
    # Without the islanding hours: charging losses leave a surplus that must be exported.
    for limit in lossy["P_net_after_kW_limitation"]:
        if limit["upper_bound"] == 0:
            limit["upper_bound"] = limit["lower_bound"] = None
    many = copy.deepcopy(optimisation)
    households = []
    for n in range(19):
        spec = dict(optimisation["battery_specs"][1 + n % 2], id=f"hh_{n + 1}")
        spec["bat_capacity_kWh"] = 10.0 + 2.0 * n
        spec["P_ch_max_kW"] = spec["P_dis_max_kW"] = 5.0
        households.append(spec)
    many["battery_specs"] = [optimisation["battery_specs"][0], *households]
    return {
        "near_real_time_rule_based": (load("input_near_real_time_rule_based.json"), False),
        "scheduling_rule_based": (load("input_scheduling_rule_based.json"), False),
        "scheduling_optimization_based": (optimisation, False),
        "scheduling_optimization_based_native": (optimisation, True),
        "one_battery": (one_battery, False),
        "lossy": (lossy, False),
        "twenty_batteries": (many, False),
    }


def ours(document: dict[str, Any], native: bool, repeats: int) -> dict[str, Any]:
    seconds = float("inf")
    result: dict[str, Any] = {}
    for _ in range(repeats):
        started = time.perf_counter()
        result = solve_document(document, native=native)
        seconds = min(seconds, time.perf_counter() - started)
    return {
        "seconds": seconds,
        "objective": result.get("objective_value"),
        "status": result.get("solver_status"),
        "method": result.get("method", "rules"),
        "gap": result.get("gap"),
    }


def theirs(python: str, documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="osed-pymfm-"))
    paths = []
    for name, document in documents.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(document))
        paths.append(str(path))
    started = time.perf_counter()
    completed = subprocess.run(
        [python, str(HERE / "pymfm_runner.py"), *paths],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    figures: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    figures = {name.removesuffix(".json"): entry for name, entry in figures.items()}
    figures["process_wall_seconds"] = wall
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pymfm-python", help="a Python with pymfm 0.5.5 and pyscipopt")
    parser.add_argument("--pymfm-slow", action="store_true", help="include the 366 s case")
    args = parser.parse_args()
    cases = variants()
    figures: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "highs": quiet_highs().version(),
        "osed": {name: ours(doc, native, args.repeats) for name, (doc, native) in cases.items()},
    }
    if args.pymfm_python:
        skip = {"scheduling_optimization_based_native", "lossy", "twenty_batteries"}
        if not args.pymfm_slow:
            skip.add("one_battery")
        documents = {name: doc for name, (doc, _) in cases.items() if name not in skip}
        figures["pymfm"] = theirs(args.pymfm_python, documents)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
