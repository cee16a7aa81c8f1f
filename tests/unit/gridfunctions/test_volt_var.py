"""volt-var: IEEE 1547-2018 Category B curves at their points, checked settings, live response."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.gridfunctions.registry import load_function
from osed.gridfunctions.spec import AreaView, Inbound

FUNCTION = load_function("volt-var")
T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def run_at(
    voltage: float, settings: dict[str, Any] | None = None, **inverter: float
) -> dict[str, Any]:
    declared: dict[str, Any] = {"id": "inv", "node": "n", "s_rated_kva": 10, "p_rated_kw": 8}
    document: dict[str, Any] = {"voltages_pu": {"n": voltage}, "inverters": [declared | inverter]}
    if settings is not None:
        document["settings"] = settings
    result: dict[str, Any] = FUNCTION.run(document)["inverters"][0]
    return result


# Category B: (0.92, +44 %), (0.98, 0), (1.02, 0), (1.08, -44 %), held beyond; volt-watt
# (1.06, 100 %) to (1.10, 20 %), held beyond.
@pytest.mark.parametrize(
    ("voltage", "q_pct", "p_pct"),
    [
        (0.85, 44.0, 100.0),
        (0.92, 44.0, 100.0),
        (0.95, 22.0, 100.0),
        (0.98, 0.0, 100.0),
        (1.00, 0.0, 100.0),
        (1.02, 0.0, 100.0),
        (1.05, -22.0, 100.0),
        (1.06, -29.333333, 100.0),
        (1.08, -44.0, 60.0),
        (1.10, -44.0, 20.0),
        (1.15, -44.0, 20.0),
    ],
)
def test_category_b_default_curves_at_their_points(
    voltage: float, q_pct: float, p_pct: float
) -> None:
    inverter = run_at(voltage)
    assert inverter["q_pct"] == pytest.approx(q_pct, abs=1e-5)
    assert inverter["q_kvar"] == pytest.approx(q_pct / 100 * 10, abs=1e-6)
    assert inverter["p_limit_pct"] == pytest.approx(p_pct, abs=1e-6)
    assert inverter["p_limit_kw"] == pytest.approx(p_pct / 100 * 8, abs=1e-6)


def test_configured_curves_and_volt_watt_off() -> None:
    settings = {
        "vv_v_pu": [0.90, 1.0, 1.0, 1.10],
        "vv_q_pct": [30, 0, 0, -30],
        "volt_watt": False,
    }
    inverter = run_at(1.05, settings)
    assert inverter["q_pct"] == pytest.approx(-15.0)
    assert inverter["p_limit_pct"] == pytest.approx(100.0)


# ------------------------------------------------------------------ the apparent power rating


def test_reactive_priority_curtails_active_power_to_the_rating() -> None:
    # 44 % of 10 kVA as reactive power leaves √(10² − 4.4²) kW for active power.
    inverter = run_at(0.92, p_rated_kw=10)
    assert inverter["q_kvar"] == pytest.approx(4.4)
    assert inverter["p_limit_kw"] == pytest.approx(math.sqrt(100 - 4.4**2))
    assert inverter["p_limit_pct"] == pytest.approx(math.sqrt(100 - 4.4**2) * 10)


def test_active_priority_limits_reactive_power_to_what_the_rating_leaves() -> None:
    active = {"priority": "active"}
    producing = run_at(0.92, active, p_rated_kw=10, p_kw=9)
    assert producing["q_curve_pct"] == pytest.approx(44.0)
    assert producing["q_kvar"] == pytest.approx(math.sqrt(100 - 81))
    assert producing["q_pct"] == pytest.approx(math.sqrt(100 - 81) * 10)
    assert producing["p_limit_kw"] == pytest.approx(10.0)
    assert run_at(0.92, active, p_rated_kw=10, p_kw=6)["q_kvar"] == pytest.approx(4.4)
    # Without p_kw the inverter may produce its rated power: no room left for Q.
    assert run_at(0.92, active, p_rated_kw=10)["q_kvar"] == pytest.approx(0.0, abs=1e-9)


def test_volt_watt_comes_first_then_the_rating_is_shared() -> None:
    # At 1.08 pu volt-watt limits P to 60 %: 6 kW, which leaves room for the full -4.4 kvar.
    for priority in ("active", "reactive"):
        inverter = run_at(1.08, {"priority": priority}, p_rated_kw=10, p_kw=10)
        assert inverter["p_limit_kw"] == pytest.approx(6.0)
        assert inverter["q_kvar"] == pytest.approx(-4.4)
    # At 1.065 pu the limit is 90 %: active priority keeps 9 kW, so a curve asking -45 % (of a
    # steeper ±60 % curve) gets -√(10² − 9²) kvar only.
    steep = {"priority": "active", "vv_q_pct": [60, 0, 0, -60]}
    tight = run_at(1.065, steep, p_rated_kw=10, p_kw=10)
    assert tight["q_curve_pct"] == pytest.approx(-45.0)
    assert tight["p_limit_kw"] == pytest.approx(9.0)
    assert tight["q_kvar"] == pytest.approx(-math.sqrt(19))


@settings(max_examples=300, deadline=None)
@given(
    voltage=st.floats(0.8, 1.2),
    rating=st.floats(0.1, 500.0),
    rated_share=st.floats(0.05, 1.5),
    available_share=st.floats(0.0, 1.0),
    priority=st.sampled_from(["reactive", "active"]),
    q_end=st.floats(0.0, 100.0),
)
def test_setpoints_always_fit_the_apparent_power_rating(
    *,
    voltage: float,
    rating: float,
    rated_share: float,
    available_share: float,
    priority: str,
    q_end: float,
) -> None:
    rated = rating * rated_share
    available = rated * available_share
    curves = {"priority": priority, "vv_q_pct": [q_end, 0, 0, -q_end]}
    inverter = run_at(voltage, curves, s_rated_kva=rating, p_rated_kw=rated, p_kw=available)
    produced = min(available, inverter["p_limit_kw"])
    assert produced**2 + inverter["q_kvar"] ** 2 <= rating**2 * (1 + 1e-9)
    assert abs(inverter["q_kvar"]) <= abs(inverter["q_curve_pct"]) / 100 * rating * (1 + 1e-9)
    if priority == "reactive":  # Q as the curve asks
        assert inverter["q_kvar"] == pytest.approx(inverter["q_curve_pct"] / 100 * rating)
    else:  # the active power the inverter has (within volt-watt) is kept
        volt_watt_pct = float(np.interp(voltage, (1.06, 1.10), (100.0, 20.0)))
        wanted = min(available, volt_watt_pct / 100 * rated, rating)
        assert produced == pytest.approx(wanted, rel=1e-9, abs=1e-9)


def test_bad_settings_and_inverters_are_named_at_their_paths() -> None:
    with pytest.raises(ValidationError) as caught:
        FUNCTION.run(
            {
                "settings": {
                    "vv_v_pu": [0.92, 0.90, 1.02, 1.6],
                    "vv_q_pct": [44, 0, 10, -44],
                    "vw_p_pct": [100, 120],
                },
                "voltages_pu": {"n1": 1.0, "n2": "high"},
                "inverters": [
                    {"id": "a", "node": "n9", "s_rated_kva": 0},
                    {"id": "a", "node": "n1", "s_rated_kva": 5, "phase": "A"},
                ],
            }
        )
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("$.voltages_pu.n2", "not_a_number"),
        ("$.inverters[0].node", "no_voltage"),
        ("$.inverters[0].s_rated_kva", "too_small"),
        ("$.inverters[1].phase", "unknown_field"),
        ("$.inverters[1].id", "duplicate"),
    }
    # The curves are checked once the document itself is sound.
    with pytest.raises(ValidationError) as curves:
        run_at(
            1.0,
            {
                "vv_v_pu": [0.92, 0.90, 1.02, 1.6],
                "vv_q_pct": [44, 0, 10, -44],
                "vw_p_pct": [100, 120],
            },
        )
    assert {(p.path, p.code) for p in curves.value.problems} == {
        ("$.settings.vv_v_pu[1]", "not_increasing"),
        ("$.settings.vv_v_pu[3]", "out_of_range"),
        ("$.settings.vv_q_pct[2]", "not_decreasing"),
        ("$.settings.vw_p_pct[1]", "out_of_range"),
        ("$.settings.vw_p_pct[1]", "not_decreasing"),
    }
    with pytest.raises(ValidationError) as wrong_unit:
        run_at(1.0, {"vv_response": {"value": 2, "unit": "kW"}})
    assert [(p.path, p.code) for p in wrong_unit.value.problems] == [
        ("$.settings.vv_response", "wrong_unit")
    ]


# ------------------------------------------------------------------------------- live session


def area(seconds: float, voltage: float) -> AreaView:
    return AreaView(
        "feeder-2", T0 + timedelta(seconds=seconds), ("house",), {"voltages_pu": {"n7": voltage}}
    )


def test_session_follows_the_voltage_with_the_open_loop_response_time() -> None:
    parameters = FUNCTION.manifest.check_parameters({})
    session = FUNCTION.open(parameters, area(0, 1.0))
    assert session.start(area(0, 1.0)) == []
    declared = Inbound(
        "house", "inverter", {"inverter_id": "pv", "node": "n7", "s_rated_kva": 10}, T0
    )
    assert session.on_message(declared, area(0, 1.0)) == []
    # The first cycle takes the inverter over at its current voltage, then only changes go out.
    taken = session.on_tick(area(1, 1.0))
    assert [m.body for m in taken] == [
        {"inverter_id": "pv", "q_kvar": 0.0, "p_limit_kw": 10.0, "voltage_pu": 1.0}
    ]
    assert session.on_tick(area(1, 1.01)) == []  # still flat on the curve
    # A step to 1.08 pu: after the 5 s open-loop response time, 90 % of -44 %; volt-watt's
    # 10 s response covers 1 - 10^(-1/2) of its step to 60 % in the same 5 s.
    first = session.on_tick(area(6, 1.08))
    assert len(first) == 1
    assert first[0].building_id == "house"
    assert first[0].message_type == "setpoint"
    assert first[0].body["q_kvar"] == pytest.approx(-0.9 * 4.4)
    p_share = 1 - 10**-0.5
    assert first[0].body["p_limit_kw"] == pytest.approx(10 * (1 - 0.4 * p_share))
    settled = session.on_tick(area(66, 1.08))[0].body
    assert settled["q_kvar"] == pytest.approx(-4.4, abs=1e-6)
    assert settled["p_limit_kw"] == pytest.approx(6.0, abs=1e-4)
    assert session.on_tick(area(70, 1.08)) == []  # converged: no repeat
    resumed = FUNCTION.open(parameters, area(71, 1.08), resume=session.snapshot())
    assert resumed.status() == session.status()
    assert resumed.status()["p_limited"] == 1
    assert resumed.on_tick(area(75, 1.08)) == []
    released = resumed.close(area(80, 1.08))
    assert [(m.message_type, m.building_id) for m in released] == [("release", "house")]
    assert resumed.close(area(81, 1.08)) == []


def test_stale_voltages_hold_the_setpoints_sent() -> None:
    parameters = FUNCTION.manifest.check_parameters({})
    session = FUNCTION.open(parameters, area(0, 1.0))
    session.start(area(0, 1.0))
    declared = Inbound(
        "house", "inverter", {"inverter_id": "pv", "node": "n7", "s_rated_kva": 10}, T0
    )
    session.on_message(declared, area(0, 1.0))
    assert len(session.on_tick(area(1, 1.0))) == 1
    stale = AreaView(
        "feeder-2",
        T0 + timedelta(seconds=60),
        ("house",),
        {"voltages_pu": {"n7": 1.08}, "grid_state_stale": True, "grid_state_age_s": 400.0},
    )
    assert session.on_tick(stale) == []  # an old 1.08 pu moves nothing
    assert session.status()["held_cycles"] == 1
    fresh = session.on_tick(area(66, 1.08))
    assert len(fresh) == 1
    assert fresh[0].body["q_kvar"] < -1.0  # the curves move again with a fresh estimate
    assert (
        FUNCTION.open(parameters, area(67, 1.08), resume=session.snapshot()).status()["held_cycles"]
        == 1
    )


def test_session_rejects_a_malformed_inverter_and_bad_curves() -> None:
    session = FUNCTION.open(FUNCTION.manifest.check_parameters({}), area(0, 1.0))
    with pytest.raises(ValidationError) as caught:
        session.on_message(
            Inbound("house", "inverter", {"node": "n7", "s_rated_kva": -1}, T0), area(0, 1.0)
        )
    assert {p.path for p in caught.value.problems} == {"$.inverter_id", "$.s_rated_kva"}
    assert session.status()["inverters"] == 0
    bad = FUNCTION.manifest.check_parameters({"vw_v_pu": [1.10, 1.06]})
    with pytest.raises(ValidationError) as curves:
        FUNCTION.open(bad, area(0, 1.0))
    assert [p.path for p in curves.value.problems] == ["$.vw_v_pu[1]"]
    assert not math.isnan(FUNCTION.manifest.check_parameters({})["vv_response"])
    with pytest.raises(ValidationError) as priority:
        FUNCTION.manifest.check_parameters({"priority": "watts"})
    assert [p.path for p in priority.value.problems] == ["$.priority"]


def test_session_setpoints_stay_within_the_rating_while_they_respond() -> None:
    parameters = FUNCTION.manifest.check_parameters({})
    session = FUNCTION.open(parameters, area(0, 1.0))
    session.start(area(0, 1.0))
    body = {"inverter_id": "pv", "node": "n7", "s_rated_kva": 10, "p_kw": 9}
    session.on_message(Inbound("house", "inverter", body, T0), area(0, 1.0))
    sent = []
    for second, voltage in ((1, 1.0), (3, 0.92), (6, 0.90), (30, 0.90)):
        sent += [m.body for m in session.on_tick(area(second, voltage))]
    assert len(sent) == 4
    for setpoint in sent:
        assert setpoint["p_limit_kw"] ** 2 + setpoint["q_kvar"] ** 2 <= 100 * (1 + 1e-9)
    assert sent[-1]["q_kvar"] == pytest.approx(4.4, abs=1e-4)
    assert sent[-1]["p_limit_kw"] == pytest.approx(math.sqrt(100 - 4.4**2), abs=1e-4)
    assert session.status()["p_limited"] == 1
    assert session.status()["q_kvar_total"] == pytest.approx(4.4, abs=1e-4)
