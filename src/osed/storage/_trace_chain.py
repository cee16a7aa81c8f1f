"""The hash chain of the trace, shared by the SQLite and PostgreSQL ledgers.

Recovery replays the trace as the truth of what the Market Agent did, so every row carries
``trace_hash`` of itself and the row before; a row that was altered, removed or moved breaks
the chain at the next row read. Rows written before the chain existed (schema version 2 files)
have no hash; they may only come before the first hashed row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from osed.domain.errors import IntegrityError
from osed.domain.ledger import GENESIS_HASH, trace_hash_at, trace_instant
from osed.ports.ledger import TraceRecord

PendingTrace = tuple[str, str, datetime, str]
"""A buffered trace row: message id, kind, instant, body."""

RawTraceRow = tuple[int, object, object, object, object]
"""A trace row as the verifier reads it: seq, ``received_at`` as stored, the hashed text
(message id, kind and body in UTF-8, joined by 0x00), the stored hash, and whether the
message id, kind and body are all text."""


class DamagedTraceError(IntegrityError):
    """A trace row does not carry the hash the chain requires."""

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"trace row {seq} is damaged: {reason}; the trace cannot be trusted")
        self.seq = seq


def chained(previous: bytes | None, pending: Iterable[PendingTrace]) -> list[bytes]:
    """The hashes of ``pending`` rows appended after a row whose hash is ``previous``."""
    hashes = []
    last = previous or GENESIS_HASH  # an empty or unhashed (older) trace: a new chain
    at: datetime | None = None
    instant = b""
    for message_id, kind, received_at, body in pending:
        if received_at is not at:  # a batch's rows mostly share one instant object
            at, instant = received_at, trace_instant(received_at)
        last = trace_hash_at(last, instant, message_id, kind, body)
        hashes.append(last)
    return hashes


def stored_instants(pending: Iterable[PendingTrace]) -> list[str]:
    """The ``received_at`` column of ``pending`` rows as ISO text, each instant written once."""
    texts = []
    at: datetime | None = None
    text = ""
    for _, _, received_at, _ in pending:
        if received_at is not at:
            at, text = received_at, received_at.isoformat()
        texts.append(text)
    return texts


def verified(
    rows: Iterable[tuple[int, object, object, datetime, object, object]],
    previous: bytes | None,
) -> Iterator[TraceRecord]:
    """Trace records of ``rows`` (seq, message id, kind, instant, body, hash) in seq order,
    each checked against the chain; ``previous`` is the stored hash of the row just before
    the first (None: no row, or an unhashed one). Raises DamagedTraceError at the first row
    that does not verify."""
    last = previous
    at: datetime | None = None
    instant = b""
    for seq, message_id, kind, received_at, body, stored in rows:
        if not (isinstance(message_id, str) and isinstance(kind, str) and isinstance(body, str)):
            raise DamagedTraceError(seq, "a column has the wrong type")
        if stored is None:
            if last is not None:
                raise DamagedTraceError(seq, "its hash was removed")
        else:
            if received_at is not at:
                at, instant = received_at, trace_instant(received_at)
            expected = trace_hash_at(last or GENESIS_HASH, instant, message_id, kind, body)
            if bytes(stored) != expected:  # type: ignore[call-overload]
                raise DamagedTraceError(
                    seq, "its hash does not match (altered, moved or removed rows)"
                )
            last = expected
        yield TraceRecord(seq, message_id, kind, received_at, body)


def first_damage(
    rows: Iterable[RawTraceRow],
    previous: bytes | None,
    instant_of: Callable[[int, object], datetime],
) -> tuple[int | None, DamagedTraceError | None]:
    """The rows :func:`verified` would read, checked the same way without building records:
    the seq of the last row read (None if none) and the first row's damage, or None.
    ``instant_of`` parses a stored ``received_at`` (raising DamagedTraceError)."""
    sha256 = hashlib.sha256
    last = previous
    seen: object = None
    instant = b""
    seq = None
    for seq, received_at, text, stored, textual in rows:
        if seen is None or received_at != seen:  # rows written together share their text
            try:
                instant = trace_instant(instant_of(seq, received_at))
            except DamagedTraceError as exc:
                return seq, exc
            seen = received_at
        if not textual:
            return seq, DamagedTraceError(seq, "a column has the wrong type")
        if stored is None:
            if last is not None:
                return seq, DamagedTraceError(seq, "its hash was removed")
            continue
        expected = sha256((last or GENESIS_HASH) + instant + text).digest()  # type: ignore[operator]
        if stored != expected:
            return seq, DamagedTraceError(
                seq, "its hash does not match (altered, moved or removed rows)"
            )
        last = expected
    return seq, None
