"""The ``xor`` document: a flexibility request, its price array and the buildings' bids.

Checked whole before anything is computed: every problem is named with its JSON path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.domain.problems import Problems

SUBJECT = "xor document"
MAX_PRICES = 1000
MAX_BUILDINGS = 1_000_000
LIMIT = 1e9
"""The largest magnitude of a quantity, price or duration (keeps costs finite and exact)."""
DEFAULT_TIME_LIMIT_S = 60.0


@dataclass(frozen=True, slots=True)
class XorRound:
    """One round of the flexibility spot market, checked."""

    request_kw: float
    duration_h: float
    prices: NDArray[np.float64]
    """Per kWh, strictly ascending, non-negative."""
    buildings: tuple[str, ...]
    quantities_kw: NDArray[np.float64]
    """Buildings × prices: the quantity each building offers at each price."""
    time_limit_s: float = DEFAULT_TIME_LIMIT_S


def parse_round(document: Any, *, subject: str = SUBJECT) -> XorRound:
    """The round in ``document``; raises ValidationError naming every problem."""
    problems = Problems(subject)
    if not isinstance(document, dict):
        problems.add("$", "not_object", "must be a JSON object")
        problems.check()
    known = {"request_kw", "duration_h", "prices", "bids", "time_limit_s"}
    for key in document:
        if key not in known:
            problems.add(f"$.{key}", "unknown_field", f"not a field; known: {sorted(known)}")
    request = _number(document, "request_kw", problems, minimum=0.0, strict=True)
    duration = _number(document, "duration_h", problems, minimum=0.0, strict=True)
    time_limit = _number(
        document, "time_limit_s", problems, minimum=0.0, strict=True, default=DEFAULT_TIME_LIMIT_S
    )
    prices = _prices(document.get("prices"), "prices" in document, problems)
    buildings, quantities = _bids(document.get("bids"), "bids" in document, len(prices), problems)
    problems.check()
    return XorRound(
        request_kw=request,
        duration_h=duration,
        prices=np.asarray(prices, dtype=float),
        buildings=tuple(buildings),
        quantities_kw=np.asarray(quantities, dtype=float).reshape(len(buildings), len(prices)),
        time_limit_s=time_limit,
    )


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= LIMIT
    )


def _number(
    document: dict[str, Any],
    key: str,
    problems: Problems,
    *,
    minimum: float,
    strict: bool,
    default: float | None = None,
) -> float:
    if key not in document:
        if default is None:
            problems.add(f"$.{key}", "missing", "required")
            return math.nan
        return default
    value = document[key]
    if not _is_number(value):
        problems.add(f"$.{key}", "not_a_number", f"must be a number of magnitude <= {LIMIT:g}")
        return math.nan
    if value < minimum or (strict and value == minimum):
        relation = "above" if strict else "at least"
        problems.add(f"$.{key}", "out_of_range", f"{value:g} must be {relation} {minimum:g}")
    return float(value)


def _prices(raw: Any, present: bool, problems: Problems) -> list[float]:
    if not present:
        problems.add("$.prices", "missing", "required: ascending prices per kWh")
        return []
    if not isinstance(raw, list) or not raw:
        problems.add("$.prices", "not_a_series", "must be a non-empty list of prices per kWh")
        return []
    if len(raw) > MAX_PRICES:
        problems.add("$.prices", "too_long", f"at most {MAX_PRICES} prices")
        return []
    prices: list[float] = []
    for index, value in enumerate(raw):
        where = f"$.prices[{index}]"
        if not _is_number(value):
            problems.add(where, "not_a_number", f"must be a number of magnitude <= {LIMIT:g}")
        elif value < 0:
            problems.add(where, "negative", f"{value:g} is below 0")
        elif prices and not math.isnan(prices[-1]) and value <= prices[-1]:
            problems.add(where, "not_ascending", f"{value:g} is not above {prices[-1]:g}")
        prices.append(float(value) if _is_number(value) else math.nan)
    return prices


def _bids(
    raw: Any, present: bool, price_count: int, problems: Problems
) -> tuple[list[str], list[float]]:
    if not present:
        problems.add("$.bids", "missing", "required: a list of bids (may be empty)")
        return [], []
    if not isinstance(raw, list):
        problems.add("$.bids", "not_array", "must be a list of bids")
        return [], []
    if len(raw) > MAX_BUILDINGS:
        problems.add("$.bids", "too_long", f"at most {MAX_BUILDINGS} bids")
        return [], []
    buildings: list[str] = []
    quantities: list[float] = []
    seen: dict[str, int] = {}
    for index, bid in enumerate(raw):
        where = f"$.bids[{index}]"
        if not isinstance(bid, dict):
            problems.add(where, "not_object", "must be an object with building and quantities_kw")
            continue
        for key in bid:
            if key not in ("building", "quantities_kw"):
                problems.add(f"{where}.{key}", "unknown_field", "not a field of a bid")
        building = bid.get("building")
        if not isinstance(building, str) or not building:
            problems.add(f"{where}.building", "not_an_id", "must be a non-empty string")
        elif building in seen:
            problems.add(
                f"{where}.building",
                "duplicate_building",
                f"{building!r} already bid at $.bids[{seen[building]}]; one bid per building",
            )
        else:
            seen[building] = index
        row = _quantities(bid.get("quantities_kw"), "quantities_kw" in bid, price_count, where)
        problems.extend(row[1])
        buildings.append(building if isinstance(building, str) else "")
        quantities.extend(row[0])
    return buildings, quantities


def _quantities(
    raw: Any, present: bool, price_count: int, where: str
) -> tuple[list[float], list[Any]]:
    found = Problems()
    path = f"{where}.quantities_kw"
    zeros = [0.0] * price_count
    if not present:
        found.add(path, "missing", "required: one quantity per price")
        return zeros, list(found.items)
    if not isinstance(raw, list):
        found.add(path, "not_a_series", "must be a list of quantities in kW")
        return zeros, list(found.items)
    if len(raw) != price_count:
        found.add(path, "wrong_length", f"has {len(raw)} quantities for {price_count} prices")
        return zeros, list(found.items)
    values: list[float] = []
    for index, value in enumerate(raw):
        if not _is_number(value):
            found.add(f"{path}[{index}]", "not_a_number", "must be a number of kW")
            values.append(0.0)
        elif value < 0:
            found.add(f"{path}[{index}]", "negative", f"{value:g} kW is below 0")
            values.append(0.0)
        else:
            values.append(float(value))
    return values, list(found.items)
