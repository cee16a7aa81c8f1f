"""XOR flexibility spot market: the exact clearing at 10,000 buildings × 10 prices.

Prints one JSON object: for bids of any shape ("random": each quantity drawn independently,
a fifth of them zero) and for increasing supply curves ("increasing"), the seconds of the
whole offline run (document checked and cleared) and of the clearing alone, the proven gap
between the cost and its lower bound, and how many buildings the bound left to search. Then
small rounds against brute force (every combination) and greedy by price: how often each
finds the least cost and greedy's extra cost.

Usage: python bench/bench_xor.py [BUILDINGS] [PRICES] [SMALL_CASES]
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from typing import Any

import numpy as np

from osed.gridfunctions.builtin._xor_clearing import clear
from osed.gridfunctions.builtin.xor import FUNCTION

SEEDS = (1, 2, 3)


def round_document(buildings: int, prices: int, seed: int, shape: str) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    price = np.round(np.cumsum(rng.uniform(0.01, 0.2, prices)), 4)
    q = np.round(
        rng.uniform(0, 10, (buildings, prices)) * (rng.random((buildings, prices)) < 0.8), 3
    )
    if shape == "increasing":
        q = np.sort(q, axis=1)
    return {
        "request_kw": round(0.3 * float(q.max(axis=1).sum()), 3),
        "duration_h": 1.0,
        "prices": price.tolist(),
        "bids": [{"building": f"b{k}", "quantities_kw": row} for k, row in enumerate(q.tolist())],
    }


def large(buildings: int, prices: int, shape: str) -> dict[str, Any]:
    runs = []
    for seed in SEEDS:
        document = round_document(buildings, prices, seed, shape)
        start = time.perf_counter()
        result = FUNCTION.run(document)
        total = time.perf_counter() - start
        q = np.asarray([b["quantities_kw"] for b in document["bids"]])
        start = time.perf_counter()
        clear(q, np.asarray(document["prices"]), request_kw=document["request_kw"], duration_h=1.0)
        alone = time.perf_counter() - start
        proof = result["proof"]
        runs.append(
            {
                "status": result["status"],
                "run_s": round(total, 3),
                "clear_s": round(alone, 3),
                "cost": result["cost"],
                "gap": proof["gap"],
                "relative_gap_to_lp_bound": (result["cost"] - proof["lp_bound"]) / result["cost"],
                "core_buildings": proof["core_buildings"],
            }
        )
    return {"runs": runs, "max_run_s": max(r["run_s"] for r in runs)}


def brute_force(request: float, prices: list[float], bids: list[list[float]]) -> float | None:
    best: float | None = None
    for choice in itertools.product(*[range(-1, len(prices))] * len(bids)):
        chosen = [(bids[b][j], prices[j]) for b, j in enumerate(choice) if j >= 0]
        if sum(q for q, _ in chosen) >= request * (1 - 1e-9):
            cost = sum(q * p for q, p in chosen)
            best = cost if best is None else min(best, cost)
    return best


def greedy(request: float, prices: list[float], bids: list[list[float]]) -> float | None:
    taken: set[int] = set()
    total = cost = 0.0
    for j, price in enumerate(prices):
        for b in sorted(range(len(bids)), key=lambda b: -bids[b][j]):
            if total < request and b not in taken and bids[b][j] > 0:
                taken.add(b)
                total += bids[b][j]
                cost += bids[b][j] * price
    return cost if total >= request else None


def small(cases: int = 300) -> dict[str, Any]:
    exact = greedy_optimal = greedy_missed = 0
    extra: list[float] = []
    for seed in range(cases):
        document = round_document(6, 3, 1000 + seed, "random" if seed % 2 else "increasing")
        bids = [b["quantities_kw"] for b in document["bids"]]
        best = brute_force(document["request_kw"], document["prices"], bids)
        result = FUNCTION.run(document)
        if best is None:
            exact += result["status"] == "infeasible"
            continue
        exact += abs(result["cost"] - best) <= 1e-7 * max(1.0, best)
        found = greedy(document["request_kw"], document["prices"], bids)
        if found is None:
            greedy_missed += 1
        elif abs(found - best) <= 1e-7 * max(1.0, best):
            greedy_optimal += 1
        else:
            extra.append(found / best - 1)
    return {
        "cases": cases,
        "exact_equals_brute_force": exact,
        "greedy_optimal": greedy_optimal,
        "greedy_found_no_cover": greedy_missed,
        "greedy_extra_cost_mean": float(np.mean(extra)) if extra else 0.0,
        "greedy_extra_cost_max": float(np.max(extra)) if extra else 0.0,
    }


def main() -> None:
    buildings = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    prices = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    small_cases = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    FUNCTION.run(round_document(10, 3, 0, "random"))  # warm imports and HiGHS
    figures: dict[str, Any] = {"cpus": os.cpu_count(), "buildings": buildings, "prices": prices}
    for shape in ("random", "increasing"):
        figures[shape] = large(buildings, prices, shape)
    figures["small_rounds"] = small(small_cases)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
