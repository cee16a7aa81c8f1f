"""Where CTS messages travel on the databus.

- ``cts/<market>/requests``: every request to the Market Agent; the envelope's source is the
  sender's address.
- ``cts/<market>/replies/<source>``: the answer to each request of that source.
- ``cts/<market>/transactions/<party>``: EiCreateTransaction for a party.
- ``cts/<market>/confirmations``: the parties' EiCreatedTransaction.
- ``cts/<market>/queries``: reads of the agent's open tenders, quotes, intervals, book and
  terms (:mod:`osed.agents.market_queries`); the envelope's source is the asker's address.
- ``cts/<market>/answers/<source>``: the answer to each query of that source.
"""

from __future__ import annotations


def requests(market_id: str) -> str:
    return f"cts/{market_id}/requests"


def replies(market_id: str, source: str) -> str:
    return f"cts/{market_id}/replies/{source}"


def transactions(market_id: str, party: str) -> str:
    return f"cts/{market_id}/transactions/{party}"


def confirmations(market_id: str) -> str:
    return f"cts/{market_id}/confirmations"


def queries(market_id: str) -> str:
    return f"cts/{market_id}/queries"


def answers(market_id: str, source: str) -> str:
    return f"cts/{market_id}/answers/{source}"
