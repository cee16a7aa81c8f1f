"""Synthetic measured histories of a building, for the learners' tests and studies.

``zone_history`` simulates a heating zone on the DAC equation with a thermostat-like heat
pump and weather that drifts from day to day, then adds measurement noise; the parameters it
was made with are known, so a fit can be checked against them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ZoneHistory:
    step_h: float
    cop: float
    indoor_c: Array  # measured: true temperature plus noise
    outdoor_c: Array
    power_kw: Array


def zone_history(
    *,
    capacitance_kwh_per_k: float,
    resistance_k_per_kw: float,
    cop: float = 3.0,
    step_h: float = 0.25,
    days: int = 28,
    power_max_kw: float | None = None,
    noise_c: float = 0.05,
    seed: int = 0,
) -> ZoneHistory:
    """A zone heated towards a setpoint that changes through the day (night setback), with a
    power that follows the temperature (proportional control, saturating) plus random
    bursts, under an outdoor temperature with a daily swing and a day-to-day random walk."""
    rng = np.random.default_rng(seed)
    steps = round(days * 24 / step_h)
    hours = np.arange(steps) * step_h
    daily = 4.0 * np.sin(2 * np.pi * (hours - 9.0) / 24.0)
    drift = np.cumsum(rng.normal(0.0, 0.6 * np.sqrt(step_h / 24.0), steps))
    outdoor = 4.0 + daily + 3.0 * drift / max(1.0, float(np.abs(drift).max()))
    setpoint = np.where((hours % 24 >= 6) & (hours % 24 < 22), 21.0, 17.5)
    limit = power_max_kw or 1.6 * (21.0 - outdoor.min()) / (resistance_k_per_kw * cop)
    a = step_h / (resistance_k_per_kw * capacitance_kwh_per_k)
    b = step_h * cop / capacitance_kwh_per_k
    temperature = np.empty(steps)
    power = np.empty(steps)
    temperature[0] = 20.0
    burst = rng.random(steps) < 0.05
    for t in range(steps):
        need = (setpoint[t] - temperature[t]) * 2.5 * limit
        power[t] = min(limit, max(0.0, need + (0.6 * limit if burst[t] else 0.0)))
        if t + 1 < steps:
            temperature[t + 1] = (1 - a) * temperature[t] + a * outdoor[t] + b * power[t]
    measured = temperature + rng.normal(0.0, noise_c, steps)
    return ZoneHistory(step_h, cop, measured, outdoor, power)
