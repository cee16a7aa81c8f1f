"""What a building agent learns from its own measurements, one sample per control cycle.

- **Base load.** The rest of the building (the meter's net import minus every device the
  description models) is kept as a series; once a day of it is known, the default load
  forecaster (:class:`osed.buildings.forecast_load.LoadRegression`, docs/buildings-learning.md)
  forecasts the plan's horizon from it and that forecast replaces the description's daily
  ``base_kw``. Steps it cannot forecast keep the description's values.
- **Heating zones.** Each zone's indoor and outdoor temperature and heating power are kept;
  once ``thermal_days`` days are known, and again every day, the zone's C and R are fitted
  (:func:`osed.buildings.thermal_fit.fit_thermal`) and replace the description's when the fit
  simulates the held-out days within ``thermal_max_rmse_c``.

At a control cycle the meter shows the base load of the step that begins, while a controlled
device still runs at the setpoint of the step before (this cycle's are not sent yet): the
base load sampled at a cycle is that step's, and a zone's heating power measured at a cycle is
paired with the temperatures at the previous step's start. History is kept for ``keep_days``
days, on the step grid of the UTC day (the forecaster's calendar: slots of the day, weekends).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from osed.buildings.devices_schema import Array, Building, Device
from osed.buildings.forecast_load import LoadRegression
from osed.buildings.realtime import Reading
from osed.buildings.thermal_fit import ThermalFit, ThermalHistory, fit_thermal
from osed.buildings.timeline import Timeline
from osed.domain.errors import ValidationError

MODELLED = ("battery", "ev", "heating", "water_heater", "pv", "load")
"""Device kinds whose power is not part of the base load."""


@dataclass(frozen=True, slots=True)
class LearningSettings:
    enabled: bool = True
    keep_days: int = 42
    thermal_days: int = 4
    """Days of a zone's history before its first fit (one is held out of every four)."""
    thermal_max_rmse_c: float = 0.5
    """A fit is taken when it simulates the held-out days within this (°C RMS)."""


@dataclass
class _Zone:
    cop: float
    indoor: deque[float]
    outdoor: deque[float]
    power: deque[float]


class Learner:
    def __init__(self, building: Building, step_h: float, settings: LearningSettings) -> None:
        self.step_h = step_h
        self.settings = settings
        self.per_day = round(24.0 / step_h)
        size = settings.keep_days * self.per_day
        self.base_kw: deque[float] = deque(maxlen=size)
        self.zones = {
            d.id: _Zone(float(d["cop"]), deque(maxlen=size), deque(maxlen=size), deque(maxlen=size))
            for d in building.devices
            if d.kind == "heating"
        }
        self.modelled = frozenset(d.id for d in building.devices if d.kind in MODELLED)
        self.uncontrolled = frozenset(d.id for d in building.devices if d.kind in ("pv", "load"))
        self.start: datetime | None = None
        """The time of the oldest sample kept."""
        self.samples = 0
        self.fits: dict[str, ThermalFit] = {}
        """The last fit taken per zone."""

    def record(self, moment: datetime, reading: Reading, outdoor_c: Mapping[str, float]) -> None:
        """One control cycle's measurements (NaN for what was not measured)."""
        if self.start is None:
            self.start = _on_grid(moment, self.step_h)
        elif len(self.base_kw) == self.base_kw.maxlen:
            self.start += timedelta(hours=self.step_h)  # the oldest sample drops out
        # A modelled PV or load that is not measured would be counted twice: no sample then.
        measured = self.uncontrolled <= reading.device_kw.keys()
        devices = sum(v for k, v in reading.device_kw.items() if k in self.modelled)
        base = reading.net_kw - devices if measured else math.nan
        self.base_kw.append(base if math.isfinite(base) else math.nan)
        for zone_id, zone in self.zones.items():
            if zone.power:
                zone.power[-1] = reading.device_kw.get(zone_id, math.nan)
            zone.indoor.append(reading.state.get(zone_id, math.nan))
            zone.outdoor.append(outdoor_c.get(zone_id, math.nan))
            zone.power.append(math.nan)  # known at the next cycle
        self.samples += 1

    def forecasts(self) -> bool:
        """Is a day of base load known, so that :meth:`base_forecast` has one to compute?"""
        return (
            self.settings.enabled and len(self.base_kw) >= self.per_day and self.start is not None
        )

    def base_forecast(self, horizon: int) -> Array | None:
        """The base load over ``horizon`` steps from the last sample's (NaN where it cannot
        tell): that sample, then the forecast; None before a day is known."""
        if not self.forecasts():
            return None
        assert self.start is not None
        history = np.asarray(self.base_kw, dtype=float)
        ahead = horizon - 1
        timeline = Timeline(self.start, self.step_h, history.size + ahead)
        padded = np.concatenate([history, np.full(ahead, np.nan)])
        forecast = LoadRegression().forecast(padded, timeline, history.size, ahead, {})
        return np.concatenate([history[-1:], forecast])

    def thermal_due(self) -> bool:
        """Is a day complete with enough history for a (re)fit?"""
        enough = len(next(iter(self.zones.values())).indoor) if self.zones else 0
        return (
            self.settings.enabled
            and enough >= self.settings.thermal_days * self.per_day
            and self.samples % self.per_day == 0
        )

    def refit(self, building: Building) -> Building:
        """``building`` with each zone's C and R from its fit, where the fit is good enough
        (solved on a solver thread: a few ms per zone)."""
        devices: list[Device] = []
        for device in building.devices:
            zone = self.zones.get(device.id)
            fit = None if zone is None else self._fit(zone)
            if fit is None:
                devices.append(device)
                continue
            self.fits[device.id] = fit
            values = {
                **device.values,
                "capacitance_kwh_per_k": fit.capacitance_kwh_per_k,
                "resistance_k_per_kw": fit.resistance_k_per_kw,
            }
            devices.append(replace(device, values=values))
        return replace(building, devices=tuple(devices))

    def _fit(self, zone: _Zone) -> ThermalFit | None:
        history = ThermalHistory(
            self.step_h,
            zone.cop,
            np.asarray(zone.indoor, dtype=float),
            np.asarray(zone.outdoor, dtype=float),
            np.asarray(zone.power, dtype=float),
        )
        try:
            fit = fit_thermal(history)
        except ValidationError:
            return None  # not identifiable from this history (yet): keep the description's
        held = fit.held_out
        if held is None or not held.test_rmse_c <= self.settings.thermal_max_rmse_c:
            return None
        return fit


def with_forecast(here: Building, forecast: Array | None) -> Building:
    """``here`` (the building from the current step) with the forecast base load where known."""
    if forecast is None:
        return here
    base = np.where(np.isfinite(forecast), forecast, here.base_kw)
    return replace(here, base_kw=np.asarray(base, dtype=float))


def _on_grid(moment: datetime, step_h: float) -> datetime:
    """``moment`` in UTC, rounded to the nearest step of the day."""
    utc = moment.astimezone(UTC)
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = round((utc - midnight).total_seconds() / 3600.0 / step_h)
    return midnight + timedelta(hours=steps * step_h)
