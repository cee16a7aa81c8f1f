"""A capacity-limit control cycle for 10,000 enrolled buildings, printing one JSON object.

One cycle reads the measured building powers, shares the import limit by flexibility and builds
a ``limit`` setpoint message for every building (the first cycle of an event sends them all).
Publishing them is the coordinator's part. The best of ``--repeat`` cycles on fresh sessions.

    .venv/bin/python bench/bench_capacity_limit.py [--buildings 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime

import numpy as np

from osed.gridfunctions.registry import load_function
from osed.gridfunctions.spec import AreaView, Inbound


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buildings", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    ids = tuple(f"b{i:05d}" for i in range(args.buildings))
    current = rng.uniform(0.5, 8.0, args.buildings)
    low = current * rng.uniform(0.2, 0.9, args.buildings)
    high = current + rng.uniform(0.0, 3.0, args.buildings)
    limit = float(current.sum() * 0.8)
    now = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
    area = AreaView(
        "substation-1", now, ids, {"building_kw": dict(zip(ids, current.tolist(), strict=True))}
    )
    function = load_function("capacity-limit")
    parameters = function.manifest.check_parameters({"import_limit_kw": limit})
    best = float("inf")
    for _ in range(args.repeat):
        session = function.open(parameters, area)
        for i, building in enumerate(ids):
            body = {"min_kw": float(low[i]), "max_kw": float(high[i])}
            session.on_message(Inbound(building, "flexibility", body, now), area)
        start = time.perf_counter()
        messages = session.start(area)
        best = min(best, time.perf_counter() - start)
    setpoints = [m for m in messages if m.message_type == "limit"]
    assert len(setpoints) == args.buildings
    total = sum(m.body["max_kw"] for m in setpoints)
    assert abs(total - limit) < 1e-6 * limit
    print(
        json.dumps(
            {
                "buildings": args.buildings,
                "setpoint_messages": len(setpoints),
                "limit_kw": round(limit, 3),
                "bounds_sum_kw": round(total, 3),
                "seconds": round(best, 4),
                "target_seconds": 1.0,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
