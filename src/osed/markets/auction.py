"""Uniform-price call auction: a vectorised clearing function and the market around it.

:func:`clear_auction` clears arrays of bids and offers under one of three pricing rules
(:class:`Pricing`); :class:`DoubleAuctionMarket` implements the Market Modular Interface on
top of it. See ``docs/markets.md`` for the rules, their tie cases and tie-breaking.
"""

from __future__ import annotations

from osed.markets._auction_market import MAX_ALL_OR_NONE_ROUNDS, DoubleAuctionMarket
from osed.markets._auction_result import AuctionResult, ClearingType, Matches, Pricing
from osed.markets._call_auction import DEFAULT_BID_OFFSET, clear_auction

__all__ = [
    "DEFAULT_BID_OFFSET",
    "MAX_ALL_OR_NONE_ROUNDS",
    "AuctionResult",
    "ClearingType",
    "DoubleAuctionMarket",
    "Matches",
    "Pricing",
    "clear_auction",
]
