"""Per-phase and three-phase power from voltage and current phasors (PMU frames).

Per phase ``S = V · I*``, so with ``φ = θv − θi``::

    P = |V| |I| cos φ      Q = |V| |I| sin φ      |S| = |V| |I|

Q is positive when the current lags the voltage (an inductive load, with the current
measured into the load). Totals over the phases of a frame:

* ``P`` and ``Q``: sums over the phases;
* ``S``: the *vector* apparent power ``|Σ S_k| = √(P² + Q²)`` (IEEE 1459), so the total
  power factor is ``P / S``; the arithmetic sum ``Σ |S_k|`` is at least as large and equal
  only when every phase has the same power-factor angle;
* voltage and current: the mean of the phase magnitudes (what a meter shows as the average
  phase-to-ground voltage and average current), not the positive-sequence component.

A phase is bad when any of its four inputs is not finite, a magnitude is negative, or the
caller marks it bad; its P, Q and S are NaN, and every total of a frame with a bad phase is
NaN, with ``good`` false for that frame. A number is never produced from a bad phase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class PowerResult:
    """Per phase arrays of shape ``(frames, phases)``, totals of shape ``(frames,)``."""

    p: Floats  # W
    q: Floats  # var
    s: Floats  # VA, |S| of each phase
    p_total: Floats
    q_total: Floats
    s_total: Floats  # |Σ S|
    v_mean: Floats  # V, mean of the phase magnitudes
    i_mean: Floats  # A, mean of the phase magnitudes
    phase_good: Bools
    good: Bools  # every phase of the frame good


def power(
    v_mag: ArrayLike,
    v_ang: ArrayLike,
    i_mag: ArrayLike,
    i_ang: ArrayLike,
    quality: ArrayLike | None = None,
) -> PowerResult:
    """Powers of frames of phasors; each input is ``(frames, phases)`` (a 1-D input is one
    phase per frame), angles in radians, ``quality`` true where a phase's inputs are good."""
    vm, va, im, ia = (_frames(x) for x in (v_mag, v_ang, i_mag, i_ang))
    shape = vm.shape
    if not (va.shape == im.shape == ia.shape == shape):
        raise ValueError(f"phasor arrays differ in shape: {[x.shape for x in (vm, va, im, ia)]}")
    phase_good = np.isfinite(vm) & np.isfinite(va) & np.isfinite(im) & np.isfinite(ia)
    if quality is not None:
        flags = np.asarray(quality, dtype=np.bool_)
        phase_good &= flags.reshape(shape) if flags.ndim == 1 else flags
    # Bad inputs (NaN, inf) would raise floating-point warnings below; their results are
    # replaced by NaN through ``s``, so the warnings say nothing.
    with np.errstate(invalid="ignore", over="ignore"):
        phase_good &= (vm >= 0.0) & (im >= 0.0)
        s = np.where(phase_good, vm * im, np.nan)
        phi = np.where(phase_good, va - ia, 0.0)
        p = s * np.cos(phi)
        q = s * np.sin(phi)
    p_total = p.sum(axis=1)  # NaN in any phase makes the total NaN: no partial totals
    q_total = q.sum(axis=1)
    return PowerResult(
        p=p,
        q=q,
        s=s,
        p_total=p_total,
        q_total=q_total,
        s_total=np.hypot(p_total, q_total),
        v_mean=np.where(phase_good, vm, np.nan).mean(axis=1),
        i_mean=np.where(phase_good, im, np.nan).mean(axis=1),
        phase_good=phase_good,
        good=np.asarray(phase_good.all(axis=1), dtype=np.bool_),
    )


def _frames(values: ArrayLike) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"expected (frames, phases), got shape {array.shape}")
    return array
