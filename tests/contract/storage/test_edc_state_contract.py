"""The EDC state store, on SQLite and PostgreSQL alike: a put replaces, a remove forgets, and a
new connection (a restarted manager) reads what was stored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osed.ports.edc import EdcStateStore
from osed.storage import postgres
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.contract.storage.conftest import BACKENDS, _postgres_locations


@pytest.fixture(params=BACKENDS)
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], EdcStateStore]]:
    opened: list[EdcStateStore] = []
    if request.param == "sqlite":

        def opener() -> EdcStateStore:
            return SqliteEdcStateStore(tmp_path / "edc.sqlite")
    else:
        conninfo, new_schema = _postgres_locations(request)
        schema = new_schema()

        def opener() -> EdcStateStore:
            return postgres.PostgresEdcStateStore(conninfo, schema=schema)

    def tracked() -> EdcStateStore:
        opened.append(opener())
        return opened[-1]

    yield tracked
    for store in opened:
        store.close()


def test_put_replaces_and_remove_forgets(open_store: Callable[[], EdcStateStore]) -> None:
    store = open_store()
    store.put("area-1", b'{"v":1}')
    store.put("area-2", b'{"v":2}')
    store.put("area-1", b'{"v":3}')
    store.remove("area-2")
    store.remove("never-there")
    assert store.load_all() == {"area-1": b'{"v":3}'}


def test_a_new_connection_reads_what_was_stored(open_store: Callable[[], EdcStateStore]) -> None:
    first = open_store()
    first.put("b", b"{}")
    first.put("a", '{"name":"Zürich"}'.encode())
    first.close()
    assert open_store().load_all() == {"a": '{"name":"Zürich"}'.encode(), "b": b"{}"}
