"""The weighted least-squares objective of an estimate, from the solver's residuals.

``J = Σ (r/σ)²`` and the largest ``|r/σ|`` over every sensor the solver reports a residual
for. Appliance sensors of one node share their node's residual in proportion to their
variances, so ``J`` equals the objective over the summed injection. A voltage angle is
weighted with its magnitude's relative sigma, as power-grid-model measures a phasor with one
sigma; residuals that are not finite are left out.

:class:`ResidualWeights` keeps the sigmas of one sensor set, which new snapshots of values do
not change, as contiguous arrays: an estimator evaluates the objective of each snapshot
without going through the sensor tables again. The measured values it needs (a voltage
magnitude weighs its angle) are read, at each evaluation, from the arrays the estimator
writes its snapshots into.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.grid.network import Table

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class _Angles:
    """What weighs the voltage angle residuals of one voltage sensor kind."""

    sigma: Floats  # of the magnitude
    measured: Floats  # u_angle_measured
    magnitude: Floats  # u_measured


@dataclass(frozen=True)
class _Kind:
    kind: str
    terms: tuple[tuple[str, Floats], ...]  # (residual attribute, its sigma)
    angles: _Angles | None  # voltage sensors with at least one measured angle
    shape: tuple[int, ...]  # of a residual column

    @cached_property
    def scratch(self) -> tuple[Floats, Floats]:
        """Room for the weighted residuals of a term and their squares, every row energized."""
        return np.empty(self.shape), np.empty(self.shape)


class ResidualWeights:
    """The sigmas behind each residual of one sensor set.

    ``current`` holds, by ``(kind, attribute)``, the columns that new snapshots rewrite (the
    measured values), as arrays of the table's rows that are read at each evaluation;
    everything else is taken from the tables once, here.
    """

    def __init__(
        self,
        sensors: Mapping[str, Table],
        current: Mapping[tuple[str, str], Floats] | None = None,
    ) -> None:
        current = {} if current is None else current
        self._kinds: list[_Kind] = []
        for kind, table in sensors.items():
            if not len(table):
                continue
            if "voltage" in kind:
                self._kinds.append(_voltage(kind, table, current))
            elif "power" in kind:
                self._kinds.append(_power(kind, table))
            else:
                self._kinds.append(_current(kind, table))

    def objective(self, output: Mapping[str, Table]) -> tuple[float, float]:
        """``J`` and the largest weighted residual of the solver's ``output``."""
        total, largest = self._evaluate(output, 0.0)
        assert largest is not None
        return total, largest

    def total(self, output: Mapping[str, Table]) -> float:
        """``J`` alone, without the pass for the largest residual."""
        return self._evaluate(output, None)[0]

    def _evaluate(
        self, output: Mapping[str, Table], largest: float | None
    ) -> tuple[float, float | None]:
        total = 0.0
        for spec in self._kinds:
            result = output.get(spec.kind)
            if result is None:
                continue
            energized = result["energized"]
            if energized.all():
                weighted, squares = spec.scratch
                for attribute, sigma in spec.terms:
                    np.divide(result[attribute], sigma, out=weighted)
                    total, largest = _add(total, largest, weighted, squares)
                rows = None
            else:
                rows = energized.astype(bool)
                for attribute, sigma in spec.terms:
                    weighted = result[attribute][rows] / sigma[rows]
                    total, largest = _add(total, largest, weighted)
            if spec.angles is not None:
                angles = spec.angles
                relative = _pick(angles.sigma, rows) / _pick(angles.magnitude, rows)
                weighted = np.where(
                    np.isnan(_pick(angles.measured, rows)),
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


def _voltage(kind: str, table: Table, current: Mapping[tuple[str, str], Floats]) -> _Kind:
    sigma = np.ascontiguousarray(table["u_sigma"])
    if table["u_measured"].ndim > 1:
        sigma = sigma[:, None]
    live = current.get((kind, "u_angle_measured"))
    measured = np.ascontiguousarray(table["u_angle_measured"]) if live is None else live
    angles = None
    # Without any measured angle every angle term is zero: it adds nothing to either figure.
    if live is not None or not bool(np.isnan(measured).all()):
        magnitude = current.get((kind, "u_measured"))
        if magnitude is None:
            magnitude = np.ascontiguousarray(table["u_measured"])
        angles = _Angles(sigma, measured, magnitude)
    return _Kind(kind, (("u_residual", sigma),), angles, table["u_measured"].shape)


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
        p_sigma.shape,
    )


def _current(kind: str, table: Table) -> _Kind:
    i_sigma = np.ascontiguousarray(table["i_sigma"])
    a_sigma = np.ascontiguousarray(table["i_angle_sigma"])
    if table["i_measured"].ndim > 1:
        i_sigma, a_sigma = i_sigma[:, None], a_sigma[:, None]
    terms = (("i_residual", i_sigma), ("i_angle_residual", a_sigma))
    return _Kind(kind, terms, None, table["i_measured"].shape)


def _pick(values: np.ndarray[Any, Any], rows: NDArray[np.bool_] | None) -> np.ndarray[Any, Any]:
    return values if rows is None else values[rows]


def _add(
    total: float,
    largest: float | None,
    weighted: np.ndarray[Any, Any],
    squares: Floats | None = None,
) -> tuple[float, float | None]:
    """``total`` plus the sum of the squares, and the larger of ``largest`` (None: not asked
    for) and the largest magnitude, of the finite ``weighted`` residuals (``squares``: room
    for the squares)."""
    flat = np.ravel(np.asarray(weighted, dtype=np.float64))
    square = np.multiply(flat, flat, out=None if squares is None else np.ravel(squares))
    summed = float(square.sum())
    if math.isfinite(summed):  # every residual is finite
        if largest is None or not flat.size:
            return total + summed, largest
        return total + summed, max(largest, float(flat.max()), -float(flat.min()))
    values = np.abs(flat)
    values = values[np.isfinite(values)]
    summed = float(np.sum(values**2))
    if largest is None:
        return total + summed, None
    return total + summed, max(largest, float(np.max(values, initial=0.0)))
