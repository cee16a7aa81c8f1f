"""cold-load-pickup: staggered restoration under a peak limit, and the live waves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from osed.domain.errors import ValidationError
from osed.gridfunctions.registry import load_function
from osed.gridfunctions.spec import AreaView, Inbound

FUNCTION = load_function("cold-load-pickup")
T0 = datetime(2026, 2, 3, 6, 0, tzinfo=UTC)


def neighbourhood(count: int = 60) -> list[dict[str, Any]]:
    """Electric heating of houses with varied envelopes, in their bands before the outage."""
    rng = np.random.default_rng(5)
    return [
        {
            "id": f"house-{i}",
            "power_kw": 4.0,
            "capacitance_kwh_per_k": float(rng.uniform(2.0, 3.0)),
            "resistance_k_per_kw": float(rng.uniform(8.0, 12.0)),
            "cop": 1.0,
            "setpoint_c": 21.0,
            "deadband_k": 1.0,
            "temp_c": float(rng.uniform(20.5, 21.5)),
        }
        for i in range(count)
    ]


def scenario(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "step_s": 60,
        "outage_h": 2.0,
        "horizon_h": 6.0,
        "peak_limit_kw": 180.0,
        "outdoor_c": 5.0,
        "group_count": 10,
        "loads": neighbourhood(),
    }
    values.update(overrides)
    return values


def test_staggered_restoration_keeps_the_peak_under_the_limit_and_restores_all() -> None:
    result = FUNCTION.run(scenario())
    staggered, at_once = result["staggered"], result["simultaneous"]
    assert result["status"] == "restored"
    # The pickup lasts until the last house is back in its band; its peak is the one limited.
    pickup_steps = round(staggered["restored_all_h"] * 60)
    assert max(staggered["profile_kw"][:pickup_steps]) == pytest.approx(staggered["peak_kw"])
    assert staggered["peak_kw"] <= 180.0 + 1e-9
    # All at once, every house is cold: each draws its full 4 kW.
    assert at_once["peak_kw"] == pytest.approx(60 * 4.0)
    assert staggered["peak_kw"] < at_once["peak_kw"]
    assert staggered["restored_all_h"] is not None
    assert staggered["restored_all_h"] >= at_once["restored_all_h"]
    enables = [group["enable_h"] for group in staggered["groups"]]
    assert all(h is not None for h in enables)
    assert enables == sorted(enables)
    assert sorted(i for g in staggered["groups"] for i in g["loads"]) == sorted(
        load["id"] for load in scenario()["loads"]
    )
    assert len(staggered["profile_kw"]) == 360
    assert result["pre_outage_kw"] == pytest.approx(
        4.0 * sum(load["temp_c"] < 21.0 for load in scenario()["loads"])
    )


def test_one_house_cools_and_recovers_as_a_step_by_step_simulation_says() -> None:
    load = neighbourhood(1)[0]
    result = FUNCTION.run(scenario(loads=[load], peak_limit_kw=5.0, group_count=1))
    h = 1 / 60
    temp = load["temp_c"]
    for _ in range(120):  # two hours without heating
        temp += h / load["capacitance_kwh_per_k"] * (5.0 - temp) / load["resistance_k_per_kw"]
    steps_to_band = 0
    while temp < 20.5:  # full power until back in the band (setpoint - dead band / 2)
        temp += (
            h / load["capacitance_kwh_per_k"] * ((5.0 - temp) / load["resistance_k_per_kw"] + 4.0)
        )
        steps_to_band += 1
    assert result["simultaneous"]["restored_all_h"] == pytest.approx(steps_to_band * h)
    assert result["staggered"]["restored_all_h"] == pytest.approx(steps_to_band * h)
    assert result["staggered"]["profile_kw"][:steps_to_band] == pytest.approx([4.0] * steps_to_band)
    assert result["staggered"]["groups"][0]["enable_h"] == 0.0


def test_a_limit_under_one_group_leaves_the_restoration_incomplete() -> None:
    result = FUNCTION.run(scenario(peak_limit_kw=30.0, group_count=5))
    assert result["status"] == "incomplete"
    assert result["staggered"]["groups"][0]["enable_h"] is None  # 12 houses · 4 kW > 30 kW
    assert result["staggered"]["restored_all_h"] is None


def test_bad_document_names_every_problem_at_its_path() -> None:
    loads = neighbourhood(3)
    loads[0]["power_kw"] = 0
    loads[1]["group"] = 1
    loads[1]["capacitance_kwh_per_k"] = 0.001  # R·C under a minute: shorter than the step
    loads[2]["on"] = "yes"
    del loads[2]["cop"]
    with pytest.raises(ValidationError) as caught:
        FUNCTION.run(scenario(loads=loads, peak_limit_kw=-1, outage_h="2h", extra=1))
    assert {(p.path, p.code) for p in caught.value.problems} == {
        ("$.extra", "unknown_field"),
        ("$.peak_limit_kw", "too_small"),
        ("$.outage_h", "not_a_number"),
        ("$.loads[0].power_kw", "too_small"),
        ("$.loads[2].cop", "missing"),
        ("$.loads[2].on", "not_a_boolean"),
        ("$.loads[0].group", "missing"),
        ("$.loads[1].capacitance_kwh_per_k", "step_too_long"),
    }


# ------------------------------------------------------------------------------- live session

BUILDINGS = ("a", "b", "c", "d")


def area(seconds: float, demand_kw: float) -> AreaView:
    return AreaView(
        "feeder-9", T0 + timedelta(seconds=seconds), BUILDINGS, {"demand_kw": demand_kw}
    )


def test_session_reenables_loads_in_waves_under_the_limit() -> None:
    parameters = FUNCTION.manifest.check_parameters(
        {"peak_limit_kw": 20, "wave_interval": {"value": 2, "unit": "min"}}
    )
    session = FUNCTION.open(parameters, area(0, 0))
    held = session.start(area(0, 0))
    assert [(m.message_type, m.building_id) for m in held] == [("hold", None)]
    for building, kw in (("a", 6.0), ("b", 8.0), ("c", 9.0)):
        session.on_message(Inbound(building, "load", {"power_kw": kw}, T0), area(1, 5.0))
    first = session.on_tick(area(10, 5.0))  # 15 kW of headroom: a (6) and b (8) fit
    assert [(m.message_type, m.building_id) for m in first] == [("enable", "a"), ("enable", "b")]
    assert session.on_tick(area(60, 6.0)) == []  # waits for the wave interval
    assert session.on_tick(area(130, 12.0)) == []  # c (9 kW) does not fit under 20 kW yet
    second = session.on_tick(area(250, 6.0))  # c (9) and d (5 by default) fit in 14 kW
    assert [m.building_id for m in second] == ["c", "d"]
    status = session.status()
    assert status["restored_all"] is True
    assert status["time_to_restore_all_s"] == pytest.approx(250.0)
    assert status["peak_kw"] == pytest.approx(12.0)
    assert status["waves"] == 2
    resumed = FUNCTION.open(parameters, area(260, 6.0), resume=session.snapshot())
    assert resumed.status() == status
    assert resumed.close(area(270, 6.0)) == []


def test_session_releases_everyone_after_the_longest_hold_or_on_close() -> None:
    parameters = FUNCTION.manifest.check_parameters({"peak_limit_kw": 5, "max_hold": 600})
    session = FUNCTION.open(parameters, area(0, 0))
    session.start(area(0, 0))
    assert session.on_tick(area(100, 4.0)) == []  # 5 kW default load does not fit in 1 kW
    released = session.on_tick(area(600, 4.0))
    assert sorted(m.building_id for m in released) == list(BUILDINGS)
    other = FUNCTION.open(parameters, area(0, 0))
    other.start(area(0, 0))
    closing = other.close(area(10, 4.0))
    assert sorted(m.building_id for m in closing if m.message_type == "enable") == list(BUILDINGS)
    with pytest.raises(ValidationError):
        other.on_message(Inbound("a", "load", {"power_kw": -2}, T0), area(11, 4.0))
