"""Staggered cold load pickup of a feeder's electric heating, printing one JSON object.

``--loads`` houses (varied envelopes, in their bands before a ``--outage-h`` outage at 5 °C)
come back in ``--groups`` groups under a limit of 1.5 × their pre-outage demand; one-minute
steps over ``--horizon-h`` hours. Reports the time of the offline run and what staggering
achieved against restoring everything at once.

    .venv/bin/python bench/bench_cold_load_pickup.py [--loads 1000] [--groups 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from osed.gridfunctions.registry import load_function


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--outage-h", type=float, default=2.0)
    parser.add_argument("--horizon-h", type=float, default=8.0)
    args = parser.parse_args()
    rng = np.random.default_rng(2)
    loads = [
        {
            "id": f"house-{i}",
            "power_kw": float(rng.choice([4.0, 5.0, 6.0])),
            "capacitance_kwh_per_k": float(rng.uniform(2.0, 4.0)),
            "resistance_k_per_kw": float(rng.uniform(8.0, 14.0)),
            "cop": 1.0,
            "setpoint_c": float(rng.uniform(20.0, 22.0)),
            "deadband_k": 1.0,
            "temp_c": 0.0,
        }
        for i in range(args.loads)
    ]
    for load in loads:
        load["temp_c"] = load["setpoint_c"] + float(rng.uniform(-0.5, 0.5))
    pre_outage = sum(h["power_kw"] for h in loads if h["temp_c"] < h["setpoint_c"])
    document = {
        "step_s": 60,
        "outage_h": args.outage_h,
        "horizon_h": args.horizon_h,
        "peak_limit_kw": 1.5 * pre_outage,
        "outdoor_c": 5.0,
        "group_count": args.groups,
        "loads": loads,
    }
    function = load_function("cold-load-pickup")
    start = time.perf_counter()
    result = function.run(document)
    seconds = time.perf_counter() - start
    staggered, at_once = result["staggered"], result["simultaneous"]
    print(
        json.dumps(
            {
                "loads": args.loads,
                "groups": args.groups,
                "steps": len(staggered["profile_kw"]),
                "seconds": round(seconds, 3),
                "status": result["status"],
                "pre_outage_kw": round(pre_outage, 1),
                "peak_limit_kw": round(document["peak_limit_kw"], 1),
                "staggered_peak_kw": round(staggered["peak_kw"], 1),
                "staggered_restored_all_h": staggered["restored_all_h"],
                "simultaneous_peak_kw": round(at_once["peak_kw"], 1),
                "simultaneous_restored_all_h": at_once["restored_all_h"],
                "python": platform.python_version(),
                "numpy": np.__version__,
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
