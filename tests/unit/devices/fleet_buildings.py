"""Random households of simulated devices, for the fleet's tests."""

from __future__ import annotations

import numpy as np

from osed.devices.simulated import SimulatedDevice
from osed.domain.devices import DeviceKind

STEPS = 8


def household(rng: np.random.Generator, *, loads: int = 1) -> list[SimulatedDevice]:
    """A household with ``loads`` loads, and PV, a battery, an EV, a heating zone and a water
    heater each with some chance, in a random order."""
    devices = [
        SimulatedDevice(f"load-{j}", DeviceKind.LOAD, {"profile_kw": rng.uniform(0.1, 2, STEPS)})
        for j in range(loads)
    ]
    if rng.random() < 0.5:
        length = int(rng.choice([STEPS, STEPS // 2]))  # profiles of differing lengths repeat
        devices.append(
            SimulatedDevice("roof", DeviceKind.PV, {"profile_kw": rng.uniform(0, 4, length)})
        )
    if rng.random() < 0.5:
        devices.append(
            SimulatedDevice(
                "battery",
                DeviceKind.BATTERY,
                {
                    "capacity_kwh": float(rng.uniform(5, 15)),
                    "soc_init": float(rng.uniform(0.1, 0.9)),
                    "soc_min": 0.1,
                    "soc_max": 0.9,
                    "charge_max_kw": 4.0,
                    "discharge_max_kw": 4.0,
                    "charge_efficiency": 0.95,
                    "discharge_efficiency": 0.95,
                },
            )
        )
    if rng.random() < 0.5:
        arrival = int(rng.integers(0, STEPS - 2))
        devices.append(
            SimulatedDevice(
                "car",
                DeviceKind.EV,
                {
                    "arrival_step": arrival,
                    "departure_step": arrival + 2,
                    "energy_kwh": float(rng.uniform(0.5, 4)),
                    "charge_max_kw": 7.0,
                },
            )
        )
    if rng.random() < 0.5:
        devices.append(
            SimulatedDevice(
                "zone",
                DeviceKind.HEATING,
                {
                    "capacitance_kwh_per_k": 3.0,
                    "resistance_k_per_kw": 6.0,
                    "cop": 3.0,
                    "power_max_kw": 3.0,
                    "temp_init_c": float(rng.uniform(17, 22)),
                    "outdoor_c": rng.uniform(-5, 10, STEPS),
                    "comfort_min_c": [20.0] * STEPS,
                    "comfort_max_c": [22.0] * STEPS,
                },
            )
        )
    if rng.random() < 0.5:
        devices.append(
            SimulatedDevice(
                "tank",
                DeviceKind.WATER_HEATER,
                {
                    "energy_max_kwh": 8.0,
                    "energy_min_kwh": 1.0,
                    "energy_init_kwh": float(rng.uniform(2, 8)),
                    "power_max_kw": 2.0,
                    "draw_kw": rng.uniform(0, 3, STEPS),
                    "loss_kw": 0.05,
                },
            )
        )
    order = rng.permutation(len(devices))
    return [devices[j] for j in order]
