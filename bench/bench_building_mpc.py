"""Building MPC: one building with a battery, an EV, a heating zone and a water heater over 96
steps of 15 minutes (the issue's target: ≤ 50 ms per run).

Prints one JSON object: the milliseconds (min and median over ROUNDS) of a first plan (a new
Planner: model built, passed to HiGHS, solved cold) and of a warm re-plan on the receding
horizon (prices shifted by a step, measured state changed: costs, bounds and right-hand sides
pushed into the solver, which starts from the previous basis), each against its floor: HiGHS'
own ``run`` on the same model in a second instance (cold from scratch; warm after the same
changes), timed alternately with ours in the same rounds, and the ratio of the medians.

``receding`` is the building agent's re-plan at each new control step: its soft planner given
the house seen from the next step (series rolled, the EV's window moved) by ``update``, then a
plan with the prices rolled and a measured state; its floor pushes the same changes into a
second instance and times HiGHS' ``run`` alone.

Usage: python bench/bench_building_mpc.py [ROUNDS]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import highspy
import numpy as np

from osed.buildings.device_lp import block_model
from osed.buildings.devices_schema import Array, Building, Device
from osed.buildings.mpc import GridRequests, Planner
from osed.buildings.soft_limits import soften
from osed.edge.building.horizon import from_step
from osed.optimizer.highs import LinearProgram, pass_program
from osed.optimizer.highs_instance import quiet_highs

STEPS = 96
STEP_H = 0.25


def house() -> Building:
    t = np.arange(STEPS) * STEP_H
    base = 0.4 + 0.3 * np.exp(-(((t - 8) / 1.5) ** 2)) + 1.2 * np.exp(-(((t - 19) / 2) ** 2))
    outdoor = 2.0 + 4.0 * np.sin((t - 9) / 24 * 2 * np.pi)
    comfort_min = np.where((t >= 6) & (t < 22), 20.0, 18.0)
    draw = np.where((t >= 7) & (t < 8) | (t >= 20) & (t < 21), 2.0, 0.05)
    return Building(
        "house",
        base,
        (
            Device(
                "battery",
                "battery",
                {
                    "capacity_kwh": 10.0,
                    "soc_init": 0.5,
                    "soc_min": 0.1,
                    "soc_max": 0.95,
                    "soc_final_min": 0.5,
                    "charge_max_kw": 5.0,
                    "discharge_max_kw": 5.0,
                    "charge_efficiency": 0.95,
                    "discharge_efficiency": 0.95,
                },
            ),
            Device(
                "ev",
                "ev",
                {
                    "arrival_step": 72,
                    "departure_step": 96,
                    "energy_kwh": 20.0,
                    "charge_max_kw": 11.0,
                },
            ),
            Device(
                "heat-pump",
                "heating",
                {
                    "capacitance_kwh_per_k": 8.0,
                    "resistance_k_per_kw": 6.0,
                    "cop": 3.2,
                    "power_max_kw": 4.0,
                    "temp_init_c": 20.5,
                    "outdoor_c": outdoor,
                    "comfort_min_c": comfort_min,
                    "comfort_max_c": np.full(STEPS, 23.0),
                },
            ),
            Device(
                "boiler",
                "water_heater",
                {
                    "energy_max_kwh": 9.0,
                    "energy_min_kwh": 1.5,
                    "energy_init_kwh": 5.0,
                    "power_max_kw": 3.0,
                    "draw_kw": draw,
                    "loss_kw": 0.05,
                },
            ),
        ),
    )


def tariff() -> Array:
    t = np.arange(STEPS) * STEP_H
    prices: Array = 0.18 + 0.12 * ((t >= 17) & (t < 21)) - 0.06 * ((t >= 1) & (t < 5))
    return prices


def program_of(
    building: Building, prices: Array, limit: Array, *, soft: bool = False
) -> LinearProgram:
    """The planner's model, built outside it."""
    model = block_model([building], steps=STEPS, step_h=STEP_H, prices=prices, cycling_cost=0.0)
    model.bound_net(0, np.full(STEPS, -np.inf), limit)
    if soft:
        soften(model, prices, STEP_H)
    return model.program


def floor_instance(
    building: Building, prices: Array, limit: Array, *, soft: bool = False
) -> highspy.Highs:
    highs = quiet_highs()
    highs.setOptionValue("threads", 1)
    pass_program(highs, program_of(building, prices, limit, soft=soft))
    return highs


def push(
    highs: highspy.Highs, building: Building, prices: Array, limit: Array, *, soft: bool = False
) -> None:
    """The same changes a warm re-plan pushes: every cost, column and row bound."""
    program = program_of(building, prices, limit, soft=soft)
    cols = np.arange(program.columns, dtype=np.int32)
    rows = np.arange(program.rows, dtype=np.int32)
    highs.changeColsCost(program.columns, cols, program.costs())
    big = highspy.kHighsInf
    highs.changeColsBounds(
        program.columns,
        cols,
        np.clip(np.concatenate(program.col_lower), -big, big),
        np.clip(np.concatenate(program.col_upper), -big, big),
    )
    highs.changeRowsBounds(  # type: ignore[attr-defined]
        program.rows,
        rows,
        np.clip(np.concatenate(program.row_lower), -big, big),
        np.clip(np.concatenate(program.row_upper), -big, big),
    )


def at_state(building: Building, state: dict[str, float]) -> Building:
    fields = {"battery": "soc_init", "ev": "energy_kwh", "heat-pump": "temp_init_c"}
    fields["boiler"] = "energy_init_kwh"
    devices = tuple(
        Device(d.id, d.kind, {**d.values, fields[d.id]: state[d.id]}) for d in building.devices
    )
    return Building(building.id, building.base_kw, devices)


def random_state(rng: np.random.Generator) -> dict[str, float]:
    return {
        "battery": float(rng.uniform(0.3, 0.8)),
        "ev": float(rng.uniform(10.0, 20.0)),
        "heat-pump": float(rng.uniform(20.0, 22.0)),
        "boiler": float(rng.uniform(3.0, 8.0)),
    }


def receding(rounds: int, requests: GridRequests, timings: dict[str, list[float]]) -> None:
    """The agent's re-plan at each new step (soft planner, the house seen from that step)."""
    day, prices = house(), tariff()
    assert requests.import_limit_kw is not None
    limit = requests.import_limit_kw
    planner = Planner(day, STEPS, STEP_H, soft=True)
    planner.plan(prices, requests)
    floor = floor_instance(day, prices, limit, soft=True)
    floor.run()
    rng = np.random.default_rng(11)
    timings["receding"], timings["receding_floor"] = [], []
    for k in range(1, rounds + 1):
        here, rolled = from_step(day, k % STEPS), np.roll(prices, -(k % STEPS))
        state = random_state(rng)
        start = time.perf_counter()
        planner.update(here)
        plan = planner.plan(rolled, requests, state=state)
        timings["receding"].append(time.perf_counter() - start)
        assert plan.usable
        push(floor, at_state(here, state), rolled, limit, soft=True)
        start = time.perf_counter()
        floor.run()
        timings["receding_floor"].append(time.perf_counter() - start)
        objective = plan.cost + plan.penalty
        assert abs(floor.getInfo().objective_function_value - objective) <= 1e-6 * max(
            1.0, abs(objective)
        )


def main(rounds: int) -> dict[str, Any]:
    building, prices = house(), tariff()
    limit = np.full(STEPS, 9.0)
    requests = GridRequests(import_limit_kw=limit)
    timings: dict[str, list[float]] = {"first": [], "first_floor": [], "warm": [], "warm_floor": []}
    costs = []
    for _ in range(rounds):
        start = time.perf_counter()
        planner = Planner(building, STEPS, STEP_H)
        plan = planner.plan(prices, requests)
        timings["first"].append(time.perf_counter() - start)
        assert plan.status == "optimal"
        floor = floor_instance(building, prices, limit)
        start = time.perf_counter()
        floor.run()
        timings["first_floor"].append(time.perf_counter() - start)
        costs.append(plan.cost)
    planner = Planner(building, STEPS, STEP_H)
    planner.plan(prices, requests)
    floor = floor_instance(building, prices, limit)
    floor.run()
    rng = np.random.default_rng(7)
    for k in range(1, rounds + 1):
        shifted = np.roll(prices, -k) * (1 + 0.05 * rng.standard_normal(STEPS))
        state = random_state(rng)
        start = time.perf_counter()
        plan = planner.plan(shifted, requests, state=state)
        timings["warm"].append(time.perf_counter() - start)
        assert plan.status == "optimal"
        push(floor, at_state(building, state), shifted, limit)
        start = time.perf_counter()
        floor.run()
        timings["warm_floor"].append(time.perf_counter() - start)
        assert abs(floor.getInfo().objective_function_value - plan.cost) <= 1e-6 * abs(plan.cost)
    receding(rounds, requests, timings)
    ms = {
        name: {
            "min_ms": round(1e3 * min(values), 3),
            "median_ms": round(1e3 * statistics.median(values), 3),
        }
        for name, values in timings.items()
    }
    return {
        "devices": len(building.devices),
        "steps": STEPS,
        "rounds": rounds,
        "cost": round(costs[0], 6),
        **ms,
        "first_over_floor": round(ms["first"]["median_ms"] / ms["first_floor"]["median_ms"], 2),
        "warm_over_floor": round(ms["warm"]["median_ms"] / ms["warm_floor"]["median_ms"], 2),
        "receding_over_floor": round(
            ms["receding"]["median_ms"] / ms["receding_floor"]["median_ms"], 2
        ),
        "target_ms": 50,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)))
