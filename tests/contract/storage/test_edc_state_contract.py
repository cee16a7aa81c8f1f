"""The EDC state store, on SQLite and PostgreSQL alike: a put replaces, a remove forgets, and a
new connection (a restarted manager) reads what was stored; enrolments are rows of their own,
and a store of the first version has its documents' enrolments moved out."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from osed.domain.errors import NotFoundError
from osed.ports.edc import EdcStateStore, StoredEdc
from osed.storage import edc_sqlite, postgres
from osed.storage._pg_migrations import migrate
from osed.storage._pg_schema import EDC_COMPONENT, EDC_MIGRATIONS
from osed.storage._sqlite_common import migrate_component
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.contract.storage.conftest import BACKENDS, _postgres_locations


@pytest.fixture(params=BACKENDS)
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], EdcStateStore]]:
    opened: list[EdcStateStore] = []
    if request.param == "sqlite":
        path = tmp_path / "edc.sqlite"

        def opener() -> EdcStateStore:
            return SqliteEdcStateStore(path)

        def first_version(documents: dict[str, bytes]) -> None:
            with sqlite3.connect(path, isolation_level=None) as db:
                migrate_component(db, edc_sqlite.COMPONENT, edc_sqlite._MIGRATIONS[:1])
                db.executemany("INSERT INTO edc_state VALUES (?, ?)", documents.items())
            db.close()
    else:
        conninfo, new_schema = _postgres_locations(request)
        schema = new_schema()

        def opener() -> EdcStateStore:
            return postgres.PostgresEdcStateStore(conninfo, schema=schema)

        def first_version(documents: dict[str, bytes]) -> None:
            with psycopg.connect(conninfo, autocommit=True) as connection:
                connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
                migrate(connection, schema, EDC_COMPONENT, EDC_MIGRATIONS[:1])
                with connection.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO edc_state VALUES (%s, %s)", list(documents.items())
                    )

    request.node.first_version = first_version

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
    assert store.load_all() == {"area-1": StoredEdc(b'{"v":3}', {})}


def test_a_new_connection_reads_what_was_stored(open_store: Callable[[], EdcStateStore]) -> None:
    first = open_store()
    first.put("b", b"{}")
    first.put("a", '{"name":"Zürich"}'.encode())
    first.close()
    assert open_store().load_all() == {
        "a": StoredEdc('{"name":"Zürich"}'.encode()),
        "b": StoredEdc(b"{}"),
    }


def test_enrolments_are_rows_that_a_put_keeps_and_a_remove_forgets(
    open_store: Callable[[], EdcStateStore],
) -> None:
    store = open_store()
    store.put("a", b'{"v":1}')
    store.put("b", b'{"v":1}')
    store.put_enrolments("a", [("b1", b'{"t":1}'), ("b2", b'{"t":2}')])
    store.put_enrolments("a", [("b1", b'{"t":3}')])  # enrolling again replaces
    store.put_enrolments("b", [("b1", b'{"t":4}')])
    store.put("a", b'{"v":2}')  # the document alone
    store.remove_enrolment("a", "b2")
    store.remove_enrolment("a", "never-there")
    assert open_store().load_all() == {
        "a": StoredEdc(b'{"v":2}', {"b1": b'{"t":3}'}),
        "b": StoredEdc(b'{"v":1}', {"b1": b'{"t":4}'}),
    }
    store.remove("a")
    store.put("a", b'{"v":5}')  # a new EDC under the old id starts without enrolments
    assert store.load_all()["a"] == StoredEdc(b'{"v":5}', {})


def test_an_enrolment_in_an_unknown_edc_is_refused_and_nothing_written(
    open_store: Callable[[], EdcStateStore],
) -> None:
    store = open_store()
    with pytest.raises(NotFoundError, match="no stored EDC 'gone'"):
        store.put_enrolments("gone", [("b1", b"{}")])
    store.put("gone", b"{}")
    assert store.load_all() == {"gone": StoredEdc(b"{}", {})}


def test_a_first_version_store_has_its_enrolments_moved_out_of_the_documents(
    open_store: Callable[[], EdcStateStore], request: pytest.FixtureRequest
) -> None:
    token = {"salt": "00ff", "digest": "ab12"}
    old = {
        "id": "a",
        "element": "trafo-7",
        "enrolled": {
            "b1": {"token": token, "functions": None},
            "b2": {"token": token, "functions": ["dlc"]},
        },
        "functions": {"dlc": {"parameters": {"offset_c": 1.50, "big": 1e300}}},
    }
    request.node.first_version(
        {
            "a": json.dumps(old).encode(),
            "b": b'{"id": "b", "enrolled": {}}',
            "c": b"{not json",
            "d": b"[1, 2]",
        }
    )
    loaded = open_store().load_all()
    assert set(loaded) == {"a", "b", "c", "d"}
    assert {b: json.loads(e) for b, e in loaded["a"].enrolments.items()} == old["enrolled"]
    document = json.loads(loaded["a"].document)
    assert document == {k: v for k, v in old.items() if k != "enrolled"}
    assert isinstance(document["functions"]["dlc"]["parameters"]["big"], float)
    assert json.loads(loaded["b"].document) == {"id": "b"}
    assert loaded["b"].enrolments == {}
    assert loaded["c"] == StoredEdc(b"{not json", {})
    assert loaded["d"] == StoredEdc(b"[1, 2]", {})
