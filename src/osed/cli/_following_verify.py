"""Verify a SQLite ledger file while it grows, in a process beside the one writing it.

:class:`FollowingVerifier` checks what was appended since its last look: the entries from the
hash it computed for the last entry it verified (its known verified head), the trace rows from
the stored hash of the last trace row it verified, as ``osed ledger verify`` chains its
segments. At the end it reads the head, the rows beyond it and the positions in one snapshot
and combines the segments as a single pass would: every entry from the first to the head is
checked once, chained from the genesis hash, and the positions against the sum of every
entry; every trace row is checked once. A row is read when the check reaches it, so a change
to a row after it was checked (while the writer runs) is not seen; ``osed ledger verify``
afterwards reads everything again.

:func:`verifying_alongside` runs one in a forked process that looks every
:data:`LOOK_EVERY_S` seconds until asked for the report, so that on a machine with a core to
spare the writer's final verification costs it only the last look.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

from osed.cli.ledger import check_stored_segment
from osed.domain.errors import IntegrityError
from osed.domain.ledger import GENESIS_HASH
from osed.ledger.verify import (
    Finding,
    SegmentCheck,
    VerifyReport,
    verify_segments,
    with_trace,
)
from osed.sim.collector import relaxed_collection
from osed.storage.sqlite import SqliteLedgerStore

LOOK_EVERY_S = 0.25
"""How long the following process waits between two looks at the file."""
_REPORT = "report"


class FollowingVerifier:
    def __init__(self, store: SqliteLedgerStore) -> None:
        """``store``: the ledger opened read-only (``SqliteLedgerStore.open_existing``)."""
        self.store = store
        self._segments: list[SegmentCheck] = []
        self._next_seq = 1
        self._last_hash = GENESIS_HASH
        self._entries_failed = False
        self._trace_seq = 0
        self._trace_damage: str | None = None

    def look(self) -> None:
        """Check the entries up to the head and the trace rows appended since the last look."""
        with self.store.snapshot():
            self._check_entries(self.store.head().count)
            self._check_trace()

    def report(self) -> VerifyReport:
        """The final look, in one snapshot with the head and the positions it is judged by."""
        try:
            with self.store.snapshot():
                head = self.store.head()
                self._check_entries(None)  # rows beyond the head are seen too
                recorded = self.store.all_positions()
                self._check_trace()
        except IntegrityError as exc:  # no readable head, or SQLite could not read a page
            return VerifyReport(0, Finding.UNREADABLE, None, str(exc))
        report = verify_segments(self._segments, head=head, recorded=recorded)
        return with_trace(report, self._trace_damage)

    def _check_entries(self, up_to: int | None) -> None:
        if self._entries_failed or (up_to is not None and up_to < self._next_seq):
            return
        segment = check_stored_segment(
            self.store,
            first_seq=self._next_seq,
            last_seq=up_to,
            packed_to=self.store.head().count if up_to is None else up_to,
            previous_hash=self._last_hash,
        )
        self._segments.append(segment)
        if segment.failure is not None:
            self._entries_failed = True  # the first problem is the report's
        elif segment.verified:
            self._next_seq += segment.verified
            self._last_hash = segment.last_hash

    def _check_trace(self) -> None:
        if self._trace_damage is not None:
            return
        checked = self.store.check_trace(after_seq=self._trace_seq)
        self._trace_seq, self._trace_damage = checked.last_seq, checked.damage


class FollowingProcess:
    """The handle of a :class:`FollowingVerifier` running in a process of its own, forked: so
    this process must have no connection to the file open when it starts (SQLite's locks and
    shared memory of a connection do not survive a fork)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        context = multiprocessing.get_context("fork")
        self._connection, theirs = context.Pipe()
        self._process = context.Process(target=_follow, args=(path, theirs), daemon=True)
        self._process.start()
        theirs.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def report(self) -> VerifyReport:
        """Its report; ask once the writer has committed everything (and before the writer
        closes the file, so that the writer's is the last connection and folds the WAL into
        the file). If the process failed, the whole file is verified here."""
        try:
            self._connection.send(_REPORT)
            report = self._connection.recv()
        except (EOFError, OSError):
            report = None
        self.stop()
        if isinstance(report, VerifyReport):
            return report
        with SqliteLedgerStore.open_existing(self.path) as store:
            return FollowingVerifier(store).report()

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._connection.close()


@contextmanager
def verifying_alongside(path: Path) -> Iterator[FollowingProcess]:
    """A :class:`FollowingProcess` for the ledger file at ``path`` (which must exist and not be
    open in this process), stopped on the way out if its report was not asked for."""
    following = FollowingProcess(path)
    try:
        yield following
    finally:
        following.stop()


def _follow(path: Path, connection: Connection) -> None:
    with relaxed_collection(), SqliteLedgerStore.open_existing(path) as store:
        verifier = FollowingVerifier(store)
        while not connection.poll(LOOK_EVERY_S):
            verifier.look()
        connection.recv()
        connection.send(verifier.report())
