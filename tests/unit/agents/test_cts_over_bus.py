"""TEUAs and the Market Agent on separate buses of one broker, as separate processes would be."""

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from osed.agents.bus_client import BusMarketClient
from osed.agents.bus_service import MarketAgentService
from osed.agents.market_agent import MarketAgent
from osed.agents.needs import Need
from osed.agents.user_agent import TransactiveUserAgent
from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.cts import EiCreatedTransaction, EiCreateTransaction, Transaction
from osed.domain.time import Interval, ManualClock
from osed.runtime.cts_bus import CtsBusLink
from tests.unit.agents.conftest import UNITS, slot


class FixedNeeds:
    def __init__(self, position: int, limit: int) -> None:
        self.position, self.limit = position, limit
        self.heard: list[Transaction] = []

    def needs(self, intervals: Sequence[Interval]) -> list[Need]:
        return [Need.at_limit(i, self.position, self.limit) for i in intervals]

    def on_transaction(self, transaction: Transaction) -> None:
        self.heard.append(transaction)


async def connect_user(
    broker: MemoryBroker, clock: ManualClock, party: str, controller: FixedNeeds
) -> tuple[TransactiveUserAgent, BusMarketClient, CtsBusLink]:
    bus = MemoryBus(broker, clock=clock)
    await bus.start()
    link = CtsBusLink(bus, source=party, clock=clock)
    client = BusMarketClient(
        market_id="market",
        party_id=party,
        source=party,
        publish=link.publish,
        subscribe=link.subscribe,
        timeout_s=2.0,
    )
    user = TransactiveUserAgent(
        party_id=party,
        market_party_id="market",
        market=client,
        controller=controller,
        clock=clock,
        units=UNITS,
    )

    async def confirm(message: EiCreateTransaction) -> EiCreatedTransaction:
        return user.on_transaction(message)

    await client.start(confirm)
    return user, client, link


async def test_teuas_trade_through_the_market_agent_over_the_bus(
    auction_agent: MarketAgent, clock: ManualClock
) -> None:
    broker = MemoryBroker()
    market_bus = MemoryBus(broker, clock=clock)
    await market_bus.start()
    market_link = CtsBusLink(market_bus, source="market-agent", clock=clock)
    service = MarketAgentService(
        agent=auction_agent,
        publish=market_link.publish,
        subscribe=market_link.subscribe,
        interval=timedelta(minutes=15),
        poll=timedelta(hours=1),  # the test clears explicitly
    )
    await service.start()

    home, supplier = FixedNeeds(4_000, 3_000), FixedNeeds(-40_000, 1_000)
    home_user, _, _ = await connect_user(broker, clock, "home", home)
    supplier_user, _, _ = await connect_user(broker, clock, "supplier", supplier)
    await home_user.tender([slot(0)])
    await supplier_user.tender([slot(0)])
    await service.clear(slot(0))

    for _ in range(200):
        if home.heard and supplier.heard:
            break
        await asyncio.sleep(0.01)
    assert sum(t.tender.interval_detail.quantity for t in home.heard) == 4_000
    assert sum(t.tender.interval_detail.quantity for t in supplier.heard) == 4_000
    assert await home_user.committed(slot(0)) == {slot(0): 4_000}
    # Only the difference is tendered next time: nothing.
    assert (await home_user.tender([slot(0)])).tenders == []
    await service.stop()
    await market_link.close()
    kinds = {record.kind for record in auction_agent.ledger.traces()}
    assert {"EiCreateTender", "EiRequestPosition", "EiCreatedTransaction"} <= kinds
