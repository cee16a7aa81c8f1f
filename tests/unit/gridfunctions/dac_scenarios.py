"""Synthetic ``dac`` documents: an evening-peaking area whose buildings own a random mix of
batteries, EVs, heat pumps and water heaters (seeded, so tests and benchmarks repeat)."""

from __future__ import annotations

from typing import Any

import numpy as np


def area(
    buildings: int, steps: int = 96, *, seed: int = 7, target_share: float | None = None
) -> dict[str, Any]:
    """A document of ``buildings`` × ``steps`` (a day at 24/steps h); ``target_share``: a
    ``target_peak_kw`` at that share of the uncoordinated base peak."""
    rng = np.random.default_rng(seed)
    h = 24.0 / steps
    hours = (np.arange(steps) + 0.5) * h
    evening = np.exp(-(((hours - 18.5) / 2.0) ** 2))
    morning = np.exp(-(((hours - 7.5) / 1.5) ** 2))
    solar = np.clip(np.sin((hours - 6.0) / 12.0 * np.pi), 0.0, None)
    outdoor = -5.0 + 4.0 * np.sin((hours - 9.0) / 24.0 * 2 * np.pi)
    prices = np.where((hours >= 16) & (hours < 21), 0.30, 0.12)
    out: list[dict[str, Any]] = []
    for b in range(buildings):
        base = 0.4 + rng.uniform(0.5, 2.0) * evening + rng.uniform(0.2, 1.0) * morning
        base = base - rng.uniform(0.0, 3.0) * solar * (rng.random() < 0.4)
        base = base + rng.normal(0.0, 0.05, steps)
        devices: list[dict[str, Any]] = []
        if rng.random() < 0.5:
            devices.append(
                {
                    "id": "battery",
                    "kind": "battery",
                    "capacity_kwh": float(rng.choice([5.0, 10.0, 13.5])),
                    "soc_init": 0.5,
                    "soc_min": 0.1,
                    "soc_max": 0.95,
                    "charge_max_kw": 3.0,
                    "discharge_max_kw": 3.0,
                    "charge_efficiency": 0.95,
                    "discharge_efficiency": 0.95,
                }
            )
        if rng.random() < 0.4:
            arrival = int(steps * rng.uniform(0.70, 0.80))
            departure = min(steps, arrival + int(steps * rng.uniform(0.2, 0.3)))
            charge_max = float(rng.choice([3.7, 7.2]))
            hours_open = (departure - arrival) * h
            devices.append(
                {
                    "id": "ev",
                    "kind": "ev",
                    "arrival_step": arrival,
                    "departure_step": departure,
                    "energy_kwh": round(min(rng.uniform(5, 20), 0.8 * charge_max * hours_open), 2),
                    "charge_max_kw": charge_max,
                }
            )
        if rng.random() < 0.5:
            comfort_min = np.where((hours >= 7) & (hours < 22), 20.0, 18.0)
            devices.append(
                {
                    "id": "heat-pump",
                    "kind": "heating",
                    "capacitance_kwh_per_k": float(rng.uniform(3.0, 6.0)),
                    "resistance_k_per_kw": float(rng.uniform(4.0, 8.0)),
                    "cop": 3.0,
                    "power_max_kw": 4.0,
                    "temp_init_c": 20.5,
                    "outdoor_c": outdoor.round(2).tolist(),
                    "comfort_min_c": comfort_min.tolist(),
                    "comfort_max_c": [23.0] * steps,
                }
            )
        if rng.random() < 0.5:
            draw = np.zeros(steps)
            draw[(hours > 6.5) & (hours < 8)] = 3.0
            draw[(hours > 19) & (hours < 20.5)] = 2.0
            devices.append(
                {
                    "id": "water-heater",
                    "kind": "water_heater",
                    "energy_max_kwh": 12.0,
                    "energy_min_kwh": 2.0,
                    "energy_init_kwh": 8.0,
                    "power_max_kw": 3.0,
                    "draw_kw": draw.tolist(),
                    "loss_kw": 0.05,
                }
            )
        out.append({"id": f"b{b}", "base_kw": base.round(3).tolist(), "devices": devices})
    document: dict[str, Any] = {
        "steps": steps,
        "step_h": h,
        "prices": prices.tolist(),
        "buildings": out,
    }
    if target_share is not None:
        total = np.sum([b["base_kw"] for b in out], axis=0)
        document["target_peak_kw"] = float(target_share * total.max())
    return document
