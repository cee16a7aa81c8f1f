"""A small, well-formed StudyResult for the writers' and the report's tests.

Both runs over a few buses, lines and households at 15-minute steps; the managed run shaves
the evening peak. Households without a battery, an EV or a heat pump carry NaN there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from osed.sim.results import TABLES, RunName, RunResult, StudyResult, Table

START = np.datetime64("2026-01-15T00:00:00", "ns")
STEP = np.timedelta64(15, "m")
BUSES = ("source", "n1", "n2", "n3", "n4")
DISTANCES_KM = (0.0, 0.25, 0.5, 0.8, 1.1)
LINES = ("trafo", "l1", "l2", "l3", "l4")


def synthetic_result(steps: int = 96, households: int = 6, seed: int = 7) -> StudyResult:
    rng = np.random.default_rng(seed)
    base = _household_base(steps, households, rng)
    baseline = _run("baseline", base, rng)
    managed = _run("managed", base, rng)
    peak = {
        run.run: float(np.max(run.tables["grid"]["area_import_kw"])) for run in (baseline, managed)
    }
    kpis: dict[str, Any] = {
        "peak_reduction_pct": 100.0 * (1.0 - peak["managed"] / peak["baseline"]),
        "peak_kw": peak,
        "cost_per_household": {"baseline": 3.412, "managed": 3.187},
        "voltage_violations": {"baseline": 12, "managed": 0},
        "comfort_violations": {"baseline": 0, "managed": 1},
        "market_volume_kwh": 41.25,
        "ledger_verified": True,
        "dac_iterations": 37,
        "edcs_created": 1,
        "edcs_destroyed": 1,
    }
    return StudyResult("synthetic feeder", seed, baseline, managed, kpis)


def _household_base(steps: int, households: int, rng: np.random.Generator) -> Any:
    hours = np.arange(steps) * 0.25
    evening = np.exp(-(((hours - 19.0) / 2.0) ** 2))
    morning = 0.5 * np.exp(-(((hours - 7.5) / 1.5) ** 2))
    shape = 0.4 + 1.8 * evening + morning
    return shape[:, None] * rng.uniform(0.8, 1.4, households)[None, :]


def _run(run: RunName, base: Any, rng: np.random.Generator) -> RunResult:
    steps = base.shape[0]
    times = START + STEP * np.arange(steps)
    hours = np.arange(steps) * 0.25
    managed = run == "managed"
    shaving = np.where((hours >= 17) & (hours < 21), 0.7, 1.0) if managed else np.ones(steps)
    net = base * shaving[:, None] + (0.0 if managed else 0.2)
    area = net.sum(axis=1)
    tables: dict[str, Table] = {
        "grid": _grid(run, times, area),
        "buses": _buses(run, times, area, rng),
        "lines": _lines(run, times, area),
        "households": _households(run, times, base, net, hours),
        "prices": _prices(run, times, hours, net),
        "activity": _activity(run, times),
    }
    for name, table in tables.items():
        assert tuple(table) == TABLES[name], name
    return RunResult(run, tables, seconds={"power flow": 0.5, "agents": 1.5})


def _grid(run: RunName, times: Any, area: Any) -> Table:
    steps = len(times)
    drop = 0.004 * area
    estimated_min = 1.0 - drop + 0.002 * np.sin(np.arange(steps))
    estimated_min[:3] = np.nan  # no estimate before the first measurements arrive
    return {
        "time_utc": times,
        "run": np.full(steps, run, dtype=object),
        "area_import_kw": area,
        "transformer_loading_pct": 100.0 * area / 12.0,
        "max_line_loading_pct": 100.0 * area / 14.0,
        "min_voltage_pu": 1.0 - drop,
        "max_voltage_pu": np.full(steps, 1.01),
        "min_estimated_voltage_pu": estimated_min,
        "max_estimated_voltage_pu": np.full(steps, 1.012),
    }


def _buses(run: RunName, times: Any, area: Any, rng: np.random.Generator) -> Table:
    steps, count = len(times), len(BUSES)
    distance = np.tile(DISTANCES_KM, steps)
    voltage = 1.01 - 0.004 * np.repeat(area, count) * distance / max(DISTANCES_KM)
    return {
        "time_utc": np.repeat(times, count),
        "run": np.full(steps * count, run, dtype=object),
        "bus": np.array(BUSES * steps, dtype=object),
        "distance_km": distance,
        "voltage_pu": voltage,
        "estimated_voltage_pu": voltage + rng.normal(0.0, 0.001, steps * count),
    }


def _lines(run: RunName, times: Any, area: Any) -> Table:
    steps, count = len(times), len(LINES)
    share = np.tile(np.linspace(1.0, 0.2, count), steps)
    flow = np.repeat(area, count) * share
    return {
        "time_utc": np.repeat(times, count),
        "run": np.full(steps * count, run, dtype=object),
        "line": np.array(LINES * steps, dtype=object),
        "loading_pct": 100.0 * flow / 13.0,
        "p_from_kw": flow,
    }


def _households(run: RunName, times: Any, base: Any, net: Any, hours: Any) -> Table:
    steps, count = base.shape
    ids = np.array([f"h{index}" for index in range(count)], dtype=object)
    phase = np.linspace(0.0, 1.0, count)[None, :]
    soc = 0.5 + 0.4 * np.sin(2 * np.pi * (hours[:, None] / 24.0 + phase))
    soc[:, ::2] = np.nan  # every other household has no battery
    ev = np.clip((hours[:, None] - 18.0 - 2 * phase) * 7.0, 0.0, 40.0)
    ev[:, 1::3] = np.nan
    indoor = 20.5 + 1.2 * np.sin(2 * np.pi * (hours[:, None] - 6.0) / 24.0) + 0.3 * phase
    if run == "baseline":
        indoor = indoor + 0.4
    indoor[:, -1] = np.nan  # the last household heats with something else
    comfort_min = np.where(np.isnan(indoor), np.nan, 19.5)
    comfort_max = np.where(np.isnan(indoor), np.nan, 23.0)
    return {
        "time_utc": np.repeat(times, count),
        "run": np.full(steps * count, run, dtype=object),
        "household": np.tile(ids, steps),
        "net_kw": net.ravel(),
        "base_kw": base.ravel(),
        "battery_soc": soc.ravel(),
        "ev_energy_kwh": ev.ravel(),
        "indoor_c": indoor.ravel(),
        "comfort_min_c": comfort_min.ravel(),
        "comfort_max_c": comfort_max.ravel(),
        "water_heater_kwh": np.full(steps * count, 2.5),
        "cost": (net * 0.25 * 0.3).ravel(),
    }


def _prices(run: RunName, times: Any, hours: Any, net: Any) -> Table:
    steps = len(times)
    tariff = np.where((hours >= 16) & (hours < 21), 0.42, 0.28)
    managed = run == "managed"
    return {
        "time_utc": times,
        "run": np.full(steps, run, dtype=object),
        "tariff_per_kwh": tariff,
        "dac_price_per_kwh": np.where(managed & (hours >= 16) & (hours < 21), 0.35, np.nan),
        "market_price_per_kwh": tariff - 0.05 if managed else np.full(steps, np.nan),
        "market_volume_kwh": 0.1 * net.sum(axis=1) if managed else np.zeros(steps),
    }


def _activity(run: RunName, times: Any) -> Table:
    rows: list[tuple[int, str, str, str]] = [(64, "event", "", "capacity_limit at trafo: 10 kW")]
    if run == "managed":
        rows.append((64, "edc_created", "edc-trafo", "functions: dac, capacity-limit"))
        rows.extend(
            (step, "dac_round", "edc-trafo", f"iterations={5 + step % 4}")
            for step in range(65, 84, 2)
        )
        rows.append((72, "xor_winner", "edc-trafo", "h3 offers 1.5 kW at 0.30/kWh"))
        rows.append((86, "edc_destroyed", "edc-trafo", "loading back below 80 %"))
    rows = [row for row in rows if row[0] < len(times)]
    return {
        "time_utc": np.array([times[step] for step, *_ in rows], dtype="datetime64[ns]"),
        "run": np.full(len(rows), run, dtype=object),
        "kind": np.array([kind for _, kind, _, _ in rows], dtype=object),
        "edc": np.array([edc for _, _, edc, _ in rows], dtype=object),
        "detail": np.array([detail for *_, detail in rows], dtype=object),
    }
