"""Fit a heating zone's 1R1C model from measured history.

The model is the DAC document's (docs/grid-functions.md, dac)::

    T(t+1) = T(t) + h/C ((Tout(t) − T(t))/R + cop p(t))
           = (1 − a) T(t) + a Tout(t) + b p(t),   a = h/(RC),  b = h cop / C

Two estimators run one after the other:

1. *Equation error*: ordinary least squares of T(t+1) − T(t) on (Tout(t) − T(t), p(t)). It is
   linear, closed form and tells at once whether the data determine (a, b) at all; but the
   measured T(t) sits on both sides, so measurement noise biases a (by about (1 − a) σ² over
   the variance of Tout − T, several per cent for σ = 0.1 K on a slow zone).
2. *Output error*: the model is simulated from the measured temperature at the start of each
   day (or after a gap) and (a, b) minimise the squared difference between simulated and
   measured indoor temperature, starting from step 1's answer. The simulation depends only
   on the inputs, so measurement noise does not bias it (it is the maximum-likelihood fit for
   white measurement noise), the heating may follow the temperature (a thermostat) without
   harm, and it minimises the error a planner sees: multi-step predictions over a day.
   Restarting every day keeps unmodelled gains (sun, occupants) from piling up.

Missing samples (NaN) are gaps: equations and simulated days never span them. A day is
``round(24 / h)`` samples from the first one; when the history holds at least
``MIN_DAYS_FOR_HOLD_OUT`` whole days, every ``HOLD_OUT_EVERY``-th day is held out, the model
is fitted on the others and its simulation error on the held-out days is reported as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from osed.domain.errors import Problem, ValidationError

Array = NDArray[np.float64]

SUBJECT = "thermal history"
HOLD_OUT_EVERY = 4  # days 3, 7, 11, … are held out: test days spread over the whole history
MIN_DAYS_FOR_HOLD_OUT = 4
MIN_EQUATIONS = 4  # fewer consecutive finite pairs cannot pin down two parameters robustly
# Relative spread below which an input counts as constant (the parameters are then not
# determined: heating that never changes cannot separate C from the losses).
_CONSTANT = 1e-9
_CONDITION_LIMIT = 1e10


@dataclass(frozen=True, slots=True)
class ThermalHistory:
    """Equal-length series at a fixed step; NaN marks a missing sample."""

    step_h: float
    cop: float
    indoor_c: Array
    outdoor_c: Array
    power_kw: Array


@dataclass(frozen=True, slots=True)
class HeldOut:
    """The model fitted on the training days and simulated on the held-out days."""

    train_days: int
    test_days: int
    capacitance_kwh_per_k: float
    resistance_k_per_kw: float
    train_rmse_c: float
    test_rmse_c: float


@dataclass(frozen=True, slots=True)
class ThermalFit:
    capacitance_kwh_per_k: float
    resistance_k_per_kw: float
    rmse_c: float  # daily simulations against the measured indoor temperature, all data
    samples: int  # measured indoor temperatures the simulation error is taken over
    held_out: HeldOut | None


def fit_thermal(history: ThermalHistory) -> ThermalFit:
    """Fit C and R to ``history``; a ValidationError when the data cannot determine them."""
    _check_shape(history)
    everything = np.ones(history.indoor_c.size, dtype=bool)
    a, b, rmse, samples = _fit(history, everything)
    capacitance, resistance = _physical(a, b, history)
    return ThermalFit(capacitance, resistance, rmse, samples, _held_out(history))


def simulate_days(history: ThermalHistory, capacitance: float, resistance: float) -> Array:
    """The model's indoor temperature, restarted from the measurement at each day's start or
    after a gap (NaN where no simulation covers the sample)."""
    h = history.step_h
    a, b = h / (resistance * capacitance), h * history.cop / capacitance
    windows = _windows(history, np.ones(history.indoor_c.size, dtype=bool))
    simulated = np.full(history.indoor_c.size, np.nan)
    if windows[0].size:
        predicted, index = _simulate(history, windows, a, b)
        valid = ~np.isnan(predicted)
        simulated[index[valid]] = predicted[valid]
    return simulated


def samples_per_day(step_h: float) -> int | None:
    """Samples in a day, or None when a day is not a whole number of steps."""
    count = 24.0 / step_h
    whole = round(count)
    return whole if whole >= 1 and abs(count - whole) < 1e-9 else None


def _check_shape(history: ThermalHistory) -> None:
    problems = []
    if not (math.isfinite(history.step_h) and history.step_h > 0):
        problems.append(Problem("$.step_h", "too_small", "must be a positive number of hours"))
    if not (math.isfinite(history.cop) and history.cop > 0):
        problems.append(Problem("$.cop", "too_small", "must be a positive number"))
    sizes = {
        "indoor_c": history.indoor_c.size,
        "outdoor_c": history.outdoor_c.size,
        "power_kw": history.power_kw.size,
    }
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{name} {size}" for name, size in sizes.items())
        problems.append(Problem("$", "wrong_length", f"series differ in length: {listed}"))
    if problems:
        raise ValidationError(problems, subject=SUBJECT)


def _fit(history: ThermalHistory, days: NDArray[np.bool_]) -> tuple[float, float, float, int]:
    """(a, b, simulation RMSE, samples) on the samples marked in ``days``."""
    a0, b0 = _equation_error(history, days)
    windows = _windows(history, days)
    if windows[0].size == 0:
        raise _unidentifiable("no day holds two consecutive complete samples")

    def residuals(params: Array) -> Array:
        predicted, index = _simulate(history, windows, params[0], params[1])
        error = predicted - history.indoor_c[index]
        return np.where(np.isnan(error), 0.0, error)

    result = least_squares(
        residuals,
        x0=np.array([min(max(a0, 1e-6), 1.0), max(b0, 1e-9)]),
        bounds=([1e-9, 1e-12], [1.0, np.inf]),
        x_scale="jac",
        xtol=1e-12,
        ftol=1e-12,
    )
    predicted, index = _simulate(history, windows, result.x[0], result.x[1])
    error = predicted - history.indoor_c[index]
    error = error[~np.isnan(error)]
    rmse = float(np.sqrt(np.mean(error**2))) if error.size else math.nan
    return float(result.x[0]), float(result.x[1]), rmse, int(error.size)


def _equation_error(history: ThermalHistory, days: NDArray[np.bool_]) -> tuple[float, float]:
    """Least squares of ΔT on (Tout − T, p) over complete consecutive pairs."""
    indoor, outdoor, power = history.indoor_c, history.outdoor_c, history.power_kw
    pair = days[:-1] & days[1:]
    rise = indoor[1:] - indoor[:-1]
    loss = outdoor[:-1] - indoor[:-1]
    heat = power[:-1]
    usable = pair & np.isfinite(rise) & np.isfinite(loss) & np.isfinite(heat)
    if int(usable.sum()) < MIN_EQUATIONS:
        raise _unidentifiable(
            f"only {int(usable.sum())} pairs of consecutive complete samples; "
            f"at least {MIN_EQUATIONS} are needed"
        )
    columns = np.column_stack([loss[usable], heat[usable]])
    _check_excitation(columns)
    solution, *_ = np.linalg.lstsq(columns, rise[usable], rcond=None)
    return float(solution[0]), float(solution[1])


def _check_excitation(columns: Array) -> None:
    """Both regressors must vary, and not in proportion to each other."""
    scale = np.maximum(np.abs(columns).max(axis=0), 1.0)
    spread = columns.std(axis=0) / scale
    names = ("outdoor minus indoor temperature", "heating power")
    flat = [name for name, value in zip(names, spread, strict=True) if value < _CONSTANT]
    if flat:
        raise _unidentifiable(
            f"{' and '.join(flat)} never change{'s' * (len(flat) == 1)}: capacitance and "
            "resistance cannot be told apart; a history with varying heating power and "
            "weather is needed"
        )
    centred = (columns - columns.mean(axis=0)) / columns.std(axis=0)
    if np.linalg.cond(centred) > _CONDITION_LIMIT:
        raise _unidentifiable(
            "heating power moves in proportion to the outdoor-indoor difference: their "
            "effects cannot be separated"
        )


def _windows(
    history: ThermalHistory, days: NDArray[np.bool_]
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Start and end (exclusive) indices of the simulated windows.

    A window starts at a measured indoor temperature with complete inputs and runs at most
    one day; it stops before a sample outside ``days`` and after a missing input.
    """
    size = history.indoor_c.size
    per_day = samples_per_day(history.step_h) or max(1, round(24 / history.step_h))
    inputs_ok = days & np.isfinite(history.outdoor_c) & np.isfinite(history.power_kw)
    starts: list[int] = []
    ends: list[int] = []
    index = 0
    while index < size - 1:
        if not (inputs_ok[index] and np.isfinite(history.indoor_c[index])):
            index += 1
            continue
        end = index + 1
        while end < size and end - index <= per_day and days[end] and inputs_ok[end - 1]:
            end += 1
        if end - index >= 2:
            starts.append(index)
            ends.append(end)
        index = max(end - 1, index + 1)
    return np.asarray(starts, dtype=np.intp), np.asarray(ends, dtype=np.intp)


def _simulate(
    history: ThermalHistory,
    windows: tuple[NDArray[np.intp], NDArray[np.intp]],
    a: float,
    b: float,
) -> tuple[Array, NDArray[np.intp]]:
    """Simulated indoor temperatures after each window's start, and their sample indices
    (NaN for the padding of windows shorter than the longest)."""
    starts, ends = windows
    size = history.indoor_c.size
    steps = int((ends - starts).max()) - 1
    index = starts[:, None] + np.arange(1, steps + 1)[None, :]
    inside = index < ends[:, None]
    clipped = np.minimum(index, size - 1)
    outdoor = np.where(inside, history.outdoor_c[clipped - 1], np.nan)
    power = np.where(inside, history.power_kw[clipped - 1], np.nan)
    temperature = history.indoor_c[starts].astype(np.float64)
    predicted = np.empty(index.shape)
    for step in range(steps):
        temperature = (1.0 - a) * temperature + a * outdoor[:, step] + b * power[:, step]
        predicted[:, step] = temperature
    return predicted.ravel(), clipped.ravel()


def _physical(a: float, b: float, history: ThermalHistory) -> tuple[float, float]:
    h = history.step_h
    if not (a > 1e-8 and b > 1e-11) or not math.isfinite(a * b):
        raise _unidentifiable(
            f"the best fit has h/(RC) = {a:.3g} and h·cop/C = {b:.3g}; both must be positive "
            "for a heated zone that loses heat to the outside"
        )
    capacitance = h * history.cop / b
    return capacitance, h / (a * capacitance)


def _held_out(history: ThermalHistory) -> HeldOut | None:
    per_day = samples_per_day(history.step_h)
    if per_day is None:
        return None
    days = history.indoor_c.size // per_day
    if days < MIN_DAYS_FOR_HOLD_OUT:
        return None
    day_of_sample = np.arange(history.indoor_c.size) // per_day
    test = (day_of_sample % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1) & (day_of_sample < days)
    train = ~test
    a, b, train_rmse, _ = _fit(history, train)
    capacitance, resistance = _physical(a, b, history)
    windows = _windows(history, test)
    if windows[0].size == 0:
        return None
    predicted, index = _simulate(history, windows, a, b)
    error = predicted - history.indoor_c[index]
    error = error[~np.isnan(error)]
    if error.size == 0:
        return None
    return HeldOut(
        train_days=days - int(test[::per_day].sum()),
        test_days=int(test[::per_day].sum()),
        capacitance_kwh_per_k=capacitance,
        resistance_k_per_kw=resistance,
        train_rmse_c=train_rmse,
        test_rmse_c=float(np.sqrt(np.mean(error**2))),
    )


def _unidentifiable(reason: str) -> ValidationError:
    return ValidationError([Problem("$", "unidentifiable", reason)], subject=SUBJECT)
