"""The shipped household year (tests/data/buildings/SOURCE.md) as arrays on a timeline."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from osed.buildings.forecast import Array
from osed.buildings.timeline import Timeline
from osed.sim.building_history import Weather, read_tmy_csv

FOLDER = Path(__file__).parents[2] / "data" / "buildings"


@dataclass(frozen=True, slots=True)
class Household:
    weather: Weather
    timeline: Timeline
    load_kw: Array
    pv_kw: Array


def household() -> Household:
    weather = read_tmy_csv(FOLDER / "greensboro_tmy3.csv")
    with (FOLDER / "household.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    load = np.array([float(row["load_kw"]) for row in rows])
    pv = np.array([float(row["pv_kw"]) for row in rows])
    return Household(weather, Timeline(weather.start, 1.0, load.size), load, pv)
