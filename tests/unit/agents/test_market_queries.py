"""A Market Agent's state read over the bus by a client on another bus of the same broker (as
another process would): what the client reads is what the agent holds; a malformed query is
answered with every problem; an agent that is gone is a 503-kind error, not a hang."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from osed.agents import bus_topics
from osed.agents.bus_client import MarketUnavailableError
from osed.agents.bus_service import MarketAgentService
from osed.agents.market_agent import MarketAgent
from osed.agents.remote_market import RemoteMarket
from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.cts import EiCreatedTender, EiCreateTender, IntervalDetail, Side, Tender
from osed.domain.envelope import Envelope
from osed.domain.errors import UnavailableError
from osed.domain.time import ManualClock
from osed.runtime.cts_bus import CtsBusLink
from tests.unit.agents.conftest import slot


@dataclass
class Pair:
    service: MarketAgentService
    remote: RemoteMarket
    client_bus: MemoryBus


@pytest.fixture
async def pair(bilateral_agent: MarketAgent, clock: ManualClock) -> AsyncIterator[Pair]:
    broker = MemoryBroker()
    agent_bus, client_bus = MemoryBus(broker, clock=clock), MemoryBus(broker, clock=clock)
    await agent_bus.start()
    await client_bus.start()
    agent_link = CtsBusLink(agent_bus, source="market-agent", clock=clock)
    client_link = CtsBusLink(client_bus, source="api-1", clock=clock)
    service = MarketAgentService(
        agent=bilateral_agent,
        publish=agent_link.publish,
        subscribe=agent_link.subscribe,
        interval=timedelta(minutes=15),
    )
    remote = RemoteMarket(
        market_id="market",
        ledger=bilateral_agent.ledger,
        source="api-1",
        publish=client_link.publish,
        subscribe=client_link.subscribe,
        timeout_s=0.2,
    )
    await service.start()
    await remote.start()
    yield Pair(service, remote, client_bus)
    await remote.stop()
    await service.stop()


def offer(tender_id: str, quantity: int) -> EiCreateTender:
    tender = Tender(
        tender_id, Side.SELL, IntervalDetail(slot(0), 1500, quantity), 4, 3, currency="USD"
    )
    return EiCreateTender(f"req-{tender_id}", "seller", "market", tender, market_id="market")


async def test_what_the_client_reads_is_what_the_agent_holds(pair: Pair) -> None:
    agent = pair.service.agent
    reply = await pair.remote.serve(offer("s-1", 2000))
    assert isinstance(reply.response, EiCreatedTender)
    assert reply.response.response.response_code == 201
    assert await pair.remote.open_tenders() == agent.open_tenders() != []
    assert await pair.remote.open_parts("s-1") == agent.open_parts("s-1")
    assert await pair.remote.open_parts("unknown") == []
    assert await pair.remote.open_intervals() == [slot(0)]
    instrument = slot(0).key()
    assert await pair.remote.book(instrument) == agent.market.snapshot(instrument)
    terms = await pair.remote.terms()
    assert (terms.mechanism, terms.continuous, terms.units) == ("bilateral", True, agent.units)
    assert await pair.remote.open_quotes() == agent.open_quotes()


async def test_a_malformed_query_is_answered_with_every_problem(pair: Pair) -> None:
    heard: list[bytes] = []
    arrived = asyncio.Event()

    async def on_answer(envelope: Envelope) -> None:
        heard.append(envelope.payload)
        arrived.set()

    await pair.client_bus.subscribe(bus_topics.answers("market", "probe"), on_answer)
    body = json.dumps({"queryId": "q-1", "query": "everything", "interval": 7}).encode()
    await pair.client_bus.publish(
        Envelope(bus_topics.queries("market"), "probe", 1, body, pair.service.agent.clock.now())
    )
    await asyncio.wait_for(arrived.wait(), 2)
    answer = json.loads(heard[0])
    assert answer["refId"] == "q-1"
    assert "$.query" in answer["error"]
    assert "$.interval" in answer["error"]  # every problem at once


async def test_a_stopped_agent_is_unavailable_within_the_timeout(pair: Pair) -> None:
    await pair.service.stop()
    began = time.monotonic()
    with pytest.raises(MarketUnavailableError) as raised:
        await pair.remote.open_tenders()
    assert isinstance(raised.value, UnavailableError)
    assert time.monotonic() - began < 2.0  # two attempts of 0.2 s
    with pytest.raises(MarketUnavailableError):
        await pair.remote.serve(offer("s-2", 1000))
