"""The market engine behind a journal of its operations, so that a snapshot can rebuild its books.

Engines keep their books to themselves: the Market Modular Interface has no export of state.
What rebuilds a book exactly is the engine's own operations on it, applied again to a fresh
engine, since an engine is deterministic and each instrument's book depends only on the
operations on that instrument. :class:`JournaledMarket` forwards every operation to the engine
and keeps, per instrument, the operations a rebuild needs, shortened whenever that is safe:

- a call market's clearing consumes the instrument's book, so its journal starts afresh;
- at a snapshot an instrument's journal becomes the submission of its live orders, each with
  its remaining quantity at its original instant and in arrival order (the book's time
  priority), when resubmitting them cannot trade or expire anything. Always so in a call
  market (it trades only when cleared); in a continuous one only when the live orders do not
  cross, none may have expired yet and no expiry awaits its report at the next sweep. Any
  other continuous book (a crossed one: all-or-none orders can leave one) keeps its whole
  journal until it is safe.

Match ids continue across a rebuild: the engine numbers matches 1, 2, 3… across instruments
and reports each in a fill (both built-in engines do), so the rebuilt engine's ids are shifted
by the difference between the last id before the snapshot and the last id of the rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from osed.domain.cts import Side
from osed.markets.protocol import (
    BookSnapshot,
    CancelResult,
    ClearingResult,
    Fill,
    Market,
    Order,
    Withdrawal,
)


@dataclass(frozen=True, slots=True)
class Submit:
    order: Order
    at: datetime


@dataclass(frozen=True, slots=True)
class Cancel:
    order_id: str
    remaining: float | None


@dataclass(frozen=True, slots=True)
class Sweep:
    """A continuous market's ``clear``: expired orders leave the book."""

    at: datetime


Operation = Submit | Cancel | Sweep


@dataclass(frozen=True, slots=True)
class InstrumentJournal:
    instrument: str
    operations: tuple[Operation, ...]


@dataclass(frozen=True, slots=True)
class MarketJournal:
    """What rebuilds the engine's books: the journal of every instrument with a book."""

    last_match_id: int
    instruments: tuple[InstrumentJournal, ...]


@dataclass(slots=True)
class _LiveOrder:
    order: Order
    remaining: float
    at: datetime


class JournaledMarket:
    """A :class:`~osed.markets.protocol.Market` that forwards to ``engine`` and journals.

    An engine operation that raises is assumed to have changed nothing, and is not journaled.
    """

    def __init__(self, engine: Market) -> None:
        self.engine = engine
        withdrawals = getattr(engine, "take_withdrawals", None)  # as take_withdrawals() reads it
        self._engine_withdrawals = withdrawals if callable(withdrawals) else None
        self.name = engine.name
        self.continuous = engine.continuous
        self._journals: dict[str, list[Operation]] = {}
        self._live: dict[str, dict[str, _LiveOrder]] = {}
        # Orders the engine dropped unannounced (expired), whose expiry its next sweep reports.
        self._unreported: dict[str, set[str]] = {}
        self._latest: dict[str, datetime] = {}  # the last instant the engine saw, per book
        self._last_raw_match = 0
        self._match_shift = 0
        self._withdrawals: list[Withdrawal] = []

    @property
    def last_match_id(self) -> int:
        return self._last_raw_match + self._match_shift

    def submit(self, instrument: str, order: Order, *, now: datetime) -> tuple[Fill, ...]:
        fills = self.engine.submit(instrument, order, now=now)
        self._journal(instrument, Submit(order, now))
        self._live.setdefault(instrument, {})[order.order_id] = _LiveOrder(
            order, order.quantity, now
        )
        self._filled(instrument, fills)
        if self._engine_withdrawals is not None:  # self-trade prevention
            withdrawals = tuple(self._engine_withdrawals())
            live = self._live[instrument]
            for withdrawal in withdrawals:
                live.pop(withdrawal.order_id, None)
            self._withdrawals.extend(withdrawals)
        return self._numbered(fills)

    def take_withdrawals(self) -> tuple[Withdrawal, ...]:
        """The orders the engine withdrew on its own since the last call."""
        withdrawals, self._withdrawals = tuple(self._withdrawals), []
        return withdrawals

    def cancel(
        self, instrument: str, order_id: str, *, remaining: float | None = None
    ) -> CancelResult:
        result = self.engine.cancel(instrument, order_id, remaining=remaining)
        self._journal(instrument, Cancel(order_id, remaining))
        live = self._live.get(instrument, {})
        if result.found and result.remaining_quantity > 0 and order_id in live:
            live[order_id].remaining = result.remaining_quantity
        elif live.pop(order_id, None) is not None and not result.found:
            self._unreported.setdefault(instrument, set()).add(order_id)
        return result

    def clear(self, instrument: str, *, now: datetime) -> ClearingResult:
        result = self.engine.clear(instrument, now=now)
        self._filled(instrument, result.fills)
        if self.continuous:
            self._journal(instrument, Sweep(now))
            live = self._live.get(instrument, {})
            for order_id in result.expired:
                live.pop(order_id, None)
            self._unreported.pop(instrument, None)  # a sweep reports every expiry so far
        else:
            self._forget(instrument)  # the call consumed the book
        fills = self._numbered(result.fills)
        return result if fills is result.fills else replace(result, fills=fills)

    def snapshot(self, instrument: str) -> BookSnapshot:
        return self.engine.snapshot(instrument)

    # ---------------------------------------------------------------- snapshots
    def journal(self) -> MarketJournal:
        """The journal of every book, each shortened where that is safe (and kept so)."""
        for instrument in list(self._journals):
            shorter = self._resubmission(instrument)
            if shorter is not None:
                self._journals[instrument] = shorter
            if not self._journals[instrument]:
                self._forget(instrument)
        instruments = tuple(
            InstrumentJournal(instrument, tuple(operations))
            for instrument, operations in self._journals.items()
        )
        return MarketJournal(self.last_match_id, instruments)

    def restore(self, journal: MarketJournal) -> None:
        """Rebuild the books of a fresh engine; its match ids then continue the journal's."""
        for book in journal.instruments:
            for operation in book.operations:
                match operation:
                    case Submit():
                        self.submit(book.instrument, operation.order, now=operation.at)
                    case Cancel():
                        self.cancel(
                            book.instrument, operation.order_id, remaining=operation.remaining
                        )
                    case Sweep():
                        self.clear(book.instrument, now=operation.at)
        self._withdrawals.clear()  # reported when they happened, before the snapshot
        self._match_shift = journal.last_match_id - self._last_raw_match

    # ------------------------------------------------------------------ helpers
    def _journal(self, instrument: str, operation: Operation) -> None:
        self._journals.setdefault(instrument, []).append(operation)
        if not isinstance(operation, Cancel):
            latest = self._latest.get(instrument)
            if latest is None or operation.at > latest:
                self._latest[instrument] = operation.at

    def _forget(self, instrument: str) -> None:
        self._journals.pop(instrument, None)
        self._live.pop(instrument, None)
        self._unreported.pop(instrument, None)
        self._latest.pop(instrument, None)

    def _filled(self, instrument: str, fills: tuple[Fill, ...]) -> None:
        live = self._live.get(instrument, {})
        for fill in fills:
            order = live.get(fill.order_id)
            if order is not None:
                order.remaining -= fill.quantity
                if order.remaining <= 0:
                    del live[fill.order_id]
            self._last_raw_match = max(self._last_raw_match, fill.match_id)

    def _numbered(self, fills: tuple[Fill, ...]) -> tuple[Fill, ...]:
        if not self._match_shift or not fills:
            return fills
        return tuple(replace(fill, match_id=fill.match_id + self._match_shift) for fill in fills)

    def _resubmission(self, instrument: str) -> list[Operation] | None:
        """The live orders submitted again, if that rebuilds the book exactly; else None."""
        live = list(self._live.get(instrument, {}).values())
        if self.continuous and (
            self._unreported.get(instrument) or not _quiet(live, self._latest.get(instrument))
        ):
            return None
        return [Submit(replace(o.order, quantity=o.remaining), o.at) for o in live]


def _quiet(live: list[_LiveOrder], latest: datetime | None) -> bool:
    """Whether resubmitting these orders to a continuous book trades and expires nothing: no
    order may have expired by the last instant the book saw, and bids and offers do not cross."""
    bids: list[float] = []
    offers: list[float] = []
    for order in (o.order for o in live):
        expires = order.expires_at
        if expires is not None and latest is not None and expires <= latest:
            return False
        if order.price is None:
            return False
        (bids if order.side is Side.BUY else offers).append(order.price)
    return not bids or not offers or max(bids) < min(offers)
