"""Configuration of the state-estimation service, validated with every problem's path."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from osed.domain.errors import Problem, ValidationError
from osed.grid.estimation import (
    BadDataOptions,
)
from osed.grid.measurements import MEASURANDS, PHASES, SIDES
from osed.grid_services.estimation_sensors import FAMILIES, FAMILY, SensorSpec
from osed.grid_services.stats_service import pattern_problem

TRIGGERS = ("snapshot", "cadence")
METHODS = ("newton_raphson", "iterative_linear")
#: Relative default sigmas of the embedded configuration (angle: absolute, rad).
DEFAULT_SIGMA: dict[str, float] = {"voltage": 0.005, "power": 0.02}


_US = timedelta(microseconds=1)


def ns_of(duration: timedelta) -> int:
    return duration // _US * 1000


# ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EstimationConfig:
    """What the state-estimation service estimates and where the results go.

    ``network``: a network file or ``pandapower:<name>`` (loaded by the runner). ``inputs``:
    topic patterns of SOGNO measurements. ``sensors``: the listed sensors; ``default_sigma``
    (per family, relative; ``angle`` absolute) admits readings that are not listed.
    ``trigger``: ``snapshot`` (every listed sensor has a reading at one timestamp, or within
    ``max_age`` before it) or ``cadence`` (every ``period`` by the clock, the newest reading of
    each sensor no older than ``max_age``). ``wait``: how far (event time) the newest reading
    may run ahead before an incomplete snapshot is given up. ``max_age``: None for 0
    (snapshot) or one period (cadence).
    """

    network: str
    inputs: tuple[str, ...]
    sensors: tuple[SensorSpec, ...] = ()
    default_sigma: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SIGMA))
    min_sigma: Mapping[str, float] = field(default_factory=dict)
    trigger: str = "cadence"
    period: timedelta = timedelta(minutes=1)
    max_age: timedelta | None = None
    wait: timedelta = timedelta(minutes=1)
    method: str = "newton_raphson"
    symmetric: bool | None = None
    bad_data: BadDataOptions = field(default_factory=BadDataOptions)
    pseudo: bool = True
    output_prefix: str = "se"
    store: bool = True
    graph: bool = True
    name: str = "estimation"
    dead_letter_prefix: str = "dead-letter"
    max_layouts: int = 8
    max_values: int = 10_000
    max_delay_s: float = 0.01
    tick_s: float = 1.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValidationError(problems, subject="estimation config")

    def problems(self) -> list[Problem]:
        """Every problem, with the path of the settings field (``$.sensors[2].sigma``)."""
        found: list[Problem] = []

        def bad(path: str, code: str, message: str | None) -> None:
            if message is not None:
                found.append(Problem(path, code, message))

        if not self.network:
            bad("$.network", "required", "a network file or pandapower:<name>")
        if not self.inputs:
            bad("$.inputs", "empty", "needs at least one topic pattern")
        for index, pattern in enumerate(self.inputs):
            bad(f"$.inputs[{index}]", "bad_pattern", pattern_problem(pattern))
        for family, value in (*self.default_sigma.items(), *self.min_sigma.items()):
            what = "default_sigma" if family in self.default_sigma else "min_sigma"
            if family not in FAMILIES:
                bad(f"$.{what}.{family}", "unknown_family", f"choose from {', '.join(FAMILIES)}")
            elif not (math.isfinite(value) and value > 0):
                bad(f"$.{what}.{family}", "out_of_range", "must be a positive number")
        self._sensor_problems(bad)
        if self.trigger not in TRIGGERS:
            bad("$.trigger", "unknown_trigger", f"choose from {', '.join(TRIGGERS)}")
        elif self.trigger == "snapshot" and not self.sensors:
            bad("$.sensors", "empty", "the snapshot trigger waits for the listed sensors")
        if self.period <= timedelta(0) or self.period % _US:
            bad("$.period_s", "bad_period", "must be a positive whole number of microseconds")
        if self.max_age is not None and (self.max_age < timedelta(0) or self.max_age % _US):
            bad("$.max_age_s", "bad_age", "must be a whole number of microseconds >= 0")
        if self.wait <= timedelta(0) or self.wait % _US:
            bad("$.wait_s", "bad_wait", "must be a positive whole number of microseconds")
        for duration, path in ((self.period, "period_s"), (self.wait, "wait_s")):
            if duration > timedelta(days=366):
                bad(f"$.{path}", "out_of_range", "must be at most 366 days")
        if self.method not in METHODS:
            bad("$.method", "unknown_method", f"choose from {', '.join(METHODS)}")
        options = self.bad_data
        if not 0 < options.confidence < 1:
            bad("$.bad_data.confidence", "out_of_range", "must lie between 0 and 1")
        if not (math.isfinite(options.threshold) and options.threshold > 0):
            bad("$.bad_data.threshold", "out_of_range", "must be positive")
        if options.max_removals < 0:
            bad("$.bad_data.max_removals", "out_of_range", "must be at least 0")
        prefix = self.output_prefix
        if not prefix or prefix.endswith("/") or any(c in prefix for c in "+#\x00"):
            bad("$.output_prefix", "bad_topic", f"not a topic prefix: {prefix!r}")
        if not self.name or any(c in self.name for c in "/+#\x00") or not self.name.isprintable():
            bad("$.name", "bad_name", f"not a topic level: {self.name!r}")
        if not self.dead_letter_prefix or any(c in self.dead_letter_prefix for c in "+#\x00"):
            bad("$.dead_letter_prefix", "bad_topic", "not a topic prefix")
        if self.max_layouts < 1 or self.max_values < 1:
            bad("$.max_layouts", "out_of_range", "must be at least 1")
        if not (self.max_delay_s > 0 and self.tick_s > 0):
            bad("$.tick_s", "out_of_range", "delays must be positive")
        return found

    def _sensor_problems(self, bad: Callable[[str, str, str | None], None]) -> None:
        readings: set[tuple[str, str, str]] = set()
        targets: set[tuple[str, str, str, str]] = set()
        for index, spec in enumerate(self.sensors):
            path = f"$.sensors[{index}]"
            if not spec.component or not spec.component.isprintable():
                bad(f"{path}.component", "required", "must be non-empty printable text")
            if spec.element is not None and (not spec.element or not spec.element.isprintable()):
                bad(f"{path}.element", "bad_element", "must be non-empty printable text")
            if spec.measurand not in MEASURANDS:
                choices = ", ".join(MEASURANDS)
                bad(f"{path}.measurand", "unknown_measurand", f"choose from {choices}")
            if spec.phase not in PHASES:
                bad(f"{path}.phase", "unknown_phase", f"choose from {', '.join(PHASES)}")
            if spec.side not in ("", *SIDES):
                bad(f"{path}.side", "unknown_side", f"choose from {', '.join(SIDES)}")
            if spec.sigma is not None:
                if not (math.isfinite(spec.sigma) and spec.sigma > 0):
                    bad(f"{path}.sigma", "out_of_range", "must be a positive number")
            else:
                family = FAMILY.get(spec.measurand)
                if family is not None and family not in self.default_sigma:
                    bad(
                        f"{path}.sigma",
                        "required",
                        f"give sigma, or default_sigma.{family} for the {family} family",
                    )
            reading = (spec.component, spec.measurand, spec.phase)
            target = (spec.target, spec.side, spec.measurand, spec.phase)
            if reading in readings:
                bad(path, "duplicate", f"{spec.component} {spec.measurand}[{spec.phase}] twice")
            elif target in targets:
                bad(path, "duplicate", f"{spec.measurand}[{spec.phase}] of {spec.target} twice")
            readings.add(reading)
            targets.add(target)

    @property
    def max_age_ns(self) -> int:
        if self.max_age is not None:
            return ns_of(self.max_age)
        return 0 if self.trigger == "snapshot" else ns_of(self.period)
