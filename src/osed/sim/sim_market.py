"""The study's local energy market, wired as the market demo wires it: a Market Agent over the
study's mechanism, one transactive user agent per household and one for the retail supplier,
every transaction committed to a hash-chained SQLite ledger.

Before each market interval every household tenders the energy it expects to need over it (its
net power now, held for the interval), buying a shortfall at up to the tariff and reselling a
surplus at the feed-in price or more; the supplier sells at the tariff and buys at the feed-in
price. The gate closes a minute before the interval starts. What a household then draws beyond
(or short of) its position is settled at the tariff (or the feed-in price).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from osed.agents.in_process import InProcessMarket
from osed.agents.market_agent import MarketAgent
from osed.agents.needs import CurvePoint, Need
from osed.agents.units import MarketUnits
from osed.agents.user_agent import TransactiveUserAgent
from osed.domain.cts import Transaction
from osed.domain.time import Interval, ManualClock
from osed.ledger.verify import verify_store
from osed.markets.registry import create_market
from osed.sim.controllers import PRICE_SCALE, QUANTITY_SCALE, energy_units, price_units
from osed.storage.sqlite import SqliteLedgerStore

Array = NDArray[np.float64]
MARKET_PARTY = "market"
SUPPLIER = "supplier"
GATE_CLOSURE = timedelta(minutes=1)


class _Party:
    """A party's need for the next interval, and what it traded: energy (market units, bought
    positive) and money (currency, paid positive) per interval, and its purchases."""

    def __init__(self) -> None:
        self.need: Need | None = None
        self.committed: Counter[Interval] = Counter()
        self.paid: dict[Interval, float] = {}
        self.bought: Counter[Interval] = Counter()
        self.purchases = 0

    def needs(self, intervals: Sequence[Interval]) -> list[Need]:
        return [self.need] if self.need is not None else []

    def on_transaction(self, transaction: Transaction) -> None:
        tender = transaction.tender
        detail = tender.interval_detail
        signed = tender.side.sign * detail.quantity
        self.committed[detail.interval] += signed
        money = signed * detail.price / 10.0 ** (tender.price_scale + tender.quantity_scale)
        self.paid[detail.interval] = self.paid.get(detail.interval, 0.0) + money
        if signed > 0:
            self.bought[detail.interval] += signed
            self.purchases += 1


@dataclass(frozen=True, slots=True)
class Clearing:
    price_per_kwh: float
    """The mean price of what traded (NaN when nothing did)."""
    volume_kwh: float
    positions_kwh: Array
    """Each household's position for the interval (bought positive)."""
    paid: Array
    """What each household paid for it (received: negative)."""


class SimMarket:
    def __init__(
        self,
        mechanism: str,
        households: Sequence[str],
        ledger_path: Path,
        *,
        slot: timedelta,
        currency: str = "EUR",
    ) -> None:
        self.clock = ManualClock(datetime.fromisoformat("2000-01-01T00:00:00+00:00"))
        self.units = MarketUnits(PRICE_SCALE, QUANTITY_SCALE, currency, resolution=slot)
        self.slot = slot
        self.ledger = SqliteLedgerStore(ledger_path, synchronous="NORMAL")
        market = create_market(mechanism)
        self.agent = MarketAgent(
            market_id=MARKET_PARTY,
            market=market,
            ledger=self.ledger,
            clock=self.clock,
            units=self.units,
        )
        self.venue = InProcessMarket(self.agent)
        self.controllers = [_Party() for _ in households]
        self.supplier = _Party()
        self.users: list[TransactiveUserAgent] = []
        parties = [*zip(households, self.controllers, strict=True), (SUPPLIER, self.supplier)]
        for party, controller in parties:
            user = TransactiveUserAgent(
                party_id=party,
                market_party_id=MARKET_PARTY,
                market=self.venue,
                controller=controller,
                clock=self.clock,
                units=self.units,
            )
            self.venue.register(user)
            self.users.append(user)

    async def trade(
        self,
        start: datetime,
        expected_kw: Array,
        tariff_per_kwh: float,
        feed_in_per_kwh: float,
        participants: Sequence[int] | None = None,
        *,
        capacity_kw: float,
    ) -> Clearing:
        """Tender and clear the interval from ``start``: households at ``expected_kw``, those
        in ``participants`` only (by index; None: all, a household without an agent has no
        user agent trading for it)."""
        interval = Interval(start, self.slot)
        self.clock.set(start - GATE_CLOSURE)
        sell_at = price_units(tariff_per_kwh)
        buy_back = min(price_units(feed_in_per_kwh), sell_at - 1)
        trading = range(len(self.controllers)) if participants is None else participants
        for index in trading:
            energy = energy_units(float(expected_kw[index]), self.slot)
            self.controllers[index].need = Need(
                interval, (CurvePoint(buy_back, energy), CurvePoint(sell_at, energy))
            )
        capacity = energy_units(capacity_kw, self.slot)
        self.supplier.need = Need(
            interval, (CurvePoint(buy_back, capacity), CurvePoint(sell_at, -capacity))
        )
        for index in trading:
            await self.users[index].tender([interval])
        await self.users[-1].tender([interval])
        self.venue.clear(interval, round_id="1")  # a continuous book traded as tenders came
        scale = 10.0**QUANTITY_SCALE
        parties = [*self.controllers, self.supplier]
        volume = sum(p.bought[interval] for p in parties) / scale
        spent = sum(p.paid.get(interval, 0.0) for p in parties if p.bought[interval] > 0)
        positions = np.array([c.committed[interval] for c in self.controllers]) / scale
        return Clearing(
            price_per_kwh=spent / volume if volume > 0 else float("nan"),
            volume_kwh=volume,
            positions_kwh=positions.astype(np.float64),
            paid=np.array([c.paid.get(interval, 0.0) for c in self.controllers]),
        )

    @property
    def transactions(self) -> int:
        """Trades so far (one per purchase)."""
        return sum(p.purchases for p in [*self.controllers, self.supplier])

    def imbalance_kwh(self) -> float:
        """The largest |bought − sold| of any interval over the whole ledger (0: balanced)."""
        totals: Counter[Interval] = Counter()
        for row in self.ledger.all_positions():
            totals[row.interval] += row.quantity
        return max((abs(v) for v in totals.values()), default=0) / 10.0**QUANTITY_SCALE

    def verified(self) -> bool:
        self.ledger.flush()
        return verify_store(self.ledger).ok

    def close(self) -> None:
        self.ledger.close()
