"""One instrument's continuous limit order book: price-time priority, lazy deletion.

Each side keeps a heap of price-level keys and a dict key -> FIFO deque of resting orders.
Keys are prices for offers and negated prices for bids, so the best level of either side is
the heap's smallest key. Canceled orders are only marked dead; they are dropped when matching
reaches them or when :meth:`LimitBook.sweep` compacts the book.

All-or-none: an incoming AON order trades only if it can be filled whole right now, else it
rests without trading. A resting AON order is taken only by an incoming order that can take
all of it; otherwise the incoming order passes it by (it keeps its place) and goes on to the
next order, even at a worse price. A book holding AON orders can therefore stay crossed.

Self-trade prevention: an incoming order never trades with a resting order of its own party.
Under ``cancel_incoming=False`` (cancel resting) the resting order is withdrawn and matching
goes on; under ``cancel_incoming=True`` matching stops there and the rest of the incoming
order is withdrawn. Withdrawn orders are listed by :meth:`LimitBook.take_withdrawn`.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from heapq import heapify, heappop, heappush

from osed.domain.errors import ConflictError, Problem, ValidationError
from osed.markets.protocol import Order

_INFINITY = float("inf")


class Resting:
    """A live order; mutable so that fills and reductions keep its place in the queue."""

    __slots__ = (
        "all_or_none",
        "expires_at",
        "is_buy",
        "live",
        "order",
        "order_id",
        "price",
        "remaining",
    )

    def __init__(self, order: Order, price: float, is_buy: bool) -> None:
        self.order = order
        self.order_id = order.order_id
        self.price = price
        self.is_buy = is_buy
        self.remaining = order.quantity
        self.all_or_none = order.all_or_none
        self.expires_at = order.expires_at
        self.live = True


class _BookSide:
    __slots__ = ("heap", "levels")

    def __init__(self) -> None:
        self.heap: list[float] = []
        self.levels: dict[float, deque[Resting]] = {}

    def add(self, key: float, resting: Resting) -> None:
        level = self.levels.get(key)
        if level is None:
            level = self.levels[key] = deque()
            heappush(self.heap, key)
        level.append(resting)

    def compact(self) -> None:
        for key, level in list(self.levels.items()):
            live = [r for r in level if r.live]
            if live:
                self.levels[key] = deque(live)
            else:
                del self.levels[key]
        self.heap = list(self.levels)
        heapify(self.heap)


Trade = tuple[Resting, float]  # the resting order met and the quantity traded at its price


class LimitBook:
    __slots__ = (
        "_asks",
        "_bids",
        "_cancel_incoming",
        "_expired",
        "_orders",
        "_prevent",
        "_stopped",
        "_withdrawn",
    )

    def __init__(self, *, prevent_self_trade: bool = True, cancel_incoming: bool = False) -> None:
        self._bids = _BookSide()
        self._asks = _BookSide()
        self._orders: dict[str, Resting] = {}
        self._expired: list[str] = []
        self._prevent = prevent_self_trade
        self._cancel_incoming = cancel_incoming
        self._withdrawn: list[tuple[Order, float]] = []
        self._stopped = False  # the last match stopped at an order of the incoming party

    def submit(self, order: Order, is_buy: bool, now: datetime) -> tuple[Resting, list[Trade]]:
        """Match ``order`` against the book; the rest of it rests. Returns the trades made."""
        if order.order_id in self._orders:
            raise ConflictError(f"order {order.order_id!r} is already in the book")
        price = _checked_price(order)
        incoming = Resting(order, price, is_buy)
        if order.expires_at is not None and order.expires_at <= now:
            incoming.live = False
            self._expired.append(order.order_id)
            return incoming, []
        opposite, own, bound, key = (
            (self._asks, self._bids, price, -price)
            if is_buy
            else (self._bids, self._asks, -price, price)
        )
        trades: list[Trade] = []
        party = order.party if self._prevent else ""
        if not order.all_or_none or self._can_fill_whole(
            order.quantity, opposite, bound, now, party
        ):
            trades = self._match(incoming, opposite, bound, now)
        if self._stopped:  # cancel incoming: its rest would meet the party's own order
            self._stopped = False
            self._withdrawn.append((order, incoming.remaining))
            incoming.remaining = 0.0
        if incoming.remaining > 0:
            own.add(key, incoming)
            self._orders[order.order_id] = incoming
        else:
            incoming.live = False
        return incoming, trades

    def cancel(self, order_id: str, remaining: float | None) -> tuple[bool, float, float]:
        """Cancel, or reduce to ``remaining`` (keeping time priority): (found, canceled, left)."""
        if remaining is not None and not remaining >= 0:
            raise ValidationError([Problem("$.remaining", "negative", "must be >= 0")])
        resting = self._orders.get(order_id)
        if resting is None:
            return False, 0.0, 0.0
        before = resting.remaining
        if not remaining:
            resting.live = False
            resting.remaining = 0.0
            del self._orders[order_id]
            return True, before, 0.0
        if remaining >= before:
            return True, 0.0, before
        resting.remaining = remaining
        return True, before - remaining, remaining

    def take_withdrawn(self) -> list[tuple[Order, float]]:
        """The orders withdrawn by self-trade prevention since the last call, each with the
        open quantity withdrawn."""
        withdrawn, self._withdrawn = self._withdrawn, []
        return withdrawn

    def open_quantity(self, order_id: str) -> float:
        resting = self._orders.get(order_id)
        return resting.remaining if resting is not None else 0.0

    def sweep(self, now: datetime) -> tuple[str, ...]:
        """Remove expired orders and compact; returns every order expired since the last sweep."""
        for resting in list(self._orders.values()):
            if resting.expires_at is not None and resting.expires_at <= now:
                self._expire(resting)
        self._bids.compact()
        self._asks.compact()
        expired, self._expired = tuple(self._expired), []
        return expired

    def levels(self, *, bids: bool) -> list[tuple[float, float, int]]:
        """(price, open quantity, order count) per live level, best first."""
        side = self._bids if bids else self._asks
        out: list[tuple[float, float, int]] = []
        for key in sorted(side.levels):
            live = [r for r in side.levels[key] if r.live]
            if live:
                out.append((live[0].price, sum(r.remaining for r in live), len(live)))
        return out

    def _expire(self, resting: Resting) -> None:
        resting.live = False
        del self._orders[resting.order_id]
        self._expired.append(resting.order_id)

    def _match(
        self, incoming: Resting, opposite: _BookSide, bound: float, now: datetime
    ) -> list[Trade]:
        trades: list[Trade] = []
        heap, levels, orders = opposite.heap, opposite.levels, self._orders
        remaining = incoming.remaining
        passed: list[float] = []  # levels holding only AON orders too big for this order
        party = incoming.order.party if self._prevent else ""
        while remaining > 0 and heap and heap[0] <= bound and not self._stopped:
            key = heap[0]
            level = levels[key]
            skipped: list[Resting] = []
            while level and remaining > 0:
                resting = level.popleft()
                if not resting.live:
                    continue
                if resting.expires_at is not None and resting.expires_at <= now:
                    self._expire(resting)
                    continue
                if party and resting.order.party == party:
                    if self._cancel_incoming:
                        level.appendleft(resting)
                        self._stopped = True
                        break
                    self._withdraw(resting)
                    continue
                if resting.remaining > remaining:
                    if resting.all_or_none:
                        skipped.append(resting)
                        continue
                    resting.remaining -= remaining
                    trades.append((resting, remaining))
                    remaining = 0.0
                    level.appendleft(resting)
                    break
                taken = resting.remaining
                remaining -= taken
                resting.remaining = 0.0
                resting.live = False
                del orders[resting.order_id]
                trades.append((resting, taken))
            if skipped:
                level.extendleft(reversed(skipped))
            if not level:
                heappop(heap)
                del levels[key]
            elif remaining > 0 and not self._stopped:
                passed.append(heappop(heap))
        for key in passed:
            heappush(heap, key)
        incoming.remaining = remaining
        return trades

    def _withdraw(self, resting: Resting) -> None:
        self._withdrawn.append((resting.order, resting.remaining))
        resting.live = False
        resting.remaining = 0.0
        del self._orders[resting.order_id]

    def _can_fill_whole(
        self, quantity: float, opposite: _BookSide, bound: float, now: datetime, party: str
    ) -> bool:
        """Would :meth:`_match` fill ``quantity`` completely? Same rules, nothing changed."""
        needed = quantity
        for key in sorted(k for k in opposite.levels if k <= bound):
            for resting in opposite.levels[key]:
                if not resting.live or (
                    resting.expires_at is not None and resting.expires_at <= now
                ):
                    continue
                if party and resting.order.party == party:
                    if self._cancel_incoming:
                        return False  # matching would stop here
                    continue  # it would be withdrawn, not traded
                if resting.remaining > needed:
                    if resting.all_or_none:
                        continue
                    return True
                needed -= resting.remaining
                if needed <= 0:
                    return True
        return False


def _checked_price(order: Order) -> float:
    problems: list[Problem] = []
    price = order.price
    if price is None or not -_INFINITY < price < _INFINITY:
        problems.append(Problem("$.price", "not_a_limit", "a book order needs a finite price"))
    if not order.quantity > 0 or order.quantity == _INFINITY:
        problems.append(Problem("$.quantity", "non_positive", "must be a finite number > 0"))
    if problems:
        raise ValidationError(problems, subject=f"order {order.order_id!r}")
    assert price is not None
    return price
