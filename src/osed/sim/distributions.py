"""Parameter distributions of a scenario: a fixed number, ``{uniform: [a, b]}`` or
``{normal: {mean: m, std: s}}`` (optionally ``min``/``max``), read with every problem at its
JSON path and drawn many at once.

Each parameter has physical bounds (a battery's capacity is positive, a state of charge is a
fraction); a fixed value and a uniform range must lie within them, and normal draws are clipped
to them (and to ``min``/``max`` where given).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.domain.problems import Problems

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Distribution:
    kind: str
    """``fixed``, ``uniform`` or ``normal``."""
    a: float
    """fixed: the value; uniform: the low end; normal: the mean."""
    b: float = 0.0
    """uniform: the high end; normal: the standard deviation."""
    low: float = -math.inf
    high: float = math.inf
    """Where draws are clipped (normal only; the others lie within by construction)."""

    def draw(self, rng: np.random.Generator, size: int) -> Array:
        if self.kind == "fixed":
            return np.full(size, self.a)
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, size)
        return np.clip(rng.normal(self.a, self.b, size), self.low, self.high)

    @property
    def mean(self) -> float:
        """The expectation before clipping."""
        return (self.a + self.b) / 2 if self.kind == "uniform" else self.a


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return float(raw)


def read_distribution(
    raw: Any, path: str, bounds: tuple[float, float], problems: Problems
) -> Distribution:
    """The distribution at ``path``; a problem is recorded and a placeholder (the bounds' mid
    or low end) returned when it cannot be read."""
    low, high = bounds
    placeholder = Distribution("fixed", low if math.isinf(high) else (low + high) / 2)
    within = f"within [{low:g}, {high:g}]"
    value = _number(raw)
    if value is not None:
        if not low <= value <= high:
            problems.add(path, "out_of_range", f"{value:g} is not {within}")
            return placeholder
        return Distribution("fixed", value)
    if not isinstance(raw, Mapping) or len(raw) != 1:
        problems.add(
            path,
            "not_a_distribution",
            "a number, {uniform: [a, b]} or {normal: {mean: m, std: s}}",
        )
        return placeholder
    ((kind, spec),) = raw.items()
    at = f"{path}.{kind}"
    if kind == "uniform":
        ends = (
            [_number(x) for x in spec]
            if isinstance(spec, list | tuple) and len(spec) == 2
            else None
        )
        if ends is None or None in ends:
            problems.add(at, "not_a_range", "two numbers [a, b]")
            return placeholder
        a, b = float(ends[0] or 0.0), float(ends[1] or 0.0)
        if a > b:
            problems.add(at, "inverted", f"{a:g} is above {b:g}")
        elif a < low or b > high:
            problems.add(at, "out_of_range", f"[{a:g}, {b:g}] is not {within}")
        else:
            return Distribution("uniform", a, b)
        return placeholder
    if kind == "normal":
        return _normal(spec, at, low, high, problems) or placeholder
    problems.add(f"{path}.{kind}", "unknown_distribution", "uniform or normal")
    return placeholder


def _normal(spec: Any, at: str, low: float, high: float, problems: Problems) -> Distribution | None:
    if not isinstance(spec, Mapping):
        problems.add(at, "not_object", "{mean: m, std: s} (min, max optional)")
        return None
    before = len(problems)
    for key in spec:
        if key not in ("mean", "std", "min", "max"):
            problems.add(f"{at}.{key}", "unknown_field", "not a field; known: mean, std, min, max")
    values: dict[str, float] = {}
    for key in ("mean", "std", "min", "max"):
        if key not in spec:
            if key in ("mean", "std"):
                problems.add(f"{at}.{key}", "missing", "required")
            continue
        number = _number(spec[key])
        if number is None:
            problems.add(f"{at}.{key}", "not_a_number", "must be a finite number")
        else:
            values[key] = number
    if len(problems) != before:
        return None
    clip_low = max(low, values.get("min", low))
    clip_high = min(high, values.get("max", high))
    if values["std"] < 0:
        problems.add(f"{at}.std", "too_small", "must not be negative")
    if not low <= values["mean"] <= high:
        problems.add(f"{at}.mean", "out_of_range", f"not within [{low:g}, {high:g}]")
    if clip_low > clip_high:
        problems.add(f"{at}.min", "inverted", f"min {clip_low:g} is above max {clip_high:g}")
    if len(problems) != before:
        return None
    return Distribution("normal", values["mean"], values["std"], clip_low, clip_high)
