"""Where CTS messages travel on the databus.

- ``cts/<market>/requests``: every request to the Market Agent; the envelope's source is the
  sender's address.
- ``cts/<market>/replies/<source>``: the answer to each request of that source.
- ``cts/<market>/transactions/<party>``: EiCreateTransaction for a party.
- ``cts/<market>/confirmations``: the parties' EiCreatedTransaction.
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
