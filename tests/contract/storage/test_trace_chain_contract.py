"""The trace's hash chain, on every ledger backend: recovery replays the trace as the truth,
so a row that was altered, removed or stripped of its hash is refused when it is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from osed.domain.errors import IntegrityError
from osed.ledger.verify import Finding, verify_store
from osed.ports.ledger import LedgerStore
from osed.storage.sqlite import SqliteLedgerStore

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)


def execute(ledger: LedgerStore, statement: str) -> None:
    """Raw SQL on the backend's own connection, as an operator editing the data would."""
    if isinstance(ledger, SqliteLedgerStore):
        ledger._db.execute(statement)
        return
    connection = ledger._session.connection()  # type: ignore[attr-defined]
    with connection.transaction():
        connection.execute(statement)


def traced(ledger: LedgerStore, rows: int = 4) -> None:
    for n in range(rows):
        ledger.trace(f"m{n}", "EiCreateTender", AT + timedelta(seconds=n), f'{{"n": {n}}}')
    ledger.flush()


def test_an_intact_trace_reads_in_full_and_from_any_position(ledger: LedgerStore) -> None:
    traced(ledger)
    traced(ledger, 2)  # a second flush chains onto the first
    assert [r.seq for r in ledger.traces()] == [1, 2, 3, 4, 5, 6]
    assert [r.seq for r in ledger.traces(after_seq=3)] == [4, 5, 6]
    assert verify_store(ledger).ok


@pytest.mark.parametrize(
    ("statement", "bad_row"),
    [
        ("UPDATE trace SET body = '{\"n\": 9}' WHERE seq = 2", 2),
        ("UPDATE trace SET kind = 'EiCancelTender' WHERE seq = 3", 3),
        ("DELETE FROM trace WHERE seq = 2", 3),
        ("UPDATE trace SET hash = NULL WHERE seq = 2", 2),
    ],
)
def test_a_damaged_trace_row_is_refused_and_reported(
    ledger: LedgerStore, statement: str, bad_row: int
) -> None:
    traced(ledger)
    execute(ledger, statement)
    with pytest.raises(IntegrityError, match=f"trace row {bad_row} is damaged"):
        list(ledger.traces())
    report = verify_store(ledger)
    assert report.problem is Finding.TRACE_MISMATCH
    assert f"trace row {bad_row} is damaged" in report.detail
