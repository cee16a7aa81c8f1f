"""The ``market clear`` document: one call auction as JSON, checked whole, and its result.

Shared by ``osed market clear`` and the ``market`` grid function's offline run. Every problem
is named with its JSON path before anything is cleared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.domain.problems import Problems
from osed.markets.auction import AuctionResult, Pricing

_PRICING_NAMES = ", ".join(rule.value for rule in Pricing)

JsonId = str | int

MAX_MAGNITUDE = 1e15
"""The largest price or quantity accepted: totals over millions of orders, and price times
quantity, stay far from float overflow (1.8e308)."""
_BOUND_TEXT = "of magnitude at most 1e15"


@dataclass(frozen=True, slots=True)
class AuctionInput:
    pricing: Pricing
    price_cap: float | None
    bid_ids: list[JsonId]
    bid_prices: list[float]
    bid_quantities: list[float]
    offer_ids: list[JsonId]
    offer_prices: list[float]
    offer_quantities: list[float]


def parse_auction(data: Any, *, subject: str = "market clear input") -> AuctionInput:
    """Check a ``market clear`` document; raises ValidationError naming every problem."""
    problems = Problems(subject)
    if not isinstance(data, dict):
        problems.add("$", "not_object", "must be a JSON object")
        problems.check()
    pricing = _parse_pricing(data, problems)
    price_cap = _parse_price_cap(data, problems)
    seen: dict[JsonId, str] = {}
    bids = _parse_orders(data, "bids", price_cap, seen, problems)
    offers = _parse_orders(data, "offers", price_cap, seen, problems)
    problems.check()
    assert pricing is not None
    return AuctionInput(
        pricing, price_cap, bids[0], bids[1], bids[2], offers[0], offers[1], offers[2]
    )


def _parse_pricing(data: dict[str, Any], problems: Problems) -> Pricing | None:
    if "pricing" not in data:
        problems.add("$.pricing", "missing", f"required; one of {_PRICING_NAMES}")
        return None
    value = data["pricing"]
    if isinstance(value, str) and value in {rule.value for rule in Pricing}:
        return Pricing(value)
    problems.add("$.pricing", "unknown_pricing", f"{value!r} is not one of {_PRICING_NAMES}")
    return None


def _parse_price_cap(data: dict[str, Any], problems: Problems) -> float | None:
    value = data.get("price_cap")
    if value is None:
        return None
    if not _is_bounded(value) or value <= 0:
        problems.add("$.price_cap", "bad_price_cap", f"must be a positive number {_BOUND_TEXT}")
        return None
    return float(value)


def _parse_orders(
    data: dict[str, Any],
    key: str,
    price_cap: float | None,
    seen: dict[JsonId, str],
    problems: Problems,
) -> tuple[list[JsonId], list[float], list[float]]:
    ids: list[JsonId] = []
    prices: list[float] = []
    quantities: list[float] = []
    entries = data.get(key)
    if key not in data:
        problems.add(f"$.{key}", "missing", "required: a list of orders (may be empty)")
        entries = []
    elif not isinstance(entries, list):
        problems.add(f"$.{key}", "not_array", "must be a list of orders")
        entries = []
    for index, entry in enumerate(entries):
        path = f"$.{key}[{index}]"
        if not isinstance(entry, dict):
            problems.add(path, "not_object", "must be an object with id, price and quantity")
            continue
        order_id = _parse_id(entry, path, seen, problems)
        price: Any = entry.get("price")
        if "price" not in entry:
            problems.add(f"{path}.price", "missing", "required: a number, or null")
        elif price is None:
            if price_cap is None:
                problems.add(
                    f"{path}.price",
                    "unresponsive_without_cap",
                    "a null price needs a valid price_cap",
                )
        elif not _is_bounded(price):
            problems.add(
                f"{path}.price", "not_a_number", f"must be a number {_BOUND_TEXT}, or null"
            )
        quantity = _parse_quantity(entry, path, problems, allow_zero=True)
        ids.append(order_id if order_id is not None else "")
        prices.append(float(price) if _is_number(price) else math.nan)
        quantities.append(quantity if quantity is not None else 0.0)
    return ids, prices, quantities


def auction_output(auction: AuctionInput, result: AuctionResult) -> dict[str, Any]:
    """The ``market clear`` result: fills of bids, then of offers, each in input order."""
    if result.pricing is Pricing.PAY_AS_BID:
        fills = _pair_fills(auction.bid_ids, result.matches.bid_index, result)
        fills += _pair_fills(auction.offer_ids, result.matches.offer_index, result)
    else:
        fills = _order_fills(auction.bid_ids, result.bid_fills, result.price)
        fills += _order_fills(auction.offer_ids, result.offer_fills, result.price)
    return {
        "price": result.price,
        "quantity": float(result.quantity),
        "outcome": result.outcome.value,
        "fills": fills,
    }


def _order_fills(
    ids: list[JsonId], quantities: NDArray[np.float64], price: float | None
) -> list[dict[str, Any]]:
    return [
        {"id": ids[position], "quantity": float(quantities[position]), "price": price}
        for position in np.flatnonzero(quantities > 0.0).tolist()
    ]


def _pair_fills(
    ids: list[JsonId], order_index: NDArray[np.intp], result: AuctionResult
) -> list[dict[str, Any]]:
    """Pay-as-bid: one fill per matched pair, by order, each order's pairs in match order."""
    matches = result.matches
    return [
        {
            "id": ids[int(order_index[k])],
            "quantity": float(matches.quantity[k]),
            "price": float(matches.price[k]),
        }
        for k in np.argsort(order_index, kind="stable").tolist()
    ]


# -------------------------------------------------------------------------------- helpers


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _code(value: Any, otherwise: str) -> str:
    """``too_large`` for a finite number beyond the bound, else the field's own code."""
    finite = _is_number(value) and math.isfinite(value)
    return "too_large" if finite and abs(value) > MAX_MAGNITUDE else otherwise


def _is_bounded(value: Any) -> bool:
    """A number small enough that sums and products of many stay finite floats."""
    return _is_number(value) and math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and value != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _parse_id(
    entry: dict[str, Any],
    path: str,
    seen: dict[JsonId, str],
    problems: Problems,
    *,
    first_seen: str | None = None,
) -> JsonId | None:
    value: Any = entry.get("id")
    if "id" not in entry:
        problems.add(f"{path}.id", "missing", "required")
        return None
    if not _is_id(value):
        problems.add(f"{path}.id", "bad_id", "must be a non-empty string or an integer")
        return None
    if value in seen:
        problems.add(f"{path}.id", "duplicate_id", f"{value!r} is already used at {seen[value]}")
        return None
    seen[value] = first_seen or path
    identifier: JsonId = value
    return identifier


def _parse_quantity(
    entry: dict[str, Any], path: str, problems: Problems, *, allow_zero: bool
) -> float | None:
    if "quantity" not in entry:
        problems.add(f"{path}.quantity", "missing", "required")
        return None
    value = entry["quantity"]
    if not _is_bounded(value):
        problems.add(
            f"{path}.quantity", _code(value, "not_a_number"), f"must be a number {_BOUND_TEXT}"
        )
        return None
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        problems.add(f"{path}.quantity", "bad_quantity", f"must be {bound}")
        return None
    return float(value)
