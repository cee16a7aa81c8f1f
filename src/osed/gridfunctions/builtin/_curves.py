"""IEEE 1547-2018 volt-var and volt-watt curves: piecewise linear in the voltage, flat beyond
the first and last points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from osed.domain.errors import Problem

# Category B defaults (IEEE 1547-2018, table 8 and table 10).
VOLT_VAR_V_PU = (0.92, 0.98, 1.02, 1.08)
VOLT_VAR_Q_PCT = (44.0, 0.0, 0.0, -44.0)
"""Reactive power in % of nameplate apparent power; positive injects."""
VOLT_WATT_V_PU = (1.06, 1.10)
VOLT_WATT_P_PCT = (100.0, 20.0)
"""Active power limit in % of rated active power."""
VOLT_VAR_RESPONSE_S = 5.0
VOLT_WATT_RESPONSE_S = 10.0

_V_RANGE = (0.5, 1.5)


@dataclass(frozen=True, slots=True)
class Curve:
    voltages_pu: tuple[float, ...]
    values_pct: tuple[float, ...]

    def at(self, voltages_pu: NDArray[np.float64]) -> NDArray[np.float64]:
        """The curve's value at each voltage (np.interp holds the end values beyond the ends)."""
        return np.interp(voltages_pu, self.voltages_pu, self.values_pct)


def check_curve(
    voltages: Sequence[float],
    values: Sequence[float],
    path_v: str,
    path_values: str,
    *,
    points: int,
    value_range: tuple[float, float],
    decreasing: bool,
) -> list[Problem]:
    """Every problem of a curve's points: count, voltage range and order, value range and the
    direction the standard requires (less reactive injection or active power as V rises)."""
    problems: list[Problem] = []
    for path, given in ((path_v, voltages), (path_values, values)):
        if len(given) != points:
            problems.append(Problem(path, "wrong_length", f"needs {points} points"))
    if problems:
        return problems
    for i, v in enumerate(voltages):
        if not _V_RANGE[0] <= v <= _V_RANGE[1]:
            problems.append(
                Problem(f"{path_v}[{i}]", "out_of_range", f"{v:g} pu is outside 0.5–1.5 pu")
            )
        if i > 0 and v <= voltages[i - 1] and not (points == 4 and i == 2 and v == voltages[1]):
            problems.append(Problem(f"{path_v}[{i}]", "not_increasing", "voltages must increase"))
    for i, q in enumerate(values):
        if not value_range[0] <= q <= value_range[1]:
            low, high = value_range
            problems.append(
                Problem(
                    f"{path_values}[{i}]", "out_of_range", f"{q:g} % is outside {low:g}–{high:g} %"
                )
            )
        if decreasing and i > 0 and q > values[i - 1]:
            problems.append(
                Problem(f"{path_values}[{i}]", "not_decreasing", "must not rise with the voltage")
            )
    return problems


def response_factor(elapsed_s: float, response_time_s: float) -> float:
    """The share of a step a first-order response covers in ``elapsed_s``; the open-loop
    response time is when 90 % of the step is reached, so τ = T / ln 10."""
    if response_time_s <= 0:
        return 1.0
    return float(1.0 - np.exp(-max(elapsed_s, 0.0) * np.log(10.0) / response_time_s))
