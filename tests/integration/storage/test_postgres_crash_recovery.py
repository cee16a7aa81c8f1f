"""kill -9 of the postmaster in the middle of a stream of appends: after the restart and the
client's retries, every message is recorded exactly once and the ledger verifies."""

from __future__ import annotations

import threading
import time

from osed.domain.errors import ConflictError, IntegrityError, UnavailableError
from osed.ledger.positions import net_positions, positions_of_rows
from osed.ledger.verify import verify_store
from osed.storage.postgres import PostgresLedgerStore
from tests.services.postgres import PostgresCluster
from tests.unit.storage.store_samples import trades

MESSAGES = trades(900)
PER_BATCH = 3


class RetryingClient:
    """Sends the messages in order, each batch repeating the previous batch's last message,
    and retries a batch until an append returns, as a Market Agent does after an error."""

    def __init__(self, store: PostgresLedgerStore) -> None:
        self.store = store
        self.acknowledged = 0
        self.failures: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for first in range(0, len(MESSAGES), PER_BATCH):
                batch = MESSAGES[max(first - 1, 0) : first + PER_BATCH]
                while True:
                    try:
                        self.store.append_many(batch)
                        break
                    except (IntegrityError, ConflictError, UnavailableError) as exc:
                        self.failures.append(str(exc))
                        time.sleep(0.02)
                self.acknowledged = first + PER_BATCH
        except BaseException as exc:
            self.error = exc


def test_kill_9_of_the_postmaster_during_appends_loses_and_duplicates_nothing(
    postgres_cluster: PostgresCluster, postgres_schema: str
) -> None:
    conninfo = postgres_cluster.conninfo()
    client = RetryingClient(PostgresLedgerStore(conninfo, schema=postgres_schema))
    writer = threading.Thread(target=client.run)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while client.acknowledged < 150 and time.monotonic() < deadline:
            time.sleep(0.005)
        acknowledged_before = client.acknowledged
        postgres_cluster.kill_postmaster()
        time.sleep(0.3)  # the client keeps retrying against a server that is gone
    finally:
        postgres_cluster.start()
    writer.join(timeout=120)
    client.store.close()
    assert not writer.is_alive()
    assert client.error is None, client.error
    assert client.failures, "the crash was not noticed: it came too late in the stream"
    assert acknowledged_before < len(MESSAGES), "the stream ended before the crash"

    with PostgresLedgerStore(conninfo, schema=postgres_schema) as store:
        # A restarted client resends everything: all of it is known.
        assert all(result.duplicate for result in store.append_many(MESSAGES))
        by_message: dict[str, list[int]] = {}
        for stored in store.entries():
            by_message.setdefault(stored.message_id, []).append(stored.seq)
        assert sorted(by_message) == sorted(message_id for message_id, _ in MESSAGES)
        assert all(len(seqs) == 2 and seqs[1] == seqs[0] + 1 for seqs in by_message.values())
        assert store.count() == 2 * len(MESSAGES)
        sent = [entry for _, entries in MESSAGES for entry in entries]
        assert positions_of_rows(store.all_positions()) == net_positions(sent)
        report = verify_store(store)
        assert report.ok, report
