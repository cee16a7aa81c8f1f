"""What each delivery interval of a market cleared at: the volume traded and its prices, from
the ledger. Public to every role, as a book is: the rows are summed over the parties, so no
party's own trades are shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from fastapi import APIRouter, Depends

from osed.api.auth import Caller
from osed.api.market_access import MarketAccess, market_of
from osed.api.markets import MarketId
from osed.domain.access import READERS, permit
from osed.domain.cts import Side
from osed.domain.identity import Principal
from osed.domain.ledger import StoredEntry
from osed.domain.time import Interval


@dataclass(slots=True)
class _Clearing:
    """Sums kept exact (fractions of the scaled integers): a mean of equal prices is that
    price, not a float off by rounding."""

    interval: Interval
    trades: int = 0
    volume: Fraction = Fraction(0)
    paid: Fraction = Fraction(0)
    low: Fraction | None = None
    high: Fraction | None = None

    def add(self, price: Fraction, quantity: Fraction) -> None:
        self.trades += 1
        self.volume += quantity
        self.paid += price * quantity
        self.low = price if self.low is None else min(self.low, price)
        self.high = price if self.high is None else max(self.high, price)

    def document(self) -> dict[str, Any]:
        return {
            "interval": {
                "start": self.interval.start.isoformat(),
                "duration_s": self.interval.duration.total_seconds(),
            },
            "trades": self.trades,
            "volume": float(self.volume),
            "price_mean": float(self.paid / self.volume) if self.volume else None,
            "price_min": None if self.low is None else float(self.low),
            "price_max": None if self.high is None else float(self.high),
        }


def clearings(entries: list[StoredEntry], market_id: str) -> list[_Clearing]:
    """Per delivery interval, in time order: each fill counted once (its buying side)."""
    found: dict[Interval, _Clearing] = {}
    for stored in entries:
        entry = stored.entry
        if entry.market_id != market_id or entry.side is not Side.BUY:
            continue
        price = Fraction(entry.price) / Fraction(10) ** entry.price_scale
        quantity = Fraction(entry.quantity) / Fraction(10) ** entry.quantity_scale
        found.setdefault(entry.interval, _Clearing(entry.interval)).add(price, quantity)
    return [found[key] for key in sorted(found, key=lambda i: (i.start, i.duration))]


def create_router(
    markets: Mapping[str, MarketAccess], *, caller: Caller, described: Any
) -> APIRouter:
    router = APIRouter(tags=["markets"])
    who = Depends(caller)

    @router.get(
        "/markets/{market_id}/clearings",
        responses=described(
            {
                200: "per delivery interval: trades, volume, mean (volume-weighted), lowest and "
                "highest price, in the market's currency and quantity units"
            },
            404,
        ),
    )
    async def prices(market_id: MarketId, principal: Principal = who) -> dict[str, Any]:
        permit(principal, *READERS, to="read market prices")
        service = market_of(markets, market_id)
        rows = clearings(list(service.ledger.entries()), market_id)
        return {
            "market_id": market_id,
            "currency": (await service.terms()).units.currency,
            "items": [row.document() for row in rows],
        }

    return router
