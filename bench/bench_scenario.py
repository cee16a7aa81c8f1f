"""Reading and materialising the default scenario at several sizes, printing one JSON object.

The default scenario's generated network is resized (households, feeders) and the study drawn;
the best of ``--repeat`` runs per size, after one warm-up that pays the imports (pvlib and
pandas), which are timed apart.

    .venv/bin/python bench/bench_scenario.py [--sizes 100,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import yaml


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    began = time.perf_counter()
    import pvlib  # noqa: F401 - timed: the first study pays it

    from osed.sim.scenario import bundled_scenario, load_scenario, materialise

    imports_s = time.perf_counter() - began
    document: dict[str, Any] = yaml.safe_load(bundled_scenario("default").read_text())
    materialise(load_scenario(document))
    sizes = []
    for households in (int(size) for size in args.sizes.split(",")):
        feeders = max(4, households // 100)
        document["network"] = {"generated": {"households": households, "feeders": feeders}}
        document["events"][0]["limit_kw"] = 1.5 * households
        read, drawn = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            scenario = load_scenario(document)
            t1 = time.perf_counter()
            study = materialise(scenario)
            t2 = time.perf_counter()
            read.append(t1 - t0)
            drawn.append(t2 - t1)
        sizes.append(
            {
                "households": len(study.households),
                "feeders": feeders,
                "steps": study.steps,
                "read_s": round(min(read), 4),
                "materialise_s": round(min(drawn), 4),
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "scenario",
                "python": platform.python_version(),
                "imports_s": round(imports_s, 3),
                "sizes": sizes,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
