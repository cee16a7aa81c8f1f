"""Synthetic supervisory controllers for market scenarios.

Each turns a device's forecast into needs (demand curves per interval) at the market's scales:
quantities in Wh (kWh at quantity scale 3), prices in 1e-4 currency units per kWh (scale 4).
``realise`` replaces the forecast by what actually happened, so a later round tenders the
difference between the committed position and the new need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from osed.agents.needs import CurvePoint, Need
from osed.domain.cts import Transaction
from osed.domain.time import Interval
from osed.sim.profiles import FloatArray

IntArray = npt.NDArray[np.int64]

PRICE_SCALE = 4
QUANTITY_SCALE = 3


def price_units(per_kwh: float) -> int:
    return round(per_kwh * float(10**PRICE_SCALE))


def energy_units(kw: float, slot: timedelta) -> int:
    """Wh delivered by ``kw`` over one slot."""
    return round(kw * slot.total_seconds() / 3600 * float(10**QUANTITY_SCALE))


def _energy_units(kw: FloatArray, slot: timedelta) -> IntArray:
    """:func:`energy_units` of every element: the same float operations in the same order,
    and NumPy's rounding, like Python's, rounds halves to even."""
    return np.rint(kw * slot.total_seconds() / 3600 * float(10**QUANTITY_SCALE)).astype(np.int64)


def _price_units(per_kwh: FloatArray) -> IntArray:
    """:func:`price_units` of every element."""
    return np.rint(per_kwh * float(10**PRICE_SCALE)).astype(np.int64)


@dataclass
class _Schedule:
    """A per-interval profile keyed by interval, plus what was bought and sold so far."""

    intervals: Sequence[Interval]
    committed: dict[Interval, int] = field(default_factory=dict)

    def index(self, interval: Interval) -> int:
        return self._positions[interval]

    def __post_init__(self) -> None:
        self._positions = {interval: k for k, interval in enumerate(self.intervals)}

    def record(self, transaction: Transaction) -> None:
        detail = transaction.tender.interval_detail
        signed = transaction.tender.side.sign * detail.quantity
        self.committed[detail.interval] = self.committed.get(detail.interval, 0) + signed


class HouseholdController:
    """Firm load bought at up to the price cap, surplus resold cheaply; air conditioning as a
    flexible block whose limit price rises with the indoor-comfort pressure (TESP-style bid)."""

    def __init__(
        self,
        intervals: Sequence[Interval],
        load_kw: FloatArray,
        hvac_kw: FloatArray,
        hvac_limit_per_kwh: FloatArray,
        *,
        price_cap_per_kwh: float,
        resale_per_kwh: float,
        pv_kw: FloatArray | None = None,
        pv_floor_per_kwh: float = 0.0,
    ) -> None:
        self.schedule = _Schedule(intervals)
        self.slot = intervals[0].duration
        self.load_kw = load_kw.copy()
        self.hvac_kw = hvac_kw
        self.hvac_limit = hvac_limit_per_kwh
        self.cap = price_units(price_cap_per_kwh)
        self.resale = price_units(resale_per_kwh)
        self.pv_kw = pv_kw
        self.pv_floor = price_units(pv_floor_per_kwh)
        self._day: list[Need] | None = None  # the needs of every interval, until realise()

    def needs(self, intervals: Sequence[Interval]) -> list[Need]:
        # The needs depend on the forecast only (not on what was committed): built once.
        if self._day is None:
            self._day = self._needs_of_day()
        return [self._day[self.schedule.index(interval)] for interval in intervals]

    def _needs_of_day(self) -> list[Need]:
        """Every interval's need; the quantities and prices of all intervals rounded at once,
        exactly as :func:`energy_units` and :func:`price_units` round one."""
        firm = _energy_units(self.load_kw, self.slot)
        if self.pv_kw is not None:
            firm -= _energy_units(self.pv_kw, self.slot)
        flexible = _energy_units(self.hvac_kw, self.slot)
        hvac_price = _price_units(self.hvac_limit)
        return [
            self._need(interval, int(firm[k]), int(flexible[k]), int(hvac_price[k]))
            for k, interval in enumerate(self.schedule.intervals)
        ]

    def _need(self, interval: Interval, firm: int, flexible: int, hvac_limit: int) -> Need:
        points = {self.resale: firm + flexible, self.cap: firm}
        hvac_price = min(max(hvac_limit, self.resale), self.cap)
        if flexible > 0 and self.resale < hvac_price < self.cap:
            points[hvac_price] = firm + flexible
        elif flexible > 0 and hvac_price >= self.cap:
            points[self.cap] = firm + flexible
        if self.pv_kw is not None and firm < 0 and self.pv_floor < self.resale:
            points[self.pv_floor] = firm + flexible
        return Need(interval, tuple(CurvePoint(p, points[p]) for p in sorted(points)))

    def realise(self, rng: np.random.Generator, spread: float) -> None:
        """The day turns out different from the forecast by a relative ``spread``."""
        self.load_kw *= 1 + spread * rng.standard_normal(self.load_kw.size)
        np.clip(self.load_kw, 0.02, None, out=self.load_kw)
        self._day = None

    def on_transaction(self, transaction: Transaction) -> None:
        self.schedule.record(transaction)


class BatteryController:
    """Charges when power is cheap and discharges when it is dear, within its state of charge."""

    def __init__(
        self,
        intervals: Sequence[Interval],
        *,
        capacity_kwh: float,
        power_kw: float,
        soc_kwh: float,
        charge_below_per_kwh: float,
        discharge_above_per_kwh: float,
    ) -> None:
        self.schedule = _Schedule(intervals)
        self.slot = intervals[0].duration
        self.capacity = energy_units(capacity_kwh, timedelta(hours=1))
        self.step = energy_units(power_kw, self.slot)
        self.soc_start = energy_units(soc_kwh, timedelta(hours=1))
        self.charge_below = price_units(charge_below_per_kwh)
        self.discharge_above = price_units(discharge_above_per_kwh)

    def soc_before(self, k: int) -> int:
        """State of charge at the start of interval ``k`` from what has been committed."""
        earlier = self.schedule.intervals[:k]
        return self.soc_start + sum(self.schedule.committed.get(i, 0) for i in earlier)

    def needs(self, intervals: Sequence[Interval]) -> list[Need]:
        """Offers that stay within the state of charge whichever of them clear: the highest
        and lowest reachable charge are carried forward through the requested intervals."""
        needs = []
        ordered = sorted(intervals)
        highest = lowest = self.soc_before(self.schedule.index(ordered[0]))
        for interval in ordered:
            held = self.schedule.committed.get(interval, 0)
            highest += max(held, 0)
            lowest += min(held, 0)
            charge = max(0, min(self.step - max(held, 0), self.capacity - highest))
            discharge = max(0, min(self.step + min(held, 0), lowest))
            highest += charge
            lowest -= discharge
            needs.append(
                Need(
                    interval,
                    (
                        CurvePoint(self.charge_below, held + charge),
                        CurvePoint(self.discharge_above, held - discharge),
                    ),
                )
            )
        return needs

    def on_transaction(self, transaction: Transaction) -> None:
        self.schedule.record(transaction)


class SupplierController:
    """The retail supplier behind the feeder: sells at its tariff and buys back at feed-in."""

    def __init__(
        self,
        intervals: Sequence[Interval],
        tariff_per_kwh: FloatArray,
        *,
        capacity_kw: float,
        feed_in_per_kwh: float,
        markup: float = 0.0,
    ) -> None:
        self.schedule = _Schedule(intervals)
        self.slot = intervals[0].duration
        self.tariff = tariff_per_kwh
        self.capacity = energy_units(capacity_kw, self.slot)
        self.feed_in = price_units(feed_in_per_kwh)
        self.markup = markup

    def needs(self, intervals: Sequence[Interval]) -> list[Need]:
        needs = []
        for interval in intervals:
            k = self.schedule.index(interval)
            held = self.schedule.committed.get(interval, 0)
            sell_at = price_units(float(self.tariff[k]) * (1 + self.markup))
            buy_at = min(self.feed_in, sell_at - 1)
            needs.append(
                Need(
                    interval,
                    (
                        CurvePoint(buy_at, held + self.capacity),
                        CurvePoint(sell_at, held - self.capacity),
                    ),
                )
            )
        return needs

    def on_transaction(self, transaction: Transaction) -> None:
        self.schedule.record(transaction)
