"""The handle a storage contract test gets on its backend: stores on its own storage."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from osed.ports.ledger import LedgerStore
from osed.ports.timeseries import TimeSeriesStore

Store = TypeVar("Store", LedgerStore, TimeSeriesStore)


class Backend(Generic[Store]):
    def __init__(
        self,
        name: str,
        opener: Callable[[str], Store],
        new_location: Callable[[], str],
        *,
        trace_buffer_rows: int = 0,
    ) -> None:
        self.name = name
        self.trace_buffer_rows = trace_buffer_rows
        self._opener: Callable[[str], Store] = opener
        self._new_location = new_location
        self._location = new_location()
        self._opened: list[Store] = []

    def open(self, *, closed_by_caller: bool = False) -> Store:
        """A new store (a new connection) on this test's storage; a store used in another
        thread must be closed by its caller, in that thread."""
        store = self._opener(self._location)
        return store if closed_by_caller else self._track(store)

    def fresh(self) -> Store:
        """A store on new, empty storage, e.g. one per hypothesis example."""
        return self._track(self._opener(self._new_location()))

    def close_all(self) -> None:
        for store in self._opened:
            store.close()

    def _track(self, store: Store) -> Store:
        self._opened.append(store)
        return store


def sqlite_locations(folder: Path, suffix: str) -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: str(folder / f"store-{next(numbers)}.{suffix}")
