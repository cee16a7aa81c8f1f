"""Reproducible household fleets for tests and the benchmark.

Loads with a morning and an evening peak, PV on 60 % of the roofs, 5–15 kWh batteries of
3–5 kW, η = 0.95 each way, a dynamic import price (a wholesale component plus a time-of-use
evening peak), a lower export price following the wholesale component, and feeder caps at
``cap_share`` of the uncontrolled peak import and export (65 % by default), so that they bind
in many steps and cost money.
"""

from __future__ import annotations

import numpy as np

from osed.optimizer.fleet_problem import FleetProblem


def fleet(
    households: int,
    *,
    steps: int = 96,
    seed: int = 0,
    cap_share: float = 0.65,
    efficiency: float = 0.95,
    final_share: float | None = None,
) -> FleetProblem:
    rng = np.random.default_rng(seed)
    hours = (np.arange(steps) + 0.5) * (24 / steps)
    profile = (
        0.4
        + 0.6 * np.exp(-(((hours - 7.5) / 1.5) ** 2))
        + 1.2 * np.exp(-(((hours - 19) / 2.0) ** 2))
    )
    load = profile[None, :] * rng.uniform(0.6, 1.6, (households, 1))
    load += rng.normal(0, 0.1, (households, steps))
    sun = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)
    has_pv = rng.random((households, 1)) < 0.6
    net = load - sun[None, :] * rng.uniform(3, 8, (households, 1)) * has_pv
    capacity = rng.uniform(5, 15, households)
    power = rng.uniform(3, 5, households)
    eta = np.full(households, efficiency)
    feeder = net.sum(axis=0)
    # A dynamic tariff: a wholesale component (cheap at night and midday) under a time-of-use
    # evening peak; strict price differences make the caps cost money, not merely bind.
    wholesale = 0.04 + 0.03 * np.cos(2 * np.pi * (hours - 19) / 24) ** 2
    wholesale -= 0.02 * sun + rng.normal(0, 0.003, steps)
    import_price = 0.16 + wholesale + 0.15 * ((hours >= 17) & (hours < 21))
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
        soc_final_kwh=None if final_share is None else final_share * capacity,
        import_price=import_price,
        export_price=0.05 + 0.25 * wholesale,
        feeder_import_max_kw=np.full(steps, cap_share * max(feeder.max(), 1.0)),
        feeder_export_max_kw=np.full(steps, cap_share * max(-feeder.min(), 1.0)),
        dt_h=24 / steps,
    )


def fleet_document(problem: FleetProblem, **fields: object) -> dict[str, object]:
    """``problem`` as OSED's fleet document (docs/optimizer-fleet.md), ``fields`` replaced."""

    def pct(values: np.ndarray, i: int) -> float:
        return float(100 * values[i] / problem.capacity_kwh[i])

    def cap(values: np.ndarray) -> list[float | None]:
        return [float(v) if np.isfinite(v) else None for v in values]

    final = problem.soc_final_kwh
    households = []
    for i in range(problem.households):
        battery: dict[str, object] = {
            "capacity_kwh": float(problem.capacity_kwh[i]),
            "charge_max_kw": float(problem.charge_max_kw[i]),
            "discharge_max_kw": float(problem.discharge_max_kw[i]),
            "soc_min_pct": pct(problem.soc_min_kwh, i),
            "soc_max_pct": pct(problem.soc_max_kwh, i),
            "soc_initial_pct": pct(problem.soc_initial_kwh, i),
            "charge_efficiency": float(problem.charge_efficiency[i]),
            "discharge_efficiency": float(problem.discharge_efficiency[i]),
        }
        if final is not None and np.isfinite(final[i]):
            battery["soc_final_pct"] = pct(final, i)
        households.append(
            {
                "id": f"house-{i}",
                "net_load_kw": problem.net_load_kw[i].tolist(),
                "battery": battery,
            }
        )
    document: dict[str, object] = {
        "id": "feeder-1",
        "start": "2026-07-01T00:00:00Z",
        "step_minutes": problem.dt_h * 60,
        "import_price": problem.import_price.tolist(),
        "export_price": problem.export_price.tolist(),
        "feeder": {
            "import_max_kw": cap(problem.feeder_import_max_kw),
            "export_max_kw": cap(problem.feeder_export_max_kw),
        },
        "households": households,
        "cycling_cost": problem.cycling_cost,
    }
    document.update(fields)
    return document
