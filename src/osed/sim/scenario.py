"""Scenario files: read and check a YAML scenario, then materialise it into a
:class:`~osed.sim.study.Study` drawn from its seed.

    study = load_study("scenario.yaml")          # or a parsed document, or default_scenario()

Reading names every problem with its JSON path (:mod:`osed.sim.scenario_reader`) and nothing is
generated from a bad file. Materialising draws, from independent seeded streams: the device
mix (shares), every device's parameters (distributions), occupancy, load, hot water and EV
sessions (:mod:`osed.sim.synthetic`) and the weather (:mod:`osed.sim.weather`); the same seed
gives the same study, array for array. docs/simulation.md ("Scenarios") describes the format.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from osed.buildings.devices_schema import Building, Device
from osed.domain.errors import Problem, ValidationError
from osed.sim.households import (
    DEVICE_KINDS,
    EV_PLUGGED_USE,
    HEAT_PUMP_MARGIN,
    WATER_INIT_SHARE,
    WATER_MIN_SHARE,
)
from osed.sim.scenario_reader import SUBJECT, Scenario, read_scenario
from osed.sim.study import Household, Study
from osed.sim.synthetic import ev_windows, hot_water_draws, household_load, local_hours, occupancy
from osed.sim.weather import Weather, generate_weather

Array = np.ndarray[Any, np.dtype[np.float64]]
SCENARIOS = "osed.sim.scenarios"

# Independent random streams per purpose: changing one part of a scenario (a share, the
# weather) does not reshuffle the others.
STREAMS = {
    "network": 1,  # used by the reader for the generated feeder
    "mix": 2,
    "parameters": 3,
    "occupancy": 4,
    "load": 5,
    "hot_water": 6,
    "clouds": 7,
    "temperature": 8,
    "tank": 9,
}


def bundled_scenario(name: str) -> Path:
    """The path of a scenario shipped with OSED (``default``, ``small``)."""
    return Path(str(resources.files(SCENARIOS).joinpath(f"{name}.yaml")))


def _file(source: str | Path | Mapping[str, Any]) -> Path | None:
    """The scenario file ``source`` names, or None for YAML text or a parsed mapping."""
    if isinstance(source, Path):
        return source
    if isinstance(source, str) and "\n" not in source:
        path = Path(source)
        if path.suffix in (".yaml", ".yml") or path.is_file():
            return path
    return None


def read_document(source: str | Path | Mapping[str, Any]) -> Any:
    """The scenario document from a YAML file, YAML text or an already parsed mapping."""
    if isinstance(source, Mapping):
        return source
    path = _file(source)
    if path is not None:
        if not path.is_file():
            raise ValidationError(
                [Problem(str(path), "not_found", "no such file")], subject=SUBJECT
            )
        text = path.read_text(encoding="utf-8")
    else:
        text = str(source)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(
            [Problem("$", "bad_yaml", f"not YAML: {exc}")], subject=SUBJECT
        ) from None
    except RecursionError:
        raise ValidationError(
            [Problem("$", "too_deep", "nested too deeply")], subject=SUBJECT
        ) from None


def load_scenario(source: str | Path | Mapping[str, Any]) -> Scenario:
    """The checked scenario; network files named in it are found beside the scenario file."""
    path = _file(source)
    return read_scenario(read_document(source), base=None if path is None else path.parent)


def load_study(source: str | Path | Mapping[str, Any]) -> Study:
    """Read, check and materialise a scenario in one call."""
    return materialise(load_scenario(source))


def _rng(scenario: Scenario, stream: str) -> np.random.Generator:
    return np.random.default_rng([scenario.seed, STREAMS[stream]])


def materialise(scenario: Scenario) -> Study:
    """The study the scenario describes, drawn from its seed; :class:`ValidationError` when
    the drawn weather leaves a heat pump zone no schedule (``$.weather.temperature``)."""
    steps, step_h = scenario.steps, scenario.step_h
    hours = local_hours(scenario.start, steps, step_h, scenario.timezone)
    weather = generate_weather(
        scenario.weather,
        scenario.start,
        steps,
        step_h,
        local_hours=hours,
        rng_clouds=_rng(scenario, "clouds"),
        rng_temperature=_rng(scenario, "temperature"),
    )
    households = _households(scenario, hours, weather)
    tariff = np.asarray(scenario.time_of_use)[np.floor(hours).astype(int) % 24]
    return Study(
        name=scenario.name,
        seed=scenario.seed,
        start=scenario.start,
        steps=steps,
        step_h=step_h,
        network=scenario.network,
        households=households,
        outdoor_c=weather.outdoor_c,
        ghi_w_m2=weather.ghi_w_m2,
        tariff_per_kwh=tariff.astype(np.float64),
        feed_in_per_kwh=np.full(steps, scenario.feed_in_per_kwh),
        market=scenario.market,
        functions=scenario.functions,
        rules=scenario.rules,
        events=scenario.events,
        voltage_sigma_pu=scenario.measurement.get("voltage_sigma_pu", 0.002),
        power_sigma_kw=scenario.measurement.get("power_sigma_kw", 0.05),
        edcs=scenario.edcs,
        forecast_h=scenario.forecast_h,
    )


def _mix(scenario: Scenario, count: int) -> dict[str, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Which households have which device: exactly round(share × count) of each kind."""
    rng = _rng(scenario, "mix")
    mix = {}
    for kind in DEVICE_KINDS:
        has = np.zeros(count, dtype=bool)
        has[rng.permutation(count)[: round(scenario.shares[kind] * count)]] = True
        mix[kind] = has
    return mix


def _draws(scenario: Scenario, count: int) -> dict[str, dict[str, Array]]:
    """Every parameter drawn for every household (used only where it has the device), so a
    household's draws do not depend on the shares."""
    rng = _rng(scenario, "parameters")
    return {
        kind: {name: dist.draw(rng, count) for name, dist in spec.items()}
        for kind, spec in scenario.parameters.items()
    }


def _households(scenario: Scenario, hours: Array, weather: Weather) -> tuple[Household, ...]:
    steps, step_h = scenario.steps, scenario.step_h
    count = len(scenario.household_buses)
    mix = _mix(scenario, count)
    p = _draws(scenario, count)
    occupancy_rng = _rng(scenario, "occupancy")
    away = occupancy_rng.random(count) < scenario.away_share
    occupied = occupancy(hours, away, occupancy_rng)
    load = household_load(hours, step_h, occupied, p["load"]["annual_kwh"], _rng(scenario, "load"))
    draws = hot_water_draws(
        hours, step_h, occupied, p["water_heater"]["draw_kwh_per_day"], _rng(scenario, "hot_water")
    )
    pv_kwp = np.where(mix["pv"], p["pv"]["kwp"], 0.0)
    base = load.realised_kw - pv_kwp[:, None] * weather.pv_per_kwp[None, :]
    forecast = load.forecast_kw - pv_kwp[:, None] * weather.pv_forecast_per_kwp[None, :]
    arrival, departure = ev_windows(
        scenario.start,
        steps,
        step_h,
        scenario.timezone,
        arrival_h=p["ev"]["arrival_h"],
        departure_h=p["ev"]["departure_h"],
    )
    # A session the study's end cuts off (the car leaves the next morning) needs only its
    # share of the energy by then: the rest is charged after the study.
    stay_h = (p["ev"]["departure_h"] - p["ev"]["arrival_h"]) % 24.0
    stay_h = np.where(stay_h > 0, stay_h, 24.0)
    session_share = np.clip((departure - arrival) * step_h / stay_h, 0.0, 1.0)
    coldest = float(weather.outdoor_c.min())
    water = p["water_heater"]
    water_init = _rng(scenario, "tank").uniform(*WATER_INIT_SHARE, count)
    draws = served_draws(
        draws,
        init_kwh=water["energy_max_kwh"] * water_init,
        min_kwh=water["energy_max_kwh"] * WATER_MIN_SHARE,
        max_kwh=water["energy_max_kwh"],
        net_power_kw=water["power_max_kw"] - water["loss_kw"],
        step_h=step_h,
    )
    _check_heat_pumps(p["heat_pump"], mix["heat_pump"], weather.outdoor_c, step_h)
    households = []
    for i, bus in enumerate(scenario.household_buses):
        ident = f"hh{i + 1:0{max(4, len(str(count)))}d}"
        devices: list[Device] = []
        if mix["battery"][i]:
            devices.append(_battery(ident, p["battery"], i))
        if mix["ev"][i] and departure[i] > arrival[i]:
            window = (int(arrival[i]), int(departure[i]))
            devices.append(_ev(ident, p["ev"], i, window, step_h, share=float(session_share[i])))
        if mix["heat_pump"][i]:
            devices.append(_heat_pump(ident, p["heat_pump"], i, weather.outdoor_c, coldest))
        if mix["water_heater"][i]:
            devices.append(_water_heater(ident, p["water_heater"], i, draws[i], water_init[i]))
        building = Building(ident, base[i].copy(), tuple(devices))
        households.append(
            Household(ident, bus, building, forecast[i].copy(), _pv(pv_kwp[i], weather))
        )
    return tuple(households)


def served_draws(
    draws: Array,
    *,
    init_kwh: Array,
    min_kwh: Array,
    max_kwh: Array,
    net_power_kw: Array,
    step_h: float,
) -> Array:
    """The hot water draws a tank can serve: where even heating at full power from the start
    would leave it below its minimum, the part of a draw it cannot serve is dropped (the tank
    runs cold) so that the water heater's model has a schedule."""
    served = draws.copy()
    energy = init_kwh.copy()
    for k in range(draws.shape[1]):
        after = energy + step_h * (net_power_kw - served[:, k])
        short = np.clip(min_kwh - after, 0.0, None)
        served[:, k] = np.maximum(served[:, k] - short / step_h, 0.0)
        energy = np.minimum(after + short, max_kwh)
    return served


def _check_heat_pumps(
    p: Mapping[str, Array], has: np.ndarray[Any, np.dtype[np.bool_]], outdoor: Array, step_h: float
) -> None:
    """A heat pump only heats: its zone must stay under the comfort maximum with the heat
    pump off, or no schedule exists (the weather is too warm for the band)."""
    if not has.any():
        return
    low = p["comfort_min_c"][has]
    high = low + p["comfort_band_k"][has]
    temperature = (low + high) / 2
    decay = step_h / (p["capacitance_kwh_per_k"][has] * p["resistance_k_per_kw"][has])
    for k, outside in enumerate(outdoor):
        temperature = temperature + decay * (outside - temperature)
        if (temperature > high).any():
            raise ValidationError(
                [
                    Problem(
                        "$.weather.temperature",
                        "too_warm",
                        f"a heat pump zone drifts above its comfort maximum by step {k} with "
                        f"the heat pump off ({float(outside):.1f} °C outdoors): lower the "
                        "temperature or raise $.households.heat_pump.comfort_band_k",
                    )
                ],
                subject=SUBJECT,
            )


def _pv(kwp: float, weather: Weather) -> Array | None:
    return None if kwp <= 0 else kwp * weather.pv_per_kwp


def _battery(ident: str, p: Mapping[str, Array], i: int) -> Device:
    power = float(p["power_kw"][i])
    efficiency = float(p["efficiency"][i])
    return Device(
        f"{ident}-battery",
        "battery",
        {
            "capacity_kwh": float(p["capacity_kwh"][i]),
            "soc_init": float(p["soc_init"][i]),
            "soc_min": 0.1,
            "soc_max": 0.95,
            "soc_final_min": float(p["soc_init"][i]),
            "charge_max_kw": power,
            "discharge_max_kw": power,
            "charge_efficiency": efficiency,
            "discharge_efficiency": efficiency,
        },
    )


def _ev(
    ident: str,
    p: Mapping[str, Array],
    i: int,
    window: tuple[int, int],
    step_h: float,
    *,
    share: float,
) -> Device:
    """``share``: the part of the car's session inside the study (its energy in proportion)."""
    arrival, departure = window
    charge = float(p["charge_max_kw"][i])
    deliverable = charge * (departure - arrival) * step_h
    return Device(
        f"{ident}-ev",
        "ev",
        {
            "arrival_step": arrival,
            "departure_step": departure,
            "energy_kwh": min(share * float(p["energy_kwh"][i]), EV_PLUGGED_USE * deliverable),
            "charge_max_kw": charge,
        },
    )


def _heat_pump(
    ident: str, p: Mapping[str, Array], i: int, outdoor: Array, coldest: float
) -> Device:
    steps = outdoor.size
    comfort_min = float(p["comfort_min_c"][i])
    resistance = float(p["resistance_k_per_kw"][i])
    cop = float(p["cop"][i])
    # Sized to hold the comfort minimum at the coldest step (HEAT_PUMP_MARGIN).
    needed = HEAT_PUMP_MARGIN * max(0.0, comfort_min - coldest) / resistance / cop
    low = np.full(steps, comfort_min)
    high = np.full(steps, comfort_min + float(p["comfort_band_k"][i]))
    return Device(
        f"{ident}-heat-pump",
        "heating",
        {
            "capacitance_kwh_per_k": float(p["capacitance_kwh_per_k"][i]),
            "resistance_k_per_kw": resistance,
            "cop": cop,
            "power_max_kw": max(float(p["power_max_kw"][i]), needed),
            "temp_init_c": (comfort_min + float(high[0])) / 2,
            "outdoor_c": outdoor,
            "comfort_min_c": low,
            "comfort_max_c": high,
        },
    )


def _water_heater(
    ident: str, p: Mapping[str, Array], i: int, draw: Array, init_share: float
) -> Device:
    energy_max = float(p["energy_max_kwh"][i])
    return Device(
        f"{ident}-water-heater",
        "water_heater",
        {
            "energy_max_kwh": energy_max,
            "energy_min_kwh": WATER_MIN_SHARE * energy_max,
            "energy_init_kwh": init_share * energy_max,
            "power_max_kw": float(p["power_max_kw"][i]),
            "draw_kw": draw,
            "loss_kw": float(p["loss_kw"][i]),
        },
    )
