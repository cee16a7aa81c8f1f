"""The document of ``osed building fit-thermal``: a heating zone's measured history.

``{"step_h": 0.25, "cop": 3, "indoor_c": [...], "outdoor_c": [...], "power_kw": [...]}``:
equal-length series, one sample per step; ``null`` marks a missing sample (a gap). Every
problem is collected with its JSON path before anything is fitted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from osed.buildings.thermal_fit import MIN_EQUATIONS, SUBJECT, ThermalHistory
from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems

FIELDS = ("step_h", "cop", "indoor_c", "outdoor_c", "power_kw")
# Plausible ranges: a value outside is a unit or sign mistake, not a measurement.
_SERIES_RANGES = {
    "indoor_c": (-40.0, 70.0),
    "outdoor_c": (-70.0, 70.0),
    "power_kw": (0.0, 1e5),
}


def read_thermal_document(document: Any) -> ThermalHistory:
    if not isinstance(document, Mapping):
        problem = Problem("$", "not_object", "the document must be a JSON object")
        raise ValidationError([problem], subject=SUBJECT)
    problems = Problems(SUBJECT)
    for key in document:
        if key not in FIELDS:
            problems.add(f"$.{key}", "unknown_field", f"not a field; known: {', '.join(FIELDS)}")
    step_h = _positive(document, "step_h", problems, maximum=24.0)
    cop = _positive(document, "cop", problems, maximum=20.0)
    series = {
        name: _series(document, name, low, high, problems)
        for name, (low, high) in _SERIES_RANGES.items()
    }
    lengths = {name: len(values) for name, values in series.items() if name in document}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {size}" for name, size in lengths.items())
        problems.add("$", "wrong_length", f"the series must have equal lengths: {listed}")
    problems.check()
    return ThermalHistory(
        step_h=step_h,
        cop=cop,
        indoor_c=np.asarray(series["indoor_c"], dtype=np.float64),
        outdoor_c=np.asarray(series["outdoor_c"], dtype=np.float64),
        power_kw=np.asarray(series["power_kw"], dtype=np.float64),
    )


def _positive(document: Mapping[str, Any], key: str, problems: Problems, maximum: float) -> float:
    where = f"$.{key}"
    if key not in document:
        problems.add(where, "missing", "required")
        return math.nan
    raw = document[key]
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        problems.add(where, "not_a_number", "must be a finite number")
        return math.nan
    if raw <= 0:
        problems.add(where, "too_small", f"{raw:g} must be above 0")
    elif raw > maximum:
        problems.add(where, "too_large", f"{raw:g} is above {maximum:g}")
    return float(raw)


def _series(
    document: Mapping[str, Any], key: str, low: float, high: float, problems: Problems
) -> list[float]:
    where = f"$.{key}"
    if key not in document:
        problems.add(where, "missing", "required")
        return []
    raw = document[key]
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        problems.add(where, "not_a_list", "must be a list of numbers (null for a missing one)")
        return []
    if len(raw) <= MIN_EQUATIONS:
        problems.add(where, "too_short", f"needs at least {MIN_EQUATIONS + 1} samples")
    values = []
    for index, item in enumerate(raw):
        if item is None:
            values.append(math.nan)
            continue
        if isinstance(item, bool) or not isinstance(item, int | float):
            problems.add(f"{where}[{index}]", "not_a_number", "must be a number or null")
            values.append(math.nan)
            continue
        if not low <= item <= high:
            problems.add(
                f"{where}[{index}]", "out_of_range", f"{item:g} is outside [{low:g}, {high:g}]"
            )
        values.append(float(item))
    return values
