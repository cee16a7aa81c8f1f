"""Learn how an EV is used at a building from its past charging sessions.

A session is an arrival, a departure and the energy charged. Sessions are grouped by the kind
of day they arrive on (working day or weekend, in the building's local time), and for each
kind the learner keeps the empirical distributions of arrival time, departure time (hours
from the midnight before the arrival, so an overnight stay departs after 24) and energy,
with how often such a day has a session at all.

Times of day are circular: an arrival at 23:30 and one at 00:30 are an hour apart. Every
time is measured from the start of the quietest hour of the day for arrivals (``day_start_h``,
e.g. 04:00), so a cluster of late-evening arrivals is never split across midnight.

Empirical quantiles (no assumed distribution: charging habits are multi-modal, weekend days
especially) answer what a planner asks: the expected day, and a cautious one
(:meth:`EvUsage.window`: arrive late, leave early, need much) for a given risk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

import numpy as np
from numpy.typing import NDArray

from osed.domain.errors import Problem, ValidationError

Array = NDArray[np.float64]
SUBJECT = "EV sessions"
WORKDAY, WEEKEND = "workday", "weekend"
MAX_STAY_H = 7 * 24.0  # longer is a car left parked, not a charging habit


@dataclass(frozen=True, slots=True)
class Session:
    arrival: datetime
    departure: datetime
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class Distribution:
    """Empirical values of one quantity on one kind of day."""

    values: Array

    @property
    def mean(self) -> float:
        return float(self.values.mean()) if self.values.size else math.nan

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.values, q)) if self.values.size else math.nan


@dataclass(frozen=True, slots=True)
class DayKind:
    """Sessions arriving on one kind of day; times in hours after the local midnight,
    shifted so that they start at the usage's ``day_start_h``."""

    days: int  # days of this kind in the observed span
    sessions: int
    arrival_h: Distribution
    departure_h: Distribution  # may exceed 24: leaves the next day
    energy_kwh: Distribution

    @property
    def probability(self) -> float:
        """Share of these days with at least one session (sessions per day, capped at 1)."""
        return min(1.0, self.sessions / self.days) if self.days else 0.0


@dataclass(frozen=True, slots=True)
class EvDay:
    """The expectation for one day: when the EV comes and goes, what it needs."""

    probability: float
    arrival: datetime
    departure: datetime
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class EvWindow:
    """A charging window on a planning horizon, as the EV device of a plan takes it."""

    probability: float
    arrival_step: int
    departure_step: int
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class EvUsage:
    zone: tzinfo
    day_start_h: float
    kinds: dict[str, DayKind]

    def kind_of(self, day: date) -> DayKind:
        return self.kinds[WEEKEND if day.weekday() >= 5 else WORKDAY]

    def expect(self, day: date) -> EvDay:
        """Mean arrival, departure and energy of an EV arriving on ``day``."""
        kind = self.kind_of(day)
        return EvDay(
            kind.probability,
            self._at(day, kind.arrival_h.mean),
            self._at(day, kind.departure_h.mean),
            kind.energy_kwh.mean,
        )

    def quantiles(self, day: date, q: float) -> EvDay:
        """Each quantity's ``q`` quantile on ``day``'s kind (the quantities separately)."""
        kind = self.kind_of(day)
        return EvDay(
            kind.probability,
            self._at(day, kind.arrival_h.quantile(q)),
            self._at(day, kind.departure_h.quantile(q)),
            kind.energy_kwh.quantile(q),
        )

    def window(
        self, start: datetime, step_h: float, steps: int, *, risk: float = 0.1
    ) -> EvWindow | None:
        """A cautious charging window for an EV arriving on ``start``'s local day: arrival at
        its 1 − ``risk`` quantile, departure at its ``risk`` quantile, energy at its
        1 − ``risk`` quantile, as step indices of a horizon of ``steps`` steps from
        ``start``; None when no such day has sessions or the window misses the horizon."""
        day = start.astimezone(self.zone).date()
        kind = self.kind_of(day)
        if kind.sessions == 0:
            return None
        arrival = self._at(day, kind.arrival_h.quantile(1 - risk))
        departure = self._at(day, kind.departure_h.quantile(risk))
        first = max(0, math.ceil((arrival - start).total_seconds() / 3600 / step_h - 1e-9))
        last = min(steps, math.floor((departure - start).total_seconds() / 3600 / step_h + 1e-9))
        if first >= last:
            return None
        return EvWindow(kind.probability, first, last, kind.energy_kwh.quantile(1 - risk))

    def _at(self, day: date, hours: float) -> datetime:
        midnight = datetime.combine(day, time(0), tzinfo=self.zone)
        return midnight + timedelta(hours=self.day_start_h + hours)


def learn_ev_usage(sessions: Sequence[Session], zone: tzinfo) -> EvUsage:
    """Fit the usage to ``sessions`` (local times in ``zone``); every bad session is named."""
    _check(sessions)
    local = [
        Session(s.arrival.astimezone(zone), s.departure.astimezone(zone), s.energy_kwh)
        for s in sessions
    ]
    arrival_hours = np.array([_hour(s.arrival) for s in local])
    day_start = _quietest_hour(arrival_hours)
    first_day = min(_shifted_day(s.arrival, day_start) for s in local)
    last_day = max(_shifted_day(s.arrival, day_start) for s in local)
    span = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    kinds = {}
    for kind in (WORKDAY, WEEKEND):
        chosen = [s for s in local if _kind(_shifted_day(s.arrival, day_start)) == kind]
        arrival = np.array([(_hour(s.arrival) - day_start) % 24 for s in chosen])
        stay = np.array([(s.departure - s.arrival).total_seconds() / 3600 for s in chosen])
        kinds[kind] = DayKind(
            days=sum(1 for d in span if _kind(d) == kind),
            sessions=len(chosen),
            arrival_h=Distribution(arrival),
            departure_h=Distribution(arrival + stay),
            energy_kwh=Distribution(np.array([s.energy_kwh for s in chosen])),
        )
    return EvUsage(zone, day_start, kinds)


def _check(sessions: Sequence[Session]) -> None:
    problems = []
    if not sessions:
        problems.append(Problem("$", "empty", "needs at least one session"))
    for index, session in enumerate(sessions):
        where = f"$[{index}]"
        if session.arrival.utcoffset() is None or session.departure.utcoffset() is None:
            problems.append(Problem(where, "naive_time", "arrival and departure need a UTC offset"))
            continue
        stay_h = (session.departure - session.arrival).total_seconds() / 3600
        if stay_h <= 0:
            problems.append(
                Problem(f"{where}.departure", "before_arrival", "must be after arrival")
            )
        elif stay_h > MAX_STAY_H:
            problems.append(
                Problem(
                    f"{where}.departure", "too_long", f"a stay of {stay_h:.0f} h is not a session"
                )
            )
        if not (math.isfinite(session.energy_kwh) and session.energy_kwh >= 0):
            problems.append(Problem(f"{where}.energy_kwh", "negative", "must be a number ≥ 0"))
    if problems:
        raise ValidationError(problems, subject=SUBJECT)


def _hour(moment: datetime) -> float:
    return moment.hour + moment.minute / 60 + moment.second / 3600


def _quietest_hour(hours: Array) -> float:
    """The start of the whole hour with the fewest arrivals (the earliest of ties after
    03:00, when households are quietest)."""
    counts = np.bincount(np.floor(hours).astype(np.intp) % 24, minlength=24)
    order = (np.arange(24) + 3) % 24
    return float(order[np.argmin(counts[order])])


def _shifted_day(moment: datetime, day_start_h: float) -> date:
    """The day an arrival counts for: before ``day_start_h`` it belongs to the day before."""
    return (moment - timedelta(hours=day_start_h)).date()


def _kind(day: date) -> str:
    return WEEKEND if day.weekday() >= 5 else WORKDAY
