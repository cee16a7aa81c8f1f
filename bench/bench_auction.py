"""Call auction clearing time: N bids and N offers with random prices, per pricing rule.

Prints one JSON object: best-of-3 seconds for each size and rule, plus the machine's core
count. Prices are uniform random floats (no ties), quantities uniform in [1, 10).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from osed.markets.auction import Pricing, clear_auction

SIZES = (10_000, 100_000, 1_000_000)
REPEATS = 3


def best_seconds(rule: Pricing, size: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    bid_prices, offer_prices = rng.uniform(0, 100, size), rng.uniform(0, 100, size)
    bid_quantities, offer_quantities = rng.uniform(1, 10, size), rng.uniform(1, 10, size)
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        clear_auction(bid_prices, bid_quantities, offer_prices, offer_quantities, pricing=rule)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    sizes = tuple(int(arg) for arg in sys.argv[1:]) or SIZES
    clear_auction([1.0], [1.0], [1.0], [1.0], pricing=Pricing.GRIDLABD)  # warm imports
    figures: dict[str, object] = {"cpus": os.cpu_count(), "numpy": np.__version__}
    for size in sizes:
        figures[f"{size}+{size}"] = {
            rule.value: round(best_seconds(rule, size, seed=size), 4) for rule in Pricing
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
