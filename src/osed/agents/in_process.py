"""A TEUA's Market Agent reached by a function call, with transactions delivered in process.

Requests of user agents running concurrently are answered in batches with one durable write
each (:mod:`osed.agents.group_commit`); a lone caller gets a batch of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from osed.agents.group_commit import GroupCommit
from osed.agents.market_agent import ClearingReport, MarketAgent, Notification, Reply
from osed.agents.user_agent import TransactiveUserAgent
from osed.domain.cts import EiCancelTender, EiCreateTender, EiReplyPosition, EiRequestPosition
from osed.domain.errors import ConflictError
from osed.domain.time import Interval


class InProcessMarket:
    """Implements the TEUA's MarketAgentPort over a local :class:`MarketAgent`."""

    def __init__(self, agent: MarketAgent) -> None:
        self.agent = agent
        self.requests = GroupCommit(agent)
        self._users: dict[str, TransactiveUserAgent] = {}

    def register(self, user: TransactiveUserAgent) -> None:
        if user.party_id in self._users:
            raise ConflictError(f"party {user.party_id} is registered already")
        self._users[user.party_id] = user

    def close(self) -> None:
        """Forget the registered user agents: each holds this market, so until then they and
        the Market Agent form a reference cycle that only the cyclic collector frees."""
        self._users.clear()

    async def create_tender(self, request: EiCreateTender) -> Reply:
        return self._deliver(await self.requests.handle(request))

    async def cancel_tender(self, request: EiCancelTender) -> Reply:
        return self._deliver(await self.requests.handle(request))

    async def request_position(self, request: EiRequestPosition) -> EiReplyPosition:
        reply = (await self.requests.handle(request)).response
        if not isinstance(reply, EiReplyPosition):
            raise ConflictError(f"position request {request.request_id} refused: {reply}")
        return reply

    def clear(self, interval: Interval, *, round_id: str = "1") -> ClearingReport:
        """Clear now; requests still waiting for their batch come after the clearing."""
        report = self.agent.clear(interval, round_id=round_id)
        self._notify(report.notifications)
        for user in self._users.values():
            user.forget(interval)
        return report

    def _deliver(self, reply: Reply) -> Reply:
        self._notify(reply.notifications)
        return reply

    def _notify(self, notifications: Iterable[Notification]) -> None:
        for notification in notifications:
            user = self._users.get(notification.party)
            if user is not None:
                self.agent.acknowledge(user.on_transaction(notification.message))
