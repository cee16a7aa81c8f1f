"""Every benchmark in one run, written to one JSON file with every figure and every ratio.

Each benchmark runs as its own subprocess (``bench/<name>.py``), as a user would run it, and
its standard output is parsed whole as JSON. The file holds, per benchmark, its arguments, its
wall time, its figures (or the error it stopped with), and a flat table of every ratio against
a peer or a floor found among its figures (any key with ``ratio`` or ``speedup`` in its name,
with the path to it), so that the figures that carry from one machine to another are in one
place.

    .venv/bin/python bench/suite.py [--quick] [--only NAME ...] [--out bench-results.json]

``--quick`` runs each benchmark at a small size: a smoke run that shows every one still runs
and prints JSON (its figures mean little). Benchmarks that start brokers start their own
(Debian's mosquitto, nats-server, redis-server); ``scripts/bench`` installs them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
QUICK_TIMEOUT_S = 300.0  # a smoke run that takes longer is stuck


@dataclass(frozen=True)
class Benchmark:
    name: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    timeout_s: float = 3600.0
    smoke: bool = True  # part of the quick run in the test suite


SUITE: tuple[Benchmark, ...] = (
    Benchmark("bench_startup", ("--repeat", "7"), ("--repeat", "1")),
    Benchmark("bench_auction", (), ("100",)),
    Benchmark("bench_orderbook", (), ("2000",)),
    Benchmark(
        "bench_ledger", (), ("--entries", "5000", "--append-trades", "2000", "--repeat", "1")
    ),
    Benchmark(
        "bench_market_agent_recovery",
        (),
        ("--sizes", "2000", "--every", "500", "--repeat", "1"),
    ),
    Benchmark(
        "bench_market_demo",
        (),
        ("--repeat", "1", "--", "--households", "20", "--prosumers", "5", "--intervals", "8"),
    ),
    Benchmark("bench_tokens", (), ("200",)),
    Benchmark("bench_bus", (), ("--messages", "2000", "--repeat", "1")),
    Benchmark("bench_bus_brokers", (), ("--messages", "500", "--rate", "2000")),
    Benchmark("bench_bridge", (), ("--messages", "1000", "--repeat", "1", "--rate", "2000")),
    Benchmark(
        "bench_storage",
        (),
        ("--points", "5000", "--batch", "1000", "--ledger-entries", "2000", "--repeat", "1"),
    ),
    Benchmark("bench_power", (), ("--frames", "5000", "--repeat", "1")),
    Benchmark("bench_stats", (), ("--values", "5000", "--series", "10", "--batch", "1000")),
    Benchmark("bench_stats_service", (), ("--messages", "500", "--devices", "10")),
    Benchmark(
        "bench_estimation", (), ("--sizes", "101", "--repeat", "1", "--pandapower-max", "101")
    ),
    Benchmark(
        "bench_estimation_service",
        (),
        ("--nodes", "100", "--snapshots", "3", "--per-message", "10"),
    ),
    Benchmark("bench_graph", (), ("--sizes", "200", "--repeats", "1")),
    Benchmark("bench_grid_state", (), ("--nodes", "100", "--repeat", "1")),
    Benchmark("bench_intelligence", (), ("--nodes", "100", "--repeat", "1")),
    Benchmark("bench_scenario", (), ("--sizes", "50", "--repeat", "1")),
    Benchmark("bench_balancer", (), ("--repeats", "1")),
    Benchmark("bench_balancer_budget", (), ("--only", "pymfm_6_8mb", "--budget", "2")),
    Benchmark("bench_balancer_service", (), ("--jobs", "4", "--workers", "1")),
    Benchmark("bench_jobs", (), ("--jobs", "20", "--workers", "1", "--repeat", "1")),
    Benchmark("bench_fleet", (), ("--sizes", "10", "--monolithic-max", "10")),
    Benchmark("bench_building_mpc", (), ("3",)),
    Benchmark("bench_building_agents", (), ("20", "1")),
    Benchmark(
        "bench_fleet_devices",
        (),
        ("--buildings", "50", "--views", "5", "--rounds", "1", "--gateway-steps", "1"),
    ),
    Benchmark("bench_forecast", (), ()),
    Benchmark("bench_dac", (), ("--sizes", "10", "--steps", "24", "--central-max", "10")),
    Benchmark("bench_xor", (), ("100", "3", "20")),
    Benchmark("bench_capacity_limit", (), ("--buildings", "100", "--repeat", "1")),
    Benchmark("bench_cold_load_pickup", (), ("--loads", "50", "--groups", "5", "--horizon-h", "4")),
    Benchmark("bench_edc", (), ("--buildings", "100", "--repeat", "1", "--clients", "4")),
    Benchmark("bench_gateway", (), ("--devices", "100", "--seconds", "2", "--connections", "2")),
    Benchmark("bench_edgex", (), ("--events", "500", "--devices", "20", "--commands", "20")),
    # Starting Home Assistant core takes minutes; the device gateway's tests run it already.
    Benchmark("bench_homeassistant", (), ("--calls", "20"), smoke=False),
    Benchmark("bench_api", (), ("--seconds", "1", "--connections", "4", "--warmup", "0.3")),
    Benchmark("bench_runner", (), ("--sizes", "10")),
    Benchmark("bench_study_grid", (), ("--steps", "4", "--scenario", "small")),
)


# A figure is a ratio when its name says so: "ratio" or "speedup" among the words of its key
# (or of a key above it), or "<figure>_over_<floor or peer>".
_RATIO_WORDS = {"ratio", "ratios", "speedup"}
_FLOORS = {"floor", "central", "optimum", "pgm", "peer", "python"}


def _names_a_ratio(key: str) -> bool:
    words = key.lower().split("_")
    return bool(_RATIO_WORDS & set(words)) or ("over" in words[:-1] and words[-1] in _FLOORS)


def ratios(figures: Any, path: str = "", inside: bool = False) -> Iterator[tuple[str, float]]:
    """Every number that is a ratio against a peer or a floor, with its path."""
    if isinstance(figures, dict):
        for key, value in figures.items():
            where = f"{path}.{key}" if path else str(key)
            named = inside or _names_a_ratio(str(key))
            if isinstance(value, int | float) and not isinstance(value, bool):
                if named:
                    yield where, float(value)
            else:
                yield from ratios(value, where, named)
    elif isinstance(figures, list):
        for index, value in enumerate(figures):
            yield from ratios(value, f"{path}[{index}]", inside)


def parse_output(stdout: str) -> Any:
    """The benchmark's JSON: its whole output, or else its last line that parses."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        for line in reversed(stdout.splitlines()):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON on standard output")


def run(benchmark: Benchmark, quick: bool) -> dict[str, Any]:
    args = benchmark.quick if quick else benchmark.full
    timeout_s = min(benchmark.timeout_s, QUICK_TIMEOUT_S) if quick else benchmark.timeout_s
    command = [sys.executable, str(BENCH / f"{benchmark.name}.py"), *args]
    print(f"== {benchmark.name} {' '.join(args)}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    entry: dict[str, Any] = {"args": list(args)}
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    except subprocess.TimeoutExpired:
        entry["error"] = f"timed out after {timeout_s:.0f} s"
    else:
        sys.stderr.write(done.stderr[-4000:])
        if done.returncode != 0:
            entry["error"] = f"exit code {done.returncode}: {done.stderr.strip()[-2000:]}"
        else:
            try:
                entry["figures"] = parse_output(done.stdout)
            except ValueError as exc:
                entry["error"] = f"{exc}: {done.stdout[-500:]!r}"
    entry["wall_s"] = round(time.perf_counter() - started, 3)
    return entry


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these benchmarks only")
    parser.add_argument("--smoke", action="store_true", help="with --quick: the test suite's set")
    parser.add_argument(
        "--jobs", type=int, default=1, help="benchmarks run at once (figures suffer: smoke runs)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results.json")
    args = parser.parse_args()
    known = {benchmark.name for benchmark in SUITE}
    unknown = sorted(set(args.only or ()) - known)
    if unknown:
        parser.error(
            f"unknown benchmarks: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    chosen = [
        b for b in SUITE if (not args.only or b.name in args.only) and (b.smoke or not args.smoke)
    ]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        done = list(pool.map(lambda benchmark: run(benchmark, args.quick), chosen))
    results = {benchmark.name: entry for benchmark, entry in zip(chosen, done, strict=True)}
    document = {
        "started": datetime.now(UTC).isoformat(),
        "quick": args.quick,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "ratios": {
            f"{name}.{where}": value
            for name, entry in results.items()
            for where, value in ratios(entry.get("figures"))
        },
        "failed": sorted(name for name, entry in results.items() if "error" in entry),
        "benchmarks": results,
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({"out": str(args.out), "failed": document["failed"]}))
    return 1 if document["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
