"""The estimated grid state an EDC gives its functions in ``area.state`` (docs/edge.md, "Grid
state"): the part of an estimate that lies at and below the EDC's element, and how old it is.

Keys set with the state: ``estimated_at`` (ISO time of the estimate), ``grid_state_source``
(``estimate`` or ``api``), ``voltages_pu`` {node: pu, the phase farthest from 1 pu},
``loading`` {branch: share of its rating}, ``voltage_min_pu`` and ``voltage_max_pu`` (the lowest
and highest phase over the area's nodes; None without voltages) and ``element_loading`` (the
element's own loading; None when it is not a branch with one). Added as a session looks:
``grid_state_age_s`` and ``grid_state_stale`` (older than the manager's maximum age).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from osed.edge.intelligence_areas import Area
from osed.edge.intelligence_inputs import Observed

SOURCES = ("estimate", "api")


def grid_state(
    *,
    at: datetime,
    source: str,
    element: str,
    voltages_pu: Mapping[str, float],
    loading: Mapping[str, float],
    voltage_low: Mapping[str, float] | None = None,
    voltage_high: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """One area's state; ``voltage_low``/``voltage_high`` (per node, lowest and highest phase)
    default to ``voltages_pu``."""
    lows = (voltage_low if voltage_low is not None else voltages_pu).values()
    highs = (voltage_high if voltage_high is not None else voltages_pu).values()
    return {
        "estimated_at": at.isoformat(),
        "grid_state_source": source,
        "voltages_pu": dict(voltages_pu),
        "loading": dict(loading),
        "voltage_min_pu": min(lows, default=None),
        "voltage_max_pu": max(highs, default=None),
        "element_loading": loading.get(element),
    }


def empty_grid_state() -> dict[str, Any]:
    """The keys of a state, as they read before any state was given."""
    return {
        "estimated_at": None,
        "grid_state_source": None,
        "voltages_pu": {},
        "loading": {},
        "voltage_min_pu": None,
        "voltage_max_pu": None,
        "element_loading": None,
    }


@dataclass(frozen=True, slots=True)
class Estimate:
    """One whole estimate, read once and cut per area."""

    at: datetime
    voltages_pu: Mapping[str, float]
    voltage_low: Mapping[str, float]
    voltage_high: Mapping[str, float]
    loading: Mapping[str, float]

    @classmethod
    def of(cls, at: datetime, observed: Observed) -> Estimate:
        return cls(
            at,
            observed.voltage_pu(),
            observed.voltage_low,
            observed.voltage_high,
            observed.loading,
        )

    def for_area(self, area: Area) -> dict[str, Any]:
        """The part of the estimate at and below ``area.element``."""

        def within(values: Mapping[str, float], ids: frozenset[str]) -> dict[str, float]:
            return {i: values[i] for i in sorted(ids) if i in values}

        return grid_state(
            at=self.at,
            source="estimate",
            element=area.element,
            voltages_pu=within(self.voltages_pu, area.nodes),
            loading=within(self.loading, area.branches),
            voltage_low=within(self.voltage_low, area.nodes),
            voltage_high=within(self.voltage_high, area.nodes),
        )


def freshness(at: datetime | None, now: datetime, max_age: timedelta | None) -> dict[str, Any]:
    """How old a state given at ``at`` is by ``now``; stale beyond ``max_age`` (None: never)."""
    if at is None:
        return {"grid_state_age_s": None, "grid_state_stale": True}
    age = now - at
    return {
        "grid_state_age_s": age.total_seconds(),
        "grid_state_stale": max_age is not None and age > max_age,
    }


def stamp_of(state: Mapping[str, Any]) -> datetime | None:
    """The time a stored state was estimated at (None: none, or unreadable)."""
    try:
        at = datetime.fromisoformat(str(state["estimated_at"]))
    except (KeyError, ValueError):
        return None
    return at if at.tzinfo is not None else None
