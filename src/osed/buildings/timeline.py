"""The calendar of an evenly sampled series: local slot of the day, weekends, solar time.

A series starts at ``start`` (timezone-aware; its UTC offset is the building's local time for
the whole series, as meters and weather files record standard time) and has ``size`` samples
of ``step_h`` hours. A day must be a whole number of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from osed.domain.errors import Problem, ValidationError

Array = NDArray[np.float64]
Index = NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Timeline:
    start: datetime
    step_h: float
    size: int

    def __post_init__(self) -> None:
        problems = []
        if self.start.utcoffset() is None:
            problems.append(Problem("$.start", "naive_time", "needs a UTC offset"))
        count = 24.0 / self.step_h if self.step_h > 0 else 0.0
        if not (count >= 1 and abs(count - round(count)) < 1e-9):
            problems.append(
                Problem("$.step_h", "not_a_divisor", "a day must be a whole number of steps")
            )
        elif (
            abs(self._local_hour0() / self.step_h - round(self._local_hour0() / self.step_h)) > 1e-6
        ):
            problems.append(
                Problem("$.start", "off_grid", "must fall on a step boundary of the local day")
            )
        if self.size < 0:
            problems.append(Problem("$.size", "too_small", "cannot be negative"))
        if problems:
            raise ValidationError(problems, subject="timeline")

    @property
    def per_day(self) -> int:
        """Samples in a day."""
        return round(24.0 / self.step_h)

    def slot_of_day(self) -> Index:
        """Each sample's position within its local day, 0 at midnight."""
        first = round(self._local_hour0() / self.step_h)
        return np.asarray((first + np.arange(self.size)) % self.per_day, dtype=np.intp)

    def day_index(self) -> Index:
        """Local days since the local day of the first sample."""
        first = round(self._local_hour0() / self.step_h)
        return np.asarray((first + np.arange(self.size)) // self.per_day, dtype=np.intp)

    def weekend(self) -> NDArray[np.bool_]:
        """Saturday or Sunday, in local time."""
        first_weekday = self.start.weekday()
        return np.asarray((first_weekday + self.day_index()) % 7 >= 5, dtype=np.bool_)

    def utc_day_and_hour(self) -> tuple[Array, Array]:
        """(day of the year counted from 1 January of the start's UTC year, UTC hour) of each
        sample's start, for solar geometry."""
        offset = self.start.utcoffset() or timedelta(0)
        utc = self.start.replace(tzinfo=None) - offset
        new_year = datetime(utc.year, 1, 1)  # noqa: DTZ001 (naive UTC arithmetic)
        hours = (utc - new_year).total_seconds() / 3600 + np.arange(self.size) * self.step_h
        days = np.asarray(np.floor(hours / 24) + 1, dtype=np.float64)
        return days, np.asarray(hours % 24, dtype=np.float64)

    def _local_hour0(self) -> float:
        return self.start.hour + self.start.minute / 60 + self.start.second / 3600
