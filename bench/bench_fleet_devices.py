"""A study's households' devices as one simulated fleet against one gateway per household,
printing one JSON object.

``--buildings`` households (default 10,000), each with a load and, with these chances, PV
(40 %), a battery (15 %), an EV (30 %), a heating zone (30 %) and a water heater (50 %); 96
steps of 15 minutes. Figures are seconds per call, the best of ``--rounds`` rounds, the two
ways alternating round by round:

* ``fleet_advance_s``: one step of every device, no view started;
* ``fleet_advance_200_views_s``: the same with ``--views`` views started, each with a handler
  (noise drawn and measurements built for those households only);
* ``fleet_net_kw_s``, ``fleet_by_building_s``: every household's net power; the first
  battery's state of charge in every household;
* ``gateways_advance_s``: one step of the same households as separate ``SimulatedGateway``
  objects (``--gateway-steps`` steps a round); with ``--before REV``, also
  ``before_gateways_advance_s``: the gateway of revision ``REV`` (the one stepping its own
  devices, read from git), the way a study stepped its households before the fleet.

    .venv/bin/python bench/bench_fleet_devices.py [--buildings 10000] [--before REV]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import subprocess
import sys
import time
import types
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from osed.devices.simulated import SimulatedDevice, SimulatedGateway
from osed.devices.simulated_fleet import SimulatedFleet
from osed.domain.devices import DeviceKind, Measurement, Quantity

STEPS = 96
STEP_H = 0.25
START = datetime(2026, 1, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def households(count: int, seed: int = 7) -> list[list[SimulatedDevice]]:
    rng = np.random.default_rng(seed)
    hours = np.arange(STEPS) * STEP_H
    sun = np.clip(np.sin((hours - 6) / 12 * np.pi), 0, None)
    made = []
    for _ in range(count):
        devices = [
            SimulatedDevice(
                "base", DeviceKind.LOAD, {"profile_kw": rng.uniform(0.2, 1.5, STEPS).tolist()}
            )
        ]
        if rng.random() < 0.4:
            peak = rng.uniform(3, 8)
            devices.append(SimulatedDevice("pv", DeviceKind.PV, {"profile_kw": peak * sun}))
        if rng.random() < 0.15:
            devices.append(
                SimulatedDevice(
                    "battery",
                    DeviceKind.BATTERY,
                    {
                        "capacity_kwh": 10.0,
                        "soc_init": float(rng.uniform(0.2, 0.8)),
                        "soc_min": 0.1,
                        "soc_max": 0.9,
                        "charge_max_kw": 5.0,
                        "discharge_max_kw": 5.0,
                        "charge_efficiency": 0.95,
                        "discharge_efficiency": 0.95,
                    },
                )
            )
        if rng.random() < 0.3:
            arrival = int(rng.integers(60, 80))
            devices.append(
                SimulatedDevice(
                    "ev",
                    DeviceKind.EV,
                    {
                        "arrival_step": arrival,
                        "departure_step": STEPS,
                        "energy_kwh": float(rng.uniform(5, 30)),
                        "charge_max_kw": 11.0,
                    },
                )
            )
        if rng.random() < 0.3:
            devices.append(
                SimulatedDevice(
                    "zone",
                    DeviceKind.HEATING,
                    {
                        "capacitance_kwh_per_k": 3.0,
                        "resistance_k_per_kw": 6.0,
                        "cop": 3.0,
                        "power_max_kw": 4.0,
                        "temp_init_c": float(rng.uniform(18, 21)),
                        "outdoor_c": (2 + 4 * sun).tolist(),
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
                        "energy_max_kwh": 10.0,
                        "energy_min_kwh": 1.0,
                        "energy_init_kwh": float(rng.uniform(3, 10)),
                        "power_max_kw": 3.0,
                        "draw_kw": rng.exponential(0.3, STEPS).tolist(),
                        "loss_kw": 0.05,
                    },
                )
            )
        made.append(devices)
    return made


async def ignore(batch: Sequence[Measurement]) -> None:
    return None


def per_call(calls: int, started: float) -> float:
    return (time.perf_counter() - started) / calls


async def fleet_round(buildings: list[list[SimulatedDevice]], views: int) -> dict[str, float]:
    seeds = list(range(len(buildings)))
    fleet = SimulatedFleet(buildings, step_h=STEP_H, start=START, seeds=seeds)
    started = time.perf_counter()
    await fleet.advance()
    figures = {"fleet_first_advance_s": per_call(1, started)}
    spent = {"fleet_advance_s": 0.0, "fleet_net_kw_s": 0.0, "fleet_by_building_s": 0.0}
    for _ in range(STEPS - 1):
        started = time.perf_counter()
        await fleet.advance()
        spent["fleet_advance_s"] += time.perf_counter() - started
        started = time.perf_counter()
        fleet.net_kw()  # the first read after a step adds the powers up
        spent["fleet_net_kw_s"] += time.perf_counter() - started
        started = time.perf_counter()
        fleet.by_building(DeviceKind.BATTERY, Quantity.SOC)
        spent["fleet_by_building_s"] += time.perf_counter() - started
    figures.update({key: value / (STEPS - 1) for key, value in spent.items()})
    watched = np.linspace(0, len(buildings) - 1, views).astype(int)
    for index in watched:
        view = fleet.gateway(int(index))
        view.on_measurements(ignore)
        await view.start()
    started = time.perf_counter()
    await fleet.advance(STEPS)
    figures["fleet_advance_200_views_s"] = per_call(STEPS, started)
    return figures


async def gateways_round(
    make: Callable[..., Any], buildings: list[list[SimulatedDevice]], steps: int
) -> float:
    gateways = [
        make(devices, step_h=STEP_H, start=START, seed=i) for i, devices in enumerate(buildings)
    ]
    started = time.perf_counter()
    for _ in range(steps):
        for gateway in gateways:
            await gateway.advance()
    return per_call(steps, started)


def gateway_before(revision: str) -> Callable[..., Any]:
    """``SimulatedGateway`` as of ``revision``, with that revision's physics."""

    def load(path: str, name: str, replace: tuple[str, str] | None = None) -> types.ModuleType:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        if replace is not None:
            source = source.replace(*replace)
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)
        return module

    load("src/osed/buildings/physics.py", "before_physics")
    before = load(
        "src/osed/devices/simulated.py",
        "before_simulated",
        ("from osed.buildings.physics import", "from before_physics import"),
    )
    gateway: Callable[..., Any] = before.SimulatedGateway

    def make(devices: list[SimulatedDevice], **options: Any) -> Any:
        described = [before.SimulatedDevice(d.id, d.kind, d.fields) for d in devices]
        return gateway(described, **options)

    return make


def best(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: min(r[key] for r in rounds) for key in rounds[0]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    buildings = households(args.buildings)
    makers: dict[str, Callable[..., Any]] = {"gateways_advance_s": SimulatedGateway}
    if args.before:
        makers["before_gateways_advance_s"] = gateway_before(args.before)
    rounds: list[dict[str, float]] = []
    for _ in range(args.rounds):
        gc.collect()
        figures = await fleet_round(buildings, args.views)
        for key, make in makers.items():
            gc.collect()
            figures[key] = await gateways_round(make, buildings, args.gateway_steps)
        rounds.append(figures)
    figures = best(rounds)
    result: dict[str, Any] = {
        "buildings": args.buildings,
        "devices": sum(len(b) for b in buildings),
        "views": args.views,
        "steps": STEPS,
        **{k: round(v, 6) for k, v in figures.items()},
        "speedup_vs_gateways": round(figures["gateways_advance_s"] / figures["fleet_advance_s"]),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
    }
    if args.before:
        result["speedup_vs_before"] = round(
            figures["before_gateways_advance_s"] / figures["fleet_advance_s"]
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buildings", type=int, default=10_000)
    parser.add_argument("--views", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gateway-steps", type=int, default=4)
    parser.add_argument("--before", default=None, help="a git revision before the fleet")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
