"""Wiring of the transactive core's backends: which market mechanism, which ledger store."""

from __future__ import annotations

from pathlib import Path

from osed.domain.errors import OsedError
from osed.markets.protocol import Market
from osed.markets.registry import create_market
from osed.ports.ledger import LedgerStore
from osed.storage.sqlite import SqliteLedgerStore


def open_ledger(path: Path) -> LedgerStore:
    """The default ledger: a SQLite file, created on first use."""
    return SqliteLedgerStore(path)


def is_ledger_file(path: Path) -> bool:
    """Whether ``path`` is an existing OSED ledger (opened read-only to find out)."""
    try:
        SqliteLedgerStore.open_existing(path, read_only=True).close()
    except OsedError:
        return False
    return True


def build_market(mechanism: str, **options: object) -> Market:
    """A market mechanism registered under ``mechanism`` (entry points ``osed.markets``)."""
    return create_market(mechanism, **options)
