"""The power each building of an area is taken at in a control cycle, when not every building
reports every cycle.

A building's latest measurement stands for its power until it is older than ``stale_after_s``;
a silent building is therefore neither dropped to zero nor cut to a bound around zero. Once
its measurement is stale the building is left out, so that the others share the whole limit
and the area is steered by what is known. The age of a measurement is taken from the area
state's ``building_reported_at`` {id: ISO time} when the coordinator gives it; otherwise a
building present in ``building_kw`` counts as measured now.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from osed.gridfunctions.spec import AreaView


@dataclass(frozen=True, slots=True)
class Participants:
    """The buildings that take part in this cycle's sharing, with the power each is taken at."""

    buildings: list[str]
    current_kw: list[float]
    stale: list[str]
    """Measured once, silent longer than the staleness: left out."""


class LastMeasurements:
    def __init__(self, stale_after_s: float, saved: Mapping[str, Sequence[Any]] | None) -> None:
        self._stale_after_s = stale_after_s
        self._last: dict[str, tuple[float, str]] = {
            building: (float(kw), str(at)) for building, (kw, at) in (saved or {}).items()
        }

    def participants(self, area: AreaView, ranged: Container[str]) -> Participants:
        """Every enrolled building measured recently enough, at its latest power, and every
        building that told its range but was never measured (at 0 kW, clipped to its range by
        the sharing); a building nothing is known of is left alone until it shows up."""
        powers: Mapping[str, Any] = area.state.get("building_kw", {})
        reported: Mapping[str, Any] = area.state.get("building_reported_at", {})
        now_text = area.now.isoformat()
        taken = Participants([], [], [])
        for building in area.buildings:
            if building in powers:
                at = str(reported.get(building, now_text))
                self._last[building] = (float(powers[building]), at)
            last = self._last.get(building)
            if last is None:
                if building in ranged:
                    taken.buildings.append(building)
                    taken.current_kw.append(0.0)
                continue
            age_s = (area.now - datetime.fromisoformat(last[1])).total_seconds()
            if age_s > self._stale_after_s:
                taken.stale.append(building)
                continue
            taken.buildings.append(building)
            taken.current_kw.append(last[0])
        return taken

    def snapshot(self) -> dict[str, list[Any]]:
        return {building: [kw, at] for building, (kw, at) in self._last.items()}
