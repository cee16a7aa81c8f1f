"""The built-in steps: ``validate`` (physical plausibility) and ``normalise-units``.

Both look at the whole batch at once. ``validate`` compares each value with the bounds cached
for its (measurand, unit) in the loop that visits the samples anyway (gathering the values
into NumPy arrays first cost more than the comparisons). ``normalise-units`` passes a message
whose samples are all in their target units on as it is, and converts the others in one NumPy
multiplication per batch. Settings resolve per sample by measurand first, then by unit
(``kV``), then by the unit's base (``V``), and are cached per (measurand, unit) pair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from osed.bridge import units
from osed.bridge.samples import Message, Reject, Sample, StepResult
from osed.bridge.sogno import SOGNO_UNITS, Measurand
from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems

_T = TypeVar("_T")

_UNCHANGED: list[str | None] = []  # the plan of a message whose samples all stay as they are

# Loose enough for any distribution feeder, tight enough to catch unit mix-ups (kV sent as V).
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    Measurand.VOLTMAGNITUDE: (0.0, 500_000.0),
    Measurand.VOLTANGLE: (-2 * math.pi, 2 * math.pi),
    Measurand.CURRMAGNITUDE: (0.0, 100_000.0),
    Measurand.CURRANGLE: (-2 * math.pi, 2 * math.pi),
    Measurand.ACTIVEPOWER: (-1e9, 1e9),
    Measurand.REACTIVEPOWER: (-1e9, 1e9),
    Measurand.APPARENTPOWER: (0.0, 1e9),
    Measurand.FREQUENCY: (45.0, 65.0),
}


def sample_path(message: Message, index: int) -> str:
    return f"$.readings[{index}]" if message.format == "sogno" else f"$[{index}]"


@dataclass(frozen=True, slots=True)
class _Range:
    low: float
    high: float
    unit: str


class ValidateStep:
    """Rejects a message with any sample outside its plausible range (every one is named)."""

    name = "validate"

    def __init__(self, ranges: Mapping[str, _Range]) -> None:
        self._ranges = dict(ranges)
        self._bounds: dict[tuple[str, str], tuple[float, float] | str | None] = {}

    def process(self, messages: list[Message]) -> StepResult:
        known = self._bounds
        problems: dict[int, list[Problem]] = {}
        for m, message in enumerate(messages):
            for s, sample in enumerate(message.samples):
                key = (sample.measurand, sample.unit)
                bounds = known[key] if key in known else self._bounds_for(sample)
                if bounds is None:
                    continue
                if isinstance(bounds, str):
                    path = f"{sample_path(message, s)}.unit"
                    problems.setdefault(m, []).append(Problem(path, "incompatible_units", bounds))
                    continue
                low, high = bounds
                value = sample.value
                if value < low or value > high:
                    problems.setdefault(m, []).append(
                        Problem(
                            f"{sample_path(message, s)}.data",
                            "implausible",
                            f"{value:g} {sample.unit} outside [{low:g}, {high:g}] {sample.unit}",
                        )
                    )
        if not problems:
            return StepResult(messages)
        return StepResult(
            [message for m, message in enumerate(messages) if m not in problems],
            [
                Reject(messages[m].envelope, tuple(found), self.name)
                for m, found in sorted(problems.items())
            ],
        )

    def _bounds_for(self, sample: Sample) -> tuple[float, float] | str | None:
        """The range in the sample's own unit, a reason it cannot be checked, or None."""
        key = (sample.measurand, sample.unit)
        if key in self._bounds:
            return self._bounds[key]
        found = _lookup(self._ranges, sample)
        bounds: tuple[float, float] | str | None = None
        if found is not None:
            try:
                scale = units.factor(found.unit, sample.unit)
                bounds = (found.low * scale, found.high * scale)
            except ValidationError:
                bounds = f"{sample.unit!r} cannot be compared with a range in {found.unit!r}"
        self._bounds[key] = bounds
        return bounds


class NormaliseUnitsStep:
    """Converts each sample to its configured target unit (kV→V, MW→kW, deg→rad, …)."""

    name = "normalise-units"

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._targets = dict(targets)
        self._factors: dict[tuple[str, str], tuple[float, str] | str] = {}

    def process(self, messages: list[Message]) -> StepResult:
        values: list[float] = []
        scales: list[float] = []
        problems: dict[int, list[Problem]] = {}
        plans: list[list[str | None]] = []  # per message, per sample: the new unit or None
        factors = self._factors
        for m, message in enumerate(messages):
            plan: list[str | None] = []
            if all(
                type(c := factors.get((sample.measurand, sample.unit))) is tuple
                and c[1] == sample.unit
                for sample in message.samples
            ):  # every sample already in its target unit (the usual case): nothing to plan
                plans.append(_UNCHANGED)
                continue
            for s, sample in enumerate(message.samples):
                conversion = self._conversion(sample)
                if isinstance(conversion, str):
                    path = f"{sample_path(message, s)}.unit"
                    problems.setdefault(m, []).append(
                        Problem(path, "incompatible_units", conversion)
                    )
                    plan.append(None)
                    continue
                scale, unit = conversion
                changes = unit != sample.unit
                plan.append(unit if changes else None)
                if changes:
                    values.append(sample.value)
                    scales.append(scale)
            plans.append(plan)
        converted = (np.asarray(values) * np.asarray(scales)).tolist() if values else []
        out: list[Message] = []
        rejects: list[Reject] = []
        k = 0
        for m, message in enumerate(messages):
            if m in problems:
                rejects.append(Reject(message.envelope, tuple(problems[m]), self.name))
                k += sum(unit is not None for unit in plans[m])
                continue
            if plans[m] is _UNCHANGED or not any(unit is not None for unit in plans[m]):
                out.append(message)
                continue
            samples = []
            for sample, new_unit in zip(message.samples, plans[m], strict=True):
                if new_unit is None:
                    samples.append(sample)
                else:
                    samples.append(sample.with_value(converted[k], new_unit))
                    k += 1
            out.append(message.with_samples(tuple(samples)))
        return StepResult(out, rejects)

    def _conversion(self, sample: Sample) -> tuple[float, str] | str:
        key = (sample.measurand, sample.unit)
        cached = self._factors.get(key)
        if cached is not None:
            return cached
        target = _lookup(self._targets, sample)
        result: tuple[float, str] | str
        if target is None:
            result = (1.0, sample.unit)
        else:
            try:
                result = (units.factor(sample.unit, target), target)
            except ValidationError:
                result = f"cannot convert {sample.unit!r} to {target!r}"
        self._factors[key] = result
        return result


def _lookup(table: Mapping[str, _T], sample: Sample) -> _T | None:
    for key in (sample.measurand, sample.unit, units.base_of(sample.unit)):
        if key and key in table:
            return table[key]
    return None


def validate_step(options: Mapping[str, Any]) -> ValidateStep:
    """Options: ``ranges: {<measurand | unit>: {min, max, unit}}``, merged over the defaults
    (SOGNO measurands in SOGNO units); ``defaults: false`` drops the defaults."""
    problems = Problems("validate options")
    _only(options, {"ranges", "defaults"}, problems)
    use_defaults = options.get("defaults", True)
    if not isinstance(use_defaults, bool):
        problems.add("$.defaults", "wrong_type", "must be true or false")
        use_defaults = True
    ranges: dict[str, _Range] = {}
    if use_defaults:
        ranges = {
            name: _Range(lo, hi, SOGNO_UNITS[name]) for name, (lo, hi) in DEFAULT_RANGES.items()
        }
    raw = options.get("ranges", {})
    if not isinstance(raw, Mapping):
        problems.add("$.ranges", "wrong_type", "must be a mapping of measurand or unit to range")
        raw = {}
    for key, spec in raw.items():
        parsed = _range(str(key), spec, f"$.ranges.{key}", problems)
        if parsed is not None:
            ranges[str(key)] = parsed
    problems.check()
    return ValidateStep(ranges)


def normalise_units_step(options: Mapping[str, Any]) -> NormaliseUnitsStep:
    """Options: ``targets: {<measurand | unit | base unit>: <unit>}``; without it every SOGNO
    measurand goes to its SOGNO unit and other samples are left alone."""
    problems = Problems("normalise-units options")
    _only(options, {"targets"}, problems)
    raw = options.get("targets", dict(SOGNO_UNITS))
    targets: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        problems.add("$.targets", "wrong_type", "must be a mapping of measurand or unit to unit")
        raw = {}
    for key, unit in raw.items():
        path = f"$.targets.{key}"
        if not isinstance(unit, str) or not units.is_known(unit):
            problems.add(path, "unknown_unit", f"{unit!r} is not one of {units.known_units()}")
            continue
        base = SOGNO_UNITS.get(key) or units.base_of(str(key))
        if base is None:
            problems.add(path, "unknown_key", f"{key!r} is neither a measurand nor a known unit")
        elif units.base_of(base) != units.base_of(unit):
            problems.add(path, "incompatible_units", f"{key!r} cannot be expressed in {unit!r}")
        else:
            targets[str(key)] = unit
    problems.check()
    return NormaliseUnitsStep(targets)


def _range(key: str, spec: object, path: str, problems: Problems) -> _Range | None:
    if not isinstance(spec, Mapping):
        problems.add(path, "wrong_type", "must be {min, max, unit}")
        return None
    found = len(problems)
    _only(spec, {"min", "max", "unit"}, problems, path)
    default_unit = SOGNO_UNITS.get(key) or (key if units.is_known(key) else None)
    unit = spec.get("unit", default_unit)
    if not isinstance(unit, str) or not units.is_known(unit):
        problems.add(f"{path}.unit", "unknown_unit", f"{unit!r} is not a known unit")
    bounds = []
    for name, fallback in (("min", -math.inf), ("max", math.inf)):
        value = spec.get(name, fallback)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            problems.add(f"{path}.{name}", "not_a_number", "must be a number")
        bounds.append(value)
    if len(problems) > found:
        return None
    low, high = float(bounds[0]), float(bounds[1])
    if low > high:
        problems.add(path, "empty_range", f"min {low:g} is above max {high:g}")
        return None
    assert isinstance(unit, str)
    return _Range(low, high, unit)


def _only(
    options: Mapping[str, Any], allowed: set[str], problems: Problems, path: str = "$"
) -> None:
    for name in sorted(set(map(str, options)) - allowed):
        problems.add(f"{path}.{name}", "unknown_option", f"allowed: {', '.join(sorted(allowed))}")
