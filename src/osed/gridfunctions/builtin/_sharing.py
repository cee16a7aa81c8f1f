"""Sharing an area total among buildings by their flexibility (water-filling).

Each building i has a current power c_i and a flexible range [lo_i, hi_i]. Its setpoint is
s_i(λ) = clip(c_i + λ·w_i, lo_i, hi_i) with weight w_i = hi_i − lo_i: every building moves in
proportion to the range it offers until it reaches an end of it, and the others take over what
it cannot give. Σ s_i(λ) is continuous and non-decreasing in λ, so the one λ with
Σ s_i(λ) = target is found by bisection and then made exact on the buildings still inside
their range. O(n) per bisection step, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]

_BISECTION_STEPS = 64


@dataclass(frozen=True, slots=True)
class Shares:
    setpoints_kw: Vector
    reachable: bool
    """False when the target lies outside [Σ lo, Σ hi]: every building is at its end."""
    gap_kw: float
    """How far the closest reachable sum is from the target (0 when reachable)."""


def share_target(target_kw: float, current: Vector, low: Vector, high: Vector) -> Shares:
    """Setpoints within [low, high] that sum to ``target_kw`` when it is reachable."""
    current = np.clip(current, low, high)
    floor_sum, ceiling_sum = float(low.sum()), float(high.sum())
    if target_kw <= floor_sum:
        return Shares(low.copy(), target_kw == floor_sum, floor_sum - target_kw)
    if target_kw >= ceiling_sum:
        return Shares(high.copy(), target_kw == ceiling_sum, target_kw - ceiling_sum)
    weight = high - low
    # λ = -1 puts everyone at low, λ = +1 at high (c lies within the range).
    lower, upper = -1.0, 1.0
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (lower + upper)
        if float(np.clip(current + middle * weight, low, high).sum()) < target_kw:
            lower = middle
        else:
            upper = middle
    setpoints = np.clip(current + upper * weight, low, high)
    # Exact on the buildings strictly inside their range at the bracket's ends.
    free = (current + lower * weight > low) & (current + upper * weight < high) & (weight > 0)
    if free.any():
        fixed_sum = float(setpoints[~free].sum())
        exact = (target_kw - fixed_sum - float(current[free].sum())) / float(weight[free].sum())
        setpoints[free] = np.clip(current[free] + exact * weight[free], low[free], high[free])
    return Shares(setpoints, True, 0.0)
