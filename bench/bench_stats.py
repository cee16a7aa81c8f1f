"""Windowed basicstats throughput: 1,000,000 values over 1,000 series, printing one JSON object.

Each series samples every 10 ms (values 1e9 + N(0, 1)), rows interleaved across series and
fed in time order in batches of ``--batch`` values; period 1 s, lateness 100 ms, so the default
stream is 10 s long and closes 10 windows per series. The figure is best-of-3 values/s for the
whole stream including the final flush, for the default selection and for all stats.

    .venv/bin/python bench/bench_stats.py [--values 1000000] [--series 1000] [--batch 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from osed.grid.stats import DEFAULT_STATS, STATS, WindowedStats

SECOND = 1_000_000_000
REPEATS = 3


def run(
    series: np.ndarray, times: np.ndarray, values: np.ndarray, batch: int, stats: tuple[str, ...]
) -> tuple[float, int]:
    best = float("inf")
    windows = 0
    for _ in range(REPEATS):
        agg = WindowedStats(SECOND, lateness=SECOND // 10, stats=stats)
        start = time.perf_counter()
        windows = 0
        for lo in range(0, values.size, batch):
            windows += len(
                agg.feed(series[lo : lo + batch], times[lo : lo + batch], values[lo : lo + batch])
            )
        windows += len(agg.flush())
        best = min(best, time.perf_counter() - start)
    return best, windows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    per_series = args.values // args.series
    # Each series samples every 10 ms; rows interleave series as a concentrator would send them.
    times = np.repeat(np.arange(per_series, dtype=np.int64) * (SECOND // 100), args.series)
    series = np.tile(np.arange(args.series, dtype=np.int64), per_series)
    values = 1e9 + rng.normal(0.0, 1.0, times.size)
    figures: dict[str, object] = {
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "values": int(values.size),
        "series": args.series,
        "batch": args.batch,
        "period_s": 1,
    }
    for label, stats in (("default", DEFAULT_STATS), ("all", STATS)):
        seconds, windows = run(series, times, values, args.batch, stats)
        figures[label] = {
            "seconds": round(seconds, 4),
            "values_per_s": round(values.size / seconds),
            "windows": windows,
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
