"""Reproducible household fleets: morning and evening peaks, PV on 60 % of the roofs,
5–15 kWh batteries, a time-of-use import price, feeder caps at half the uncontrolled peaks
(so they bind, and cost)."""

from __future__ import annotations

import numpy as np

from osed.optimizer.fleet_problem import FleetProblem


def fleet(
    households: int,
    *,
    steps: int = 96,
    seed: int = 0,
    cap_share: float = 0.5,
    efficiency: float = 0.95,
    final_share: float | None = None,
) -> FleetProblem:
    rng = np.random.default_rng(seed)
    hours = np.arange(steps) * (24 / steps)
    profile = (
        0.4
        + 0.6 * np.exp(-(((hours - 7.5) / 1.5) ** 2))
        + 1.2 * np.exp(-(((hours - 19) / 2.0) ** 2))
    )
    load = profile[None, :] * rng.uniform(0.6, 1.6, (households, 1))
    load += rng.normal(0, 0.1, (households, steps))
    sun = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)
    pv = sun[None, :] * rng.uniform(3, 8, (households, 1)) * (rng.random((households, 1)) < 0.6)
    net = load - pv
    capacity = rng.uniform(5, 15, households)
    power = rng.uniform(3, 5, households)
    eta = np.full(households, efficiency)
    final = np.full(households, np.nan) if final_share is None else final_share * capacity
    peak = (hours >= 17) & (hours < 21)
    feeder = net.sum(axis=0)
    return FleetProblem(
        net_load_kw=net,
        capacity_kwh=capacity,
        charge_max_kw=power,
        discharge_max_kw=power,
        charge_efficiency=eta,
        discharge_efficiency=eta,
        soc_min_kwh=0.1 * capacity,
        soc_max_kwh=0.9 * capacity,
        soc_initial_kwh=0.5 * capacity,
        soc_final_kwh=final,
        import_price=np.where(peak, 0.40, 0.20),
        export_price=np.full(steps, 0.05),
        feeder_import_max_kw=np.full(steps, cap_share * feeder.max()),
        feeder_export_max_kw=np.full(steps, cap_share * max(-feeder.min(), 1.0)),
        step_h=24 / steps,
    )
