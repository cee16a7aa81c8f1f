"""State estimation: power-grid-model's WLS solver with what operators need around it.

1. *Observability* is checked before solving (:mod:`osed.grid.observability`); an
   unobservable grid gets pseudo-measurements for its unmeasured appliances from a forecast
   or, by default, the model's specified load profile values (sigma a fraction of the
   value), or, when that is off or not enough, a :class:`UnobservableError` error carrying the
   report.
2. The solver estimates the state (symmetric or asymmetric; iterative linear by default).
3. *Bad data* (symmetric model): while the chi-square test on the objective fails at the
   chosen confidence and the largest normalised residual exceeds the threshold, the sensor
   behind that residual is removed and the state estimated again. Each removal is named. A
   measurement whose removal would leave the grid unobservable is kept and reported as
   suspect. An asymmetric estimate uses the solver's per-phase residuals, normalised phase
   by phase with the positive-sequence model (:mod:`osed.grid.residuals_asym`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from power_grid_model import CalculationMethod, DatasetType, PowerGridModel, initialize_array
from power_grid_model.errors import IterationDiverge, NotObservableError, PowerGridError

# The chi² and normal quantiles from scipy.special: scipy.stats takes a second to import.
from scipy.special import chdtri, ndtri

from osed.grid.admittance import build_admittance
from osed.grid.measurements import Measurement, SensorSet, build_sensors
from osed.grid.network import BRANCHES, SENSORS, Network, Table
from osed.grid.objective import ResidualWeights, weighted_residuals
from osed.grid.observability import ObservabilityReport, check_observability
from osed.grid.powerflow import CalculationError, solver_model
from osed.grid.residuals import (
    MeasurementModel,
    Rows,
    measurement_model,
    normalised_residuals,
    row_count,
)
from osed.grid.residuals_asym import asymmetric_dof, asymmetric_normalised, phase_view
from osed.grid.state import GridState, state_from_output
from osed.grid.wls import gauss_newton


class UnobservableError(CalculationError):
    """The measurements do not determine the state; ``report`` says which part is missing."""

    def __init__(self, message: str, report: ObservabilityReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class BadDataOptions:
    enabled: bool = True
    confidence: float = 0.99  # of the chi-square detection test
    threshold: float = 3.0  # largest normalised residual that is still accepted
    max_removals: int = 10


@dataclass(frozen=True)
class PseudoOptions:
    enabled: bool = True
    forecast: Mapping[str, tuple[float, float]] | None = None  # appliance id -> (P W, Q var)
    relative_sigma: float = 0.5


@dataclass(frozen=True)
class Removal:
    measurements: list[str]
    normalised_residual: float
    residual: float
    iteration: int


@dataclass(frozen=True)
class EstimationResult:
    state: GridState
    observability: ObservabilityReport
    objective: float
    degrees_of_freedom: int
    chi2_threshold: float
    removed: list[Removal]
    suspects: list[str]
    pseudo: list[Measurement]
    largest: dict[str, Any] | None
    method: str
    extra: dict[str, Any] = field(default_factory=dict)
    measured: int = 0  # real measurements given (pseudo-measurements not counted)

    @property
    def chi2_passed(self) -> bool:
        return self.objective <= self.chi2_threshold

    @property
    def from_pseudo(self) -> bool:
        """True when the redundancy comes from forecasts: without the pseudo-measurements
        there would be none, or they outnumber the real ones."""
        count = len(self.pseudo)
        return count > 0 and (self.degrees_of_freedom - count <= 0 or count > self.measured)

    def warnings(self) -> list[str]:
        """What a reader of the estimate must know about its redundancy."""
        found = []
        if self.from_pseudo:
            found.append(
                f"the redundancy comes from {len(self.pseudo)} pseudo-measurements (forecasts) "
                f"against {self.measured} measurements: the estimate and its bad-data tests are "
                "only as good as the forecast"
            )
        if self.degrees_of_freedom <= 0:
            found.append(
                f"no redundancy ({self.degrees_of_freedom} degrees of freedom): bad data "
                "cannot be detected"
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.state.to_dict(),
            "method": self.method,
            "residuals": {
                "objective": _finite(self.objective),
                "degrees_of_freedom": self.degrees_of_freedom,
                "chi2_threshold": _finite(self.chi2_threshold),
                "chi2_passed": self.chi2_passed,
                "largest_normalised": self.largest,
            },
            "bad_data_removed": [
                {
                    "measurements": r.measurements,
                    "normalised_residual": _finite(r.normalised_residual),
                    "residual": _finite(r.residual),
                    "iteration": r.iteration,
                }
                for r in self.removed
            ],
            "suspects": self.suspects,
            "pseudo_measurements": [m.label() for m in self.pseudo],
            "redundancy": {
                "measurements": self.measured,
                "pseudo_measurements": len(self.pseudo),
                "degrees_of_freedom": self.degrees_of_freedom,
                "from_pseudo_measurements": self.from_pseudo,
            },
            "warnings": self.warnings(),
            "observability": self.observability.to_dict(),
        }


def _finite(value: float) -> float | None:
    return float(f"{value:.10g}") if math.isfinite(value) else None


def estimate(
    network: Network,
    measurements: Sequence[Measurement],
    *,
    symmetric: bool | None = None,
    method: str = "newton_raphson",
    bad_data: BadDataOptions = BadDataOptions(),
    pseudo: PseudoOptions = PseudoOptions(),
    tolerance: float = 1e-8,
    max_iterations: int = 20,
) -> EstimationResult:
    """One estimate; for repeated snapshots of the same sensors keep an :class:`Estimator`."""
    return Estimator(
        network,
        measurements,
        symmetric=symmetric,
        method=method,
        bad_data=bad_data,
        pseudo=pseudo,
        tolerance=tolerance,
        max_iterations=max_iterations,
    ).run()


class Estimator:
    """Estimates the state for successive snapshots of one set of measurements.

    Built once per network and sensor layout (sensors, observability, the solver model, the
    chi-square degrees of freedom); :meth:`run` then takes a new array of values in the
    order of the measurements given here and costs about one solver call, plus the
    residual analysis when the chi-square test fails.

    The default method is Newton-Raphson: it minimises the weighted least-squares objective
    itself, which the chi-square and normalised-residual tests assume. Iterative linear is
    faster but linearises voltage-magnitude and power measurements around the previous
    iterate, so its residuals are not WLS residuals: use it with bad-data analysis off.
    """

    def __init__(
        self,
        network: Network,
        measurements: Sequence[Measurement],
        *,
        symmetric: bool | None = None,
        method: str = "newton_raphson",
        bad_data: BadDataOptions = BadDataOptions(),
        pseudo: PseudoOptions = PseudoOptions(),
        tolerance: float = 1e-8,
        max_iterations: int = 20,
    ) -> None:
        self.network = network
        self.symmetric = not network.is_asymmetric if symmetric is None else symmetric
        self.method = method
        self.bad_data = bad_data
        self.measured = list(measurements)
        sensors = build_sensors(self.measured, network, symmetric=self.symmetric)
        report = check_observability(network, sensors.data)
        self.pseudo: list[Measurement] = []
        if not report.observable and pseudo.enabled:
            self.pseudo = pseudo_measurements(network, sensors, pseudo)
            if self.pseudo:
                sensors = build_sensors(
                    self.measured + self.pseudo, network, symmetric=self.symmetric
                )
                report = check_observability(network, sensors.data)
        if not report.observable:
            raise UnobservableError(f"{network.name}: not observable: {report.summary()}", report)
        self._sensors = sensors
        self.report = report
        self.solve = _Solver(network, self.symmetric, method, tolerance, max_iterations)
        self.model = solver_model({**self.solve.grid, **sensors.data}, network)
        self.admittance = build_admittance(network)
        self.dof, self.threshold, self.limit = self._limits(sensors)
        self._values = np.array([m.value for m in self.measured + self.pseudo])
        self._snapshot = _Snapshot(sensors)
        self._weights = ResidualWeights(sensors.data, self._snapshot.columns())

    @property
    def sensors(self) -> SensorSet:
        """The solver's sensors, holding the values of the latest snapshot."""
        self._snapshot.settle()
        return self._sensors

    def run(self, values: ArrayLike | None = None) -> EstimationResult:
        if values is not None:
            fresh = np.asarray(values, dtype=np.float64)
            if fresh.shape != (len(self.measured),):
                raise ValueError(f"expected {len(self.measured)} values, got shape {fresh.shape}")
            self._values[: len(self.measured)] = fresh
            self.model.update(update_data=self._snapshot.apply(self._values))
        try:
            output = self.solve.calculate(self.model, self.report)
        except UnobservableError:
            raise
        except CalculationError as diverged:
            if not (self.symmetric and self.bad_data.enabled):
                raise
            # A gross error can make the solver diverge: find it from the WLS minimum.
            return self._remove_bad_data(self._current(), None, diverged=diverged)
        state = state_from_output(
            self.network, output, calculation="state_estimation", symmetric=self.symmetric
        )
        if self.bad_data.enabled:
            objective, largest = self._weights.objective(output)
        else:  # the largest residual decides nothing
            objective, largest = self._weights.total(output), 0.0
        result = EstimationResult(
            state,
            self.report,
            objective,
            self.dof,
            self.threshold,
            [],
            [],
            self.pseudo,
            None,
            self.method,
            measured=len(self.measured),
        )
        if (objective <= self.threshold and largest <= self.limit) or not self.bad_data.enabled:
            return result
        return self._remove_bad_data(self._current(), state)

    def _current(self) -> list[Measurement]:
        return [
            replace(m, value=float(v))
            for m, v in zip(self.measured + self.pseudo, self._values, strict=True)
        ]

    def _remove_bad_data(
        self,
        active: list[Measurement],
        state: GridState | None,
        *,
        diverged: CalculationError | None = None,
    ) -> EstimationResult:
        network, options = self.network, self.bad_data
        sensors, report = self.sensors, self.report
        method = self.method
        if state is None:
            state = gauss_newton(network, self.admittance, sensors.data)
            method = "gauss_newton"
        removed: list[Removal] = []
        suspects: list[str] = []
        excluded: set[int] = set()
        stale = True  # the analysis is redone only when the sensors or the state change
        while True:
            if stale:
                # one measurement model per sensor set, for its limits and its residuals
                linear = (
                    measurement_model(network, self.admittance, sensors.data)
                    if self.symmetric
                    else None
                )
                if sensors is self.sensors:  # the limits of the full sensor set are known
                    dof, threshold, limit = self.dof, self.threshold, self.limit
                else:
                    dof, threshold, limit = self._limits(sensors, linear)
                objective, analyses = self._analyse(
                    sensors, state, threshold=threshold, limit=limit, model=linear
                )
                stale = False
            rows, worst = _worst_of(analyses, excluded)
            # Remove above the threshold while the objective fails the test, and above the
            # single-residual limit in any case.
            bar = options.threshold if objective > threshold else limit
            clean = rows is None or worst is None or rows.normalised[worst] <= bar
            if diverged is not None and not removed and clean:
                raise diverged  # consistent measurements: not a bad-data problem
            if clean or len(removed) >= options.max_removals:
                break
            assert rows is not None
            assert worst is not None
            members = _members(rows, worst, sensors)
            labels = [active[i].label() for i in sorted(members)]
            trial = [m for i, m in enumerate(active) if i not in members]
            trial_sensors = build_sensors(trial, network, symmetric=self.symmetric)
            trial_report = check_observability(network, trial_sensors.data)
            if not trial_report.observable:
                suspects += labels
                excluded.add(int(rows.sensor[worst]))
                continue
            residual = float(rows.z[worst] - rows.h[worst])
            removed.append(
                Removal(labels, float(rows.normalised[worst]), residual, len(removed) + 1)
            )
            active, sensors, report = trial, trial_sensors, trial_report
            stale = True
            model = solver_model({**self.solve.grid, **sensors.data}, network)
            try:
                output = self.solve.calculate(model, report)
            except UnobservableError:
                raise
            except CalculationError:
                if not self.symmetric:
                    raise
                state = gauss_newton(network, self.admittance, sensors.data)
                method = "gauss_newton"
                continue
            method = self.method
            state = state_from_output(
                network, output, calculation="state_estimation", symmetric=self.symmetric
            )
        largest = None
        rows, worst = _worst_of(analyses, set())
        if rows is not None and worst is not None:
            largest = {
                "measurements": [active[i].label() for i in sorted(_members(rows, worst, sensors))],
                "normalised_residual": _finite(float(rows.normalised[worst])),
            }
        return EstimationResult(
            state,
            report,
            objective,
            dof,
            threshold,
            removed,
            suspects,
            self.pseudo,
            largest,
            method,
            measured=len(self.measured),
        )

    def _limits(
        self, sensors: SensorSet, model: MeasurementModel | None = None
    ) -> tuple[int, float, float]:
        """Degrees of freedom, the chi-square limit of the objective, and the limit of a single
        residual: the ``threshold`` or, when higher, the level that one of ``m`` clean normal
        residuals exceeds with probability ``1 - confidence`` (a lone gross error hides in the
        objective of thousands of measurements, never in this limit)."""
        if self.symmetric:
            if model is None:
                m, n = row_count(self.network, self.admittance, sensors.data)
            else:
                m, n = len(model.z), len(model.free_columns)
            dof = m - n
        else:
            m, _ = row_count(self.network, self.admittance, phase_view(sensors.data))
            m *= 3
            dof = asymmetric_dof(self.network, self.admittance, sensors.data)
        confidence = self.bad_data.confidence
        single = float(ndtri(1.0 - (1.0 - confidence) / (2.0 * max(m, 1))))
        return (
            dof,
            float(chdtri(max(dof, 1), 1.0 - confidence)),
            max(self.bad_data.threshold, single),
        )

    def _analyse(
        self,
        sensors: SensorSet,
        state: GridState,
        *,
        threshold: float,
        limit: float,
        model: MeasurementModel | None = None,
    ) -> tuple[float, list[Rows]]:
        """The objective, and the normalised residuals (of each phase when asymmetric)
        unless the objective passes the test and no residual exceeds ``limit``."""
        if self.symmetric:
            rows = normalised_residuals(
                self.network,
                self.admittance,
                sensors.data,
                state.u_pu,
                state.u_angle,
                unless_passing=self.bad_data.confidence,
                weighted_limit=limit,
                model=model,
            )
            return rows.objective, [rows]
        objective, largest = weighted_residuals(state.raw, sensors.data)
        if objective <= threshold and largest <= limit:
            return objective, []
        analyses = asymmetric_normalised(
            self.network,
            self.admittance,
            sensors.data,
            state.raw,
            u_pu=state.u_pu,
            u_angle=state.u_angle,
        )
        return objective, analyses


class _Solver:
    def __init__(
        self, network: Network, symmetric: bool, method: str, tolerance: float, iterations: int
    ) -> None:
        self.network = network
        self.symmetric = symmetric
        self.method = CalculationMethod[method]
        self.tolerance = tolerance
        self.iterations = iterations
        self.grid = network.without_sensors()
        self.outputs = [
            kind
            for kind in ("node", *BRANCHES, *SENSORS)
            if kind in network.data or kind in SENSORS
        ]

    def calculate(self, model: PowerGridModel, report: ObservabilityReport) -> dict[str, Table]:
        name = self.network.name
        try:
            output = model.calculate_state_estimation(
                symmetric=self.symmetric,
                calculation_method=self.method,
                error_tolerance=self.tolerance,
                max_iterations=self.iterations,
                output_component_types=self.outputs,
            )
        except NotObservableError as exc:
            raise UnobservableError(
                f"{name}: the solver finds the grid not observable: {_first_line(exc)}", report
            ) from exc
        except IterationDiverge as exc:
            raise CalculationError(
                f"{name}: state estimation did not converge in {self.iterations} iterations; "
                "look for gross measurement errors (wrong sign, unit or phase), sigmas far "
                "too small, or try the other method"
            ) from exc
        except PowerGridError as exc:
            raise CalculationError(f"{name}: state estimation failed: {_first_line(exc)}") from exc
        return {str(getattr(kind, "value", kind)): table for kind, table in output.items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Snapshot:
    """The latest values, as the solver's update: arrays allocated once, in the order of the
    sensor tables (so without ids: the solver matches rows by position), holding the value
    attributes a snapshot writes; every other attribute stays unset (NaN), which the solver
    reads as unchanged. The sensor tables take the values when they are next read."""

    def __init__(self, sensors: SensorSet) -> None:
        self._sensors = sensors
        self._arrays: dict[str, Table] = {}
        self._written: list[tuple[str, str]] = []
        for value_map in sensors.value_maps:
            kind, attribute = value_map.kind, value_map.attribute
            table = sensors.data[kind]
            if kind not in self._arrays:
                self._arrays[kind] = initialize_array(DatasetType.update, kind, len(table))
            if (kind, attribute) not in self._written:
                self._arrays[kind][attribute] = table[attribute]
                self._written.append((kind, attribute))
        self._unsettled = False

    def columns(self) -> dict[tuple[str, str], NDArray[np.float64]]:
        """The written columns, by (kind, attribute): always the latest values."""
        return {
            (kind, attribute): self._arrays[kind][attribute] for kind, attribute in self._written
        }

    def apply(self, values: NDArray[np.float64]) -> dict[str, Table]:
        for value_map in self._sensors.value_maps:
            value_map.apply(self._arrays[value_map.kind], values)
        self._unsettled = True
        return self._arrays

    def settle(self) -> None:
        """Bring the sensor tables to the latest values."""
        if self._unsettled:
            for kind, attribute in self._written:
                self._sensors.data[kind][attribute] = self._arrays[kind][attribute]
            self._unsettled = False


def _worst_of(analyses: list[Rows], excluded: set[int]) -> tuple[Rows | None, int | None]:
    """The rows and row of the largest normalised residual over every analysis."""
    best: tuple[Rows | None, int | None] = (None, None)
    largest = -np.inf
    for rows in analyses:
        worst = _worst(rows, excluded)
        if worst is not None and rows.normalised[worst] > largest:
            best, largest = (rows, worst), float(rows.normalised[worst])
    return best


def _worst(rows: Rows, excluded: set[int]) -> int | None:
    candidates = np.where(np.isin(rows.sensor, list(excluded)), np.nan, rows.normalised)
    if np.all(np.isnan(candidates)):
        return None
    return int(np.nanargmax(candidates))


def _members(rows: Rows, row: int, sensors: SensorSet) -> set[int]:
    sensor = int(rows.sensor[row])
    members: set[int] = set()
    for solver_id in rows.extra_sensors.get(sensor, (sensor,)):
        members.update(sensors.by_solver_id[solver_id].members)
    return members


def pseudo_measurements(
    network: Network, sensors: SensorSet, options: PseudoOptions
) -> list[Measurement]:
    """Stand-ins for the unmeasured in-service loads and generators."""
    measured = {int(i) for table in sensors.data.values() for i in table["measured_object"]}
    found: list[Measurement] = []
    sizes: list[float] = []
    candidates: list[tuple[str, float, float]] = []
    for kind in ("sym_load", "asym_load", "sym_gen", "asym_gen"):
        table = network.table(kind)
        for row in table[table["status"] == 1]:
            if int(row["id"]) in measured:
                continue
            element = network.external_ids[int(row["id"])]
            if options.forecast is not None and element in options.forecast:
                p, q = options.forecast[element]
            else:
                p = float(np.sum(row["p_specified"]))
                q = float(np.sum(row["q_specified"]))
            candidates.append((element, p, q))
            sizes.append(math.hypot(p, q))
    floor = max(0.01 * float(np.mean(sizes)) if sizes else 0.0, 1.0)
    for element, p, q in candidates:
        sigma = max(options.relative_sigma * math.hypot(p, q), floor)
        found.append(Measurement(element, "activepower", p, sigma, pseudo=True))
        found.append(Measurement(element, "reactivepower", q, sigma, pseudo=True))
    return found
