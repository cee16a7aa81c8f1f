"""Heated zones as 1R1C models, vectorised over zones.

T(t+1) = T(t) + h/C · ((Tout(t) − T(t))/R + COP·p(t)), with C in kWh/K, R in K/kW, h in hours,
p the electric power of the heat pump in kW.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]
Matrix = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Zones:
    capacitance_kwh_per_k: Vector
    resistance_k_per_kw: Vector
    cop: Vector
    power_max_kw: Vector

    def next_temperature(self, temp: Vector, outdoor: Vector, power: Vector, h: float) -> Vector:
        heat = (outdoor - temp) / self.resistance_k_per_kw + self.cop * power
        result: Vector = temp + h / self.capacitance_kwh_per_k * heat
        return result


def track_setpoints(
    zones: Zones, temp_init: Vector, outdoor: Matrix, setpoints: Matrix, h: float
) -> tuple[Matrix, Matrix]:
    """A thermostat that heats each step just enough to end it at the setpoint (within the
    heat pump's power): powers and end-of-step temperatures, both steps × zones."""
    steps = setpoints.shape[0]
    powers = np.empty_like(setpoints)
    temps = np.empty_like(setpoints)
    temp = temp_init.copy()
    for t in range(steps):
        losses = (outdoor[t] - temp) / zones.resistance_k_per_kw
        needed = (zones.capacitance_kwh_per_k / h * (setpoints[t] - temp) - losses) / zones.cop
        powers[t] = np.clip(needed, 0.0, zones.power_max_kw)
        temp = zones.next_temperature(temp, outdoor[t], powers[t], h)
        temps[t] = temp
    return powers, temps
