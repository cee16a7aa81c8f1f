"""Continuous bilateral limit order book behind the Market Modular Interface.

One :class:`LimitBook` per instrument. Every match trades at the resting order's price and
yields two fills sharing a ``match_id``, one per side, each naming the other order and party.
A party never trades with itself (``self_trade``, :class:`SelfTradePrevention`): by default the
party's resting order is withdrawn; :meth:`BilateralMarket.take_withdrawals` lists it.
"""

from __future__ import annotations

from datetime import datetime
from itertools import count

from osed.domain.cts.tenders import Side
from osed.markets._limit_book import LimitBook
from osed.markets.protocol import (
    BookLevel,
    BookSnapshot,
    CancelResult,
    ClearingResult,
    Fill,
    Order,
    Outcome,
    SelfTradePrevention,
    Withdrawal,
)

_POLICIES = (
    SelfTradePrevention.CANCEL_RESTING,
    SelfTradePrevention.CANCEL_INCOMING,
    SelfTradePrevention.OFF,
)


class BilateralMarket:
    """Price-time priority continuous market; ``clear`` only removes expired orders."""

    continuous = True

    def __init__(
        self,
        name: str = "bilateral",
        self_trade: SelfTradePrevention | str = SelfTradePrevention.CANCEL_RESTING,
    ) -> None:
        self.name = name
        self.self_trade = SelfTradePrevention.parse(self_trade, _POLICIES)
        self._books: dict[str, LimitBook] = {}
        self._match_ids = count(1)
        self._withdrawals: list[Withdrawal] = []

    def submit(self, instrument: str, order: Order, *, now: datetime) -> tuple[Fill, ...]:
        book = self._books.get(instrument)
        if book is None:
            book = self._books[instrument] = LimitBook(
                prevent_self_trade=self.self_trade is not SelfTradePrevention.OFF,
                cancel_incoming=self.self_trade is SelfTradePrevention.CANCEL_INCOMING,
            )
        incoming, trades = book.submit(order, order.side is Side.BUY, now)
        for withdrawn, quantity in book.take_withdrawn():
            self._withdrawals.append(
                Withdrawal(instrument, withdrawn.order_id, withdrawn.party, quantity)
            )
        if not trades:
            return ()
        fills: list[Fill] = []
        side, other_side = order.side, order.side.opposite
        for resting, quantity in trades:
            match_id = next(self._match_ids)
            met = resting.order
            fills.append(
                Fill(
                    match_id,
                    instrument,
                    order.order_id,
                    order.party,
                    side,
                    resting.price,
                    quantity,
                    met.order_id,
                    met.party,
                )
            )
            fills.append(
                Fill(
                    match_id,
                    instrument,
                    met.order_id,
                    met.party,
                    other_side,
                    resting.price,
                    quantity,
                    incoming.order_id,
                    order.party,
                )
            )
        return tuple(fills)

    def cancel(
        self, instrument: str, order_id: str, *, remaining: float | None = None
    ) -> CancelResult:
        book = self._books.get(instrument)
        if book is None:
            return CancelResult(order_id, False, 0.0, 0.0)
        found, canceled, left = book.cancel(order_id, remaining)
        return CancelResult(order_id, found, canceled, left)

    def clear(self, instrument: str, *, now: datetime) -> ClearingResult:
        book = self._books.get(instrument)
        expired = book.sweep(now) if book is not None else ()
        bids = book.levels(bids=True) if book is not None else []
        offers = book.levels(bids=False) if book is not None else []
        outcome = Outcome.NO_CROSSING if bids and offers else Outcome.NO_ORDERS
        return ClearingResult(instrument, outcome, None, 0.0, (), expired)

    def snapshot(self, instrument: str) -> BookSnapshot:
        book = self._books.get(instrument)
        if book is None:
            return BookSnapshot(instrument, (), ())
        return BookSnapshot(
            instrument,
            bids=tuple(BookLevel(p, q, n) for p, q, n in book.levels(bids=True)),
            offers=tuple(BookLevel(p, q, n) for p, q, n in book.levels(bids=False)),
        )

    def take_withdrawals(self) -> tuple[Withdrawal, ...]:
        """The orders self-trade prevention withdrew since the last call."""
        withdrawals, self._withdrawals = tuple(self._withdrawals), []
        return withdrawals

    def open_quantity(self, instrument: str, order_id: str) -> float:
        """The quantity of ``order_id`` still resting (0 once filled, canceled or expired)."""
        book = self._books.get(instrument)
        return book.open_quantity(order_id) if book is not None else 0.0
