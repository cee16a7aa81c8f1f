"""The Market Agent: CTS messages in, market orders out, every match committed to the ledger.

It routes tenders to the configured market (one instrument per delivery interval), turns each
fill into one EiTransaction per side, commits the transactions to the ledger with the
positions they change (the Market Position Manager), and traces every message it handles.

Quantities are kept at the market's quantity scale: a tender at another scale is converted on
entry (it must convert exactly), and cancel requests and replies speak the market's scale.

Idempotency: a request is identified by its ``request_id``. A retried request gets the reply of
the first one and never enters an order or a transaction twice; the ledger enforces the same by
message id, so a clearing recorded before a restart is not recorded again.

Crash safety: every request is traced with the one instant it executes at, and the trace is
durable before the reply leaves. A new agent replays the trace through the same deterministic
code (:mod:`osed.agents.recovery`), so after ``kill -9`` it has the book, open tenders, quotes
and reply cache it had, and never writes a ledger message twice. One Market Agent per ledger.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import assert_never

from osed.agents.recovery import (
    CLEAR_KIND,
    EXPIRE_KIND,
    SENT_KIND,
    ClearStep,
    ExpireStep,
    LedgerWrites,
    LiveWrites,
    RecoveryReport,
    ReplayWrites,
    SentStep,
    encode_clearing,
    encode_expiry,
    encode_sent,
    replay_steps,
)
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
    Message,
    PositionInterval,
    Quote,
    ResponseCode,
    Side,
    Tender,
    Transaction,
    split_stream,
)
from osed.domain.errors import ValidationError
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Clock, Interval
from osed.markets.protocol import ClearingResult, Fill, Market, Order
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


@dataclass(frozen=True, slots=True)
class Notification:
    """A message the agent sends unprompted, to ``party`` (an EiCreateTransaction)."""

    party: str
    message: EiCreateTransaction


@dataclass(frozen=True, slots=True)
class Reply:
    response: Message
    notifications: tuple[Notification, ...] = ()


@dataclass(frozen=True, slots=True)
class ClearingReport:
    result: ClearingResult
    transactions: int
    duplicate: bool
    notifications: tuple[Notification, ...] = ()
    clearing_id: str = ""
    """The clearing's ledger message id (``clear:<market>:<instrument>:<round>``)."""


@dataclass(frozen=True, slots=True)
class UnsentTransactions:
    """The transactions of a clearing that may not have reached the parties before a crash."""

    clearing_id: str
    interval: Interval
    notifications: tuple[Notification, ...]


@dataclass(slots=True)
class _OpenTender:
    """A tender (or one interval of a stream tender) resting in the market."""

    party: str
    counter_party: str
    tender: Tender
    instrument: str


@dataclass(slots=True)
class _OpenQuote:
    party: str
    quote: Quote
    remaining: int


@dataclass(slots=True)
class _RecentReplies:
    """Replies by request id, so a retried request is answered, not executed, again."""

    limit: int
    replies: OrderedDict[str, Reply] = field(default_factory=OrderedDict)

    def get(self, request_id: str) -> Reply | None:
        return self.replies.get(request_id)

    def put(self, request_id: str, reply: Reply) -> None:
        self.replies[request_id] = reply
        if len(self.replies) > self.limit:
            self.replies.popitem(last=False)


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
    ) -> None:
        """With ``recover`` the agent first replays the ledger's trace (see :meth:`recover`)."""
        self.market_id = market_id
        self.market = market
        self.ledger = ledger
        self.clock = clock
        self.units = units
        self._open: dict[str, _OpenTender] = {}
        self._parts: dict[str, tuple[str, ...]] = {}
        self._quotes: dict[str, _OpenQuote] = {}
        self._replies = _RecentReplies(remembered_replies)
        self._match_ids = itertools.count(1)
        self._cleared: set[str] = set()  # instruments cleared (any round)
        self._unsent: dict[str, UnsentTransactions] = {}  # filled by recovery only
        self._writes: LedgerWrites = LiveWrites(ledger)
        self.recovery = self.recover() if recover else RecoveryReport(0, 0, 0)

    # ----------------------------------------------------------------- requests
    def handle_wire(self, data: bytes | str) -> tuple[bytes, tuple[Notification, ...]]:
        """Answer a CTS message given as JSON. A malformed message is answered with a 400
        EiResponse naming every problem and its path, and nothing is recorded."""
        try:
            message = codec.loads(data)
        except ValidationError as exc:
            refused = self._refusal(_request_id_of(data), str(exc))
            return codec.dumps(refused), ()
        if not isinstance(message, _REQUEST_TYPES):
            text = f"{type(message).__name__} is not a request a Market Agent serves"
            refused = self._refusal(_request_id_of(data), text)
            return codec.dumps(refused), ()
        reply = self.handle(message)
        return codec.dumps(reply.response), reply.notifications

    def handle(self, request: Request) -> Reply:
        """Answer one CTS request; a retry of an answered request gets the same reply."""
        cached = self._replies.get(request.request_id)
        if cached is not None:
            return cached
        reply = self._execute(request, self.clock.now())
        if not isinstance(request, _READ_ONLY):
            # An answered request must survive a kill, or a recovered agent would forget it.
            self._writes.make_durable()
        return reply

    def recover(self) -> RecoveryReport:
        """Rebuild the state the agent had when it stopped by replaying the ledger's trace
        (see :mod:`osed.agents.recovery`); the ledger is only written where it lacks an append
        of a traced request."""
        replay = ReplayWrites()
        self._writes = replay
        requests = clearings = 0
        try:
            for step in replay_steps(self.ledger.traces(), _REQUEST_KINDS):
                if isinstance(step, ClearStep):
                    self._replay_clearing(step)
                    clearings += 1
                elif isinstance(step, ExpireStep):
                    self._expire(step.interval, step.reason, step.at)
                elif isinstance(step, SentStep):
                    self._unsent.pop(step.clearing_id, None)
                elif isinstance(step.request, _REQUEST_TYPES):
                    if self._replies.get(step.request.request_id) is None:
                        self._execute(step.request, step.at)
                    requests += 1
        finally:
            self._writes = LiveWrites(self.ledger)
        return RecoveryReport(requests, clearings, replay.commit(self.ledger))

    def _replay_clearing(self, step: ClearStep) -> None:
        """Clear again; until its transactions are traced as sent, they count as unsent. Only
        intervals not delivered yet are kept: a later clearing forgets the ended ones."""
        report = self._clear(step.interval, step.round_id, step.at)
        for clearing_id, unsent in list(self._unsent.items()):
            if unsent.interval.end <= step.at:
                del self._unsent[clearing_id]
        if report.notifications:
            self._unsent[report.clearing_id] = UnsentTransactions(
                report.clearing_id, step.interval, report.notifications
            )

    def _execute(self, request: Request, now: datetime) -> Reply:
        """Trace, run and remember one request, everything at the instant ``now``."""
        body = codec.dumps(request).decode()
        self._writes.trace(request.request_id, type(request).__name__, now, body)
        try:
            reply = self._dispatch(request, now)
        except ValidationError as exc:
            reply = Reply(
                self._response(request.request_id, ResponseCode.BAD_REQUEST, now, str(exc))
            )
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

    def acknowledge(self, confirmation: EiCreatedTransaction) -> None:
        """Trace a party's confirmation of a transaction it was sent."""
        message_id = f"ack:{confirmation.party_id}:{confirmation.transaction_id}"
        body = codec.dumps(confirmation).decode()
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
            self._open[part.tender_id] = _OpenTender(
                request.party_id, request.counter_party_id, part, instrument
            )
            fills.extend(self.market.submit(instrument, order, now=now))
        self._parts[tender.tender_id] = tuple(part.tender_id for part in parts)
        trades = self._with_tenders(fills)
        notifications, _, _ = self._commit(request.request_id, trades, now)
        self._settle_open(fills)
        created = EiCreatedTender(
            self._response(request.request_id, ResponseCode.CREATED, now),
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
            price=float(self.units.price_of(detail.price, part.price_scale)),
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
            result = self.market.cancel(open_tender.instrument, part_id, remaining=keep)
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
        rows = self.ledger.positions(request.position_party_id, request.bounding_interval)
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
        self._quotes[quote.quote_id] = _OpenQuote(request.party_id, quote, remaining)
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
        match_id = next(self._match_ids)
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
        report = self._clear(interval, round_id, self.clock.now())
        self._writes.make_durable()
        return report

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
        expired = self._expire(interval, reason, self.clock.now())
        self._writes.make_durable()
        return expired

    def unsent_transactions(self) -> list[UnsentTransactions]:
        """The clearings (of intervals not yet ended at the last replayed clearing) whose
        transactions the trace does not show as sent: a crash may have come between the
        clearing's ledger commit and their publication. In clearing order."""
        return list(self._unsent.values())

    def transactions_sent(self, clearing_id: str) -> None:
        """Record that the transactions of ``clearing_id`` were handed to the parties'
        channel, so a restart does not send them again. Durable before it returns."""
        self._unsent.pop(clearing_id, None)
        now = self.clock.now()
        self._writes.trace(f"sent:{clearing_id}", SENT_KIND, now, encode_sent(clearing_id))
        self._writes.make_durable()

    def _expire(self, interval: Interval, reason: str, now: datetime) -> tuple[str, ...]:
        instrument = interval.key()
        message_id = f"expire:{self.market_id}:{instrument}"
        self._writes.trace(message_id, EXPIRE_KIND, now, encode_expiry(interval, reason))
        expired = tuple(k for k, v in self._open.items() if v.instrument == instrument)
        for order_id in expired:
            self.market.cancel(instrument, order_id)
            del self._open[order_id]
        return expired

    def _clear(self, interval: Interval, round_id: str, now: datetime) -> ClearingReport:
        instrument = interval.key()
        message_id = f"clear:{self.market_id}:{instrument}:{round_id}"
        # Traced before it runs, as requests are: it changes the book, so a replay needs it.
        self._writes.trace(message_id, CLEAR_KIND, now, encode_clearing(interval, round_id))
        result = self.market.clear(instrument, now=now)
        trades = self._with_tenders(result.fills)
        notifications, count, duplicate = self._commit(message_id, trades, now)
        for order_id in result.expired:
            self._open.pop(order_id, None)
        if not self.market.continuous:
            # A call market consumes its book: nothing of this interval rests afterwards.
            for order_id in [k for k, v in self._open.items() if v.instrument == instrument]:
                del self._open[order_id]
        self._cleared.add(instrument)
        self._trace_clearing(message_id, result, now)
        return ClearingReport(result, count, duplicate, notifications, message_id)

    def _with_tenders(self, fills: Iterable[Fill]) -> list[tuple[Fill, Tender]]:
        return [(fill, self._open[fill.order_id].tender) for fill in fills]

    def _commit(
        self, message_id: str, trades: Iterable[tuple[Fill, Tender]], now: datetime
    ) -> tuple[tuple[Notification, ...], int, bool]:
        """Record one ledger entry per fill; returns notifications, entry count, duplicate."""
        entries: list[LedgerEntry] = []
        transactions: list[Transaction] = []
        for fill, base in trades:
            quantity = round(fill.quantity)
            price = self.units.scaled_price(Decimal(repr(fill.price)))
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
            transactions.append(
                Transaction(
                    transaction_id,
                    replace(
                        base,
                        detail=IntervalDetail(interval, price, quantity),
                        price_scale=self.units.price_scale,
                        quantity_scale=self.units.quantity_scale,
                    ),
                )
            )
        if not entries:
            return (), 0, False
        duplicate = not self._writes.append(message_id, entries)
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
                open_tender.tender = replace(
                    tender,
                    detail=IntervalDetail(detail.interval, detail.price, left),
                    quantity_scale=self.units.quantity_scale,
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


def _request_id_of(data: bytes | str) -> str:
    """The sender's requestId if a rejected message still carries a usable one, so the sender
    can match the refusal to its request."""
    try:
        value = json.loads(data).get("requestId")
    except (ValueError, AttributeError, RecursionError):
        return UNKNOWN_REQUEST
    valid = isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()
    return value if valid else UNKNOWN_REQUEST
