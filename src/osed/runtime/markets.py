"""Wiring of the transactive core's backends: which market mechanism, which ledger store."""

from __future__ import annotations

from pathlib import Path

from osed.markets.protocol import Market
from osed.markets.registry import create_market
from osed.ports.ledger import LedgerStore
from osed.storage.sqlite import SqliteLedgerStore


def open_ledger(path: Path) -> LedgerStore:
    """The default ledger: a SQLite file, created on first use."""
    return SqliteLedgerStore(path)


def build_market(mechanism: str, **options: object) -> Market:
    """A market mechanism registered under ``mechanism`` (entry points ``osed.markets``)."""
    return create_market(mechanism, **options)
