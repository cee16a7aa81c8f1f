"""A call market's Market Agent service restarted around gate closures, on an injected clock.

Each incarnation is a MarketAgent recovered from one SQLite ledger, served over the memory
bus with SQLite outboxes for the parties' transaction channels (as the runtime wires it); a
crash abandons the ledger without closing it (buffered trace rows are lost, as on kill -9).
Two parties tender over the bus through ``BusMarketClient`` and record every transaction they
receive. Every scenario ends with the same checks: each interval cleared at most once, every
ledger transaction received by its party exactly once, positions equal the ledger's sums.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.agents.bus_client import BusMarketClient
from osed.agents.bus_service import MarketAgentService
from osed.agents.gates import AFTER_CLEARING, DELIVERY_STARTED
from osed.agents.market_agent import MarketAgent
from osed.agents.recovery import CLEAR_KIND, EXPIRE_KIND
from osed.agents.units import MarketUnits
from osed.bus.memory import MemoryBroker, MemoryBus
from osed.bus.reliable import SqliteOutbox
from osed.domain.cts import (
    EiCreatedTransaction,
    EiCreateTender,
    EiCreateTransaction,
    EiResponse,
    IntervalDetail,
    ResponseCode,
    Side,
    Tender,
)
from osed.domain.time import Interval, ManualClock
from osed.ledger.positions import net_positions
from osed.ledger.verify import verify_store
from osed.markets.registry import create_market
from osed.runtime.cts_bus import CtsBusLink
from osed.storage.sqlite import SqliteLedgerStore

SLOT = timedelta(minutes=15)
GATE = timedelta(minutes=5)
START = datetime(2030, 1, 1, 12, tzinfo=UTC)
UNITS = MarketUnits(price_scale=4, quantity_scale=3, currency="USD", resolution=SLOT)
QUIET_S = 0.05  # how long a party listens for a transaction that must not come


def slot(k: int) -> Interval:
    return Interval(START + k * SLOT, SLOT)


class Party:
    """A TEUA's side of the conversation: tenders, and the transactions it is sent."""

    def __init__(self, broker: MemoryBroker, clock: ManualClock, party_id: str) -> None:
        self.party_id = party_id
        self.clock = clock
        self.bus = MemoryBus(broker, clock=clock)
        self.link = CtsBusLink(self.bus, source=party_id, clock=clock)
        self.client = BusMarketClient(
            market_id="market",
            party_id=party_id,
            source=party_id,
            publish=self.link.publish,
            subscribe=self.link.subscribe,
            timeout_s=2.0,
        )
        self.received: list[EiCreateTransaction] = []
        self._tenders = 0

    async def start(self) -> None:
        await self.bus.start()
        await self.client.start(self._on_transaction)

    async def stop(self) -> None:
        await self.client.stop()
        await self.link.close()
        await self.bus.stop()

    async def tender(self, side: Side, price: int, quantity: int, interval: Interval) -> None:
        self._tenders += 1
        tender_id = f"{self.party_id}-t{self._tenders}"
        detail = IntervalDetail(interval, price, quantity)
        tender = Tender(tender_id, side, detail, price_scale=4, quantity_scale=3)
        request = EiCreateTender(f"{tender_id}-r", self.party_id, "market", tender)
        created = await self.client.create_tender(request)
        assert created.response.ok, created.response

    def transaction_ids(self) -> list[str]:
        return [m.transaction.transaction_id for m in self.received]

    async def _on_transaction(self, message: EiCreateTransaction) -> EiCreatedTransaction:
        self.received.append(message)
        return EiCreatedTransaction(
            EiResponse(int(ResponseCode.OK), message.request_id, self.clock.now()),
            self.party_id,
            message.counter_party_id,
            message.transaction.transaction_id,
        )


class Incarnation:
    """One run of the Market Agent service; :meth:`crash` ends it without a clean stop."""

    def __init__(self, folder: Path, broker: MemoryBroker, clock: ManualClock) -> None:
        self.ledger = SqliteLedgerStore(folder / "ledger.sqlite")
        self.agent = MarketAgent(
            market_id="market",
            market=create_market("double-auction", pricing="pay-as-clear"),
            ledger=self.ledger,
            clock=clock,
            units=UNITS,
        )
        self.bus = MemoryBus(broker, clock=clock)
        self.link = CtsBusLink(
            self.bus,
            source="market-agent",
            clock=clock,
            outbox_for=lambda source: SqliteOutbox(folder / f"outbox-{source}.sqlite", source),
        )
        self.service = MarketAgentService(
            agent=self.agent,
            publish=self.link.publish,
            subscribe=self.link.subscribe,
            interval=SLOT,
            gate_closure=GATE,
            poll=timedelta(milliseconds=2),
        )

    async def start(self) -> None:
        await self.bus.start()
        await self.service.start()

    async def crash(self) -> None:
        """The process is gone: its clearing schedule and its bus with it. The ledger is
        abandoned, not closed or flushed."""
        clearing = self.service._clearing
        if clearing is not None:
            clearing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await clearing
        await self.link.close()
        await self.bus.stop()


class Market:
    """The broker, the parties and the agent's successive incarnations."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.broker = MemoryBroker()
        self.clock = ManualClock(START - timedelta(hours=1))
        self.seller = Party(self.broker, self.clock, "seller")
        self.buyer = Party(self.broker, self.clock, "buyer")
        self.agent: Incarnation | None = None

    async def restart(self) -> Incarnation:
        """Crash the running incarnation (if any) and start a new one."""
        if self.agent is not None:
            await self.agent.crash()
        self.agent = Incarnation(self.folder, self.broker, self.clock)
        await self.agent.start()
        return self.agent

    async def crossing_tenders(self, interval: Interval) -> None:
        """3.000 units trade: the seller offers 5.000 at 0.1000, the buyer bids 3.000 at 0.2000."""
        await self.seller.tender(Side.SELL, 1000, 5000, interval)
        await self.buyer.tender(Side.BUY, 2000, 3000, interval)

    async def received(self, count: int) -> None:
        """Wait until the parties hold ``count`` transactions together, then listen a while
        longer for any that must not come."""
        async with asyncio.timeout(5):
            while len(self.seller.received) + len(self.buyer.received) < count:
                await asyncio.sleep(0.002)
        await asyncio.sleep(QUIET_S)

    def trace_kinds(self, kind: str) -> list[str]:
        assert self.agent is not None
        return [r.message_id for r in self.agent.ledger.traces() if r.kind == kind]

    def check(self) -> None:
        """Nothing cleared twice; every transaction once in the ledger and once at its party;
        positions equal the ledger's sums; bought equals sold per interval."""
        assert self.agent is not None
        ledger = self.agent.ledger
        clearings = Counter(self.trace_kinds(CLEAR_KIND))
        assert all(count == 1 for count in clearings.values()), clearings
        entries = [s.entry for s in ledger.entries()]
        in_ledger = Counter((e.party, e.transaction_id) for e in entries)
        received = Counter(
            (party.party_id, transaction_id)
            for party in (self.seller, self.buyer)
            for transaction_id in party.transaction_ids()
        )
        assert received == in_ledger
        assert max(in_ledger.values(), default=1) == 1
        assert verify_store(ledger).ok
        recorded = {
            (r.party, r.interval, r.quantity_scale): r.quantity for r in ledger.all_positions()
        }
        assert +Counter(recorded) == +Counter(net_positions(entries))
        for interval in {e.interval for e in entries}:
            bought = sum(
                e.quantity for e in entries if e.interval == interval and e.side is Side.BUY
            )
            sold = sum(
                e.quantity for e in entries if e.interval == interval and e.side is Side.SELL
            )
            assert bought == sold


@pytest.fixture
async def market(tmp_path: Path) -> AsyncIterator[Market]:
    world = Market(tmp_path)
    await world.seller.start()
    await world.buyer.start()
    yield world
    if world.agent is not None:
        await world.agent.service.stop()
        await world.agent.link.close()
        await world.agent.bus.stop()
        world.agent.ledger.close()
    await world.seller.stop()
    await world.buyer.stop()


def clearing_of(interval: Interval) -> str:
    return f"clear:market:{interval.key()}:1"


def traded(market: Market, interval: Interval) -> int:
    assert market.agent is not None
    return sum(
        s.entry.quantity for s in market.agent.ledger.entries() if s.entry.interval == interval
    )


async def test_a_gate_missed_while_down_is_cleared_once_at_restart(market: Market) -> None:
    await market.restart()
    await market.crossing_tenders(slot(0))
    await market.crossing_tenders(slot(1))
    market.clock.set(slot(0).start - timedelta(minutes=2))  # slot 0's gate closed 3 min ago
    agent = await market.restart()

    await market.received(2)  # one transaction per side
    assert agent.agent.is_cleared(slot(0))
    assert not agent.agent.is_cleared(slot(1))  # its gate is still open
    assert traded(market, slot(0)) == 2 * 3000
    assert market.trace_kinds(CLEAR_KIND) == [clearing_of(slot(0))]
    market.check()

    again = await market.restart()
    await asyncio.sleep(QUIET_S)
    assert market.trace_kinds(CLEAR_KIND) == [clearing_of(slot(0))]  # not a second time
    assert again.agent.unsent_transactions() == []
    market.check()

    market.clock.set(slot(1).start - GATE)  # the schedule resumed: slot 1 at its gate
    await market.received(4)
    assert traded(market, slot(1)) == 2 * 3000
    market.check()


async def test_a_clearing_done_before_the_crash_is_not_done_again(market: Market) -> None:
    agent = await market.restart()
    await market.crossing_tenders(slot(0))
    market.clock.set(slot(0).start - GATE)
    await market.received(2)
    assert agent.agent.is_cleared(slot(0))

    market.clock.set(slot(0).start - timedelta(minutes=1))
    await market.restart()
    await asyncio.sleep(QUIET_S)
    assert market.trace_kinds(CLEAR_KIND).count(clearing_of(slot(0))) == 1
    assert len(market.seller.received) + len(market.buyer.received) == 2
    market.check()


async def test_transactions_committed_but_not_sent_before_a_crash_are_sent_once(
    market: Market,
) -> None:
    agent = await market.restart()
    await market.crossing_tenders(slot(0))
    report = agent.agent.clear(slot(0))  # committed; the crash comes before they are sent
    assert report.transactions == 2
    await market.restart()
    await market.received(2)
    market.check()

    await market.restart()  # recorded as sent: not sent again
    await asyncio.sleep(QUIET_S)
    assert len(market.seller.received) + len(market.buyer.received) == 2
    market.check()


async def test_an_interval_whose_delivery_began_while_down_is_expired_not_cleared(
    market: Market,
) -> None:
    await market.restart()
    await market.crossing_tenders(slot(0))
    market.clock.set(slot(0).start + timedelta(minutes=1))
    agent = await market.restart()
    await asyncio.sleep(QUIET_S)
    assert agent.agent.open_intervals() == []
    assert not agent.agent.is_cleared(slot(0))
    assert traded(market, slot(0)) == 0
    expiries = [r.body for r in agent.ledger.traces() if r.kind == EXPIRE_KIND]
    assert len(expiries) == 1
    assert DELIVERY_STARTED in expiries[0]

    await market.restart()
    await asyncio.sleep(QUIET_S)
    assert len(market.trace_kinds(EXPIRE_KIND)) == 1
    assert market.seller.received == market.buyer.received == []
    market.check()


async def test_a_tender_that_came_after_its_clearing_is_expired_at_restart(
    market: Market,
) -> None:
    await market.restart()
    await market.crossing_tenders(slot(0))
    market.clock.set(slot(0).start - GATE)
    await market.received(2)
    await market.buyer.tender(Side.BUY, 2000, 1000, slot(0))  # after the gate: rests
    market.clock.set(slot(0).start - timedelta(minutes=1))
    agent = await market.restart()
    await asyncio.sleep(QUIET_S)
    assert agent.agent.open_intervals() == []
    assert market.trace_kinds(CLEAR_KIND).count(clearing_of(slot(0))) == 1
    (expiry,) = [r.body for r in agent.ledger.traces() if r.kind == EXPIRE_KIND]
    assert AFTER_CLEARING in expiry
    assert traded(market, slot(0)) == 2 * 3000
    market.check()


async def test_a_restart_at_the_gate_instant_clears_that_interval_once(market: Market) -> None:
    await market.restart()
    await market.crossing_tenders(slot(0))
    market.clock.set(slot(0).start - GATE)  # the schedule and the restart both see it due
    await market.restart()
    await market.received(2)
    assert market.trace_kinds(CLEAR_KIND).count(clearing_of(slot(0))) == 1
    market.check()
