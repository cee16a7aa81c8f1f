"""The grid intelligence's decision log, on SQLite and PostgreSQL alike: decisions kept in
order with their numbers, and read again by a new connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osed.ports.intelligence import DecisionStore
from osed.storage import postgres
from osed.storage.intelligence_sqlite import SqliteDecisionStore
from tests.contract.storage.conftest import BACKENDS, _postgres_locations

AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], DecisionStore]]:
    opened: list[DecisionStore] = []
    if request.param == "sqlite":

        def opener() -> DecisionStore:
            return SqliteDecisionStore(tmp_path / "edc.sqlite")
    else:
        conninfo, new_schema = _postgres_locations(request)
        schema = new_schema()

        def opener() -> DecisionStore:
            return postgres.PostgresDecisionStore(conninfo, schema=schema)

    def tracked() -> DecisionStore:
        opened.append(opener())
        return opened[-1]

    yield tracked
    for store in opened:
        store.close()


def test_decisions_come_back_in_order_with_their_numbers(
    open_store: Callable[[], DecisionStore],
) -> None:
    store = open_store()
    numbers = [
        store.append(AT, "l1", action, f'{{"action":"{action}"}}'.encode())
        for action in ("ignore", "create", "keep", "destroy")
    ]
    assert numbers == sorted(set(numbers))
    assert len(numbers) == 4
    assert [d for _, d in store.recent(2)] == [b'{"action":"keep"}', b'{"action":"destroy"}']
    assert [n for n, _ in store.recent()] == numbers


def test_a_new_connection_reads_the_log(open_store: Callable[[], DecisionStore]) -> None:
    first = open_store()
    first.append(AT, "trafo-1", "create", '{"reason":"Überlast"}'.encode())
    first.close()
    again = open_store()
    assert [d for _, d in again.recent()] == ['{"reason":"Überlast"}'.encode()]
    assert again.append(AT, "trafo-1", "destroy", b"{}") > 1
