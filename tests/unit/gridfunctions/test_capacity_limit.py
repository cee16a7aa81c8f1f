"""capacity-limit: limits shared by flexibility (water-filling), offline and in a live session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from osed.domain.errors import ValidationError
from osed.gridfunctions.builtin._sharing import share_target
from osed.gridfunctions.registry import load_function
from osed.gridfunctions.spec import AreaView, Inbound

FUNCTION = load_function("capacity-limit")
T0 = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def building(identifier: str, current: float, low: float, high: float) -> dict[str, Any]:
    return {"id": identifier, "current_kw": current, "min_kw": low, "max_kw": high}


def test_import_limit_is_shared_by_flexibility_with_water_filling() -> None:
    # Proportional to the ranges (10, 2, 5) b would go to 13.82 < its minimum 14: it stops at
    # 14 and a and c share the rest with λ = -0.6: a = 10 - 6 = 4, c = 5 - 3 = 2.
    result = FUNCTION.run(
        {
            "import_limit_kw": 20,
            "buildings": [
                building("a", 10, 2, 12),
                building("b", 15, 14, 16),
                building("c", 5, 0, 5),
            ],
        }
    )
    assert result["status"] == "feasible"
    caps = {row["id"]: row["max_kw"] for row in result["buildings"]}
    assert caps == pytest.approx({"a": 4.0, "b": 14.0, "c": 2.0})
    assert result["import"]["bounds_sum_kw"] == pytest.approx(20.0)
    assert result["import"]["curtailed_kw"] == pytest.approx(10.0)
    assert result["export"] is None


def test_headroom_is_shared_too_so_that_every_building_may_grow_to_its_cap() -> None:
    result = FUNCTION.run(
        {"import_limit_kw": 30, "buildings": [building("a", 10, 0, 20), building("b", 10, 0, 10)]}
    )
    caps = [row["max_kw"] for row in result["buildings"]]
    # λ = 10 / 30: a = 10 + 20/3 · 1, b = 10 (already at its top) → a takes all the headroom.
    assert caps == pytest.approx([20.0, 10.0])
    assert sum(caps) == pytest.approx(30.0)


def test_unreachable_limits_are_infeasible_with_their_shortfall() -> None:
    result = FUNCTION.run(
        {"import_limit_kw": 2, "buildings": [building("a", 10, 4, 12), building("b", 10, 3, 12)]}
    )
    assert result["status"] == "infeasible"
    assert result["import"]["shortfall_kw"] == pytest.approx(5.0)  # Σ min = 7 against 2
    assert [row["max_kw"] for row in result["buildings"]] == pytest.approx([4.0, 3.0])
    exporting = FUNCTION.run({"export_limit_kw": 3, "buildings": [building("pv", -10, -10, -6)]})
    assert exporting["status"] == "infeasible"
    assert exporting["export"]["shortfall_kw"] == pytest.approx(3.0)  # at best -6 against -3


def test_export_limit_raises_the_floors_of_the_producers() -> None:
    result = FUNCTION.run(
        {
            "import_limit_kw": 50,
            "export_limit_kw": 6,
            "buildings": [
                building("pv1", -8, -8, 2),
                building("pv2", -4, -4, 0),
                building("h", 2, 1, 3),
            ],
        }
    )
    floors = [row["min_kw"] for row in result["buildings"]]
    assert sum(floors) == pytest.approx(-6.0)
    # Net -10 must rise by 4: λ·(10 + 4 + 2) = 4 → λ = 0.25.
    assert floors == pytest.approx([-8 + 2.5, -4 + 1.0, 2 + 0.5])
    assert result["status"] == "feasible"
    assert all(row["max_kw"] >= row["min_kw"] for row in result["buildings"])


def test_sharing_is_one_water_level_on_random_areas() -> None:
    """Independent check of the water-filling: bounds hold, the sum meets the target, and every
    building strictly inside its range moved by the same multiple λ of its range."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        low = rng.uniform(-5, 5, n)
        high = low + rng.uniform(0, 10, n) * (rng.random(n) > 0.2)
        current = rng.uniform(low - 2, high + 2)
        target = float(rng.uniform(low.sum(), high.sum()))
        shares = share_target(target, current, low, high)
        s = shares.setpoints_kw
        assert shares.reachable
        assert s.sum() == pytest.approx(target, abs=1e-6)
        assert np.all(s >= low - 1e-9)
        assert np.all(s <= high + 1e-9)
        start = np.clip(current, low, high)
        inside = (s > low + 1e-7) & (s < high - 1e-7) & (high > low)
        if inside.any():
            level = (s[inside] - start[inside]) / (high - low)[inside]
            assert np.ptp(level) == pytest.approx(0.0, abs=1e-7)
            lam = float(level[0])
            at_low = s <= low + 1e-7
            at_high = s >= high - 1e-7
            # A building at an end would have passed it at the common level.
            assert np.all(start[at_low] + lam * (high - low)[at_low] <= low[at_low] + 1e-6)
            assert np.all(start[at_high] + lam * (high - low)[at_high] >= high[at_high] - 1e-6)


def test_bad_document_names_every_problem_at_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        FUNCTION.run(
            {
                "import_limit_kw": -1,
                "buildings": [
                    {"id": "a", "current_kw": "x", "min_kw": 5, "max_kw": 2},
                    {"id": "a", "current_kw": 1, "min_kw": 0, "max_kw": 2, "colour": 1},
                    {"current_kw": 1, "min_kw": 0},
                ],
            }
        )
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("$.import_limit_kw", "too_small"),
        ("$.buildings[0].current_kw", "not_a_number"),
        ("$.buildings[0].min_kw", "above_max"),
        ("$.buildings[1].colour", "unknown_field"),
        ("$.buildings[1].id", "duplicate"),
        ("$.buildings[2].id", "missing"),
        ("$.buildings[2].max_kw", "missing"),
    }
    with pytest.raises(ValidationError) as caught:
        FUNCTION.run({"buildings": [building("a", 1, 0, 1)]})
    assert [(p.path, p.code) for p in caught.value.problems] == [("$.import_limit_kw", "missing")]


# ------------------------------------------------------------------------------- live session

BUILDINGS = ("b1", "b2", "b3")


def area(seconds: float, powers: dict[str, float]) -> AreaView:
    return AreaView("feeder-7", T0 + timedelta(seconds=seconds), BUILDINGS, {"building_kw": powers})


def flexibility(building_id: str, low: float, high: float) -> Inbound:
    return Inbound(building_id, "flexibility", {"min_kw": low, "max_kw": high}, T0)


def limits(messages: list[Any]) -> dict[str, float]:
    return {m.building_id: m.body["max_kw"] for m in messages if m.message_type == "limit"}


def test_session_respects_the_limit_from_the_next_control_cycle() -> None:
    parameters = FUNCTION.manifest.check_parameters(
        {"import_limit_kw": {"value": 30000, "unit": "W"}, "duration": {"value": 1, "unit": "h"}}
    )
    session = FUNCTION.open(parameters, area(0, {}))
    measured = {"b1": 20.0, "b2": 15.0, "b3": 5.0}
    first = session.start(area(0, measured))
    assert first[0].message_type == "flexibility_request"
    assert first[0].building_id is None
    # Before anyone answered, each building may be asked to go down to zero: λ = -0.25.
    assert limits(first) == pytest.approx({"b1": 15.0, "b2": 11.25, "b3": 3.75})
    for answer in (flexibility("b1", 10, 20), flexibility("b2", 14, 15), flexibility("b3", 0, 5)):
        assert session.on_message(answer, area(1, measured)) == []
    cycle = session.on_tick(area(5, measured))
    caps = limits(cycle)
    assert sum(caps.values()) == pytest.approx(30.0)
    # 40 + λ·(10 + 1 + 5) = 30 → λ = -0.625, b2 stays above its 14 kW.
    assert caps == pytest.approx({"b1": 13.75, "b2": 14.375, "b3": 1.875}, abs=1e-6)
    assert all(m.body["interval"]["end"] == (T0 + timedelta(hours=1)).isoformat() for m in cycle)
    # The buildings obey: the next cycle measures the area at the limit; nothing moved, so
    # nothing is sent again.
    obeyed = {b: min(measured[b], caps[b]) for b in BUILDINGS}
    assert session.on_tick(area(10, obeyed)) == []
    status = session.status()
    assert status["cycles_over_limit"] == 0
    assert status["measured_kw"] == pytest.approx(30.0)
    assert status["feasible"] is True
    assert status["buildings_reported"] == 3
    # A building ignoring its bound shows as a cycle over the limit.
    session.on_tick(area(15, {**obeyed, "b3": 5.0}))
    assert session.status()["cycles_over_limit"] == 1
    # The interval ends: the bounds are lifted, once.
    released = session.on_tick(area(3600, obeyed))
    assert [(m.message_type, m.building_id) for m in released] == [("release", None)]
    assert session.on_tick(area(3605, obeyed)) == []
    assert session.close(area(3606, obeyed)) == []


def test_session_resumes_from_its_snapshot_and_releases_on_close() -> None:
    parameters = FUNCTION.manifest.check_parameters({"import_limit_kw": 12, "export_limit_kw": 4})
    session = FUNCTION.open(parameters, area(0, {}))
    measured = {"b1": 8.0, "b2": 6.0, "b3": -2.0}
    sent = limits(session.start(area(0, measured)))
    assert sum(sent.values()) == pytest.approx(12.0)
    session.on_message(flexibility("b1", 6, 10), area(1, measured))
    moved = {m.building_id: m.body for m in session.on_tick(area(5, measured))}
    # The area sits at its import limit, so the caps stay; b1's floor rose to its new minimum.
    assert moved == {
        "b1": {"max_kw": 8.0, "min_kw": 6.0, "interval": {"start": T0.isoformat(), "end": None}}
    }
    resumed = FUNCTION.open(parameters, area(6, measured), resume=session.snapshot())
    assert resumed.status() == session.status()
    assert resumed.on_tick(area(10, measured)) == []  # same bounds as before the restart
    closing = resumed.close(area(11, measured))
    assert [(m.message_type, m.building_id) for m in closing] == [("release", None)]


def test_session_rejects_a_malformed_flexibility_and_needs_a_limit() -> None:
    parameters = FUNCTION.manifest.check_parameters({"import_limit_kw": 12})
    session = FUNCTION.open(parameters, area(0, {}))
    session.start(area(0, {}))
    with pytest.raises(ValidationError) as caught:
        session.on_message(
            Inbound("b1", "flexibility", {"min_kw": 3, "max_kw": 1}, T0), area(1, {})
        )
    assert caught.value.problems[0].path == "$.min_kw"
    with pytest.raises(ValidationError):
        session.on_message(Inbound("b1", "flexibility", {"min_kw": "low"}, T0), area(1, {}))
    assert session.status()["buildings_reported"] == 0
    with pytest.raises(ValidationError) as missing:
        FUNCTION.open(FUNCTION.manifest.check_parameters({}), area(0, {}))
    assert missing.value.problems[0].path == "$.import_limit_kw"


def test_an_event_announced_ahead_sends_its_bounds_when_the_interval_begins() -> None:
    begins = (T0 + timedelta(minutes=15)).isoformat()
    parameters = FUNCTION.manifest.check_parameters(
        {"import_limit_kw": 30, "start": begins, "duration": 600}
    )
    session = FUNCTION.open(parameters, area(0, {}))
    measured = {"b1": 20.0, "b2": 15.0, "b3": 5.0}
    announced = session.start(area(0, measured))
    assert [m.message_type for m in announced] == ["flexibility_request"]
    assert announced[0].body["interval"] == {
        "start": begins,
        "end": (T0 + timedelta(minutes=25)).isoformat(),
    }
    assert session.on_tick(area(60, measured)) == []
    assert session.status()["phase"] == "pending"
    caps = limits(session.on_tick(area(900, measured)))
    assert sum(caps.values()) == pytest.approx(30.0)
    assert session.status()["phase"] == "active"
    for bad in ("tomorrow", "2026-01-05T17:15:00"):
        with pytest.raises(ValidationError) as caught:
            FUNCTION.open(
                FUNCTION.manifest.check_parameters({"import_limit_kw": 30, "start": bad}),
                area(0, {}),
            )
        assert [(p.path, p.code) for p in caught.value.problems] == [("$.start", "not_a_time")]


def test_a_building_nothing_is_known_of_gets_no_bound_until_it_shows_up() -> None:
    parameters = FUNCTION.manifest.check_parameters({"import_limit_kw": 30})
    session = FUNCTION.open(parameters, area(0, {}))
    # Nothing measured, no range told: a bound would cut loads nobody has seen.
    assert [m.message_type for m in session.start(area(0, {}))] == ["flexibility_request"]
    # b1 and b2 are measured; b3 is still unknown and left alone.
    caps = limits(session.on_tick(area(5, {"b1": 30.0, "b2": 10.0})))
    assert set(caps) == {"b1", "b2"}
    assert sum(caps.values()) == pytest.approx(30.0)


def test_a_silent_building_is_held_at_its_last_power_then_left_out_once_stale() -> None:
    parameters = FUNCTION.manifest.check_parameters({"import_limit_kw": 30, "stale_after": 60})
    session = FUNCTION.open(parameters, area(0, {}))
    session.start(area(0, {}))
    for answer in (flexibility("b1", 10, 20), flexibility("b2", 14, 15), flexibility("b3", 0, 5)):
        session.on_message(answer, area(1, {}))
    caps = limits(session.on_tick(area(5, {"b1": 20.0, "b2": 15.0, "b3": 5.0})))
    assert caps == pytest.approx({"b1": 13.75, "b2": 14.375, "b3": 1.875}, abs=1e-6)
    obeyed = dict(caps)
    assert session.on_tick(area(10, obeyed)) == []
    # b3 falls silent: it stays at its last measured 1.875 kW, so no bound moves (it is not
    # pulled to a bound around zero that would hand its share to the others).
    answering = {"b1": obeyed["b1"], "b2": obeyed["b2"]}
    assert session.on_tick(area(15, answering)) == []
    assert session.status()["measured_kw"] == pytest.approx(30.0)
    assert session.on_tick(area(70, answering)) == []  # 60 s after its last report: still held
    # Stale: left out, and the answering buildings share the whole limit (11 λ = 1.875).
    reshared = session.on_tick(area(71, answering))
    assert {m.building_id for m in reshared} == {"b1", "b2"}
    assert limits(reshared) == pytest.approx({"b1": 15.4545454, "b2": 14.5454545}, abs=1e-6)
    assert session.status()["buildings_stale"] == 1
    # They take their bounds up: the area of the answering buildings is at the limit, not over.
    session.on_tick(area(76, limits(reshared)))
    status = session.status()
    assert status["measured_kw"] == pytest.approx(30.0)
    assert status["cycles_over_limit"] == 0
    # b3 reports again and is shared in afresh: the bounds of all three sum to the limit.
    back = session.on_tick(area(80, {**limits(reshared), "b3": 2.0}))
    assert "b3" in limits(back)
    assert session.status()["buildings_stale"] == 0
    resumed = FUNCTION.open(parameters, area(81, {}), resume=session.snapshot())
    assert resumed.status() == session.status()
    # The resumed session still holds b3's last power: all three silent, nothing moves.
    assert resumed.on_tick(area(85, {})) == []


def test_report_times_from_the_coordinator_age_a_building_left_in_the_live_map() -> None:
    parameters = FUNCTION.manifest.check_parameters({"import_limit_kw": 24, "stale_after": 60})
    session = FUNCTION.open(parameters, area(0, {}))
    session.start(area(0, {}))
    powers = {"b1": 12.0, "b2": 12.0, "b3": 6.0}
    old, now = T0.isoformat(), (T0 + timedelta(seconds=100)).isoformat()
    state = {"building_kw": powers, "building_reported_at": {"b1": now, "b2": now, "b3": old}}
    view = AreaView("feeder-7", T0 + timedelta(seconds=100), BUILDINGS, state)
    caps = limits(session.on_tick(view))
    # b3's 6 kW were reported 100 s ago: stale, so b1 and b2 share the 24 kW between them.
    assert set(caps) == {"b1", "b2"}
    assert sum(caps.values()) == pytest.approx(24.0)
