"""A day of quarter-hour double auctions among households, prosumers, batteries and a supplier.

Day-ahead, every user agent tenders its forecast needs for all intervals and each interval is
cleared. Then the day turns out different from the forecast, and before each interval every
agent tenders only the difference between its committed position and its new need, in a
real-time round of the same market. Everything committed lands in the hash-chained ledger.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from osed.agents.in_process import InProcessMarket
from osed.agents.market_agent import MarketAgent
from osed.agents.snapshot import SnapshotPolicy
from osed.agents.units import MarketUnits
from osed.agents.user_agent import SupervisoryController, TransactiveUserAgent
from osed.domain.time import Interval, ManualClock
from osed.markets.protocol import Market, Outcome
from osed.ports.ledger import LedgerStore
from osed.sim import profiles
from osed.sim.collector import collection_deferred
from osed.sim.controllers import (
    PRICE_SCALE,
    QUANTITY_SCALE,
    BatteryController,
    HouseholdController,
    SupplierController,
)

MARKET_PARTY = "market"


@dataclass(frozen=True)
class DemoConfig:
    households: int = 200
    prosumers: int = 60
    batteries: int = 40
    intervals: int = 96
    day: date = date(2026, 7, 1)
    seed: int = 7
    price_cap_per_kwh: float = 1.0
    forecast_error: float = 0.15
    real_time_markup: float = 0.2


@dataclass(slots=True)
class RoundFigures:
    tenders: int = 0
    transactions: int = 0
    energy_kwh: float = 0.0
    prices: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, object]:
        prices = np.array(self.prices) if self.prices else np.array([np.nan])
        return {
            "tenders": self.tenders,
            "transactions": self.transactions,
            "energy_kwh": round(self.energy_kwh, 3),
            "price_min": _rounded(np.nanmin(prices)),
            "price_mean": _rounded(np.nanmean(prices)),
            "price_max": _rounded(np.nanmax(prices)),
            "outcomes": dict(sorted(self.outcomes.items())),
        }


@dataclass(slots=True)
class DemoSummary:
    agents: dict[str, int]
    intervals: int
    day_ahead: RoundFigures
    real_time: RoundFigures
    ledger_entries: int
    max_interval_imbalance: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "agents": self.agents,
            "intervals": self.intervals,
            "day_ahead": self.day_ahead.to_dict(),
            "real_time": self.real_time.to_dict(),
            "ledger_entries": self.ledger_entries,
            "max_interval_imbalance_wh": self.max_interval_imbalance,
            "seconds": round(self.seconds, 2),
        }


# Called with (work done, work in all). A unit is one agent tendering for one interval; the
# clearing of an interval counts as many units as there are agents (it takes about as long as
# their tenders for it), so the fraction done grows about evenly with time.
Progress = Callable[[int, int], None]


def run_market_demo(
    config: DemoConfig,
    *,
    market: Market,
    ledger: LedgerStore,
    progress: Progress | None = None,
) -> DemoSummary:
    # The run's state is freed when it returns (the venue is closed): no collector pass needs
    # to rescan it meanwhile, nor at the process's exit.
    with collection_deferred():
        return asyncio.run(_run(config, market=market, ledger=ledger, progress=progress))


async def _run(
    config: DemoConfig, *, market: Market, ledger: LedgerStore, progress: Progress | None
) -> DemoSummary:
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    slot = timedelta(days=1) / config.intervals
    day_start = datetime(config.day.year, config.day.month, config.day.day, tzinfo=UTC)
    intervals = [Interval(day_start + k * slot, slot) for k in range(config.intervals)]
    units = MarketUnits(PRICE_SCALE, QUANTITY_SCALE, "USD", resolution=slot)
    clock = ManualClock(day_start - timedelta(hours=12))
    # No snapshots: they shorten a restart's replay, and a demo run is never restarted; nor
    # the encoding of cached replies that only makes them quick. Every request is still
    # traced and durable before its reply.
    agent = MarketAgent(
        market_id=MARKET_PARTY,
        market=market,
        ledger=ledger,
        clock=clock,
        units=units,
        snapshots=SnapshotPolicy(every=None, seal_replies=False),
    )
    with closing(InProcessMarket(agent)) as venue:
        controllers = _controllers(config, intervals, rng)
        users = []
        for party, controller in controllers.items():
            user = TransactiveUserAgent(
                party_id=party,
                market_party_id=MARKET_PARTY,
                market=venue,
                controller=controller,
                clock=clock,
                units=units,
            )
            venue.register(user)
            users.append(user)

        total = 4 * len(users) * len(intervals)
        done = 0
        day_ahead = RoundFigures()
        # The user agents tender at once, as they would over the bus: their requests reach the
        # Market Agent together and share its durable writes (group commit). A tenth of them at a
        # time, so that progress moves while the day-ahead round runs.
        group = max(1, len(users) // 10)
        for first in range(0, len(users), group):
            members = users[first : first + group]
            rounds = await asyncio.gather(*(user.tender(intervals) for user in members))
            day_ahead.tenders += sum(len(sent.tenders) for sent in rounds)
            done += len(members) * len(intervals)
            if progress is not None:
                progress(done, total)
        for interval in intervals:
            _tally(day_ahead, venue, interval, "day-ahead", units)
            done += len(users)
            if progress is not None:
                progress(done, total)

        for controller in controllers.values():
            if isinstance(controller, HouseholdController):
                controller.realise(rng, config.forecast_error)
            elif isinstance(controller, SupplierController):
                controller.markup = config.real_time_markup
        real_time = RoundFigures()
        for interval in intervals:
            clock.set(interval.start - timedelta(minutes=5))
            rounds = await asyncio.gather(*(user.tender([interval]) for user in users))
            real_time.tenders += sum(len(sent.tenders) for sent in rounds)
            _tally(real_time, venue, interval, "real-time", units)
            done += 2 * len(users)
            if progress is not None:
                progress(done, total)

        imbalance = _max_imbalance(ledger)
        kinds = Counter(party.rsplit("-", 1)[0] for party in controllers)
        return DemoSummary(
            agents=dict(sorted(kinds.items())),
            intervals=config.intervals,
            day_ahead=day_ahead,
            real_time=real_time,
            ledger_entries=ledger.count(),
            max_interval_imbalance=imbalance,
            seconds=time.perf_counter() - started,
        )


def _tally(
    figures: RoundFigures,
    venue: InProcessMarket,
    interval: Interval,
    round_id: str,
    units: MarketUnits,
) -> None:
    report = venue.clear(interval, round_id=round_id)
    result = report.result
    figures.outcomes[result.outcome.value] += 1
    figures.transactions += report.transactions
    if result.outcome is Outcome.CLEARED and result.price is not None:
        figures.prices.append(result.price)
        figures.energy_kwh += result.quantity / 10**units.quantity_scale


def _max_imbalance(ledger: LedgerStore) -> int:
    """Largest |sum of all parties' positions| in any interval: 0 when every trade balances."""
    totals: Counter[Interval] = Counter()
    for row in ledger.all_positions():
        totals[row.interval] += row.quantity
    return max((abs(v) for v in totals.values()), default=0)


def _controllers(
    config: DemoConfig, intervals: list[Interval], rng: np.random.Generator
) -> dict[str, SupervisoryController]:
    hours = profiles.hours_of_day(config.intervals)
    outdoor = profiles.outdoor_temperature_c(hours)
    tariff = profiles.time_of_use_price(hours)
    controllers: dict[str, SupervisoryController] = {}
    homes = config.households + config.prosumers
    for n in range(homes):
        setpoint = 23.0 + 3.0 * rng.random()
        pressure = np.clip(outdoor - setpoint, 0.0, None)
        hvac_kw = np.where(pressure > 0, 1.5 + 2.5 * rng.random(), 0.0)
        # Comfort pressure raises the price the air conditioning will pay (TESP-style ramp).
        hvac_limit = 0.08 + pressure * (0.03 + 0.04 * rng.random())
        is_prosumer = n >= config.households
        controllers[f"{'prosumer' if is_prosumer else 'house'}-{n + 1:04d}"] = HouseholdController(
            intervals,
            profiles.household_load_kw(hours, rng),
            hvac_kw,
            hvac_limit,
            price_cap_per_kwh=config.price_cap_per_kwh,
            resale_per_kwh=0.02,
            pv_kw=profiles.pv_kw(hours, 3.0 + 5.0 * rng.random()) if is_prosumer else None,
            pv_floor_per_kwh=0.0,
        )
    for n in range(config.batteries):
        controllers[f"battery-{n + 1:04d}"] = BatteryController(
            intervals,
            capacity_kwh=10.0 + 5.0 * rng.random(),
            power_kw=5.0,
            soc_kwh=5.0,
            charge_below_per_kwh=0.11 + 0.02 * rng.random(),
            discharge_above_per_kwh=0.24 + 0.04 * rng.random(),
        )
    controllers["supplier-0001"] = SupplierController(
        intervals, tariff, capacity_kw=5.0 * homes, feed_in_per_kwh=0.03
    )
    return controllers


def _rounded(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)
