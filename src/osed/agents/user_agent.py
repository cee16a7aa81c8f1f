"""The Transactive Energy User Agent (TEUA): a supervisory controller's voice in the market.

The controller states what it needs per interval (:class:`~osed.agents.needs.Need`); the TEUA
withdraws its own tenders still open for those intervals, asks the Market Agent for the
committed position, and tenders only the difference. Transactions come back to the TEUA,
which confirms them and reports them to the controller.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from osed.agents.needs import Need, tenders_toward
from osed.agents.units import MarketUnits
from osed.domain.cts import (
    EiCancelTender,
    EiCreatedTransaction,
    EiCreateTender,
    EiCreateTransaction,
    EiReplyPosition,
    EiRequestPosition,
    EiResponse,
    IntervalDetail,
    ResponseCode,
    Tender,
    Transaction,
)
from osed.domain.time import Clock, Interval


class SupervisoryController(Protocol):
    """Turns device state into needs, and hears about the transactions made for it."""

    def needs(self, intervals: Sequence[Interval]) -> Sequence[Need]: ...

    def on_transaction(self, transaction: Transaction) -> None: ...


class MarketAgentPort(Protocol):
    """How a TEUA reaches its Market Agent (in process, or over the bus)."""

    async def create_tender(self, request: EiCreateTender) -> object: ...

    async def cancel_tender(self, request: EiCancelTender) -> object: ...

    async def request_position(self, request: EiRequestPosition) -> EiReplyPosition: ...


@dataclass(slots=True)
class TenderRound:
    """What one call of :meth:`TransactiveUserAgent.tender` sent."""

    tenders: list[Tender] = field(default_factory=list)
    canceled: int = 0


class TransactiveUserAgent:
    def __init__(
        self,
        *,
        party_id: str,
        market_party_id: str,
        market: MarketAgentPort,
        controller: SupervisoryController,
        clock: Clock,
        units: MarketUnits,
    ) -> None:
        self.party_id = party_id
        self.market_party_id = market_party_id
        self.market = market
        self.controller = controller
        self.clock = clock
        self.units = units
        self._counter = itertools.count(1)
        self._open: dict[Interval, list[str]] = {}
        self.transactions: list[Transaction] = []

    async def tender(self, intervals: Sequence[Interval]) -> TenderRound:
        """Tender, for each interval, the difference between the need and the position."""
        sent = TenderRound()
        if not intervals:
            return sent
        needs = self.controller.needs(intervals)
        for need in needs:
            if need.interval in self._open:
                sent.canceled += await self._withdraw(need.interval)
        committed = await self.committed(_span(intervals))
        for need in needs:
            for order in tenders_toward(need, committed.get(need.interval, 0)):
                tender = Tender(
                    tender_id=self._next_id("t"),
                    side=order.side,
                    detail=IntervalDetail(need.interval, order.price, order.quantity),
                    price_scale=self.units.price_scale,
                    quantity_scale=self.units.quantity_scale,
                    currency=self.units.currency,
                )
                await self.market.create_tender(
                    EiCreateTender(self._next_id("r"), self.party_id, self.market_party_id, tender)
                )
                self._open.setdefault(need.interval, []).append(tender.tender_id)
                sent.tenders.append(tender)
        return sent

    async def committed(self, within: Interval) -> dict[Interval, int]:
        reply = await self.market.request_position(
            EiRequestPosition(self._next_id("r"), self.party_id, self.party_id, within)
        )
        return {row.interval: row.quantity for row in reply.positions}

    def on_transaction(self, message: EiCreateTransaction) -> EiCreatedTransaction:
        transaction = message.transaction
        self.transactions.append(transaction)
        self.controller.on_transaction(transaction)
        return EiCreatedTransaction(
            EiResponse(int(ResponseCode.OK), message.request_id, self.clock.now()),
            self.party_id,
            message.counter_party_id,
            transaction.transaction_id,
        )

    def forget(self, interval: Interval) -> None:
        """Drop the record of tenders for an interval the market has closed."""
        self._open.pop(interval, None)

    async def _withdraw(self, interval: Interval) -> int:
        tender_ids = self._open.pop(interval, [])
        for tender_id in tender_ids:
            await self.market.cancel_tender(
                EiCancelTender(self._next_id("r"), self.party_id, self.market_party_id, tender_id)
            )
        return len(tender_ids)

    def _next_id(self, kind: str) -> str:
        return f"{self.party_id}:{kind}{next(self._counter)}"


def _span(intervals: Sequence[Interval]) -> Interval:
    start = min(interval.start for interval in intervals)
    end = max(interval.end for interval in intervals)
    return Interval(start, end - start)
