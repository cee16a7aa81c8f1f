"""The SQLite ledger store: one file, WAL mode, every append one ``BEGIN IMMEDIATE`` transaction.

Durability: ``synchronous=FULL`` by default, so a returned append is on disk and survives a
process kill and a power cut (WAL frames are fsynced at every commit; batching amortises it).
``synchronous="NORMAL"`` still survives a process kill (the WAL is in the OS page cache) but
may lose the last commits on a power cut; it never corrupts the file.

Trace rows written on their own (``flush``) commit at ``trace_synchronous``, NORMAL by default:
the Market Agent flushes before every reply, and a trace row then survives a process kill
without an fsync of its own. Trace rows written with an append share its FULL commit, and a
FULL commit also makes every earlier WAL frame durable, so a power cut can only lose trace rows
flushed after the last append, never rows an append depends on.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any, Literal, Self

from osed.domain.errors import (
    ConfigurationError,
    IntegrityError,
    NotFoundError,
    Problem,
    ValidationError,
)
from osed.domain.ledger import LedgerEntry, StoredEntry
from osed.domain.time import Interval, require_aware
from osed.ports.ledger import (
    AppendBatch,
    AppendResult,
    LedgerHead,
    PackedLedgerRows,
    PositionRow,
    RawLedgerRow,
    SnapshotChunk,
    SnapshotRecord,
    TraceCheck,
    TraceRecord,
    check_id,
    checked_batch,
    checked_chunk,
    checked_snapshot,
    snapshot_checksum,
)
from osed.storage._closing import ClosesOnExit
from osed.storage._ledger_plan import LedgerBatchPlan, decoded_entry, stored_entries
from osed.storage._schema import is_ledger, migrate, schema_version
from osed.storage._sqlite_common import (
    instant_of,
    micros,
    switch_to_wal,
    translated,
    write_transaction,
)
from osed.storage._trace_chain import (
    DamagedTraceError,
    PendingTrace,
    chained,
    first_damage,
    stored_instants,
    verified,
)

Synchronous = Literal["FULL", "NORMAL"]

_FETCH_ROWS = 10_000
PACKED_BLOCK_ROWS = 50_000
# One row per block: the ledger's columns joined in C (see PackedLedgerRows).
# A row is well typed when its entry and hash are blobs (only blobs compare >= x'') and its
# message id is not NULL (any other type reads as the same bytes row by row).
_PACKED_ROWS = """SELECT count(*),
    total(entry >= x'' AND hash >= x'' AND length(hash) = 32 AND message_id IS NOT NULL),
    CAST(group_concat(CAST(message_id AS BLOB), x'1e') AS BLOB),
    CAST(group_concat(entry, x'1e') AS BLOB),
    CAST(group_concat(hash, '') AS BLOB)
    FROM ledger WHERE seq > ? AND seq <= ?"""
_LOOKUP_CHUNK = 500  # message ids per IN (...) query, well under SQLite's variable limit

_INSERT_ENTRY = "INSERT INTO ledger (seq, message_id, entry, hash) VALUES (?, ?, ?, ?)"
_INSERT_MESSAGE = "INSERT INTO messages (message_id, first_seq, entry_count) VALUES (?, ?, ?)"
_UPSERT_POSITION = """INSERT INTO positions
    (party, interval_start_us, duration_s, quantity_scale, quantity) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (party, interval_start_us, duration_s, quantity_scale)
    DO UPDATE SET quantity = quantity + excluded.quantity"""
_UPDATE_HEAD = "UPDATE head SET entry_count = ?, last_hash = ? WHERE id = 1"
_SELECT_POSITIONS = """SELECT party, interval_start_us, duration_s, quantity_scale, quantity
    FROM positions"""
_POSITION_ORDER = " ORDER BY party, interval_start_us, duration_s, quantity_scale"


TRACE_BUFFER_ROWS = 1024
_INSERT_TRACE = """INSERT INTO trace (message_id, kind, received_at, body, hash)
    VALUES (?, ?, ?, ?, ?)"""
_TRACE_CHAIN_SINCE_VERSION = 3

_SNAPSHOTS_SINCE_VERSION = 2
_INSERT_SNAPSHOT = """INSERT INTO snapshots (format, trace_seq, taken_at, body, checksum)
    VALUES (?, ?, ?, ?, ?)"""
_PRUNE_SNAPSHOTS = """DELETE FROM snapshots WHERE format = ? AND id NOT IN (
    SELECT id FROM snapshots WHERE format = ? ORDER BY trace_seq DESC, id DESC LIMIT ?)"""
_CHUNKS_SINCE_VERSION = 4
_INSERT_CHUNK = "INSERT INTO snapshot_chunks (digest, body) VALUES (?, ?)"
_INSERT_REF = "INSERT OR IGNORE INTO snapshot_refs (snapshot_id, digest) VALUES (?, ?)"
# Compaction: the references of pruned snapshots go, then the chunks no snapshot refers to.
_DROP_REFS = "DELETE FROM snapshot_refs WHERE snapshot_id NOT IN (SELECT id FROM snapshots)"
_DROP_CHUNKS = """DELETE FROM snapshot_chunks
    WHERE digest NOT IN (SELECT digest FROM snapshot_refs)"""


class SqliteLedgerStore(ClosesOnExit):
    """A :class:`~osed.ports.ledger.LedgerStore` in one SQLite file (created if missing)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        trace_synchronous: Synchronous = "NORMAL",
        read_only: bool = False,
        busy_timeout_s: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._pending_traces: list[PendingTrace] = []
        self._trace_kinds: set[str] = set()  # kinds that passed check_id
        for name, level in (("synchronous", synchronous), ("trace_synchronous", trace_synchronous)):
            if level not in ("FULL", "NORMAL"):
                raise ConfigurationError(f"{name} must be FULL or NORMAL, not {level!r}")
        self._synchronous = synchronous
        self._trace_synchronous = trace_synchronous
        target = f"{self.path.resolve().as_uri()}?mode=ro" if read_only else str(self.path)
        try:
            self._db = sqlite3.connect(
                target, uri=read_only, isolation_level=None, timeout=busy_timeout_s
            )
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open ledger {self.path}: {exc}") from exc
        try:
            if read_only:
                if _is_cut_short(self.path):
                    raise IntegrityError(f"{self.path} is damaged: it ends inside a page")
                if not is_ledger(self._db):
                    raise ConfigurationError(f"{self.path} is not an OSED ledger")
            else:
                switch_to_wal(self._db, busy_timeout_s)
                self._db.execute(f"PRAGMA synchronous = {synchronous}")
                migrate(self._db)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if _is_sqlite_file(self.path):  # an SQLite file that cannot be read: damaged
                raise IntegrityError(f"{self.path} is damaged: {exc}") from exc
            raise ConfigurationError(f"{self.path} is not an OSED ledger: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open_existing(cls, path: str | os.PathLike[str], *, read_only: bool = True) -> Self:
        """Open a ledger that must already exist; never creates a file."""
        if Path(path).is_dir():
            raise NotFoundError(f"{path} is a directory, not a ledger file")
        if not Path(path).is_file():
            raise NotFoundError(f"no such ledger file: {path}")
        return cls(path, read_only=read_only)

    # ------------------------------------------------------------------ writing
    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> AppendResult:
        return self.append_many([(message_id, entries)])[0]

    def append_many(self, batch: AppendBatch) -> list[AppendResult]:
        # Every message is checked before the transaction starts: a bad one writes nothing.
        checked = checked_batch(batch)
        with self._write_transaction():
            traced = self._write_pending_traces()
            head = self._checked_head()
            known = self._recorded_messages(set(checked.message_ids))
            plan = LedgerBatchPlan(head, _interval_key, checked, known)
            self._db.executemany(_INSERT_ENTRY, plan.rows)
            # The UNIQUE constraint, in this same transaction, is what guarantees at most one
            # transaction per message id even if another writer slipped past the lookup.
            self._db.executemany(_INSERT_MESSAGE, plan.messages)
            self._db.executemany(_UPSERT_POSITION, plan.position_rows())
            self._db.execute(_UPDATE_HEAD, (plan.seq, plan.last_hash))
            results = plan.results(checked.message_ids, known, self._stored_range)
        self._forget_traces(traced)
        return results

    def trace(self, message_id: str, kind: str, received_at: datetime, body: str) -> None:
        problems: list[Problem] = []
        check_id(message_id, "$.messageId", problems)
        if not isinstance(kind, str) or kind not in self._trace_kinds:  # a handful, checked once
            check_id(kind, "$.kind", problems)
            if not problems:
                self._trace_kinds.add(kind)
        if problems:
            raise ValidationError(problems, subject="trace record")
        try:
            body.encode()
        except UnicodeEncodeError as exc:
            raise ValidationError(
                [Problem("$.body", "bad_text", f"not encodable text: {exc.reason}")],
                subject="trace record",
            ) from exc
        instant = require_aware(received_at, path="$.receivedAt")
        # Trace rows ride along with the next append's transaction: a message costs no fsync of
        # its own, and a committed transaction is never on disk without the messages before it.
        self._pending_traces.append((message_id, kind, instant, body))
        if len(self._pending_traces) >= TRACE_BUFFER_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write buffered trace rows now, at ``trace_synchronous``."""
        if not self._pending_traces:
            return
        # The level applies to the connection's next commits; it is switched outside any
        # transaction, and back in ``finally`` so that appends always commit at their own.
        switch = self._trace_synchronous != self._synchronous
        if switch:
            self._db.execute(f"PRAGMA synchronous = {self._trace_synchronous}")
        try:
            with self._write_transaction():
                traced = self._write_pending_traces()
        finally:
            if switch:
                self._db.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._forget_traces(traced)

    def save_snapshot(
        self,
        format: str,
        body: bytes,
        *,
        taken_at: datetime,
        keep: int = 2,
        chunks: Sequence[SnapshotChunk] = (),
    ) -> int:
        instant = checked_snapshot(format, body, taken_at, keep, chunks).isoformat()
        with self._write_transaction():
            traced = self._write_pending_traces()
            (position,) = self._db.execute("SELECT coalesce(max(seq), 0) FROM trace").fetchone()
            checksum = snapshot_checksum(body)
            cursor = self._db.execute(_INSERT_SNAPSHOT, (format, position, instant, body, checksum))
            if chunks:
                self._write_chunks(cursor.lastrowid, chunks)
            self._db.execute(_PRUNE_SNAPSHOTS, (format, format, keep))
            self._db.execute(_DROP_REFS)
            self._db.execute(_DROP_CHUNKS)
        self._forget_traces(traced)
        position_seq: int = position
        return position_seq

    def _write_chunks(self, snapshot_id: int | None, chunks: Sequence[SnapshotChunk]) -> None:
        """The chunks the store lacks, and the snapshot's references to all of them."""
        wanted = {chunk.digest: chunk for chunk in chunks}
        missing = dict(wanted)
        for digest in self._stored_digests(list(wanted)):
            missing.pop(digest, None)
        self._db.executemany(
            _INSERT_CHUNK, [(d, checked_chunk(c).body) for d, c in missing.items()]
        )
        self._db.executemany(_INSERT_REF, [(snapshot_id, digest) for digest in wanted])

    def _stored_digests(self, digests: list[bytes]) -> list[bytes]:
        found: list[bytes] = []
        for start in range(0, len(digests), _LOOKUP_CHUNK):
            part = digests[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT digest FROM snapshot_chunks WHERE digest IN ({marks})", part
            )
            found.extend(digest for (digest,) in rows)
        return found

    def snapshot_chunks(self, digests: Iterable[bytes]) -> dict[bytes, bytes]:
        if schema_version(self._db) < _CHUNKS_SINCE_VERSION:
            return {}  # an older file opened read-only: it has no chunks
        wanted = list(dict.fromkeys(digests))
        found: dict[bytes, bytes] = {}
        with translated("ledger"):
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                part = wanted[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT digest, body FROM snapshot_chunks WHERE digest IN ({marks})", part
                )
                found.update(rows)
        return found

    def _write_pending_traces(self) -> int:
        """Insert the buffered rows; they leave the buffer only once the transaction commits
        (:meth:`_forget_traces`), so a rolled-back append loses none."""
        if self._pending_traces:
            last = self._db.execute("SELECT hash FROM trace ORDER BY seq DESC LIMIT 1").fetchone()
            hashes = chained(last[0] if last else None, self._pending_traces)
            instants = stored_instants(self._pending_traces)
            self._db.executemany(
                _INSERT_TRACE,
                [
                    (message_id, kind, instant, body, digest)
                    for (message_id, kind, _, body), instant, digest in zip(
                        self._pending_traces, instants, hashes, strict=True
                    )
                ],
            )
        return len(self._pending_traces)

    def _forget_traces(self, written: int) -> None:
        del self._pending_traces[:written]

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        return self.head().count

    def message_seqs(self, message_ids: Iterable[str]) -> dict[str, int]:
        with translated("ledger"):
            found = self._recorded_messages(set(message_ids))
        return {message_id: first for message_id, (first, _) in found.items()}

    def head(self) -> LedgerHead:
        with translated("ledger"):
            row = self._db.execute(
                "SELECT entry_count, last_hash FROM head WHERE id = 1"
            ).fetchone()
        if row is None:
            raise IntegrityError("the ledger head record is missing")
        count, last_hash = row
        if type(count) is not int or type(last_hash) is not bytes:
            raise IntegrityError("the ledger head record is malformed")
        return LedgerHead(count, last_hash)

    def entries(self, *, after_seq: int = 0) -> Iterator[StoredEntry]:
        rows = self._fetch(
            "SELECT seq, message_id, entry, hash FROM ledger WHERE seq > ? ORDER BY seq",
            (after_seq,),
        )
        for seq, message_id, blob, digest in rows:
            yield StoredEntry(seq, message_id, decoded_entry(seq, blob), digest)

    def raw_rows(
        self, *, after_seq: int | None = None, up_to_seq: int | None = None
    ) -> Iterator[RawLedgerRow]:
        for block in self.raw_row_blocks(after_seq=after_seq, up_to_seq=up_to_seq):
            yield from block

    def raw_row_blocks(
        self, *, after_seq: int | None = None, up_to_seq: int | None = None
    ) -> Iterator[list[RawLedgerRow]]:
        """:meth:`raw_rows` in the blocks SQLite is read in: the verifier's input, without a
        generator step per row."""
        # CAST keeps a message id that is no longer valid UTF-8 readable for the verifier.
        # Without after_seq every row comes, even one whose seq was altered to below 1.
        where = [] if after_seq is None else [f"seq > {int(after_seq)}"]
        where += [] if up_to_seq is None else [f"seq <= {int(up_to_seq)}"]
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return self._fetch_blocks(
            f"SELECT seq, CAST(message_id AS BLOB), entry, hash FROM ledger{condition}"
            " ORDER BY seq",
            (),
        )

    def packed_rows(
        self, *, after_seq: int, up_to_seq: int, block_rows: int | None = None
    ) -> Iterator[PackedLedgerRows]:
        """Rows ``after_seq + 1 .. up_to_seq`` in blocks of ``block_rows`` (default
        :data:`PACKED_BLOCK_ROWS`), each packed by SQLite in one query
        (:class:`PackedLedgerRows`): the verifier's fast input."""
        step = block_rows or PACKED_BLOCK_ROWS
        for start in range(after_seq, up_to_seq, step):
            end = min(start + step, up_to_seq)
            with translated("ledger"):
                rows, well_typed, message_ids, entries, hashes = self._db.execute(
                    _PACKED_ROWS, (start, end)
                ).fetchone()
            yield PackedLedgerRows(
                start,
                end - start,
                rows,
                int(well_typed),
                message_ids or b"",
                entries or b"",
                hashes or b"",
            )

    def lowest_seq(self) -> int | None:
        """The smallest seq stored (below 1 only in a damaged ledger), or None if empty."""
        with translated("ledger"):
            (lowest,) = self._db.execute("SELECT min(seq) FROM ledger").fetchone()
        return lowest if isinstance(lowest, int) else None

    def positions(self, party: str, within: Interval | None = None) -> list[PositionRow]:
        if within is None:
            return self._positions(" WHERE party = ?", (party,))
        return self._positions(
            " WHERE party = ? AND interval_start_us < ?"
            " AND interval_start_us + duration_s * 1000000 > ?",
            (party, micros(within.end), micros(within.start)),
        )

    def all_positions(self) -> list[PositionRow]:
        return self._positions("", ())

    def traces(self, *, after_seq: int = 0) -> Iterator[TraceRecord]:
        digest, before = self._trace_start(after_seq)
        rows = self._fetch(
            f"SELECT seq, message_id, kind, received_at, body, {digest} FROM trace"
            " WHERE seq > ? ORDER BY seq",
            (after_seq,),
        )
        yield from verified(_with_instants(rows), before)

    def check_trace(self, *, after_seq: int = 0, up_to_seq: int | None = None) -> TraceCheck:
        """The trace's chain over rows ``after_seq + 1 .. up_to_seq`` (to the end when None),
        checked as :meth:`traces` checks it, with the hashed text joined by SQLite and no
        record built: the verifier's path."""
        digest, before = self._trace_start(after_seq)
        upper = "" if up_to_seq is None else f" AND seq <= {int(up_to_seq)}"
        blocks = self._fetch_blocks(
            "SELECT seq, received_at,"
            f" CAST(message_id || x'00' || kind || x'00' || body AS BLOB), {digest},"
            " typeof(message_id) = 'text' AND typeof(kind) = 'text' AND typeof(body) = 'text'"
            f" FROM trace WHERE seq > ?{upper} ORDER BY seq",
            (after_seq,),
        )
        last, damage = first_damage(chain.from_iterable(blocks), before, _instant_of_text)
        seen = after_seq if last is None else last
        return TraceCheck(seen, None if damage is None else str(damage))

    def _trace_start(self, after_seq: int) -> tuple[str, bytes | None]:
        """The hash column to read (NULL in files from before the chain, whose rows are read
        as unhashed) and the stored hash of the row just before ``after_seq + 1``."""
        if not self.read_only:
            self.flush()
        hashed = schema_version(self._db) >= _TRACE_CHAIN_SINCE_VERSION
        digest = "hash" if hashed else "NULL"
        with translated("ledger"):
            before = self._db.execute(
                f"SELECT {digest} FROM trace WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
                (after_seq,),
            ).fetchone()
        previous = before[0] if before else None
        if previous is not None and not isinstance(previous, bytes):
            previous = b""  # a hash of another type chains nothing: the next row will not match
        return digest, previous

    def last_trace_seq(self) -> int:
        """The highest trace seq stored (0 when there is none)."""
        with translated("ledger"):
            (last,) = self._db.execute("SELECT max(seq) FROM trace").fetchone()
        return last if isinstance(last, int) else 0

    def snapshots(self, format: str) -> Iterator[SnapshotRecord]:
        if schema_version(self._db) < _SNAPSHOTS_SINCE_VERSION:
            return  # an older file opened read-only: it has no snapshots
        with translated("ledger"):
            ids = self._db.execute(
                "SELECT id FROM snapshots WHERE format = ? ORDER BY trace_seq DESC, id DESC",
                (format,),
            ).fetchall()
        for (snapshot_id,) in ids:
            with translated("ledger"):
                row = self._db.execute(
                    "SELECT id, format, trace_seq, taken_at, body, checksum FROM snapshots"
                    " WHERE id = ?",
                    (snapshot_id,),
                ).fetchone()
            if row is not None:  # pruned meanwhile by another writer
                number, kind, position, taken_at, body, checksum = row
                instant = datetime.fromisoformat(taken_at)
                yield SnapshotRecord(number, kind, position, instant, body, checksum)

    def close(self) -> None:
        try:
            if not self.read_only and self._pending_traces:
                self.flush()
        finally:
            self._db.close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state, even while another process appends."""
        with translated("ledger"):
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _write_transaction(self) -> Iterator[None]:
        if self.read_only:
            raise ConfigurationError(f"ledger {self.path} was opened read-only")
        with write_transaction(self._db, "ledger"):
            yield

    def _checked_head(self) -> LedgerHead:
        """The head, after checking it still describes the last entry: never chain onto a
        ledger whose tail was removed or altered."""
        head = self.head()
        last = self._db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        if (last is None and head.count != 0) or (
            last is not None and tuple(last) != (head.count, head.last_hash)
        ):
            raise IntegrityError(
                f"ledger {self.path}: the head record disagrees with the last entry; "
                "run `osed ledger verify`"
            )
        return head

    def _recorded_messages(self, message_ids: set[str]) -> dict[str, tuple[int, int]]:
        ordered = sorted(message_ids)
        found: dict[str, tuple[int, int]] = {}
        for start in range(0, len(ordered), _LOOKUP_CHUNK):
            chunk = ordered[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT message_id, first_seq, entry_count FROM messages"
                f" WHERE message_id IN ({marks})",
                chunk,
            )
            found.update((message_id, (first, count)) for message_id, first, count in rows)
        return found

    def _stored_range(self, first_seq: int, entry_count: int) -> tuple[StoredEntry, ...]:
        rows = self._db.execute(
            "SELECT seq, message_id, entry, hash FROM ledger"
            " WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (first_seq, first_seq + entry_count - 1),
        ).fetchall()
        return stored_entries(rows, first_seq, entry_count)

    def _positions(self, where: str, parameters: tuple[object, ...]) -> list[PositionRow]:
        with translated("ledger"):
            rows = self._db.execute(_SELECT_POSITIONS + where + _POSITION_ORDER, parameters)
            return [
                PositionRow(
                    party,
                    Interval(instant_of(start_us), timedelta(seconds=seconds)),
                    quantity,
                    scale,
                )
                for party, start_us, seconds, scale, quantity in rows
            ]

    def _fetch(self, query: str, parameters: tuple[object, ...]) -> Iterator[Any]:
        for block in self._fetch_blocks(query, parameters):
            yield from block

    def _fetch_blocks(self, query: str, parameters: tuple[object, ...]) -> Iterator[list[Any]]:
        # A cursor of its own, read in big chunks: fast, and safe to interleave with writes.
        with translated("ledger"):
            cursor = self._db.execute(query, parameters)
            while chunk := cursor.fetchmany(_FETCH_ROWS):
                yield chunk


def _with_instants(
    rows: Iterable[tuple[int, object, object, object, object, object]],
) -> Iterator[tuple[int, object, object, datetime, object, object]]:
    """Trace rows with their ``received_at`` text parsed; rows in a run with the same text
    (written together) share one instant, parsed once."""
    text: object = None
    instant: datetime | None = None
    for seq, message_id, kind, received_at, body, stored in rows:
        if instant is None or received_at != text:
            text, instant = received_at, _instant_of_text(seq, received_at)
        yield seq, message_id, kind, instant, body, stored


def _instant_of_text(seq: int, text: object) -> datetime:
    try:
        return datetime.fromisoformat(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DamagedTraceError(seq, "its received_at is not an instant") from None


_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100


def _is_sqlite_file(path: Path) -> bool:
    """Whether the file starts as every SQLite database does."""
    return _header(path)[: len(_SQLITE_MAGIC)] == _SQLITE_MAGIC


def _is_cut_short(path: Path) -> bool:
    """An SQLite file is whole pages; one that ends inside its header or a page was cut."""
    header = _header(path)
    if header[: len(_SQLITE_MAGIC)] != _SQLITE_MAGIC:
        return False
    if len(header) < _HEADER_BYTES:
        return True
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    return page_size == 0 or path.stat().st_size % page_size != 0


def _header(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(_HEADER_BYTES)
    except OSError:
        return b""


def _interval_key(interval: Interval) -> tuple[int, int]:
    return micros(interval.start), interval.duration // timedelta(seconds=1)
