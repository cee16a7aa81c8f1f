"""Properties under random appends: positions always equal the ledger sums, retries never
duplicate, and a committed append survives kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from store_samples import entries_strategy

from osed.domain.ledger import LedgerEntry
from osed.ledger.positions import net_positions, positions_of_rows
from osed.ledger.verify import verify_store
from osed.ports.ledger import AppendResult
from osed.storage.sqlite import SqliteLedgerStore

messages = st.lists(entries_strategy, min_size=0, max_size=4)


class LedgerMachine(RuleBasedStateMachine):
    """A model of what was committed, message by message, against the real store."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.path = Path(self.folder.name) / "ledger.db"
        self.store = SqliteLedgerStore(self.path, synchronous="NORMAL")
        self.committed: dict[str, AppendResult] = {}
        self.entries: list[LedgerEntry] = []
        self.next_id = 0

    def _fresh_id(self) -> str:
        self.next_id += 1
        return f"msg-{self.next_id}"

    def _expect(self, message_id: str, entries: list[LedgerEntry], result: AppendResult) -> None:
        if message_id in self.committed:
            assert result.duplicate
            assert result.entries == self.committed[message_id].entries
        else:
            assert not result.duplicate
            assert [stored.entry for stored in result.entries] == entries
            self.committed[message_id] = result
            self.entries.extend(entries)

    @rule(entries=messages)
    def append_new(self, entries: list[LedgerEntry]) -> None:
        message_id = self._fresh_id()
        self._expect(message_id, entries, self.store.append(message_id, entries))

    @precondition(lambda self: self.committed)
    @rule(data=st.data(), entries=messages)
    def retry(self, data: st.DataObject, entries: list[LedgerEntry]) -> None:
        message_id = data.draw(st.sampled_from(sorted(self.committed)))
        self._expect(message_id, entries, self.store.append(message_id, entries))

    @rule(data=st.data(), batch=st.lists(messages, max_size=5))
    def append_batch_with_repeats(
        self, data: st.DataObject, batch: list[list[LedgerEntry]]
    ) -> None:
        known = sorted(self.committed)
        ids = [
            data.draw(st.sampled_from(known))
            if known and data.draw(st.booleans())
            else self._fresh_id()
            for _ in batch
        ]
        if ids and data.draw(st.booleans()):  # the same id twice inside the batch
            ids[-1] = ids[0]
        results = self.store.append_many(list(zip(ids, batch, strict=True)))
        for message_id, entries, result in zip(ids, batch, results, strict=True):
            self._expect(message_id, entries, result)

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = SqliteLedgerStore(self.path, synchronous="NORMAL")

    @invariant()
    def positions_equal_ledger_sums(self) -> None:
        stored = positions_of_rows(self.store.all_positions())
        assert stored == net_positions(self.entries)
        assert stored == net_positions(entry.entry for entry in self.store.entries())

    @invariant()
    def no_entry_is_recorded_twice(self) -> None:
        assert self.store.count() == len(self.entries)
        seqs = [stored.seq for stored in self.store.entries()]
        assert seqs == list(range(1, len(self.entries) + 1))

    @invariant()
    def the_ledger_verifies(self) -> None:
        assert verify_store(self.store).ok

    def teardown(self) -> None:
        self.store.close()
        self.folder.cleanup()


LedgerMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
TestLedgerMachine = LedgerMachine.TestCase


WRITER = textwrap.dedent(
    """
    import sys
    from store_samples import trades
    from osed.storage.sqlite import SqliteLedgerStore

    store = SqliteLedgerStore(sys.argv[1])
    for first in range(0, 1_000_000, 50):
        store.append_many(trades(50, first=first))
        print(store.count(), flush=True)  # acknowledged: the append returned
    """
)


def test_an_acknowledged_append_survives_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert writer.stdout is not None
    acknowledged = 0
    for line in writer.stdout:
        acknowledged = int(line)
        if acknowledged >= 2_000:
            break
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    with SqliteLedgerStore(path) as store:
        assert store.count() >= acknowledged
        report = verify_store(store)
        assert report.ok, report
