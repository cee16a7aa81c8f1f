"""The values a Market Agent keeps in memory between requests, and writes into its snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from osed.domain.cts import EiCreateTransaction, Message, Quote, Tender
from osed.domain.time import Interval


@dataclass(frozen=True, slots=True)
class Notification:
    """A message the agent sends unprompted, to ``party`` (an EiCreateTransaction)."""

    party: str
    message: EiCreateTransaction


@dataclass(frozen=True, slots=True)
class Reply:
    response: Message
    notifications: tuple[Notification, ...] = ()


@dataclass(frozen=True, slots=True)
class UnsentTransactions:
    """The transactions of a clearing that may not have reached the parties before a crash."""

    clearing_id: str
    interval: Interval
    notifications: tuple[Notification, ...]


@dataclass(slots=True)
class OpenTender:
    """A tender (or one interval of a stream tender) resting in the market."""

    party: str
    counter_party: str
    tender: Tender
    instrument: str


@dataclass(slots=True)
class OpenQuote:
    party: str
    quote: Quote
    remaining: int
