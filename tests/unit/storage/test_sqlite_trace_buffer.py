import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from osed.domain.errors import IntegrityError, ValidationError
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.storage.store_samples import trades

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def test_a_rolled_back_append_keeps_the_buffered_traces(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with SqliteLedgerStore(path) as store:
        store.trace("m1", "EiCreateTender", NOW, "{}")
        with sqlite3.connect(path) as other:  # a head that no longer describes the last entry
            other.execute("UPDATE head SET entry_count = 7")
        message_id, entries = trades(1)[0]
        with pytest.raises(IntegrityError):
            store.append(message_id, entries)
        with sqlite3.connect(path) as other:
            other.execute("UPDATE head SET entry_count = 0")
        store.append(message_id, entries)
        assert [t.message_id for t in store.traces()] == ["m1"]


def test_a_trace_body_that_is_not_text_is_refused_at_once(tmp_path: Path) -> None:
    with SqliteLedgerStore(tmp_path / "ledger.sqlite") as store:
        with pytest.raises(ValidationError, match=r"\$\.body"):
            store.trace("m1", "EiCreateTender", NOW, "lone \ud800 surrogate")
        message_id, entries = trades(1)[0]
        store.append(message_id, entries)
        assert list(store.traces()) == []
