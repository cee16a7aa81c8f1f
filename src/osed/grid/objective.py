"""The weighted least-squares objective of an estimate, from the solver's residuals.

``J = Σ (r/σ)²`` and the largest ``|r/σ|`` over every sensor the solver reports a residual
for. Appliance sensors of one node share their node's residual in proportion to their
variances, so ``J`` equals the objective over the summed injection. A voltage angle is
weighted with its magnitude's relative sigma, as power-grid-model measures a phasor with one
sigma; residuals that are not finite are left out.

:class:`ResidualWeights` keeps the sigmas of one sensor set, which new snapshots of values do
not change, as contiguous arrays: an estimator evaluates the objective of each snapshot
without going through the sensor tables again.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.grid.network import Table

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class _Angles:
    """What weighs the voltage angle residuals of one voltage sensor kind."""

    sigma: Floats  # of the magnitude
    measured: Floats | None  # u_angle_measured; None: read from the table at each evaluation
    magnitude: Floats | None  # u_measured; likewise


@dataclass(frozen=True)
class _Kind:
    kind: str
    terms: tuple[tuple[str, Floats], ...]  # (residual attribute, its sigma)
    angles: _Angles | None  # voltage sensors with at least one measured angle


class ResidualWeights:
    """The sigmas behind each residual of one sensor set.

    ``changing`` names the ``(kind, attribute)`` cells that new snapshots rewrite in the
    tables (the measured values); those are read from the tables at each evaluation,
    everything else is taken once here.
    """

    def __init__(
        self, sensors: Mapping[str, Table], changing: Collection[tuple[str, str]] = ()
    ) -> None:
        self._sensors = sensors
        self._kinds: list[_Kind] = []
        for kind, table in sensors.items():
            if not len(table):
                continue
            if "voltage" in kind:
                self._kinds.append(_voltage(kind, table, changing))
            elif "power" in kind:
                self._kinds.append(_power(kind, table))
            else:
                self._kinds.append(_current(kind, table))

    def objective(self, output: Mapping[str, Table]) -> tuple[float, float]:
        """``J`` and the largest weighted residual of the solver's ``output``."""
        total = 0.0
        largest = 0.0
        for spec in self._kinds:
            result = output.get(spec.kind)
            if result is None:
                continue
            on = result["energized"].astype(bool)
            rows = None if on.all() else on  # None: every sensor is energized
            for attribute, sigma in spec.terms:
                weighted = _pick(result[attribute], rows) / _pick(sigma, rows)
                total, largest = _add(total, largest, weighted)
            if spec.angles is not None:
                angles = spec.angles
                table = self._sensors[spec.kind]
                measured = table["u_angle_measured"] if angles.measured is None else angles.measured
                magnitude = table["u_measured"] if angles.magnitude is None else angles.magnitude
                relative = _pick(angles.sigma, rows) / _pick(magnitude, rows)
                weighted = np.where(
                    np.isnan(_pick(measured, rows)),
                    0.0,
                    _pick(result["u_angle_residual"], rows) / relative,
                )
                total, largest = _add(total, largest, weighted)
        return total, largest


def weighted_residuals(
    output: Mapping[str, Table], sensors: Mapping[str, Table]
) -> tuple[float, float]:
    """``J`` and the largest weighted residual of ``output`` for the sensors ``sensors``."""
    return ResidualWeights(sensors).objective(output)


def _voltage(kind: str, table: Table, changing: Collection[tuple[str, str]]) -> _Kind:
    sigma = np.ascontiguousarray(table["u_sigma"])
    if table["u_measured"].ndim > 1:
        sigma = sigma[:, None]
    measured = table["u_angle_measured"]
    fixed_angles = (kind, "u_angle_measured") not in changing
    angles = None
    # Without any measured angle every angle term is zero: it adds nothing to either figure.
    if not (fixed_angles and bool(np.isnan(measured).all())):
        angles = _Angles(
            sigma,
            np.ascontiguousarray(measured) if fixed_angles else None,
            None
            if (kind, "u_measured") in changing
            else np.ascontiguousarray(table["u_measured"]),
        )
    return _Kind(kind, (("u_residual", sigma),), angles)


def _power(kind: str, table: Table) -> _Kind:
    p_sigma, q_sigma = table["p_sigma"], table["q_sigma"]
    fallback = table["power_sigma"]
    if fallback.ndim < p_sigma.ndim:
        fallback = fallback[:, None]
    return _Kind(
        kind,
        (
            ("p_residual", np.where(np.isnan(p_sigma), fallback, p_sigma)),
            ("q_residual", np.where(np.isnan(q_sigma), fallback, q_sigma)),
        ),
        None,
    )


def _current(kind: str, table: Table) -> _Kind:
    i_sigma = np.ascontiguousarray(table["i_sigma"])
    a_sigma = np.ascontiguousarray(table["i_angle_sigma"])
    if table["i_measured"].ndim > 1:
        i_sigma, a_sigma = i_sigma[:, None], a_sigma[:, None]
    return _Kind(kind, (("i_residual", i_sigma), ("i_angle_residual", a_sigma)), None)


def _pick(values: np.ndarray[Any, Any], rows: NDArray[np.bool_] | None) -> np.ndarray[Any, Any]:
    return values if rows is None else values[rows]


def _add(total: float, largest: float, weighted: np.ndarray[Any, Any]) -> tuple[float, float]:
    flat = np.ravel(np.asarray(weighted, dtype=np.float64))
    squares = float(np.sum(flat * flat))
    if math.isfinite(squares):  # every residual is finite
        return total + squares, max(largest, float(np.max(np.abs(flat), initial=0.0)))
    values = np.abs(flat)
    values = values[np.isfinite(values)]
    return total + float(np.sum(values**2)), max(largest, float(np.max(values, initial=0.0)))
