"""One connection to a running Market Agent for a command: the configured bus, the agents'
own :class:`~osed.agents.bus_client.BusMarketClient`, and nothing left behind at the broker."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from osed.domain.cts import EiCreatedTransaction, EiCreateTransaction, EiResponse, ResponseCode
from osed.domain.envelope import Envelope
from osed.domain.errors import ConfigurationError
from osed.domain.time import SystemClock
from osed.ports.bus import Subscription

if TYPE_CHECKING:  # the bus, the agents and the settings load only when a command runs
    from osed.agents.bus_client import BusMarketClient
    from osed.runtime.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Connection:
    timeout_s: float
    """Seconds to wait for a reply before sending the request again (same request id)."""
    attempts: int


def new_id(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(8)}"


def market_session(
    settings: Settings,
    connection: Connection,
    party: str,
    call: Callable[[BusMarketClient], Awaitable[T]],
    transactions: list[EiCreateTransaction],
) -> T:
    """Connect, run ``call`` with a started client, disconnect; the party's transactions
    arriving meanwhile are appended to ``transactions`` (and confirmed, as a party does)."""
    return asyncio.run(_connected(settings, connection, party, call, transactions))


async def _connected(
    settings: Settings,
    connection: Connection,
    party: str,
    call: Callable[[BusMarketClient], Awaitable[T]],
    transactions: list[EiCreateTransaction],
) -> T:
    # The bus and the agents load only when a command runs, not for `osed --help`.
    from osed.agents.bus_client import BusMarketClient  # noqa: PLC0415
    from osed.runtime.container import build_bus  # noqa: PLC0415
    from osed.runtime.cts_bus import CtsBusLink  # noqa: PLC0415

    clock = SystemClock()
    # A source (and broker client id) of its own: replies come back to this run only, and a
    # running service with the configured client id is not disconnected.
    source = new_id("cli")
    bus = build_bus(settings, clock, client_id=source)

    async def subscribe(
        pattern: str, handler: Callable[[Envelope], Awaitable[None]], _name: str
    ) -> Subscription:
        # Not durable: a one-off command must leave no session behind at the broker.
        return await bus.subscribe(pattern, handler)

    async def on_transaction(message: EiCreateTransaction) -> EiCreatedTransaction:
        transactions.append(message)
        return EiCreatedTransaction(
            EiResponse(int(ResponseCode.OK), message.request_id, clock.now()),
            party,
            message.counter_party_id,
            message.transaction.transaction_id,
        )

    try:
        await bus.start()
    except ConfigurationError as exc:
        raise ConfigurationError(f"cannot reach the {settings.bus.backend} bus: {exc}") from None
    try:
        link = CtsBusLink(bus, source=source, clock=clock)
        client = BusMarketClient(
            market_id=settings.market.market_id,
            party_id=party,
            source=source,
            publish=link.publish,
            subscribe=subscribe,
            timeout_s=connection.timeout_s,
            attempts=connection.attempts,
        )
        await client.start(on_transaction)
        try:
            return await call(client)
        finally:
            await client.stop()
    finally:
        await bus.stop()
