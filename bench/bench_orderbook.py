"""Order book throughput: random limit orders around a mid price, about 30% crossing, plus
cancels. Prints one JSON object: orders/s (submit and cancel calls), fills and matches."""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime

from osed.domain.cts.tenders import Side
from osed.markets.orderbook import BilateralMarket
from osed.markets.protocol import Order

INSTRUMENT = "2026-01-01T00:00:00Z/PT15M"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def make_flow(count: int, seed: int) -> list[tuple[str, Order | str]]:
    """Submits priced around 100 in cents; ~30% cross the spread; every 10th action cancels."""
    rng = random.Random(seed)
    actions: list[tuple[str, Order | str]] = []
    submitted: list[str] = []
    for number in range(count):
        if number % 10 == 9 and submitted:
            actions.append(("cancel", submitted[rng.randrange(len(submitted))]))
            continue
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        crossing = rng.random() < 0.3
        offset = rng.randint(1, 20) / 100
        away = -offset if side is Side.BUY else offset
        price = round(100 + (-away if crossing else away), 2)
        order_id = f"o{number}"
        quantity = float(rng.randint(1, 100))
        actions.append(("submit", Order(order_id, side, price, quantity, party=f"p{number % 97}")))
        submitted.append(order_id)
    return actions


def run(actions: list[tuple[str, Order | str]]) -> dict[str, float]:
    market = BilateralMarket()
    fills = 0
    start = time.perf_counter()
    for kind, payload in actions:
        if kind == "submit":
            assert isinstance(payload, Order)
            fills += len(market.submit(INSTRUMENT, payload, now=NOW))
        else:
            assert isinstance(payload, str)
            market.cancel(INSTRUMENT, payload)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "fills": fills}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    actions = make_flow(count, seed=7)
    best = min((run(actions) for _ in range(3)), key=lambda r: r["seconds"])
    figures = {
        "actions": count,
        "submits": sum(1 for kind, _ in actions if kind == "submit"),
        "cancels": sum(1 for kind, _ in actions if kind == "cancel"),
        "seconds": round(best["seconds"], 4),
        "orders_per_second": round(count / best["seconds"]),
        "fills": int(best["fills"]),
        "matches": int(best["fills"]) // 2,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
