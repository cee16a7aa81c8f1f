"""The grid intelligence's rules over a stream of values on a fake clock: hold-off before
acting, hysteresis between trigger and clear, clear hold-off before letting go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from osed.edge.intelligence_rules import RuleEngine, Rules

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def events(engine: RuleEngine, stream: list[tuple[float, float]]) -> list[tuple[float, str]]:
    """(second, event) of each change while ``l1``'s loading follows ``stream``."""
    found = []
    for second, value in stream:
        for change in engine.observe("estimate", "overload", {"l1": value}, at(second)):
            found.append((second, change.event))
    return found


def test_an_overload_acts_only_after_the_hold_off_and_lets_go_after_the_clear_hold_off() -> None:
    engine = RuleEngine(
        Rules(loading_trigger=1.0, loading_clear=0.9, hold_off_s=30, clear_hold_off_s=60)
    )
    stream = [
        (0, 0.5),
        (10, 1.1),
        (20, 1.2),
        (39, 1.2),
        (40, 1.1),
        (50, 0.95),
        (60, 0.85),
        (100, 0.8),
        (120, 0.8),
        (130, 0.5),
    ]
    assert events(engine, stream) == [(10, "appeared"), (40, "triggered"), (120, "cleared")]
    assert list(engine.watching()) == []


def test_a_short_spike_is_dropped_before_the_hold_off() -> None:
    engine = RuleEngine(Rules(hold_off_s=30))
    assert events(engine, [(0, 1.3), (20, 0.99), (25, 1.3)]) == [
        (0, "appeared"),
        (20, "vanished"),
        (25, "appeared"),
    ]


def test_a_value_between_clear_and_trigger_keeps_the_violation_active() -> None:
    engine = RuleEngine(
        Rules(loading_trigger=1.0, loading_clear=0.9, hold_off_s=0, clear_hold_off_s=10)
    )
    stream = [
        (0, 1.05),
        (5, 0.95),
        (100, 0.95),
        (200, 0.97),
        (300, 0.89),
        (305, 0.92),
        (309, 0.85),
        (318, 0.85),
        (319, 0.85),
    ]
    # 0.92 leaves the clear band: the clear hold-off starts again at 309 and ends at 319
    assert events(engine, stream) == [(0, "triggered"), (319, "cleared")]


def test_low_voltage_violates_below_its_trigger() -> None:
    engine = RuleEngine(
        Rules(voltage_low_trigger=0.95, voltage_low_clear=0.96, hold_off_s=0, clear_hold_off_s=0)
    )
    changes = engine.observe("estimate", "voltage_low", {"n1": 0.94, "n2": 0.97}, at(0))
    assert [(c.element, c.event) for c in changes] == [("n1", "triggered")]
    assert "0.94 below 0.95" in changes[0].reason
    assert engine.observe("estimate", "voltage_low", {"n1": 0.955}, at(1)) == []
    cleared = engine.observe("estimate", "voltage_low", {"n1": 0.96}, at(2))
    assert [c.event for c in cleared] == ["cleared"]


def test_sources_are_watched_apart_and_a_missing_element_keeps_its_state() -> None:
    engine = RuleEngine(Rules(hold_off_s=10))
    engine.observe("estimate", "overload", {"l1": 1.2}, at(0))
    engine.observe("forecast", "overload", {"l1": 1.2}, at(0))
    engine.observe("estimate", "overload", {"l2": 0.3}, at(5))  # l1 not in this estimate
    triggered = engine.observe("estimate", "overload", {"l1": 1.2}, at(10))
    assert [(c.source, c.event) for c in triggered] == [("estimate", "triggered")]
    assert sorted(engine.watching()) == [
        ("estimate", "l1", "overload", "active"),
        ("forecast", "l1", "overload", "pending"),
    ]


@pytest.mark.parametrize(
    ("rules", "paths"),
    [
        (Rules(loading_trigger=1.0, loading_clear=1.0), ["$.overload"]),
        (Rules(voltage_low_trigger=0.95, voltage_low_clear=0.94), ["$.voltage_low"]),
        (Rules(voltage_high_clear=1.06, hold_off_s=-1), ["$.voltage_high", "$.hold_off_s"]),
    ],
)
def test_thresholds_without_hysteresis_are_named(rules: Rules, paths: list[str]) -> None:
    assert [p.path for p in rules.problems()] == paths
