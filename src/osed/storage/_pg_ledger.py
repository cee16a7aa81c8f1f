"""The PostgreSQL ledger store: the SQLite store's behaviour, for several writer processes.

Every append is one transaction that first locks the head row (``SELECT … FOR UPDATE``), so
appenders queue behind each other and each chains onto the head the previous one committed:
two processes never fork the chain. Durability: the session runs with
``synchronous_commit = on``, so with the server's ``fsync = on`` a returned append is on disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, LiteralString

import psycopg

from osed.domain.errors import ConfigurationError, IntegrityError, Problem, ValidationError
from osed.domain.ledger import LedgerEntry, StoredEntry
from osed.domain.time import Interval, require_aware
from osed.ports.ledger import (
    AppendBatch,
    AppendResult,
    LedgerHead,
    PositionRow,
    RawLedgerRow,
    SnapshotChunk,
    SnapshotRecord,
    TraceRecord,
    check_id,
    checked_batch,
    checked_chunk,
    checked_snapshot,
    snapshot_checksum,
)
from osed.storage._closing import ClosesOnExit
from osed.storage._ledger_plan import LedgerBatchPlan, decoded_entry, stored_entries
from osed.storage._pg_connection import PgSession
from osed.storage._pg_migrations import migrate, schema_version
from osed.storage._pg_schema import LEDGER_COMPONENT, LEDGER_MIGRATIONS
from osed.storage._trace_chain import PendingTrace, chained, verified

TRACE_BUFFER_ROWS = 1024
_PAGE_ROWS = 10_000

_COPY_ENTRIES = "COPY ledger (seq, message_id, entry, hash) FROM STDIN (FORMAT BINARY)"
_ENTRY_TYPES = ("int8", "text", "bytea", "bytea")
_COPY_MESSAGES = "COPY messages (message_id, first_seq, entry_count) FROM STDIN (FORMAT BINARY)"
_MESSAGE_TYPES = ("text", "int8", "int4")
# The session's staging table for a batch's position changes. Quantities are numeric there, so
# a batch whose sum exceeds 64 bits is refused in the transaction like any other overflow.
_POSITION_DELTAS = """CREATE TEMPORARY TABLE position_deltas (
    party text, interval_start timestamptz, duration_s int8, quantity_scale int8, quantity numeric
) ON COMMIT DELETE ROWS"""
_COPY_DELTAS = """COPY position_deltas (party, interval_start, duration_s, quantity_scale, quantity)
    FROM STDIN (FORMAT BINARY)"""
_DELTA_TYPES = ("text", "timestamptz", "int8", "int8", "numeric")
_APPLY_DELTAS = """INSERT INTO positions
        (party, interval_start, duration_s, quantity_scale, quantity)
    SELECT party, interval_start, duration_s, quantity_scale, quantity FROM position_deltas
    ON CONFLICT (party, interval_start, duration_s, quantity_scale)
    DO UPDATE SET quantity = positions.quantity + excluded.quantity"""
# Every write takes this lock first, so writers (appends and trace flushes) commit one after
# another, and trace seq numbers, taken under it, follow the commit order.
_LOCK_HEAD = "SELECT entry_count, last_hash FROM head WHERE id = 1 FOR UPDATE"
_INSERT_TRACE = """INSERT INTO trace (message_id, kind, received_at, body, hash)
    VALUES (%s, %s, %s, %s, %s)"""
_TRACE_CHAIN_SINCE_VERSION = 3
_SELECT_POSITIONS = """SELECT party, interval_start, duration_s, quantity_scale, quantity
    FROM positions"""
_POSITION_ORDER = " ORDER BY party, interval_start, duration_s, quantity_scale"
_INSERT_SNAPSHOT = """INSERT INTO snapshots (format, trace_seq, taken_at, body, checksum)
    VALUES (%s, %s, %s, %s, %s)"""
_PRUNE_SNAPSHOTS = """DELETE FROM snapshots WHERE format = %(format)s AND id NOT IN (
    SELECT id FROM snapshots WHERE format = %(format)s
    ORDER BY trace_seq DESC, id DESC LIMIT %(keep)s)"""
_SNAPSHOTS_SINCE_VERSION = 2
_CHUNKS_SINCE_VERSION = 4
_INSERT_SNAPSHOT_ID = _INSERT_SNAPSHOT + " RETURNING id"
_INSERT_CHUNK = "INSERT INTO snapshot_chunks (digest, body) VALUES (%s, %s)"
_INSERT_REF = """INSERT INTO snapshot_refs (snapshot_id, digest) VALUES (%s, %s)
    ON CONFLICT DO NOTHING"""
# Compaction: the references of pruned snapshots go, then the chunks no snapshot refers to.
_DROP_REFS = "DELETE FROM snapshot_refs WHERE snapshot_id NOT IN (SELECT id FROM snapshots)"
_DROP_CHUNKS = """DELETE FROM snapshot_chunks
    WHERE digest NOT IN (SELECT digest FROM snapshot_refs)"""
# convert_to gives the verifier the message id's UTF-8 bytes, exactly what the hash covers.
_RAW_COLUMNS = "SELECT seq, convert_to(message_id, 'UTF8'), entry, hash FROM ledger"


class PostgresLedgerStore(ClosesOnExit):
    """A :class:`~osed.ports.ledger.LedgerStore` in a PostgreSQL schema (created if missing).

    ``conninfo`` is a libpq connection string or URI. Several stores, in one process or many,
    may append to the same schema at once.
    """

    def __init__(self, conninfo: str, *, schema: str = "osed", read_only: bool = False) -> None:
        self.schema = schema
        self.read_only = read_only
        self._pending_traces: list[PendingTrace] = []
        self._session = PgSession(
            conninfo,
            schema,
            subject="ledger",
            read_only=read_only,
            setup=() if read_only else (_POSITION_DELTAS,),
        )
        try:
            with self._session.translated():
                connection = self._session.connection()
                if read_only:
                    version = schema_version(connection, LEDGER_COMPONENT)
                    if not 1 <= version <= len(LEDGER_MIGRATIONS):
                        raise ConfigurationError(f"schema {schema!r} holds no OSED ledger")
                else:
                    migrate(connection, schema, LEDGER_COMPONENT, LEDGER_MIGRATIONS)
        except BaseException:
            self._session.close()
            raise

    # ------------------------------------------------------------------ writing
    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> AppendResult:
        return self.append_many([(message_id, entries)])[0]

    def append_many(self, batch: AppendBatch) -> list[AppendResult]:
        # Every message is checked before the transaction starts: a bad one writes nothing.
        checked = checked_batch(batch)
        with self._write_transaction() as connection:
            head = self._locked_head(connection)
            traced = self._write_pending_traces(connection)
            known = self._recorded_messages(connection, checked.message_ids)
            plan = LedgerBatchPlan(head, _interval_key, checked, known)
            with connection.cursor() as cursor:
                _copy(cursor, _COPY_ENTRIES, _ENTRY_TYPES, plan.rows)
                # The primary key on messages, in this same transaction, is what guarantees at
                # most one transaction per message id even if a writer skipped the head lock.
                _copy(cursor, _COPY_MESSAGES, _MESSAGE_TYPES, plan.messages)
                if deltas := plan.position_rows():
                    # Copied in, then applied by one statement: far faster than one per row.
                    _copy(cursor, _COPY_DELTAS, _DELTA_TYPES, deltas)
                    cursor.execute(_APPLY_DELTAS)
                cursor.execute(
                    "UPDATE head SET entry_count = %s, last_hash = %s WHERE id = 1",
                    (plan.seq, plan.last_hash),
                )
            results = plan.results(
                checked.message_ids,
                known,
                lambda first, count: self._stored_range(connection, first, count),
            )
        self._forget_traces(traced)
        return results

    def trace(self, message_id: str, kind: str, received_at: datetime, body: str) -> None:
        problems: list[Problem] = []
        check_id(message_id, "$.messageId", problems)
        check_id(kind, "$.kind", problems)
        if not isinstance(body, str) or "\x00" in body or _has_surrogate(body):
            # Checked now: a buffered row the database refuses would fail a later append.
            problems.append(Problem("$.body", "not_text", "must be text without NUL characters"))
        if problems:
            raise ValidationError(problems, subject="trace record")
        instant = require_aware(received_at, path="$.receivedAt")
        # Trace rows ride along with the next append's transaction: a message costs no commit of
        # its own, and a committed transaction is never stored without the messages before it.
        self._pending_traces.append((message_id, kind, instant, body))
        if len(self._pending_traces) >= TRACE_BUFFER_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write buffered trace rows now."""
        if self._pending_traces:
            with self._write_transaction() as connection:
                connection.execute(_LOCK_HEAD)
                traced = self._write_pending_traces(connection)
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
        instant = checked_snapshot(format, body, taken_at, keep, chunks)
        with self._write_transaction() as connection:
            connection.execute(_LOCK_HEAD)  # no trace row commits between ours and the position
            traced = self._write_pending_traces(connection)
            row = connection.execute("SELECT coalesce(max(seq), 0) FROM trace").fetchone()
            position = int(row[0]) if row else 0
            checksum = snapshot_checksum(body)
            inserted = connection.execute(
                _INSERT_SNAPSHOT_ID, (format, position, instant, body, checksum)
            ).fetchone()
            if chunks and inserted is not None:
                self._write_chunks(connection, int(inserted[0]), chunks)
            connection.execute(_PRUNE_SNAPSHOTS, {"format": format, "keep": keep})
            connection.execute(_DROP_REFS)
            connection.execute(_DROP_CHUNKS)
        self._forget_traces(traced)
        return position

    def _write_chunks(
        self, connection: psycopg.Connection[Any], snapshot_id: int, chunks: Sequence[SnapshotChunk]
    ) -> None:
        """The chunks the store lacks, and the snapshot's references to all of them."""
        wanted = {chunk.digest: chunk for chunk in chunks}
        stored = connection.execute(
            "SELECT digest FROM snapshot_chunks WHERE digest = ANY(%s)", (list(wanted),)
        )
        missing = dict(wanted)
        for (digest,) in stored:
            missing.pop(bytes(digest), None)
        with connection.cursor() as cursor:
            cursor.executemany(
                _INSERT_CHUNK, [(d, checked_chunk(c).body) for d, c in missing.items()]
            )
            cursor.executemany(_INSERT_REF, [(snapshot_id, digest) for digest in wanted])

    def snapshot_chunks(self, digests: Iterable[bytes]) -> dict[bytes, bytes]:
        wanted = list(dict.fromkeys(digests))
        with self._session.translated():
            connection = self._session.connection()
            if schema_version(connection, LEDGER_COMPONENT) < _CHUNKS_SINCE_VERSION:
                return {}  # an older schema opened read-only: it has no chunks
            rows = connection.execute(
                "SELECT digest, body FROM snapshot_chunks WHERE digest = ANY(%s)", (wanted,)
            )
            return {bytes(digest): bytes(body) for digest, body in rows}

    # ------------------------------------------------------------------ reading
    def count(self) -> int:
        return self.head().count

    def message_seqs(self, message_ids: Iterable[str]) -> dict[str, int]:
        with self._session.translated():
            found = self._recorded_messages(self._session.connection(), list(message_ids))
        return {message_id: first for message_id, (first, _) in found.items()}

    def head(self) -> LedgerHead:
        with self._session.translated():
            row = (
                self._session.connection()
                .execute("SELECT entry_count, last_hash FROM head WHERE id = 1")
                .fetchone()
            )
        return _head_of(row)

    def entries(self, *, after_seq: int = 0) -> Iterator[StoredEntry]:
        for seq, message_id, blob, digest in self._pages(
            "SELECT seq, message_id, entry, hash FROM ledger", after_seq, None
        ):
            yield StoredEntry(seq, message_id, decoded_entry(seq, blob), digest)

    def raw_rows(
        self, *, after_seq: int | None = None, up_to_seq: int | None = None
    ) -> Iterator[RawLedgerRow]:
        # Without after_seq every row comes, even one whose seq was altered to below 1.
        return self._pages(_RAW_COLUMNS, after_seq, up_to_seq)

    def positions(self, party: str, within: Interval | None = None) -> list[PositionRow]:
        if within is None:
            return self._positions(" WHERE party = %s", (party,))
        return self._positions(
            " WHERE party = %s AND interval_start < %s"
            " AND interval_start + duration_s * interval '1 second' > %s",
            (party, within.end, within.start),
        )

    def all_positions(self) -> list[PositionRow]:
        return self._positions("", ())

    def traces(self, *, after_seq: int = 0) -> Iterator[TraceRecord]:
        if not self.read_only:
            self.flush()
        with self._session.translated():
            connection = self._session.connection()
            hashed = schema_version(connection, LEDGER_COMPONENT) >= _TRACE_CHAIN_SINCE_VERSION
            # Older schemas (before the chain) are read as unhashed rows.
            digest: LiteralString = "hash" if hashed else "NULL::bytea"
            before = connection.execute(
                "SELECT " + digest + " FROM trace WHERE seq <= %s ORDER BY seq DESC LIMIT 1",
                (after_seq,),
            ).fetchone()
        query: LiteralString = "SELECT seq, message_id, kind, received_at, body, " + digest
        rows = self._pages(query + " FROM trace", after_seq, None)
        yield from verified(rows, before[0] if before else None)

    def snapshots(self, format: str) -> Iterator[SnapshotRecord]:
        with self._session.translated():
            connection = self._session.connection()
            if schema_version(connection, LEDGER_COMPONENT) < _SNAPSHOTS_SINCE_VERSION:
                return  # an older schema opened read-only: it has no snapshots
            ids = connection.execute(
                "SELECT id FROM snapshots WHERE format = %s ORDER BY trace_seq DESC, id DESC",
                (format,),
            ).fetchall()
        for (snapshot_id,) in ids:
            with self._session.translated():
                row = (
                    self._session.connection()
                    .execute(
                        "SELECT id, format, trace_seq, taken_at, body, checksum FROM snapshots"
                        " WHERE id = %s",
                        (snapshot_id,),
                    )
                    .fetchone()
                )
            if row is not None:  # pruned meanwhile by another writer
                yield SnapshotRecord(*row)

    def close(self) -> None:
        try:
            if not self.read_only and self._pending_traces:
                self.flush()
        finally:
            self._session.close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one consistent state, even while another process appends."""
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _write_transaction(self) -> Iterator[psycopg.Connection[Any]]:
        if self.read_only:
            raise ConfigurationError(f"the ledger in schema {self.schema!r} was opened read-only")
        with self._session.translated():
            connection = self._session.connection()
            with connection.transaction():
                yield connection

    def _write_pending_traces(self, connection: psycopg.Connection[Any]) -> int:
        """Insert the buffered trace rows; the caller drops them from the buffer with
        :meth:`_forget_traces` once the transaction has committed, so a rolled-back
        transaction keeps them for the next one."""
        written = len(self._pending_traces)
        if written:
            last = connection.execute("SELECT hash FROM trace ORDER BY seq DESC LIMIT 1").fetchone()
            hashes = chained(last[0] if last else None, self._pending_traces)
            rows = [
                (*row, digest) for row, digest in zip(self._pending_traces, hashes, strict=True)
            ]
            with connection.cursor() as cursor:
                cursor.executemany(_INSERT_TRACE, rows)
        return written

    def _forget_traces(self, written: int) -> None:
        del self._pending_traces[:written]

    def _locked_head(self, connection: psycopg.Connection[Any]) -> LedgerHead:
        """The head, locked for this transaction, after checking it still describes the last
        entry: never chain onto a ledger whose tail was removed or altered."""
        head = _head_of(connection.execute(_LOCK_HEAD).fetchone())
        last = connection.execute(
            "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if (last is None and head.count != 0) or (
            last is not None and tuple(last) != (head.count, head.last_hash)
        ):
            raise IntegrityError(
                f"ledger in schema {self.schema!r}: the head record disagrees with the last"
                " entry; run `osed ledger verify`"
            )
        return head

    def _recorded_messages(
        self, connection: psycopg.Connection[Any], message_ids: list[str]
    ) -> dict[str, tuple[int, int]]:
        rows = connection.execute(
            "SELECT message_id, first_seq, entry_count FROM messages WHERE message_id = ANY(%s)",
            (sorted(set(message_ids)),),
        )
        return {message_id: (first, count) for message_id, first, count in rows}

    def _stored_range(
        self, connection: psycopg.Connection[Any], first_seq: int, entry_count: int
    ) -> tuple[StoredEntry, ...]:
        rows = connection.execute(
            "SELECT seq, message_id, entry, hash FROM ledger"
            " WHERE seq BETWEEN %s AND %s ORDER BY seq",
            (first_seq, first_seq + entry_count - 1),
        ).fetchall()
        return stored_entries(rows, first_seq, entry_count)

    def _positions(self, where: LiteralString, parameters: tuple[object, ...]) -> list[PositionRow]:
        with self._session.translated():
            rows = self._session.connection().execute(
                _SELECT_POSITIONS + where + _POSITION_ORDER, parameters
            )
            return [
                PositionRow(party, Interval(start, timedelta(seconds=seconds)), quantity, scale)
                for party, start, seconds, scale, quantity in rows
            ]

    def _pages(
        self, columns: LiteralString, after_seq: int | None, up_to_seq: int | None
    ) -> Iterator[Any]:
        """Rows in seq order, a page at a time: memory stays flat for a ledger of any size, and
        the pages join up as seq is unique and rows are never changed."""
        upper = " AND seq <= %(up_to)s" if up_to_seq is not None else ""
        first_page: LiteralString = " WHERE true" if after_seq is None else " WHERE seq > %(after)s"
        parameters: dict[str, int | None] = {"after": after_seq, "up_to": up_to_seq}
        query: LiteralString = columns + first_page + upper + " ORDER BY seq LIMIT %(limit)s"
        next_query: LiteralString = (
            columns + " WHERE seq > %(after)s" + upper + " ORDER BY seq LIMIT %(limit)s"
        )
        while True:
            with self._session.translated():
                rows = (
                    self._session.connection()
                    .execute(query, {**parameters, "limit": _PAGE_ROWS})
                    .fetchall()
                )
            yield from rows
            if len(rows) < _PAGE_ROWS:
                return
            parameters["after"] = rows[-1][0]
            query = next_query


def _copy(
    cursor: psycopg.Cursor[Any],
    statement: LiteralString,
    types: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    if rows:
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)


def _head_of(row: tuple[Any, ...] | None) -> LedgerHead:
    if row is None:
        raise IntegrityError("the ledger head record is missing")
    count, last_hash = row
    if type(count) is not int or type(last_hash) is not bytes:
        raise IntegrityError("the ledger head record is malformed")
    return LedgerHead(count, last_hash)


def _has_surrogate(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False


def _interval_key(interval: Interval) -> tuple[datetime, int]:
    return interval.start, interval.duration // timedelta(seconds=1)
