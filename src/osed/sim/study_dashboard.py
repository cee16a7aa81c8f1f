"""A study's results as the dashboard shows them: every table's numbers as time series, and
the managed run's busiest step as the estimate the network view colours.

Series ids are ``study/<run>/<table>/<row>/<column>`` for the per-element tables (``bus``,
``line``, ``household``) and ``study/<run>/<table>/<column>`` for the area-wide ones
(``grid``, ``prices``); the unit comes from the column's name. The estimate is published as
the state estimation publishes one (``<prefix>/node/<id>``, ``<prefix>/branch/<id>``, then
``<prefix>/summary``): node voltages from the study's estimate (its power flow where the
estimate has none), branch currents from the power flow's loading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from osed.edge.intelligence_areas import AreaMap
from osed.grid.network import Network
from osed.grid_services.estimation_output import topic_level
from osed.ports.timeseries import TimeSeriesPoint
from osed.sim.outputs import combined_tables
from osed.sim.results import TEXT_COLUMNS, StudyResult, Table

PREFIX = "study"
SOURCE = "osed-demo"
ROW_COLUMNS = {"buses": "bus", "lines": "line", "households": "household"}
"""Tables with one row per element and step: the column naming the element."""
AREA_TABLES = ("grid", "prices")
SUFFIX_UNITS = (
    ("_per_kwh", "per kWh"),
    ("_kwh", "kWh"),
    ("_kw", "kW"),
    ("_pu", "pu"),
    ("_pct", "%"),
    ("_km", "km"),
    ("_c", "°C"),
    ("_soc", "share"),
)
SKIPPED = frozenset({"distance_km"})  # a bus's distance is no time series


def unit_of(column: str) -> str:
    for suffix, unit in SUFFIX_UNITS:
        if column.endswith(suffix):
            return unit
    return "currency" if column == "cost" else ""


def _instants(times: np.ndarray) -> list[datetime]:
    epoch_us = times.astype("datetime64[us]").astype(np.int64).tolist()
    base = datetime(1970, 1, 1, tzinfo=UTC)
    return [base + timedelta(microseconds=us) for us in epoch_us]


def study_points(result: StudyResult) -> Iterator[TimeSeriesPoint]:
    """Every finite number of the study's tables as a point of its series."""
    for name, table in combined_tables(result).items():
        if name in ROW_COLUMNS or name in AREA_TABLES:
            yield from _table_points(name, table)


def _table_points(name: str, table: Table) -> Iterator[TimeSeriesPoint]:
    times = _instants(table["time_utc"])
    runs = table["run"].tolist()
    element = ROW_COLUMNS.get(name)
    owners = table[element].tolist() if element else None
    level = element or name
    for column, values in table.items():
        if column in TEXT_COLUMNS or column == "time_utc" or column in SKIPPED:
            continue
        unit = unit_of(column)
        for k, value in enumerate(values.tolist()):
            if not math.isfinite(value):
                continue
            where = f"{level}/{owners[k]}" if owners is not None else level
            series = f"{PREFIX}/{runs[k]}/{where}/{column}"
            yield TimeSeriesPoint(series, times[k], float(value), unit, times[k], SOURCE)


@dataclass(frozen=True)
class StudyEstimate:
    at: datetime
    messages: list[tuple[str, bytes]]
    """(topic, payload) in publishing order, the summary last."""


def busiest_estimate(result: StudyResult, network: Network, prefix: str) -> StudyEstimate:
    """The managed run's step of the highest transformer loading, as estimate messages."""
    grid = result.managed.tables["grid"]
    loading = np.nan_to_num(grid["transformer_loading_pct"].astype(float), nan=-1.0)
    step_time = grid["time_utc"][int(np.argmax(loading))]
    at = _instants(np.array([step_time]))[0]
    stamp = at.isoformat()
    areas = AreaMap(network)
    messages: list[tuple[str, bytes]] = []
    buses = result.managed.tables["buses"]
    here = buses["time_utc"] == step_time
    for bus, estimated, flowed in zip(
        buses["bus"][here].tolist(),
        buses["estimated_voltage_pu"][here].tolist(),
        buses["voltage_pu"][here].tolist(),
        strict=True,
    ):
        pu = estimated if math.isfinite(estimated) else flowed
        rated = areas.u_rated_v.get(bus)
        if rated is None or not math.isfinite(pu):
            continue
        volts = pu * rated / math.sqrt(3.0)
        messages.append(
            _reading(prefix, "node", bus, stamp=stamp, measurand="voltmagnitude", value=volts)
        )
    lines = result.managed.tables["lines"]
    here = lines["time_utc"] == step_time
    for line, share_pct in zip(
        lines["line"][here].tolist(), lines["loading_pct"][here].tolist(), strict=True
    ):
        amps = areas.branch_amps.get(line)
        if amps is None or not math.isfinite(share_pct):
            continue
        current = share_pct / 100.0 * amps[0]
        messages.append(
            _reading(prefix, "branch", line, stamp=stamp, measurand="currmagnitude", value=current)
        )
    summary = {"timestamp": stamp, "status": "ok"}
    messages.append((f"{prefix}/summary", json.dumps(summary).encode()))
    return StudyEstimate(at, messages)


def _reading(
    prefix: str, kind: str, component: str, *, stamp: str, measurand: str, value: float
) -> tuple[str, bytes]:
    document = {
        "component": component,
        "timestamp": stamp,
        "readings": [{"measurand": measurand, "phase": "ABC", "data": value}],
    }
    return f"{prefix}/{kind}/{topic_level(component)}", json.dumps(document).encode()


def study_span(result: StudyResult) -> tuple[datetime, datetime]:
    """From the study's first step to the end of its last (one step after it)."""
    times = np.unique(result.managed.tables["grid"]["time_utc"])
    first, last = _instants(times[[0, -1]])
    step = _instants(times[[1]])[0] - first if len(times) > 1 else timedelta(hours=1)
    return first, last + step
