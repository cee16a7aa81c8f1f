"""A Market Agent behind group commit, answering concurrent callers until it is killed.

``python group_commit_process.py LEDGER SEED``: callers send tenders without end; each reply
prints its request id on standard output the moment it is released, so the test that kills
this process knows exactly which requests got a reply.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from osed.agents.group_commit import GroupCommit
from osed.agents.market_agent import MarketAgent
from osed.agents.units import MarketUnits
from osed.domain.cts import EiCreateTender, IntervalDetail, Side, Tender
from osed.domain.time import Interval, ManualClock
from osed.markets.registry import create_market
from osed.storage.sqlite import SqliteLedgerStore

START = datetime(2026, 7, 1, tzinfo=UTC)
SLOT = timedelta(minutes=15)
UNITS = MarketUnits(price_scale=4, quantity_scale=3, currency="USD", resolution=SLOT)


def tender_request(n: int) -> EiCreateTender:
    tender = Tender(
        f"t{n}",
        Side.BUY,
        IntervalDetail(Interval(START + (n % 4) * SLOT, SLOT), 1000, 1000 + n),
        price_scale=4,
        quantity_scale=3,
    )
    return EiCreateTender(f"r{n}", f"p{n % 7}", "market", tender)


async def main(path: str, seed: int) -> None:
    ledger = SqliteLedgerStore(path)
    agent = MarketAgent(
        market_id="market",
        market=create_market("double-auction", pricing="pay-as-clear"),
        ledger=ledger,
        clock=ManualClock(START),
        units=UNITS,
    )
    batcher = GroupCommit(agent, max_batch=64)
    callers = 40 + 30 * seed

    async def caller(first: int) -> None:
        n = first
        while True:
            await batcher.handle(tender_request(n))
            sys.stdout.write(f"r{n}\n")
            sys.stdout.flush()
            n += callers

    await asyncio.gather(*(caller(k) for k in range(callers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
