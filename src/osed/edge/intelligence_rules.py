"""Grid intelligence rules: when a grid element's value counts as a violation, with hysteresis
and hold-offs, over a stream of observations. Pure computation: values and times in, changes
out; the caller owns the clock (the estimates' timestamps) and acts on the changes.

Each (source, element, condition) has a watch moving through four states:

``idle`` ─(value beyond trigger)→ ``pending`` ─(still beyond after hold-off)→ ``active``
``active`` ─(value back within clear)→ ``clearing`` ─(still within after clear hold-off)→ ``idle``

A pending violation whose value falls back within the trigger before the hold-off is dropped
(``vanished``); a clearing one whose value leaves the clear band again is active again. A value
between clear and trigger keeps an active watch active: that is the hysteresis.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from osed.domain.errors import Problem

Condition = Literal["overload", "voltage_high", "voltage_low"]
CONDITIONS: tuple[Condition, ...] = ("overload", "voltage_high", "voltage_low")
Event = Literal["appeared", "vanished", "triggered", "cleared"]
Phase = Literal["idle", "pending", "active", "clearing"]


@dataclass(frozen=True, slots=True)
class Band:
    """One condition's thresholds: ``above`` (a value over ``trigger`` violates, one at or under
    ``clear`` is clear) or below (a value under ``trigger`` violates, at or over ``clear``
    is clear)."""

    condition: Condition
    trigger: float
    clear: float
    above: bool

    def violated(self, value: float) -> bool:
        return value > self.trigger if self.above else value < self.trigger

    def cleared(self, value: float) -> bool:
        return value <= self.clear if self.above else value >= self.clear

    def describe(self, value: float) -> str:
        side = "above" if self.above else "below"
        return f"{value:.4g} {side} {self.trigger:.4g}"


@dataclass(frozen=True, slots=True)
class Rules:
    """Loading as a share of the element's rating; voltages in pu of the node's rated voltage;
    hold-offs in seconds."""

    loading_trigger: float = 1.0
    loading_clear: float = 0.9
    voltage_high_trigger: float = 1.05
    voltage_high_clear: float = 1.04
    voltage_low_trigger: float = 0.95
    voltage_low_clear: float = 0.96
    hold_off_s: float = 30.0
    clear_hold_off_s: float = 300.0

    def bands(self) -> dict[Condition, Band]:
        return {
            "overload": Band("overload", self.loading_trigger, self.loading_clear, True),
            "voltage_high": Band(
                "voltage_high", self.voltage_high_trigger, self.voltage_high_clear, True
            ),
            "voltage_low": Band(
                "voltage_low", self.voltage_low_trigger, self.voltage_low_clear, False
            ),
        }

    def problems(self, path: str = "$") -> list[Problem]:
        """Each threshold pair whose clear value does not lie on the safe side of its trigger
        (no hysteresis, or an inverted one), and negative hold-offs."""
        found = []
        for band in self.bands().values():
            if (band.clear >= band.trigger) if band.above else (band.clear <= band.trigger):
                side = "below" if band.above else "above"
                found.append(
                    Problem(
                        f"{path}.{band.condition}",
                        "no_hysteresis",
                        f"the clear threshold {band.clear} must lie {side} the trigger "
                        f"{band.trigger}",
                    )
                )
        for name in ("hold_off_s", "clear_hold_off_s"):
            if getattr(self, name) < 0:
                found.append(Problem(f"{path}.{name}", "out_of_range", "must be at least 0"))
        return found


@dataclass(frozen=True, slots=True)
class Change:
    """A watch moved: what, where, the value that moved it, and since when it held."""

    source: str
    element: str
    condition: Condition
    event: Event
    value: float
    at: datetime
    since: datetime
    reason: str


@dataclass(slots=True)
class _Watch:
    phase: Phase = "idle"
    since: datetime | None = None
    value: float = 0.0


class RuleEngine:
    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._bands = rules.bands()
        self._hold_off = timedelta(seconds=rules.hold_off_s)
        self._clear_hold_off = timedelta(seconds=rules.clear_hold_off_s)
        self._watches: dict[tuple[str, str, Condition], _Watch] = {}

    def observe(
        self, source: str, condition: Condition, values: Mapping[str, float], at: datetime
    ) -> list[Change]:
        """Observations of one condition at ``at`` (elements left out keep their state)."""
        band = self._bands[condition]
        changes = []
        for element, value in values.items():
            key = (source, element, condition)
            watch = self._watches.get(key)
            if watch is None:
                if not band.violated(value):
                    continue  # the common case stays cheap: nothing kept for clear elements
                watch = self._watches[key] = _Watch()
            watch.value = value
            change = self._step(key, watch, band, value, at)
            if watch.phase == "idle":
                del self._watches[key]
            if change is not None:
                changes.append(change)
        return changes

    def _step(
        self,
        key: tuple[str, str, Condition],
        watch: _Watch,
        band: Band,
        value: float,
        at: datetime,
    ) -> Change | None:
        source, element, condition = key

        def change(event: Event, since: datetime, reason: str) -> Change:
            return Change(source, element, condition, event, value, at, since, reason)

        what = f"{condition} at {element} ({source}): {band.describe(value)}"
        if watch.phase == "idle":
            watch.phase, watch.since = "pending", at
            if self._hold_off <= timedelta(0):
                watch.phase = "active"
                return change("triggered", at, f"{what}; no hold-off")
            return change("appeared", at, f"{what}; acting if it persists {self._hold_off}")
        since = watch.since or at
        if watch.phase == "pending":
            if not band.violated(value):
                watch.phase, watch.since = "idle", None
                return change("vanished", since, f"{what} gone before the hold-off")
            if at - since >= self._hold_off:
                watch.phase = "active"
                return change("triggered", since, f"{what} for {at - since}")
            return None
        if watch.phase == "active":
            if band.cleared(value):
                watch.phase, watch.since = "clearing", at
                if self._clear_hold_off <= timedelta(0):
                    watch.phase = "idle"
                    return change("cleared", at, f"{condition} at {element} cleared")
            return None
        # clearing
        if not band.cleared(value):
            watch.phase, watch.since = "active", since
            return None
        if at - since >= self._clear_hold_off:
            watch.phase, watch.since = "idle", None
            return change(
                "cleared", since, f"{condition} at {element} ({source}) clear for {at - since}"
            )
        return None

    def watching(self) -> Iterator[tuple[str, str, Condition, Phase]]:
        """Every watch not idle: source, element, condition, phase."""
        for (source, element, condition), watch in self._watches.items():
            yield source, element, condition, watch.phase

    def forget(self, source: str) -> None:
        """Drop every watch of ``source`` (a forecast replaced by a newer one)."""
        for key in [k for k in self._watches if k[0] == source]:
            del self._watches[key]
