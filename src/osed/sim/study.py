"""A simulation study as the runner takes it: every household, series and event decided.

A scenario file (:mod:`osed.sim.scenario`) is read, checked and materialised into a
:class:`Study` from its seed (the households drawn, profiles and weather generated); the runner
(:mod:`osed.sim.runner`) plays a study twice, as a baseline (no grid functions, no market) and
managed, and returns :class:`osed.sim.results.StudyResult`.

Times are UTC; a step is ``step_h`` hours and every series has ``steps`` values, index 0 at
``start``. Powers in kW, consumption positive; prices per kWh in the study's currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from osed.buildings.devices_schema import Building
from osed.edge.intelligence_rules import Rules
from osed.grid.network import Network

Array = NDArray[np.float64]

EventKind = Literal["capacity_limit", "outage", "xor_request"]
EdcMode = Literal["areas", "intelligence"]


@dataclass(frozen=True, slots=True)
class Household:
    id: str
    bus: str
    """The external id of the network node it is connected to."""
    building: Building
    """Its devices in the DAC document's schema and ``base_kw`` over the study's steps (the
    non-controllable load as it happens; the building agent starts from ``forecast_kw``)."""
    forecast_kw: Array
    """What the household's agent is told its base load will be (steps,): the synthetic
    profile's expectation, not the draw the simulation plays."""
    pv_kw: Array | None = None
    """Its PV generation (steps,, ≥ 0) where it has PV: already netted in ``building.base_kw``
    (and its forecast in ``forecast_kw``), given apart for reports."""


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    start_step: int
    end_step: int
    """Exclusive."""
    element: str | None = None
    """The network element (an area's transformer or line) it concerns; None: the whole
    network's source."""
    limit_kw: float | None = None
    """capacity_limit: the import limit the DSO sets at ``element``."""
    request_kw: float | None = None
    """xor_request: the flexibility (reduction) asked at ``element``."""
    prices_per_kwh: tuple[float, ...] = ()
    """xor_request: the price levels offered."""


@dataclass(frozen=True, slots=True)
class MarketSpec:
    mechanism: str
    """A registered market mechanism (``double-auction``, ``bilateral``)."""
    interval_steps: int
    """Steps per market interval."""


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    name: str
    """A registered grid function (``dac``, ``capacity-limit``, ``xor``, ``dlc``, …)."""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Its parameters as the EDC takes them; the runner fills what the study decides (steps,
    step_h, prices) where they are missing."""


@dataclass(frozen=True, slots=True)
class Study:
    name: str
    seed: int
    start: datetime
    steps: int
    step_h: float
    network: Network
    households: tuple[Household, ...]
    outdoor_c: Array
    ghi_w_m2: Array
    tariff_per_kwh: Array
    feed_in_per_kwh: Array
    market: MarketSpec | None
    functions: tuple[FunctionSpec, ...]
    rules: Rules
    """The grid intelligence's thresholds: where EDCs are created and destroyed."""
    events: tuple[Event, ...] = ()
    voltage_sigma_pu: float = 0.002
    """Measurement noise of the node voltages (standard deviation)."""
    power_sigma_kw: float = 0.05
    """Measurement noise of the household powers (standard deviation)."""
    forecast_h: float = 0.0
    """How far ahead (hours) the grid intelligence sees the day-ahead grid forecast
    (:mod:`osed.sim.sim_forecast`) besides the estimates; 0: the estimates alone."""
    edcs: EdcMode = "areas"
    """Where the managed run's EDCs run: ``areas``, one in every electric area from the
    start with the study's functions, every household's agent enrolled (the baseline's agents
    plan against the tariff); ``intelligence``, none at the start: the grid intelligence
    creates (and destroys) them where its rules fire, the households below enrol and their
    agents start then (devices otherwise on their own control, as in the baseline)."""
