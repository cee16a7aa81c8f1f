"""The study's grid step at the city scenario's size: 10,000 households in 100 LV areas under
one 20 kV feeder (``scenarios/city.yaml``), printing JSON with the network's size and the
seconds per step of each stage of :class:`osed.sim.sim_grid.GridSim`: the power flow of the
true state, the measurements with their noise, the state estimate (bad-data tests included)
and the estimate read as the grid intelligence's ``Observed``; the first step (which builds
the estimator) apart, and the recording of each step.

    .venv/bin/python bench/bench_study_grid.py [--steps 96] [--scenario city]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from osed.sim.scenario import bundled_scenario, load_study
from osed.sim.sim_grid import GridSim
from osed.sim.sim_homes import RECORDED
from osed.sim.sim_record import Recorder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--scenario", default="city")
    args = parser.parse_args()
    started = time.perf_counter()
    study = load_study(bundled_scenario(args.scenario))
    materialised = time.perf_counter() - started
    # The households' nets as their devices would leave them unmanaged is the runner's
    # business; the base load plus every car and heat pump at a fixed share keeps the grid
    # as loaded as an evening peak.
    base = np.stack([h.building.base_kw for h in study.households])
    devices = np.array([len(h.building.devices) for h in study.households], dtype=np.float64)
    grid = GridSim(
        study.network,
        [h.bus for h in study.households],
        voltage_sigma_pu=study.voltage_sigma_pu,
        power_sigma_kw=study.power_sigma_kw,
        rng=np.random.default_rng(study.seed),
    )
    recorder = Recorder(
        "baseline", [h.id for h in study.households], grid.node_ids, grid.distance_km
    )
    homes = np.zeros((len(study.households), len(RECORDED)))
    cost = np.zeros(len(study.households))
    steps = min(args.steps, study.steps)
    durations: list[float] = []
    first = time.perf_counter()
    grid.step(base[:, 0] + devices)
    first_s = time.perf_counter() - first
    after_first = dict(grid.seconds)
    record_s = 0.0
    for k in range(1, steps):
        at = time.perf_counter()
        found = grid.step(base[:, k] + devices)
        durations.append(time.perf_counter() - at)
        at = time.perf_counter()
        recorder.step(
            study.start + timedelta(hours=k * study.step_h), found, homes, cost, (0, 0, 0, 0)
        )
        record_s += time.perf_counter() - at
    per_step = {
        stage: (grid.seconds[stage] - after_first[stage]) / max(steps - 1, 1)
        for stage in grid.seconds
    }
    print(
        json.dumps(
            {
                "bench": "study_grid",
                "scenario": args.scenario,
                "households": len(study.households),
                "nodes": len(grid.node_ids),
                "branches": len(found.branch_ids),
                "steps": steps,
                "materialise_s": round(materialised, 3),
                "first_step_s": round(first_s, 3),
                "seconds_per_step": {k: round(v, 4) for k, v in per_step.items()},
                "total_per_step_s": round(sum(per_step.values()), 4),
                "median_step_s": round(float(np.median(durations)), 4),
                "slowest_step_s": round(max(durations), 4),
                "steps_over_1s": sum(d > 1.0 for d in durations),
                "record_per_step_s": round(record_s / max(steps - 1, 1), 4),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
