"""dlc: the effect of a thermostat offset on heated zones, and the live request/offset/restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from osed.domain.errors import ValidationError
from osed.gridfunctions.registry import load_function
from osed.gridfunctions.spec import AreaView, Inbound

FUNCTION = load_function("dlc")
T0 = datetime(2026, 1, 12, 7, 0, tzinfo=UTC)


def zone(identifier: str, **overrides: float) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": identifier,
        "capacitance_kwh_per_k": 3.0,
        "resistance_k_per_kw": 10.0,
        "cop": 3.0,
        "power_max_kw": 3.0,
        "temp_init_c": 21.0,
        "setpoint_c": 21.0,
        "comfort_min_c": 18.0,
        "comfort_max_c": 24.0,
    }
    values.update(overrides)
    return values


def document(zones: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "steps": 8,
        "step_h": 0.5,
        "outdoor_c": 0.0,
        "offset_k": -2.0,
        "start_step": 2,
        "end_step": 4,
        "buildings": [{"id": "b1", "zones": zones}],
    }
    values.update(overrides)
    return values


def test_offset_sheds_during_the_period_and_rebounds_after_by_hand() -> None:
    result = FUNCTION.run(document([zone("living")]))
    # Steady state: 21 K above outdoors through 10 K/kW is 2.1 kW of heat, 0.7 kW at COP 3.
    assert result["baseline_kw"] == pytest.approx([0.7] * 8)
    # Setpoint 19 °C: no heating for two steps, the zone cools by h/C·ΔT/R each step.
    t1 = 21 + 0.5 / 3 * (-21 / 10)
    t2 = t1 + 0.5 / 3 * (-t1 / 10)
    # Restored to 21 °C: the power that brings t2 back in one step.
    rebound = (3 / 0.5 * (21 - t2) + t2 / 10) / 3
    assert result["dlc_kw"] == pytest.approx([0.7, 0.7, 0.0, 0.0, rebound, 0.7, 0.7, 0.7])
    assert result["shed"] == pytest.approx({"mean_kw": 0.7, "energy_kwh": 0.7})
    assert result["rebound"]["peak_kw"] == pytest.approx(rebound)
    assert result["rebound"]["peak_increase_kw"] == pytest.approx(rebound - 0.7)
    assert result["rebound"]["energy_kwh"] == pytest.approx((rebound - 0.7) * 0.5)
    assert result["rebound"]["settled_step"] == 5
    assert result["comfort"]["min_temp_c"] == pytest.approx(t2)
    assert result["comfort"]["violations"] == []
    assert result["buildings"][0]["dlc_kwh"] == pytest.approx((0.7 * 5 + rebound) * 0.5)


def test_offset_stays_in_the_comfort_band_and_power_limits_show_as_violations() -> None:
    # -5 K would take the setpoint to 16 °C; the band stops it at 20 °C.
    kept = FUNCTION.run(
        document([zone("z", comfort_min_c=20.0)], offset_k=-5.0, steps=24, end_step=20)
    )
    assert kept["comfort"]["min_temp_c"] == pytest.approx(20.0)
    assert kept["comfort"]["violations"] == []
    # A heat pump too small for the cold keeps the zone below its band: named, per step.
    weak = FUNCTION.run(document([zone("z", power_max_kw=0.1)], outdoor_c=-10.0))
    temp, first_below = 21.0, None
    for step in range(8):
        temp += 0.5 / 3 * ((-10 - temp) / 10 + 3 * 0.1)  # always at full power, still cooling
        if temp < 18 and first_below is None:
            first_below = step
    assert first_below is not None
    assert weak["comfort"]["violations"][0] == {"building": "b1", "zone": "z", "step": first_below}


def test_aggregate_matches_a_step_by_step_simulation_of_each_zone() -> None:
    zones = [
        zone("a", capacitance_kwh_per_k=2.0, resistance_k_per_kw=8.0, cop=2.5, power_max_kw=4.0),
        zone(
            "b",
            capacitance_kwh_per_k=5.0,
            resistance_k_per_kw=15.0,
            temp_init_c=20.0,
            setpoint_c=20.5,
            comfort_min_c=19.0,
        ),
    ]
    outdoor = [-5.0, -4.0, -3.0, -2.0, -4.0, -6.0, -8.0, -7.0]
    result = FUNCTION.run(
        document(zones, outdoor_c=outdoor, offset_k=-3.0, start_step=1, end_step=5)
    )
    expected = [0.0] * 8
    for z in zones:
        temp = z["temp_init_c"]
        for t in range(8):
            target = z["setpoint_c"]
            if 1 <= t < 5:
                target = max(z["comfort_min_c"], target - 3.0)
            heat_needed = z["capacitance_kwh_per_k"] / 0.5 * (target - temp)
            heat_needed += (temp - outdoor[t]) / z["resistance_k_per_kw"]
            power = min(max(heat_needed / z["cop"], 0.0), z["power_max_kw"])
            temp += (
                0.5
                / z["capacitance_kwh_per_k"]
                * ((outdoor[t] - temp) / z["resistance_k_per_kw"] + z["cop"] * power)
            )
            expected[t] += power
    assert result["dlc_kw"] == pytest.approx(expected)


def test_bad_document_names_every_problem_at_its_path() -> None:
    bad_zone = zone("z", cop=0, setpoint_c=30.0)
    del bad_zone["temp_init_c"]
    with pytest.raises(ValidationError) as caught:
        FUNCTION.run(
            document(
                [bad_zone, zone("z"), zone("fast", capacitance_kwh_per_k=0.04)],
                outdoor_c=[1.0, 2.0],
                offset_k=-7,
                start_step=5,
                end_step=3,
            )
        )
    assert {(p.path, p.code) for p in caught.value.problems} == {
        ("$.outdoor_c", "wrong_length"),
        ("$.offset_k", "too_small"),
        ("$.end_step", "bad_period"),
        ("$.buildings[0].zones[0].cop", "too_small"),
        ("$.buildings[0].zones[0].temp_init_c", "missing"),
        ("$.buildings[0].zones[0].setpoint_c", "out_of_band"),
        ("$.buildings[0].zones[1].id", "duplicate"),
        # R·C = 0.4 h is shorter than the 0.5 h step: the step-by-step model would overshoot.
        ("$.buildings[0].zones[2].capacitance_kwh_per_k", "step_too_long"),
    }


# ------------------------------------------------------------------------------- live session

BUILDINGS = ("h1", "h2", "h3")


def area(seconds: float) -> AreaView:
    return AreaView("transformer-4", T0 + timedelta(seconds=seconds), BUILDINGS)


def message(building: str, kind: str, seconds: float, **body: float) -> Inbound:
    return Inbound(building, kind, body, T0 + timedelta(seconds=seconds))


def test_session_requests_offsets_all_at_once_and_restores() -> None:
    parameters = FUNCTION.manifest.check_parameters(
        {"offset_k": -2, "duration": {"value": 30, "unit": "min"}, "response_deadline": 120}
    )
    session = FUNCTION.open(parameters, area(0))
    request = session.start(area(0))
    assert [(m.message_type, m.building_id) for m in request] == [("flexibility_request", None)]
    assert request[0].body["respond_by"] == (T0 + timedelta(seconds=120)).isoformat()
    for building, kw in (("h1", 4.0), ("h2", 3.0), ("h3", 5.0)):
        session.on_message(message(building, "consumption", 5, kw=kw), area(5))
    assert session.on_message(message("h1", "flexibility", 10, available_kw=1.5), area(10)) == []
    assert session.on_message(message("h2", "flexibility", 11, available_kw=1.0), area(11)) == []
    # The last answer starts the offset at once, for every building in one message.
    started = session.on_message(message("h3", "flexibility", 12, available_kw=2.0), area(12))
    until = (T0 + timedelta(seconds=12 + 1800)).isoformat()
    assert [(m.message_type, m.building_id, dict(m.body)) for m in started] == [
        ("setpoint_offset", None, {"offset_k": -2.0, "until": until})
    ]
    for building, kw in (("h1", 2.5), ("h2", 2.0), ("h3", 3.0)):
        session.on_message(message(building, "consumption", 60, kw=kw), area(60))
    status = session.status()
    assert status["phase"] == "active"
    assert status["flexibility_kw"] == pytest.approx(4.5)
    assert status["consumption_kw"] == pytest.approx({"before": 12.0, "during": 7.5})
    assert status["reduction_kw"] == pytest.approx(4.5)
    resumed = FUNCTION.open(parameters, area(100), resume=session.snapshot())
    assert resumed.status() == status
    assert resumed.on_tick(area(1000)) == []
    restored = resumed.on_tick(area(12 + 1800))
    assert [(m.message_type, m.building_id) for m in restored] == [("restore", None)]
    resumed.on_message(message("h1", "consumption", 1900, kw=6.0), area(1900))
    assert resumed.status()["consumption_kw"]["after"] == pytest.approx(6.0)
    assert resumed.close(area(2000)) == []  # already restored


def test_session_starts_at_the_deadline_without_every_answer_and_restores_on_close() -> None:
    parameters = FUNCTION.manifest.check_parameters({"response_deadline": 60})
    session = FUNCTION.open(parameters, area(0))
    session.start(area(0))
    session.on_message(message("h1", "flexibility", 3, available_kw=1.0), area(3))
    assert session.on_tick(area(30)) == []
    started = session.on_tick(area(60))
    assert [m.message_type for m in started] == ["setpoint_offset"]
    assert session.status()["responded"] == 1
    with pytest.raises(ValidationError):
        session.on_message(message("h2", "consumption", 61, watts=3.0), area(61))
    closing = session.close(area(120))
    assert [(m.message_type, m.body["reason"]) for m in closing] == [("restore", "removed")]
    assert session.status()["phase"] == "closed"
