"""What the market routes need of a market, wherever its Market Agent runs: in this process
(:class:`LocalMarket`, over the :class:`MarketAgentService`) or in another one, reached over
the bus (:class:`~osed.agents.remote_market.RemoteMarket`). The routers see only
:class:`MarketAccess`, so the same routes give the same answers either way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from osed.agents.bus_service import MarketAgentService
from osed.agents.market_agent import Reply, Request
from osed.agents.market_queries import MarketTerms
from osed.agents.market_state import OpenQuote, OpenTender
from osed.domain.errors import NotFoundError
from osed.domain.time import Interval
from osed.markets.protocol import BookSnapshot
from osed.ports.ledger import LedgerStore


class MarketAccess(Protocol):
    """One market: requests answered by its Market Agent, reads of what rests in it, and the
    ledger its transactions are in. A Market Agent that cannot be reached raises
    :class:`~osed.domain.errors.UnavailableError` (503)."""

    @property
    def ledger(self) -> LedgerStore: ...

    async def serve(self, request: Request) -> Reply:
        """The agent's reply to a CTS request (traced, idempotent by request id); the
        transactions it makes go to their parties from the agent."""
        ...

    async def terms(self) -> MarketTerms: ...

    async def open_tenders(self) -> list[OpenTender]: ...

    async def open_parts(self, tender_id: str) -> list[OpenTender]: ...

    async def open_quotes(self) -> list[OpenQuote]: ...

    async def open_intervals(self) -> list[Interval]: ...

    async def book(self, instrument: str) -> BookSnapshot: ...


class LocalMarket:
    """A market whose Market Agent runs in this process."""

    def __init__(self, service: MarketAgentService) -> None:
        self.service = service

    @property
    def ledger(self) -> LedgerStore:
        return self.service.agent.ledger

    async def serve(self, request: Request) -> Reply:
        return await self.service.serve(request)

    async def terms(self) -> MarketTerms:
        agent = self.service.agent
        return MarketTerms(agent.market.name, agent.market.continuous, agent.units)

    async def open_tenders(self) -> list[OpenTender]:
        return self.service.agent.open_tenders()

    async def open_parts(self, tender_id: str) -> list[OpenTender]:
        return self.service.agent.open_parts(tender_id)

    async def open_quotes(self) -> list[OpenQuote]:
        return self.service.agent.open_quotes()

    async def open_intervals(self) -> list[Interval]:
        return self.service.agent.open_intervals()

    async def book(self, instrument: str) -> BookSnapshot:
        return self.service.agent.market.snapshot(instrument)


def market_access(
    markets: Mapping[str, MarketAgentService | MarketAccess],
) -> dict[str, MarketAccess]:
    """Each market as the routers use it: a service of this process wrapped, others as given."""
    return {
        market_id: LocalMarket(found) if isinstance(found, MarketAgentService) else found
        for market_id, found in markets.items()
    }


def market_of(markets: Mapping[str, MarketAccess], market_id: str) -> MarketAccess:
    """The market ``market_id``; an unknown one is 404, naming those there are."""
    found = markets.get(market_id)
    if found is None:
        raise NotFoundError(f"no market {market_id!r}: the markets are {sorted(markets)}")
    return found
