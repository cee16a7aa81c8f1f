import gc
import weakref
from collections.abc import Sequence

from osed.agents.in_process import InProcessMarket
from osed.agents.market_agent import MarketAgent
from osed.agents.needs import Need
from osed.agents.user_agent import TransactiveUserAgent
from osed.domain.cts import Side, Transaction
from osed.domain.time import Interval, ManualClock
from tests.unit.agents.conftest import UNITS, slot


class FixedNeeds:
    """A supervisory controller whose need per interval is set by the test."""

    def __init__(self, position: int, limit: int) -> None:
        self.position = position
        self.limit = limit
        self.heard: list[Transaction] = []

    def needs(self, intervals: Sequence[Interval]) -> list[Need]:
        return [Need.at_limit(i, self.position, self.limit) for i in intervals]

    def on_transaction(self, transaction: Transaction) -> None:
        self.heard.append(transaction)


def user(
    party: str, venue: InProcessMarket, controller: FixedNeeds, clock: ManualClock
) -> TransactiveUserAgent:
    agent = TransactiveUserAgent(
        party_id=party,
        market_party_id="market",
        market=venue,
        controller=controller,
        clock=clock,
        units=UNITS,
    )
    venue.register(agent)
    return agent


async def test_teua_tenders_only_the_difference_to_its_position(
    auction_agent: MarketAgent, clock: ManualClock
) -> None:
    venue = InProcessMarket(auction_agent)
    home = FixedNeeds(position=5_000, limit=2_500)
    supplier = FixedNeeds(position=-50_000, limit=1_000)
    home_agent = user("home", venue, home, clock)
    supplier_agent = user("supplier", venue, supplier, clock)

    first = await home_agent.tender([slot(0)])
    assert [(t.side, t.interval_detail.quantity) for t in first.tenders] == [(Side.BUY, 5_000)]
    await supplier_agent.tender([slot(0)])
    venue.clear(slot(0), round_id="day-ahead")
    assert await home_agent.committed(slot(0)) == {slot(0): 5_000}
    assert sum(t.tender.interval_detail.quantity for t in home.heard) == 5_000

    assert (await home_agent.tender([slot(0)])).tenders == []

    home.position = 7_000
    more = await home_agent.tender([slot(0)])
    assert [(t.side, t.interval_detail.quantity) for t in more.tenders] == [(Side.BUY, 2_000)]

    home.position = 4_000
    less = await home_agent.tender([slot(0)])
    assert less.canceled == 1
    assert [(t.side, t.interval_detail.quantity) for t in less.tenders] == [(Side.SELL, 1_000)]


async def test_a_closed_venue_leaves_no_cycle_for_the_collector(
    auction_agent: MarketAgent, clock: ManualClock
) -> None:
    venue = InProcessMarket(auction_agent)
    home_agent = user("home", venue, FixedNeeds(position=5_000, limit=2_500), clock)
    await home_agent.tender([slot(0)])
    gone = weakref.ref(home_agent)
    collecting = gc.isenabled()
    gc.disable()
    try:
        venue.close()
        del home_agent
        assert gone() is None  # freed by reference counting alone
    finally:
        if collecting:
            gc.enable()
