"""What the building can offer a grid function, found by re-planning its devices: the
reduction it would sell at each XOR price, and what a DLC comfort offset would shed.

Both compare the plan the building follows anyway with a plan under the function's request;
the devices' own equations decide what is possible, so an offer never exceeds the building's
flexibility.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from osed.buildings.devices_schema import Array
from osed.buildings.mpc import GridRequests, Plan, Planner

LEVELS = 12
"""Reductions tried between none and the largest the building can hold."""
_PENALTY_TOLERANCE = 1e-6


def xor_bids(
    planner: Planner,
    tariff: Array,
    requests: GridRequests,
    state: Mapping[str, float],
    *,
    prices: Sequence[float],
    steps: int,
    baseline_kw: float,
    largest_kw: float,
) -> list[float]:
    """Per price (per kWh reduced), the largest reduction below ``baseline_kw`` (the
    consumption now, which the EDC measures delivery against) over the first ``steps`` steps
    whose extra cost the price pays. Quantities grow with the price: a reduction worth selling at
    one price is worth it at a higher one."""
    usual = planner.plan(tariff, requests, state=state)
    if not usual.usable or largest_kw <= 0:
        return [0.0] * len(prices)
    h = planner.step_h
    costs: list[tuple[float, float]] = []  # (reduction kW, extra cost)
    for level in range(1, LEVELS + 1):
        reduction = largest_kw * level / LEVELS
        committed = commitment(baseline_kw, reduction, steps, planner.steps)
        plan = planner.plan(tariff, _merged(requests, *committed), state=state)
        if not plan.usable or plan.penalty > usual.penalty + _PENALTY_TOLERANCE:
            break  # the reduction is out of reach (a soft plan gives something else up)
        costs.append(
            (reduction, _cost(plan, tariff, requests, h) - _cost(usual, tariff, requests, h))
        )
    duration_h = steps * h
    bids = []
    for price in prices:
        paid = [r for r, extra in costs if extra <= price * r * duration_h + 1e-9]
        bids.append(max(paid, default=0.0))
    return bids


def commitment(
    baseline_kw: float, reduction_kw: float, steps: int, horizon: int
) -> tuple[Array, Array]:
    """(reduction, baseline) series: ``reduction_kw`` below ``baseline_kw`` for ``steps``
    steps from now, no commitment after (an infinite baseline)."""
    reduction = np.zeros(horizon)
    baseline = np.full(horizon, np.inf)
    reduction[:steps] = reduction_kw
    baseline[:steps] = baseline_kw
    return reduction, baseline


def dlc_available_kw(
    planner: Planner,
    tariff: Array,
    requests: GridRequests,
    state: Mapping[str, float],
    *,
    zones: Sequence[str],
    offset_c: float,
    steps: int,
) -> float:
    """The mean power the zones would shed over the first ``steps`` steps with their comfort
    bands moved by ``offset_c``."""
    if not zones:
        return 0.0
    usual = planner.plan(tariff, requests, state=state)
    shifted = comfort_offsets(zones, offset_c, steps, planner.steps)
    offset = planner.plan(tariff, replace(requests, comfort_offset_c=shifted), state=state)
    if not usual.usable or not offset.usable or offset.penalty > usual.penalty + _PENALTY_TOLERANCE:
        return 0.0
    before = sum(float(np.mean(usual.devices[z][:steps])) for z in zones)
    after = sum(float(np.mean(offset.devices[z][:steps])) for z in zones)
    return max(before - after, 0.0)


def comfort_offsets(
    zones: Sequence[str], offset_c: float, steps: int, horizon: int
) -> dict[str, Array]:
    series = np.zeros(horizon)
    series[:steps] = offset_c
    return dict.fromkeys(zones, series)


def _merged(requests: GridRequests, reduction: Array, baseline: Array) -> GridRequests:
    return replace(requests, reduction_kw=reduction, baseline_kw=baseline)


def _cost(plan: Plan, tariff: Array, requests: GridRequests, h: float) -> float:
    prices = tariff if requests.prices_per_kwh is None else requests.prices_per_kwh
    return float(h * prices @ plan.net_kw)
