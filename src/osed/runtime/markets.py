"""Wiring of the transactive core's backends: which market mechanism, which ledger store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from osed.domain.errors import ConfigurationError, OsedError
from osed.markets.protocol import Market
from osed.markets.registry import create_market
from osed.ports.ledger import LedgerStore
from osed.storage.sqlite import SqliteLedgerStore

if TYPE_CHECKING:  # the settings pull in every service's configuration: not for `market demo`
    from osed.runtime.settings import Settings


def open_ledger(path: Path) -> LedgerStore:
    """The default ledger: a SQLite file, created on first use."""
    return SqliteLedgerStore(path)


def open_shared_ledger(settings: Settings) -> LedgerStore:
    """The ledger a Market Agent of another process writes, for reading: a SQLite file opened
    read-only (it must exist: the Market Agent creates it), or the PostgreSQL store."""
    storage = settings.storage
    if storage.backend == "sqlite":
        try:
            return SqliteLedgerStore.open_existing(storage.sqlite_path, read_only=True)
        except OsedError as exc:
            raise ConfigurationError(
                f"storage.sqlite_path: the Market Agent's ledger cannot be read: {exc}"
            ) from exc
    if storage.postgres_dsn is None:
        raise ConfigurationError("storage.postgres_dsn is required for the postgres backend")
    from osed.storage.postgres import PostgresLedgerStore  # noqa: PLC0415 - optional extra

    return PostgresLedgerStore(storage.postgres_dsn.get_secret_value())


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
