import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from osed.storage.sqlite import TRACE_BUFFER_ROWS, SqliteLedgerStore
from tests.unit.storage.store_samples import trades

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def rows_on_disk(path: Path) -> int:
    with sqlite3.connect(path) as other:
        (count,) = other.execute("SELECT count(*) FROM trace").fetchone()
    return int(count)


def test_traces_are_durable_with_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    store = SqliteLedgerStore(path)
    store.trace("m1", "EiCreateTender", NOW, "{}")
    store.trace("m2", "EiCreateTender", NOW, "{}")
    assert rows_on_disk(path) == 0
    message_id, entries = trades(1)[0]
    store.append(message_id, entries)
    assert rows_on_disk(path) == 2
    store.trace("m3", "EiCancelTender", NOW, "{}")
    store.close()
    assert rows_on_disk(path) == 3


def test_a_full_trace_buffer_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with SqliteLedgerStore(path) as store:
        for n in range(TRACE_BUFFER_ROWS):
            store.trace(f"m{n}", "EiCreateTender", NOW, "{}")
        assert rows_on_disk(path) == TRACE_BUFFER_ROWS
        assert [r.message_id for r in store.traces()][:2] == ["m0", "m1"]
