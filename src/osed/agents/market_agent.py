"""The Market Agent: CTS messages in, market orders out, every match committed to the ledger.

It routes tenders to the configured market (one instrument per delivery interval), turns each
fill into one EiTransaction per side, commits the transactions to the ledger with the
positions they change (the Market Position Manager), and traces every message it handles.
Position requests are answered from the positions kept in memory
(:mod:`osed.agents.market_positions`): the agent is its ledger's only writer.

Quantities are kept at the market's quantity scale: a tender at another scale is converted on
entry (it must convert exactly), and cancel requests and replies speak the market's scale.

Idempotency: a request is identified by its ``request_id``. A retried request gets the reply of
the first one and never enters an order or a transaction twice; the ledger enforces the same by
message id, so a clearing recorded before a restart is not recorded again.

Crash safety: every request is traced with the one instant it executes at, and the trace is
durable before the reply leaves. A new agent replays the trace through the same deterministic
code (:mod:`osed.agents.recovery`), so after ``kill -9`` it has the book, open tenders, quotes
and reply cache it had, and never writes a ledger message twice. One Market Agent per ledger.
Snapshots of its state (:mod:`osed.agents.snapshot`) bound the replay to the trace after the
newest one.
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import assert_never

from osed.agents.market_journal import JournaledMarket
from osed.agents.market_positions import MarketPositions
from osed.agents.market_state import (
    Notification,
    OpenQuote,
    OpenTender,
    Reply,
    UnsentTransactions,
)
from osed.agents.open_tenders import OpenTenders
from osed.agents.recovery import (
    CLEAR_KIND,
    EXPIRE_KIND,
    SENT_KIND,
    ClearStep,
    ExpireStep,
    LedgerWrites,
    LiveWrites,
    RecoveryReport,
    ReplayStep,
    ReplayWrites,
    RequestStep,
    SentStep,
    encode_clearing,
    encode_expiry,
    encode_sent,
    replay_steps,
)
from osed.agents.reply_cache import SEAL_EVERY, RecentReplies
from osed.agents.snapshot import (
    SNAPSHOT_FORMAT,
    AgentState,
    LoadedSnapshot,
    SnapshotPolicy,
    encode_snapshot,
    fingerprint,
    resume_point,
)
from osed.agents.tender_ids import TenderIds
from osed.agents.units import MarketUnits
from osed.codec import cts as codec
from osed.domain.cts import (
    CancelReason,
    EiAcceptQuote,
    EiCanceledTender,
    EiCancelQuote,
    EiCancelTender,
    EiCreatedTender,
    EiCreatedTransaction,
    EiCreateQuote,
    EiCreateRfq,
    EiCreateTender,
    EiCreateTransaction,
    EiRejectQuote,
    EiReplyPosition,
    EiRequestPosition,
    EiResponse,
    IntervalDetail,
    PositionInterval,
    ResponseCode,
    Side,
    Tender,
    Transaction,
    split_stream,
)
from osed.domain.errors import OsedError, ValidationError
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Clock, Interval
from osed.markets.protocol import ClearingResult, Fill, Market, Order, Withdrawal
from osed.ports.ledger import LedgerStore

Request = (
    EiCreateTender
    | EiCancelTender
    | EiRequestPosition
    | EiCreateRfq
    | EiCreateQuote
    | EiAcceptQuote
    | EiRejectQuote
    | EiCancelQuote
)
UNKNOWN_REQUEST = "unknown"
_REQUEST_TYPES = (
    EiCreateTender,
    EiCancelTender,
    EiRequestPosition,
    EiCreateRfq,
    EiCreateQuote,
    EiAcceptQuote,
    EiRejectQuote,
    EiCancelQuote,
)
_REQUEST_KINDS = frozenset(kind.__name__ for kind in _REQUEST_TYPES)
# Requests that change nothing the agent keeps: their trace need not be durable before replying.
_READ_ONLY = (EiRequestPosition, EiCreateRfq, EiRejectQuote)

log = logging.getLogger(__name__)

__all__ = [
    "ClearingReport",
    "MarketAgent",
    "Notification",
    "Reply",
    "Request",
    "UnsentTransactions",
]


@dataclass(frozen=True, slots=True)
class ClearingReport:
    result: ClearingResult
    transactions: int
    duplicate: bool
    notifications: tuple[Notification, ...] = ()
    clearing_id: str = ""
    """The clearing's ledger message id (``clear:<market>:<instrument>:<round>``)."""


class MarketAgent:
    """Serves one market. ``handle`` answers requests; ``clear`` runs a call market's interval."""

    def __init__(
        self,
        *,
        market_id: str,
        market: Market,
        ledger: LedgerStore,
        clock: Clock,
        units: MarketUnits,
        remembered_replies: int = 100_000,
        recover: bool = True,
        snapshots: SnapshotPolicy | None = None,
    ) -> None:
        """With ``recover`` the agent first rebuilds its state from the ledger's trace (see
        :meth:`recover`); without it, it takes no snapshots, as its state does not reflect
        the trace. ``market`` must be a fresh engine the agent alone uses. ``snapshots``:
        when to write snapshots and whether to start from one (default
        :class:`~osed.agents.snapshot.SnapshotPolicy`)."""
        self.market_id = market_id
        self.market = market
        self.ledger = ledger
        self.clock = clock
        self.units = units
        self.snapshots = snapshots or SnapshotPolicy()
        self._book = JournaledMarket(market)
        self._open = OpenTenders()
        self._parts = TenderIds()  # every tender id ever, never removed
        self._quotes: dict[str, OpenQuote] = {}
        sealing = SEAL_EVERY if self.snapshots.seal_replies else None
        self._replies = RecentReplies(remembered_replies, seal_every=sealing)
        self._next_quote_match = 1
        self._cleared: set[str] = set()  # instruments cleared (any round)
        self._unsent: dict[str, UnsentTransactions] = {}
        self._writes: LedgerWrites = LiveWrites(ledger)
        # Read from the ledger at the first position request, then kept from the appends.
        self._positions: MarketPositions | None = None
        self._identity = fingerprint(market_id, market, units, remembered_replies)
        self._as_replayed = recover  # the state is what a replay of the trace rebuilds
        self._steps_since_snapshot = 0
        self.recovery = self.recover() if recover else RecoveryReport(0, 0, 0)

    # ----------------------------------------------------------------- requests
    def handle_wire(self, data: bytes | str) -> tuple[bytes, tuple[Notification, ...]]:
        """Answer a CTS message given as JSON. A malformed message is answered with a 400
        EiResponse naming every problem and its path, and nothing is recorded. The trace
        keeps the message's own bytes: they decode to the request it executes."""
        try:
            message = codec.loads(data)
        except ValidationError as exc:
            refused = self._refusal(_request_id_of(data), str(exc))
            return codec.dumps(refused), ()
        if not isinstance(message, _REQUEST_TYPES):
            text = f"{type(message).__name__} is not a request a Market Agent serves"
            refused = self._refusal(_request_id_of(data), text)
            return codec.dumps(refused), ()
        (outcome,) = self._answer(((message, _traceable_text(data)),))
        if isinstance(outcome, Exception):
            raise outcome
        return codec.dumps(outcome.response), outcome.notifications

    def handle(self, request: Request) -> Reply:
        """Answer one CTS request; a retry of an answered request gets the same reply (a
        position request is answered afresh: it changes nothing)."""
        (outcome,) = self._answer(((request, None),))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def handle_many(self, requests: Sequence[Request]) -> list[Reply | Exception]:
        """Answer requests in order with one durable write for all of them (group commit).

        Nothing is returned before that write: a reply exists only for a request that a
        crash cannot make the agent forget. A request that fails gets its exception in its
        place and the others are answered; if the durable write itself fails, every place
        holds that error (their trace rows stay buffered for the next write)."""
        return self._answer([(request, None) for request in requests])

    def _answer(self, batch: Sequence[tuple[Request, str | None]]) -> list[Reply | Exception]:
        """Execute ``batch`` (each request with its wire text, if it came as JSON), then make
        the trace durable once, then release the replies."""
        outcomes: list[Reply | Exception] = []
        steps = 0
        must_persist = False
        for request, wire in batch:
            cached = self._replies.get(request.request_id)
            if cached is not None:
                # Its trace row may still be buffered (an earlier durable write failed).
                must_persist = True
                outcomes.append(cached)
                continue
            try:
                outcomes.append(self._execute(request, self.clock.now(), wire))
            except Exception as exc:  # answered in its place; the batch goes on
                self._step_failed()
                outcomes.append(exc)
                continue
            except BaseException:
                self._step_failed()
                raise
            if not isinstance(request, _READ_ONLY):
                must_persist = True
            if not isinstance(request, EiRequestPosition):
                steps += 1
        if must_persist:
            try:
                # An answered request must survive a kill, or a recovered agent would forget it.
                self._writes.make_durable()
            except Exception as exc:
                return [exc] * len(batch)
        if steps:
            self._steps_since_snapshot += steps
            self._snapshot_if_due()
        return outcomes

    def recover(self) -> RecoveryReport:
        """Rebuild the state the agent had when it stopped: from the newest usable snapshot
        (:mod:`osed.agents.snapshot`) and the trace after it, or from the whole trace, replayed
        (:mod:`osed.agents.recovery`). The ledger is only written where it lacks an append of
        a traced request."""
        start = resume_point(self.ledger, self._identity, snapshots=self.snapshots.restore)
        steps: Iterable[ReplayStep]
        if start.snapshot is None:
            position, steps = 0, replay_steps(start.tail, _REQUEST_KINDS)
            replay = ReplayWrites()
        else:
            self._restore(start.snapshot)
            position = start.snapshot.trace_seq
            steps = list(replay_steps(start.tail, _REQUEST_KINDS))
            replay = ReplayWrites(self._recorded_before(steps, start.snapshot.state.ledger_count))
        self._writes = replay
        requests = clearings = replayed = 0
        try:
            for step in steps:
                replayed += 1
                if isinstance(step, ClearStep):
                    self._clear(step.interval, step.round_id, step.at)
                    clearings += 1
                elif isinstance(step, ExpireStep):
                    self._expire(step.interval, step.reason, step.at)
                elif isinstance(step, SentStep):
                    self._unsent.pop(step.clearing_id, None)
                elif isinstance(step.request, _REQUEST_TYPES):
                    if step.request.request_id not in self._replies:
                        self._execute(step.request, step.at)
                    requests += 1
        finally:
            self._writes = LiveWrites(self.ledger)
        recorded = replay.commit(self.ledger)
        self._positions = None  # the ledger may have taken appends the replay deferred
        self._steps_since_snapshot = replayed
        self._snapshot_if_due()
        return RecoveryReport(requests, clearings, recorded, position, start.skipped)

    # ---------------------------------------------------------------- snapshots
    @property
    def steps_since_snapshot(self) -> int:
        """State-changing steps (replayed ones included) since the last snapshot."""
        return self._steps_since_snapshot

    def snapshot(self) -> int | None:
        """Write the agent's state into the ledger's store as a snapshot at the current trace
        position, durable when this returns; the position. None (and nothing written) when
        the state may differ from what a replay of the trace rebuilds: after a step that
        failed, or in an agent that did not recover."""
        if not self._as_replayed:
            return None
        began = time.perf_counter()
        collecting = gc.isenabled()
        gc.disable()  # encoding makes no reference cycles: a collection would only rescan
        try:
            parts, replies = self._parts.sealed(), self._replies.sealed()
            body = encode_snapshot(self._identity, self._state(), parts, replies)
        finally:
            if collecting:
                gc.enable()
        chunks = [piece for piece, _ in parts + replies]
        position = self.ledger.save_snapshot(
            SNAPSHOT_FORMAT,
            body,
            taken_at=self.clock.now(),
            keep=self.snapshots.keep,
            chunks=chunks,
        )
        self._steps_since_snapshot = 0
        log.info(
            "snapshot at trace position %d: %d bytes and %d chunks, %d replies, %.3f s",
            position,
            len(body),
            len(chunks),
            len(self._replies),
            time.perf_counter() - began,
        )
        return position

    def _state(self) -> AgentState:
        return AgentState(
            open_tenders=tuple(self._open.items()),
            quotes=tuple(self._quotes.items()),
            cleared=tuple(sorted(self._cleared)),
            unsent=tuple(self._unsent.values()),
            next_quote_match=self._next_quote_match,
            market=self._book.journal(),
            ledger_count=self.ledger.count(),
        )

    def _restore(self, loaded: LoadedSnapshot) -> None:
        state = loaded.state
        self._open = OpenTenders(state.open_tenders)
        self._parts.load(loaded.parts)
        self._quotes = dict(state.quotes)
        self._cleared = set(state.cleared)
        self._unsent = {unsent.clearing_id: unsent for unsent in state.unsent}
        self._next_quote_match = state.next_quote_match
        self._book.restore(state.market)
        self._replies.load(loaded.replies)

    def _recorded_before(self, steps: Sequence[ReplayStep], ledger_count: int) -> set[str]:
        """The ledger message ids of ``steps`` recorded before the snapshot was taken: a step
        appending one of them found it recorded when it first ran."""
        message_ids: set[str] = set()
        for step in steps:
            if isinstance(step, RequestStep) and isinstance(step.request, _REQUEST_TYPES):
                message_ids.add(step.request.request_id)
            elif isinstance(step, ClearStep):
                message_ids.add(self._clearing_id(step.interval.key(), step.round_id))
        found = self.ledger.message_seqs(message_ids)
        return {message_id for message_id, seq in found.items() if seq <= ledger_count}

    @contextmanager
    def _step(self) -> Iterator[None]:
        """A step that raises may have changed the state without the record a replay needs
        (e.g. its ledger append failed): no snapshot until a restart has replayed it."""
        try:
            yield
        except BaseException:
            self._step_failed()
            raise

    def _step_failed(self) -> None:
        if self._as_replayed:
            log.warning("a step failed: no snapshots until the agent has restarted")
        self._as_replayed = False

    def _step_done(self) -> None:
        self._steps_since_snapshot += 1
        self._snapshot_if_due()

    def _snapshot_if_due(self) -> None:
        every = self.snapshots.every
        if every is None or self._steps_since_snapshot < every:
            return
        self._steps_since_snapshot = 0  # a failed snapshot is tried again after as many steps
        try:
            self.snapshot()
        except OsedError:
            log.exception("writing a snapshot failed; the replay after a restart gets longer")

    def _execute(self, request: Request, now: datetime, wire: str | None = None) -> Reply:
        """Trace, run and remember one request, everything at the instant ``now``; the trace
        holds ``wire``, the JSON the request arrived as, or else its encoding."""
        body = codec.dumps(request).decode() if wire is None else wire
        self._writes.trace(request.request_id, type(request).__name__, now, body)
        try:
            reply = self._dispatch(request, now)
        except ValidationError as exc:
            reply = Reply(
                self._response(request.request_id, ResponseCode.BAD_REQUEST, now, str(exc))
            )
        if not isinstance(request, EiRequestPosition):  # not replayed: answered afresh
            self._replies.put(request.request_id, reply)
        return reply

    def _dispatch(self, request: Request, now: datetime) -> Reply:
        match request:
            case EiCreateTender():
                return self._create_tender(request, now)
            case EiCancelTender():
                return self._cancel_tender(request, now)
            case EiRequestPosition():
                return self._position(request, now)
            case EiCreateRfq():
                return Reply(self._response(request.request_id, ResponseCode.OK, now))
            case EiCreateQuote():
                return self._create_quote(request, now)
            case EiAcceptQuote():
                return self._accept_quote(request, now)
            case EiRejectQuote() | EiCancelQuote():
                return self._withdraw_quote(request, now)
            case _:
                assert_never(request)

    def acknowledge(self, confirmation: EiCreatedTransaction, wire: bytes | None = None) -> None:
        """Trace a party's confirmation of a transaction it was sent; ``wire``: the JSON it
        arrived as, traced as it is."""
        message_id = f"ack:{confirmation.party_id}:{confirmation.transaction_id}"
        text = None if wire is None else _traceable_text(wire)
        body = codec.dumps(confirmation).decode() if text is None else text
        self.ledger.trace(message_id, "EiCreatedTransaction", self.clock.now(), body)

    def _create_tender(self, request: EiCreateTender, now: datetime) -> Reply:
        tender = request.tender

        def refuse(code: ResponseCode, text: str) -> Reply:
            return Reply(
                EiCreatedTender(
                    self._response(request.request_id, code, now, text),
                    request.party_id,
                    request.counter_party_id,
                    tender.tender_id,
                )
            )

        if tender.tender_id in self._parts:
            return refuse(ResponseCode.CONFLICT, f"tender {tender.tender_id} exists")
        try:
            parts = split_stream(tender)
            orders = [self._order(part, request.party_id) for part in parts]
        except ValidationError as exc:
            return refuse(ResponseCode.BAD_REQUEST, str(exc))
        if not parts:
            return refuse(ResponseCode.BAD_REQUEST, "stream tender has no non-zero interval")
        fills: list[Fill] = []
        for part, order in zip(parts, orders, strict=True):
            instrument = part.interval_detail.interval.key()
            self._open[part.tender_id] = OpenTender(
                request.party_id, request.counter_party_id, part, instrument
            )
            fills.extend(self._book.submit(instrument, order, now=now))
        self._parts[tender.tender_id] = tuple(part.tender_id for part in parts)
        notifications: tuple[Notification, ...] = ()
        if fills:  # a call market fills nothing before its clearing
            trades = self._with_tenders(fills)
            notifications, _, _ = self._commit(request.request_id, trades, now)
            self._settle_open(fills)
        withdrawn = self._book.take_withdrawals()
        for withdrawal in withdrawn:
            self._open.pop(withdrawal.order_id, None)
        created = EiCreatedTender(
            self._response(
                request.request_id, ResponseCode.CREATED, now, _withdrawn_text(withdrawn)
            ),
            request.party_id,
            request.counter_party_id,
            tender.tender_id,
            market_order_id=tender.tender_id,
        )
        return Reply(created, notifications)

    def _order(self, part: Tender, party: str) -> Order:
        detail = part.interval_detail
        self.units.check_interval(detail.interval)
        return Order(
            order_id=part.tender_id,
            side=part.side,
            price=self.units.float_price_of(detail.price, part.price_scale),
            quantity=float(self.units.quantity_of(detail.quantity, part.quantity_scale)),
            party=party,
            all_or_none=part.all_or_none,
            expires_at=part.expiration_time,
        )

    def _cancel_tender(self, request: EiCancelTender, now: datetime) -> Reply:
        part_ids = self._parts.get(request.tender_id)
        if part_ids is None:
            return Reply(
                EiCanceledTender(
                    self._response(
                        request.request_id, ResponseCode.NOT_FOUND, now, "unknown tender"
                    ),
                    request.party_id,
                    request.counter_party_id,
                    request.tender_id,
                    CancelReason.REQUESTED,
                    remaining_quantity=0,
                    success=False,
                )
            )
        remaining_total = 0
        for part_id in part_ids:
            open_tender = self._open.get(part_id)
            if open_tender is None:
                continue
            keep = None if request.remaining_quantity is None else float(request.remaining_quantity)
            result = self._book.cancel(open_tender.instrument, part_id, remaining=keep)
            remaining_total += round(result.remaining_quantity)
            if result.remaining_quantity == 0:
                del self._open[part_id]
        return Reply(
            EiCanceledTender(
                self._response(request.request_id, ResponseCode.OK, now),
                request.party_id,
                request.counter_party_id,
                request.tender_id,
                CancelReason.REQUESTED,
                remaining_quantity=remaining_total,
                success=True,
                market_order_id=request.tender_id,
            )
        )

    def _position(self, request: EiRequestPosition, now: datetime) -> Reply:
        kept = self._positions
        if kept is None:
            kept = self._positions = MarketPositions(self.ledger.all_positions())
        rows = kept.of(request.position_party_id, request.bounding_interval)
        totals: dict[Interval, int] = {}
        for row in rows:
            quantity = self.units.quantity_of(row.quantity, row.quantity_scale)
            totals[row.interval] = totals.get(row.interval, 0) + quantity
        positions = tuple(
            PositionInterval(interval, quantity) for interval, quantity in sorted(totals.items())
        )
        return Reply(
            EiReplyPosition(
                self._response(request.request_id, ResponseCode.OK, now),
                request.position_party_id,
                positions,
                quantity_scale=self.units.quantity_scale,
            )
        )

    # ------------------------------------------------------------- negotiation
    def _create_quote(self, request: EiCreateQuote, now: datetime) -> Reply:
        quote = request.quote
        if quote.quote_id in self._quotes:
            conflict = self._response(
                request.request_id, ResponseCode.CONFLICT, now, "quote exists"
            )
            return Reply(conflict)
        detail = quote.tender.interval_detail
        self.units.check_interval(detail.interval)
        remaining = self.units.quantity_of(detail.quantity, quote.tender.quantity_scale)
        self._quotes[quote.quote_id] = OpenQuote(request.party_id, quote, remaining)
        return Reply(self._response(request.request_id, ResponseCode.CREATED, now))

    def _accept_quote(self, request: EiAcceptQuote, now: datetime) -> Reply:
        open_quote = self._quotes.get(request.quote_id)
        if open_quote is None or not open_quote.quote.tradeable:
            return Reply(
                self._response(request.request_id, ResponseCode.NOT_FOUND, now, "no quote")
            )
        tender = open_quote.quote.tender
        detail = tender.interval_detail
        quote_price = self.units.price_of(detail.price, tender.price_scale)
        # The accepting party names its own limit at the quote's scales.
        price = self.units.price_of(request.price, tender.price_scale)
        quantity = self.units.quantity_of(request.quantity, tender.quantity_scale)
        violated: list[str] = []
        if quantity <= 0 or quantity > open_quote.remaining:
            violated.append("quantity")
        acceptor_side = tender.side.opposite
        if (acceptor_side is Side.BUY and price < quote_price) or (
            acceptor_side is Side.SELL and price > quote_price
        ):
            violated.append("price")
        if violated:
            response = replace(
                self._response(
                    request.request_id, ResponseCode.TERMS_VIOLATED, now, "terms violated"
                ),
                response_terms_violated=tuple(violated),
            )
            return Reply(response)
        match_id = self._next_quote_match
        self._next_quote_match += 1
        instrument = detail.interval.key()
        maker, taker = open_quote.party, request.party_id
        fills = [
            Fill(
                match_id,
                instrument,
                request.quote_id,
                maker,
                tender.side,
                float(quote_price),
                float(quantity),
                request.request_id,
                taker,
            ),
            Fill(
                match_id,
                instrument,
                request.request_id,
                taker,
                acceptor_side,
                float(quote_price),
                float(quantity),
                request.quote_id,
                maker,
            ),
        ]
        maker_tender = replace(tender, tender_id=request.quote_id)
        taker_tender = replace(tender, tender_id=request.request_id, side=acceptor_side)
        trades = zip(fills, (maker_tender, taker_tender), strict=True)
        notifications, _, _ = self._commit(request.request_id, trades, now)
        open_quote.remaining -= quantity
        if open_quote.remaining == 0:
            del self._quotes[request.quote_id]
        return Reply(self._response(request.request_id, ResponseCode.OK, now), notifications)

    def _withdraw_quote(self, request: EiRejectQuote | EiCancelQuote, now: datetime) -> Reply:
        if isinstance(request, EiCancelQuote):
            open_quote = self._quotes.get(request.quote_id)
            if open_quote is None or open_quote.party != request.party_id:
                missing = self._response(
                    request.request_id, ResponseCode.NOT_FOUND, now, "no quote"
                )
                return Reply(missing)
            del self._quotes[request.quote_id]
        return Reply(self._response(request.request_id, ResponseCode.OK, now))

    # ----------------------------------------------------------------- clearing
    def clear(self, interval: Interval, *, round_id: str = "1") -> ClearingReport:
        """Clear a call market's interval; clearing it again with the same ``round_id`` records
        nothing new. Durable before it returns, also when nothing traded, so that a restarted
        agent knows the interval was cleared."""
        with self._step():
            report = self._clear(interval, round_id, self.clock.now())
        self._writes.make_durable()
        self._step_done()
        return report

    def open_tenders(self) -> list[OpenTender]:
        """The tenders resting in the market, each interval of a stream tender on its own, with
        what is left of them, ordered by tender id (the agent's own records: do not change)."""
        return sorted(self._open.values(), key=lambda rest: rest.tender.tender_id)

    def open_parts(self, tender_id: str) -> list[OpenTender]:
        """What rests of the tender ``tender_id`` (of a stream tender, each interval still
        open), in interval order; empty when it is unknown, filled or cancelled."""
        found = (self._open.get(part) for part in self._parts.get(tender_id, ()))
        return [rest for rest in found if rest is not None]

    def open_quotes(self) -> list[OpenQuote]:
        """The quotes that can still be accepted, with what is left of them, by quote id."""
        return sorted(self._quotes.values(), key=lambda rest: rest.quote.quote_id)

    def open_intervals(self) -> list[Interval]:
        """The intervals that have open tenders, in time order."""
        found = {t.instrument: t.tender.interval_detail.interval for t in self._open.values()}
        return sorted(found.values())

    def is_cleared(self, interval: Interval) -> bool:
        """Whether ``interval`` was cleared (in any round), before a restart too."""
        return interval.key() in self._cleared

    def expire(self, interval: Interval, reason: str) -> tuple[str, ...]:
        """Withdraw the open tenders of ``interval`` from the market without clearing it, for
        ``reason``; the ids of the tenders withdrawn. Traced and durable before it returns."""
        with self._step():
            expired = self._expire(interval, reason, self.clock.now())
        self._writes.make_durable()
        self._step_done()
        return expired

    def unsent_transactions(self) -> list[UnsentTransactions]:
        """The clearings (of intervals not yet ended at the last clearing) whose transactions
        the trace does not show as sent (:meth:`transactions_sent`): after a restart, a crash
        may have come between the clearing's ledger commit and their publication. In clearing
        order."""
        return list(self._unsent.values())

    def transactions_sent(self, clearing_id: str) -> None:
        """Record that the transactions of ``clearing_id`` were handed to the parties'
        channel, so a restart does not send them again. Durable before it returns."""
        with self._step():
            self._unsent.pop(clearing_id, None)
            now = self.clock.now()
            self._writes.trace(f"sent:{clearing_id}", SENT_KIND, now, encode_sent(clearing_id))
        self._writes.make_durable()
        self._step_done()

    def _expire(self, interval: Interval, reason: str, now: datetime) -> tuple[str, ...]:
        instrument = interval.key()
        message_id = f"expire:{self.market_id}:{instrument}"
        self._writes.trace(message_id, EXPIRE_KIND, now, encode_expiry(interval, reason))
        expired = tuple(self._open.of_instrument(instrument))
        for order_id in expired:
            self._book.cancel(instrument, order_id)
            del self._open[order_id]
        return expired

    def _clear(self, interval: Interval, round_id: str, now: datetime) -> ClearingReport:
        instrument = interval.key()
        message_id = self._clearing_id(instrument, round_id)
        # Traced before it runs, as requests are: it changes the book, so a replay needs it.
        self._writes.trace(message_id, CLEAR_KIND, now, encode_clearing(interval, round_id))
        result = self._book.clear(instrument, now=now)
        trades = self._with_tenders(result.fills)
        # The outcome is traced before the append, which commits it with the entries: one
        # (fsynced) commit for both, and the trace rows in the same order as ever. Should the
        # append fail, the row reaches the disk with the next write, as the clearing's own
        # does, and the replay then records the append it describes.
        self._trace_clearing(message_id, result, now)
        notifications, count, duplicate = self._commit(message_id, trades, now)
        for order_id in result.expired:
            self._open.pop(order_id, None)
        if not self._book.continuous:
            # A call market consumes its book: nothing of this interval rests afterwards.
            for order_id in self._open.of_instrument(instrument):
                del self._open[order_id]
        self._cleared.add(instrument)
        self._until_sent(message_id, interval, notifications, now)
        return ClearingReport(result, count, duplicate, notifications, message_id)

    def _clearing_id(self, instrument: str, round_id: str) -> str:
        return f"clear:{self.market_id}:{instrument}:{round_id}"

    def _until_sent(
        self,
        clearing_id: str,
        interval: Interval,
        notifications: tuple[Notification, ...],
        now: datetime,
    ) -> None:
        """A clearing's transactions count as unsent until traced as sent. Only intervals not
        delivered yet are kept: each clearing forgets the ones that have ended."""
        for key, unsent in list(self._unsent.items()):
            if unsent.interval.end <= now:
                del self._unsent[key]
        if notifications:
            self._unsent[clearing_id] = UnsentTransactions(clearing_id, interval, notifications)

    def _with_tenders(self, fills: Iterable[Fill]) -> list[tuple[Fill, Tender]]:
        return [(fill, self._open[fill.order_id].tender) for fill in fills]

    def _commit(
        self, message_id: str, trades: Iterable[tuple[Fill, Tender]], now: datetime
    ) -> tuple[tuple[Notification, ...], int, bool]:
        """Record one ledger entry per fill; returns notifications, entry count, duplicate."""
        entries: list[LedgerEntry] = []
        transactions: list[Transaction] = []
        scaled: dict[float, int] = {}  # a clearing's fills mostly share one price
        for fill, base in trades:
            quantity = round(fill.quantity)
            price = scaled.get(fill.price)
            if price is None:
                price = scaled[fill.price] = self.units.scaled_price(Decimal(repr(fill.price)))
            interval = base.interval_detail.interval
            counter_party = fill.counter_party or self.market_id
            transaction_id = f"{self.market_id}:{fill.match_id}:{fill.order_id}"
            entries.append(
                LedgerEntry(
                    transaction_id=transaction_id,
                    tender_id=fill.order_id,
                    party=fill.party,
                    counter_party=counter_party,
                    side=fill.side,
                    interval=interval,
                    price=price,
                    price_scale=self.units.price_scale,
                    quantity=quantity,
                    quantity_scale=self.units.quantity_scale,
                    currency=self.units.currency,
                    market_id=self.market_id,
                    committed_at=now,
                )
            )
            detail = IntervalDetail(interval, price, quantity)
            transactions.append(Transaction(transaction_id, self._at_market_scales(base, detail)))
        if not entries:
            return (), 0, False
        try:
            duplicate = not self._writes.append(message_id, entries)
        except BaseException:
            self._positions = None  # whether the ledger took them is unknown: read it again
            raise
        if not duplicate and self._positions is not None:
            self._positions.apply(entries)
        notifications = tuple(
            Notification(
                entry.party,
                EiCreateTransaction(
                    request_id=entry.transaction_id,
                    party_id=entry.party,
                    counter_party_id=entry.counter_party,
                    transaction=transaction,
                    market_transaction_id=entry.transaction_id,
                ),
            )
            for entry, transaction in zip(entries, transactions, strict=True)
        )
        return (() if duplicate else notifications), len(entries), duplicate

    def _settle_open(self, fills: Iterable[Fill]) -> None:
        """Forget tenders a continuous market filled completely; keep remainders for cancels."""
        for fill in fills:
            open_tender = self._open.get(fill.order_id)
            if open_tender is None:
                continue
            tender = open_tender.tender
            detail = tender.interval_detail
            left = self.units.quantity_of(detail.quantity, tender.quantity_scale) - round(
                fill.quantity
            )
            if left <= 0:
                del self._open[fill.order_id]
            else:
                open_tender.tender = self._at_market_scales(
                    tender,
                    IntervalDetail(detail.interval, detail.price, left),
                    price_scale=tender.price_scale,
                )

    def _at_market_scales(
        self, tender: Tender, detail: IntervalDetail, *, price_scale: int | None = None
    ) -> Tender:
        """``tender`` with ``detail`` at the market's quantity scale (and price scale, unless
        given). Built field by field: ``dataclasses.replace`` costs several times as much,
        once per fill."""
        return Tender(
            tender.tender_id,
            tender.side,
            detail,
            self.units.price_scale if price_scale is None else price_scale,
            self.units.quantity_scale,
            tender.all_or_none,
            tender.expiration_time,
            tender.resource_designator,
            tender.currency,
            tender.market_id,
            tender.execution_instructions,
            tender.referenced_quote_id,
        )

    # ------------------------------------------------------------------ records
    def _trace_clearing(self, message_id: str, result: ClearingResult, now: datetime) -> None:
        body = (
            f'{{"instrument":"{result.instrument}","outcome":"{result.outcome.value}",'
            f'"price":{"null" if result.price is None else repr(result.price)},'
            f'"quantity":{result.quantity!r},"fills":{len(result.fills)}}}'
        )
        self._writes.trace(message_id, "Clearing", now, body)

    def _response(
        self, ref_id: str, code: ResponseCode, now: datetime, text: str = ""
    ) -> EiResponse:
        return EiResponse(int(code), ref_id, now, text)

    def _refusal(self, ref_id: str, text: str) -> EiResponse:
        return self._response(ref_id, ResponseCode.BAD_REQUEST, self.clock.now(), text)


def _withdrawn_text(withdrawn: Sequence[Withdrawal]) -> str:
    """What the reply tells the party when self-trade prevention withdrew its tenders: they
    would have traded with its own (the withdrawn quantity in the market's scale)."""
    if not withdrawn:
        return ""
    named = ", ".join(f"{w.order_id} ({round(w.quantity)} open)" for w in withdrawn)
    return f"self-trade prevention withdrew tenders that met your own: {named}"


def _traceable_text(data: bytes | str) -> str | None:
    """The received JSON as trace text when replaying it decodes the same request: UTF-8
    bytes without a byte order mark (``json.loads`` also takes UTF-16 and a BOM, which the
    replay's text decoding does not). None: encode the request instead."""
    if isinstance(data, str):
        return None  # may hold lone surrogates, which the trace cannot store
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    return None if text.startswith("\ufeff") else text


def _request_id_of(data: bytes | str) -> str:
    """The sender's requestId if a rejected message still carries a usable one, so the sender
    can match the refusal to its request."""
    try:
        value = json.loads(data).get("requestId")
    except (ValueError, AttributeError, RecursionError):
        return UNKNOWN_REQUEST
    valid = isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()
    return value if valid else UNKNOWN_REQUEST
