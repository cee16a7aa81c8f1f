"""Materialised studies: reproducible from the seed, the shares and distributions kept, every
building one the DAC document and the building MPC accept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.buildings.mpc import Planner
from osed.domain.errors import ValidationError
from osed.gridfunctions.builtin._dac_document import read_document
from osed.sim.scenario import bundled_scenario, load_scenario, load_study, materialise
from osed.sim.study import Study
from tests.unit.sim.scenario_documents import small_document

KINDS = {"battery": "battery", "ev": "ev", "heat_pump": "heating", "water_heater": "water_heater"}


@pytest.fixture(scope="module")
def default_study() -> Study:
    return load_study(bundled_scenario("default"))


def arrays_of(study: Study) -> list[Any]:
    """Every number of a study, in order, for comparisons."""
    values: list[Any] = [study.outdoor_c, study.ghi_w_m2, study.tariff_per_kwh]
    for household in study.households:
        values += [household.id, household.bus, household.building.base_kw, household.forecast_kw]
        values.append(household.pv_kw if household.pv_kw is not None else "no pv")
        for device in household.building.devices:
            values += [device.id, device.kind, *device.values.values()]
    return values


def same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
        for x, y in zip(a, b, strict=True)
    )


def test_the_same_seed_gives_the_same_study_and_another_seed_another() -> None:
    first = arrays_of(load_study(small_document()))
    again = arrays_of(load_study(small_document()))
    other = arrays_of(load_study(small_document(seed=7)))
    assert same(first, again)
    assert not same(first, other)


def dac_document(study: Study) -> dict[str, Any]:
    def device(d: Any) -> dict[str, Any]:
        values = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in d.values.items()}
        return {"id": d.id, "kind": d.kind, **values}

    return {
        "steps": study.steps,
        "step_h": study.step_h,
        "prices": study.tariff_per_kwh.tolist(),
        "buildings": [
            {
                "id": h.building.id,
                "base_kw": h.building.base_kw.tolist(),
                "devices": [device(d) for d in h.building.devices],
            }
            for h in study.households
        ],
    }


def test_every_building_passes_the_dac_documents_checks(default_study: Study) -> None:
    problem = read_document(dac_document(default_study))
    assert len(problem.buildings) == len(default_study.households)


def test_every_building_has_a_schedule(default_study: Study) -> None:
    study = default_study
    for household in study.households:
        plan = Planner(household.building, study.steps, study.step_h).plan(study.tariff_per_kwh)
        assert plan.status == "optimal", household.id


def test_device_states_can_be_kept_within_their_limits(default_study: Study) -> None:
    h = default_study.step_h
    for household in default_study.households:
        for device in household.building.devices:
            if device.kind == "water_heater":
                # Heating at full power from the start keeps the tank above its minimum.
                energy = device["energy_init_kwh"]
                for draw in device["draw_kw"]:
                    energy = min(
                        device["energy_max_kwh"],
                        energy + h * (device["power_max_kw"] - draw - device["loss_kw"]),
                    )
                    assert energy >= device["energy_min_kwh"] - 1e-9
            elif device.kind == "ev":
                plugged_h = (device["departure_step"] - device["arrival_step"]) * h
                assert device["energy_kwh"] <= device["charge_max_kw"] * plugged_h
            elif device.kind == "heating":
                # Full power holds the comfort minimum at the coldest step.
                loss = (device["comfort_min_c"].max() - default_study.outdoor_c.min()) / device[
                    "resistance_k_per_kw"
                ]
                assert device["cop"] * device["power_max_kw"] >= loss


def test_the_forecast_is_the_expectation_of_the_draw(default_study: Study) -> None:
    without_pv = [h for h in default_study.households if h.pv_kw is None]
    realised = np.array([h.building.base_kw for h in without_pv])
    told = np.array([h.forecast_kw for h in without_pv])
    assert not np.array_equal(realised, told)
    # Over 60 households and a day, noise and appliance spikes average out within a few %.
    assert abs(realised.sum() - told.sum()) < 0.05 * told.sum()
    with_pv = [h for h in default_study.households if h.pv_kw is not None]
    assert len(with_pv) == 40
    # PV is netted in the base: the load under it is as positive as a load is.
    assert min((h.building.base_kw + h.pv_kw).min() for h in with_pv if h.pv_kw is not None) > 0


def test_daily_consumption_follows_the_annual_energy() -> None:
    document = small_document()
    document["households"]["load"] = {"annual_kwh": 3650}
    document["households"]["shares"] = {}
    study = load_study(document)
    daily = np.array([h.forecast_kw.sum() * study.step_h for h in study.households])
    np.testing.assert_allclose(daily, 10.0, rtol=0.02)


@settings(max_examples=15, deadline=None)
@given(
    count=st.integers(1, 40),
    shares=st.fixed_dictionaries(
        {k: st.floats(0, 1) for k in ("pv", "battery", "ev", "heat_pump", "water_heater")}
    ),
    seed=st.integers(0, 2**32),
)
def test_shares_are_kept(count: int, shares: dict[str, float], seed: int) -> None:
    document = small_document(seed=seed)
    document["network"] = {"generated": {"households": count, "feeders": 2}}
    document["households"]["shares"] = shares
    # Cars arrive within the study: one arriving after its end has no session in it.
    document["households"]["ev"] = {"arrival_h": {"uniform": [16, 20]}}
    document["events"] = []
    study = load_study(document)
    assert len(study.households) == count
    for share_name, kind in KINDS.items():
        having = sum(any(d.kind == kind for d in h.building.devices) for h in study.households)
        assert having == round(shares[share_name] * count)
    assert sum(h.pv_kw is not None for h in study.households) == round(shares["pv"] * count)


@settings(max_examples=15, deadline=None)
@given(
    low=st.floats(1, 20),
    width=st.floats(0, 20),
    mean=st.floats(1, 30),
    std=st.floats(0, 10),
    seed=st.integers(0, 2**32),
)
def test_distributions_are_kept(
    low: float, width: float, mean: float, std: float, seed: int
) -> None:
    document = small_document(seed=seed)
    document["network"] = {"generated": {"households": 30, "feeders": 3}}
    document["households"]["shares"] = {"battery": 1.0, "ev": 1.0}
    document["households"]["battery"] = {"capacity_kwh": {"uniform": [low, low + width]}}
    document["households"]["ev"] = {
        "charge_max_kw": {"normal": {"mean": mean, "std": std, "min": 2, "max": 22}}
    }
    document["events"] = []
    study = load_study(document)
    batteries = [d for h in study.households for d in h.building.devices if d.kind == "battery"]
    capacities = np.array([d["capacity_kwh"] for d in batteries])
    assert len(capacities) == 30
    assert (capacities >= low).all()
    assert (capacities <= low + width).all()
    chargers = np.array(
        [d["charge_max_kw"] for h in study.households for d in h.building.devices if d.kind == "ev"]
    )
    assert (chargers >= 2).all()
    assert (chargers <= 22).all()
    if std == 0:
        np.testing.assert_allclose(chargers, min(max(mean, 2), 22))


def test_a_day_too_warm_for_the_heat_pumps_is_refused_before_a_study_is_made() -> None:
    document = small_document()
    document["weather"]["temperature"] = {"mean_c": 30, "amplitude_c": 5}
    document["households"]["shares"]["heat_pump"] = 1.0
    scenario = load_scenario(document)
    with pytest.raises(ValidationError) as caught:
        materialise(scenario)
    assert [p.path for p in caught.value.problems] == ["$.weather.temperature"]


def test_ev_windows_follow_the_local_clock(default_study: Study) -> None:
    # The study starts at local midnight: arrival ~18:00 local is step ~72, and the EV stays
    # to the end of the one-day horizon.
    evs = [d for h in default_study.households for d in h.building.devices if d.kind == "ev"]
    assert len(evs) == 30
    arrivals = np.array([d["arrival_step"] for d in evs])
    assert 60 <= np.median(arrivals) <= 80
    assert all(d["departure_step"] == default_study.steps for d in evs if d["arrival_step"] > 48)


def test_a_session_the_study_cuts_off_needs_only_its_share_of_the_energy(
    default_study: Study,
) -> None:
    # Cars arrive in the evening and leave the next morning (departure 5:00-10:00 local): by
    # midnight, the end of the study, they need at most the share of their session till then.
    evs = [d for h in default_study.households for d in h.building.devices if d.kind == "ev"]
    for ev in evs:
        plugged_h = (ev["departure_step"] - ev["arrival_step"]) * default_study.step_h
        session_h = plugged_h + 5.0  # at least until 5:00
        assert ev["energy_kwh"] <= 24.0 * plugged_h / session_h + 1e-9  # the largest draw
        assert ev["energy_kwh"] <= 0.8 * ev["charge_max_kw"] * plugged_h + 1e-9


def test_a_hundred_households_are_drawn_well_under_a_second(default_study: Study) -> None:
    import time

    scenario = load_scenario(bundled_scenario("default"))
    began = time.perf_counter()
    study = materialise(scenario)
    assert time.perf_counter() - began < 1.0  # about 10 ms when measured
    assert len(study.households) == len(default_study.households)


def test_a_tank_serves_what_full_power_heating_can_keep_up_with() -> None:
    from osed.sim.scenario import served_draws

    draws = np.array([[0.0, 8.0, 8.0, 0.0, 1.0]])
    served = served_draws(
        draws,
        init_kwh=np.array([3.0]),
        min_kwh=np.array([1.0]),
        max_kwh=np.array([10.0]),
        net_power_kw=np.array([2.0]),
        step_h=0.5,
    )
    # Energy: 3 → 4 (heating) → 1 (4 kWh drawn less 1 heated) → 1 (only 1 of 4 kWh drawn) → 2
    np.testing.assert_allclose(served, [[0.0, 8.0, 2.0, 0.0, 1.0]])
