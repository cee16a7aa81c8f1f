"""The EDC's side of the DAC game: ADMM in sharing form (Boyd et al. 2011, §7.3).

The area problem is min Σ_b h·π·net_b + g(Σ_b net_b) with g the coupling:

- with ``target_peak_kw``: g(Z) = 0 if Z_t ≤ target in the window, +∞ otherwise;
- without: g(Z) = w · max_{t∈window} Z_t, w large enough that the peak comes first (``w`` =
  ``PEAK_WEIGHT`` × h × |window| × the highest tariff price, per kW of peak).

Each iteration k the buildings answer the prices π + ρu/h (per kWh) with their schedules x_b,
each also paying ρ/2 ‖x_b − (x_b^k + (z̄ − x̄))‖² (the proximal term: its anchor is its own
last schedule shifted by one correction per step that every building receives). The EDC only
needs the sum of the schedules: Z = prox_g(B·u + Σx), u ← u + (Σx − Z)/B. It stops when the
primal residual max_t |Σx − Z| is below ``tolerance`` × the area peak of the round and the dual
residual ρ·max(max_t |ΔZ| / B, max_b,t |x_b − anchor_b|) / h (the price a building's proximal
term is still worth) below ``tolerance`` × the highest tariff price: then every schedule is
a best response to the prices sent, to that tolerance. ρ stays fixed: one tariff-sized price
step per kW of an average building's load (balancing it against the residuals, ×2 or ÷2, made
the aggregate oscillate, and a fixed ρ twice or half as large took two to three times the
rounds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from osed.buildings.devices_schema import Array
from osed.gridfunctions.builtin._dac_document import DacProblem
from osed.gridfunctions.builtin._dac_warm import WarmStart

PEAK_WEIGHT = 1.0
RELAXATION = 1.6
"""Over-relaxation (Boyd et al. §3.4.3): Z and u see 1.6·Σx + (−0.6)·Z_old; a third fewer rounds."""
WIDTH = 0.002
"""The first proximal segment: this share of each building's flexible power."""


@dataclass
class Coordinator:
    """ADMM state between two rounds of prices (JSON-able through :meth:`to_dict`)."""

    prices: Array
    target: float | None
    window: Array
    step_h: float
    buildings: int
    tolerance: float
    iteration: int = 0
    rho: float = 0.0
    u: Array = field(default_factory=lambda: np.zeros(0))
    z: Array = field(default_factory=lambda: np.zeros(0))
    correction: Array = field(default_factory=lambda: np.zeros(0))
    settled: bool = False
    peak_before: float = math.nan
    peaks: list[float] = field(default_factory=list)
    residuals: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def for_problem(cls, problem: DacProblem) -> Coordinator:
        n = problem.steps
        zeros = np.zeros(n)
        return cls(
            problem.prices.copy(),
            problem.target_peak_kw,
            problem.window.astype(float),
            problem.step_h,
            len(problem.buildings),
            problem.settings["tolerance"],
            u=zeros.copy(),
            z=zeros.copy(),
            correction=zeros.copy(),
        )

    @property
    def in_window(self) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return self.window > 0.5

    @property
    def price_scale(self) -> float:
        return max(float(self.prices.max()), 1e-3)

    @property
    def weight(self) -> float:
        """w: cost per kW of area peak when there is no target."""
        return PEAK_WEIGHT * self.step_h * int(self.in_window.sum()) * self.price_scale

    def prices_sent(self) -> Array:
        """Per kWh: the tariff plus the adder ρu/h."""
        sent: Array = self.prices + self.rho * self.u / self.step_h
        return sent

    def peak(self, aggregate: Array) -> float:
        return float(aggregate[self.in_window].max())

    def absorb(self, aggregate: Array, movement_kw: float = 0.0, spread_kw: float = 0.0) -> bool:
        """The sum of the buildings' schedules of this round, the largest distance of a
        building's schedule from its proximal anchor and the root mean square of those
        distances over buildings and steps (kW); True when converged.

        :attr:`settled` tells whether the residuals are small on the whole (the mean square
        in place of the largest distance, as Boyd et al. §3.3.1 measure them): one building
        still drifting toward its optimum keeps ``converged`` false, not ``settled``."""
        b = self.buildings
        if self.iteration == 0:
            self.peak_before = self.peak(aggregate)
            # ρ: one flexible kW per building moved by a tariff-sized price step.
            self.rho = self.step_h * self.price_scale / max(1.0, self.peak_before / b)
            self.z = aggregate.copy()
        self.peaks.append(self.peak(aggregate))
        previous = self.z
        relaxed = RELAXATION * aggregate + (1 - RELAXATION) * previous
        self.z = self._coupling(b * self.u + relaxed)
        self.u = self.u + (relaxed - self.z) / b
        primal = float(np.abs(aggregate - self.z).max())
        coupling_shift = float(np.abs(self.z - previous).max()) / b
        dual = self.rho * max(coupling_shift, movement_kw) / self.step_h
        overall = self.rho * max(coupling_shift, spread_kw)
        self.residuals.append((primal, dual))
        self.correction = (self.z - aggregate) / b
        self.iteration += 1
        scale = max(abs(self.peaks[-1]), 1e-3)
        primal_small = self.iteration > 1 and primal <= self.tolerance * scale
        self.settled = primal_small and overall / self.step_h <= self.tolerance * self.price_scale
        return primal_small and dual <= self.tolerance * self.price_scale

    def warm(self, start: WarmStart, aggregate: Array) -> None:
        """After round 0: start from the sample's dual prices and aggregate
        (:mod:`._dac_warm`); ``aggregate`` is round 0's sum of schedules."""
        self.u = start.adders / self.rho
        self.z = start.aggregate_kw.copy()
        self.correction = (self.z - aggregate) / self.buildings

    def _coupling(self, a: Array) -> Array:
        """prox of g with parameter B/ρ at the aggregate point ``a``."""
        z = a.copy()
        inside = self.in_window
        if self.target is not None:
            z[inside] = np.minimum(a[inside], self.target)
            return z
        # prox of λ·max over the window: cut the tops at θ with Σ (a − θ)+ = λ.
        lam = self.weight * self.buildings / self.rho
        values = np.sort(a[inside])[::-1]
        cumulative = np.cumsum(values)
        k = np.arange(1, values.size + 1)
        theta_k = (cumulative - lam) / k
        valid = theta_k < values
        # The largest k whose level stays below the k-th value (and above the next one).
        last = int(np.flatnonzero(valid)[-1]) if valid.any() else 0
        theta = theta_k[last] if valid.any() else values[0] - lam
        z[inside] = np.minimum(a[inside], theta)
        return z

    def to_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "rho": self.rho,
            "u": self.u.tolist(),
            "z": self.z.tolist(),
            "correction": self.correction.tolist(),
            # Strict JSON: no peak yet (NaN) is stored as null.
            "peak_before": None if math.isnan(self.peak_before) else self.peak_before,
            "peaks": list(self.peaks),
            "residuals": [list(r) for r in self.residuals],
        }

    def restore(self, saved: dict[str, Any]) -> None:
        self.iteration = int(saved["iteration"])
        self.rho = float(saved["rho"])
        self.u = np.asarray(saved["u"], dtype=float)
        self.z = np.asarray(saved["z"], dtype=float)
        self.correction = np.asarray(saved["correction"], dtype=float)
        before = saved["peak_before"]
        self.peak_before = math.nan if before is None else float(before)
        self.peaks = [float(p) for p in saved["peaks"]]
        self.residuals = [(float(a), float(b)) for a, b in saved["residuals"]]
