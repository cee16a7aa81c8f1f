"""Small studies built directly (no scenario file): a low-voltage feeder, households with
batteries and heat-pump zones at its nodes, a time-of-use tariff, seeded profiles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from osed.edge.intelligence_rules import Rules
from osed.grid.network import Network, NetworkBuilder
from osed.gridfunctions.builtin._dac_document import read_document
from osed.sim import profiles
from osed.sim.study import Event, FunctionSpec, Household, MarketSpec, Study
from tests.unit.buildings.plan_documents import BATTERY

START = datetime(2026, 1, 12, tzinfo=UTC)
AUCTION = MarketSpec("double-auction", 2)
HEAD = "l1"
"""The feeder's head line: the electric area's element."""


def lv_feeder(nodes: int, *, amps: float = 150.0, r_ohm: float = 0.02) -> Network:
    """A 0.4 kV radial feeder: the source at n0, then n1 … n(nodes-1) in a chain."""
    builder = NetworkBuilder(f"lv-{nodes}")
    ids = [f"n{i}" for i in range(nodes)]
    builder.add_many("node", ids, u_rated=np.full(nodes, 400.0))
    count = nodes - 1
    builder.add_many(
        "line",
        [f"l{i}" for i in range(1, nodes)],
        from_node=ids[:-1],
        to_node=ids[1:],
        r1=np.full(count, r_ohm),
        x1=np.full(count, r_ohm / 2),
        c1=np.zeros(count),
        tan1=np.zeros(count),
        i_n=np.full(count, amps),
    )
    builder.add("source", "grid", node="n0", u_ref=1.0, u_ref_angle=0.0, sk=1e12)
    return builder.build()


def _building(
    ident: str, steps: int, step_h: float, base_kw: np.ndarray, *, outdoor: np.ndarray, k: int
) -> Any:
    devices: list[dict[str, Any]] = []
    if k % 2 == 0:
        devices.append({**BATTERY, "capacity_kwh": 8.0})
    devices.append(
        {
            "id": "zone",
            "kind": "heating",
            "capacitance_kwh_per_k": 3.0,
            "resistance_k_per_kw": 10.0,
            "cop": 3.0,
            "power_max_kw": 3.0,
            "temp_init_c": 21.0,
            "outdoor_c": outdoor.tolist(),
            "comfort_min_c": [20.0] * steps,
            "comfort_max_c": [23.0] * steps,
        }
    )
    document = {
        "steps": steps,
        "step_h": step_h,
        "prices": [0.1] * steps,
        "buildings": [{"id": ident, "base_kw": base_kw.tolist(), "devices": devices}],
    }
    return read_document(document).buildings[0]


def small_study(
    households: int = 6,
    *,
    steps: int = 24,
    step_h: float = 1.0,
    nodes: int = 5,
    seed: int = 3,
    functions: Sequence[FunctionSpec] = (FunctionSpec("dac", {"max_iterations": 40}),),
    market: MarketSpec | None = AUCTION,
    events: Sequence[Event] = (),
    rules: Rules | None = None,
    amps: float = 150.0,
    r_ohm: float = 0.02,
) -> Study:
    rng = np.random.default_rng(seed)
    hours = (np.arange(steps) + 0.5) * step_h % 24.0
    outdoor = 2.0 + 4.0 * np.sin(np.pi * (hours - 9.0) / 12.0)
    tariff = np.where((hours >= 17) & (hours < 21), 0.30, np.where(hours >= 7, 0.18, 0.10))
    made = []
    for k in range(households):
        forecast = profiles.household_load_kw(hours, rng)
        actual = np.clip(forecast * (1 + 0.1 * rng.standard_normal(steps)), 0.05, None)
        building = _building(f"h{k:03d}", steps, step_h, actual, outdoor=outdoor, k=k)
        made.append(Household(f"h{k:03d}", f"n{1 + k % (nodes - 1)}", building, forecast))
    return Study(
        name="small",
        seed=seed,
        start=START,
        steps=steps,
        step_h=step_h,
        network=lv_feeder(nodes, amps=amps, r_ohm=r_ohm),
        households=tuple(made),
        outdoor_c=outdoor,
        ghi_w_m2=np.zeros(steps),
        tariff_per_kwh=tariff.astype(np.float64),
        feed_in_per_kwh=np.full(steps, 0.05),
        market=market,
        functions=tuple(functions),
        rules=rules or Rules(hold_off_s=0.0, clear_hold_off_s=2 * 3600.0),
        events=tuple(events),
    )
