"""Crash recovery of the Market Agent by event sourcing from its trace.

The agent traces every request before executing it, with the instant it executes it at, and
makes the trace durable before the reply leaves (``LedgerStore.flush``; a request that trades is
traced in the same transaction as its ledger entries). Markets are pure engines, so executing
the traced requests again, in trace order and at the traced instants, rebuilds exactly the book,
the open tenders, the quotes and the reply cache the agent had when it stopped.

During the replay the agent writes through :class:`ReplayWrites`: nothing is traced again and
the ledger appends are collected and handed to the ledger's idempotency at the end, in one
batch, where every already recorded message id writes nothing.

A replay may start from a snapshot (:mod:`osed.agents.snapshot`) instead of the beginning; it
then replays the trace after the snapshot's position.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from osed.codec import cts as codec
from osed.domain.cts import EiRequestPosition, Message
from osed.domain.errors import IntegrityError, ValidationError
from osed.domain.ledger import LedgerEntry
from osed.domain.time import Interval
from osed.ports.ledger import LedgerStore, TraceRecord

CLEAR_KIND = "ClearInterval"
"""The trace kind of a clearing, recorded before it runs (``Clearing`` records its result)."""
EXPIRE_KIND = "ExpireInterval"
"""The trace kind of withdrawing an interval's open tenders without clearing them."""
SENT_KIND = "TransactionsSent"
"""The trace kind recording that a clearing's transactions were handed to the parties' channel;
a clearing without it may not have reached the parties and is sent again after a restart."""

_APPEND_CHUNK = 1_000  # messages per append_many transaction at the end of a replay


class LedgerWrites(Protocol):
    """Where the agent records what it does: live to the ledger, or nowhere during a replay."""

    def trace(self, message_id: str, kind: str, at: datetime, body: str) -> None: ...

    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> bool:
        """Record the entries; True when the parties are to be told of them."""
        ...

    def make_durable(self) -> None:
        """Make every trace record so far survive a process kill."""
        ...


class LiveWrites:
    def __init__(self, ledger: LedgerStore) -> None:
        self.ledger = ledger

    def trace(self, message_id: str, kind: str, at: datetime, body: str) -> None:
        self.ledger.trace(message_id, kind, at, body)

    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> bool:
        return not self.ledger.append(message_id, entries).duplicate

    def make_durable(self) -> None:
        self.ledger.flush()


class ReplayWrites:
    """Traces nothing (the trace is being read) and defers appends to :meth:`commit`.

    An append answers as the ledger answered when the step first ran: "tell the parties",
    unless the message id was appended before, by an earlier step of the replay or, for a
    replay from a snapshot, before the snapshot (``recorded_before``). The rebuilt reply cache
    then carries the notifications the original reply carried, so a client that retries after
    the crash gets them again (the crash may have come between the ledger commit and their
    publication).
    """

    def __init__(self, recorded_before: Iterable[str] = ()) -> None:
        self.appends: list[tuple[str, Sequence[LedgerEntry]]] = []
        self._appended = set(recorded_before)

    def trace(self, message_id: str, kind: str, at: datetime, body: str) -> None:
        pass

    def append(self, message_id: str, entries: Sequence[LedgerEntry]) -> bool:
        self.appends.append((message_id, entries))
        if message_id in self._appended:
            return False
        self._appended.add(message_id)
        return True

    def make_durable(self) -> None:
        pass

    def commit(self, ledger: LedgerStore) -> int:
        """Hand the collected appends to the ledger; returns how many it did not have yet.

        Normally none: an append commits together with the trace row of its request. Only a
        request whose append failed (and whose trace row was written later) is recorded now.
        """
        written = 0
        for start in range(0, len(self.appends), _APPEND_CHUNK):
            results = ledger.append_many(self.appends[start : start + _APPEND_CHUNK])
            written += sum(not result.duplicate for result in results)
        self.appends.clear()
        return written


@dataclass(frozen=True, slots=True)
class RequestStep:
    request: Message
    at: datetime


@dataclass(frozen=True, slots=True)
class ClearStep:
    interval: Interval
    round_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ExpireStep:
    interval: Interval
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SentStep:
    clearing_id: str


ReplayStep = RequestStep | ClearStep | ExpireStep | SentStep


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    requests: int
    clearings: int
    appends_recorded: int
    """Ledger messages the replay had to write (the ledger was behind the trace)."""
    snapshot_seq: int = 0
    """The trace position of the snapshot the replay started from; 0: the whole trace."""
    snapshots_skipped: int = 0
    """Newer snapshots that could not be used (damaged, or of another configuration)."""


def replay_steps(
    traces: Iterable[TraceRecord], request_kinds: frozenset[str]
) -> Iterator[ReplayStep]:
    """The traced requests, clearings, expiries and sent transactions that changed the
    agent's state, in trace order.

    Position requests only read the ledger (which has moved on since), so they are left out:
    a retry of one is answered afresh. Confirmations and clearing results are records only.
    """
    for record in traces:
        if record.kind == CLEAR_KIND:
            interval, round_id = decode_clearing(record)
            yield ClearStep(interval, round_id, record.received_at)
        elif record.kind == EXPIRE_KIND:
            interval, reason = decode_expiry(record)
            yield ExpireStep(interval, reason, record.received_at)
        elif record.kind == SENT_KIND:
            yield SentStep(_field(record, "clearing"))
        elif record.kind in request_kinds and record.kind != EiRequestPosition.__name__:
            try:
                request = codec.loads(record.body)
            except ValidationError as exc:
                raise IntegrityError(
                    f"trace record {record.seq} ({record.kind}) does not decode: {exc}"
                ) from exc
            yield RequestStep(request, record.received_at)


def encode_clearing(interval: Interval, round_id: str) -> str:
    seconds = interval.duration // timedelta(seconds=1)
    start = interval.start.isoformat()
    return json.dumps({"start": start, "seconds": seconds, "roundId": round_id})


def decode_clearing(record: TraceRecord) -> tuple[Interval, str]:
    return _interval(record), _field(record, "roundId")


def encode_expiry(interval: Interval, reason: str) -> str:
    seconds = interval.duration // timedelta(seconds=1)
    return json.dumps({"start": interval.start.isoformat(), "seconds": seconds, "reason": reason})


def decode_expiry(record: TraceRecord) -> tuple[Interval, str]:
    return _interval(record), _field(record, "reason")


def encode_sent(clearing_id: str) -> str:
    return json.dumps({"clearing": clearing_id})


def _interval(record: TraceRecord) -> Interval:
    try:
        body = json.loads(record.body)
        return Interval(
            datetime.fromisoformat(body["start"]), timedelta(seconds=int(body["seconds"]))
        )
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        raise _malformed(record) from exc


def _field(record: TraceRecord, name: str) -> str:
    try:
        value = json.loads(record.body)[name]
    except (ValueError, KeyError, TypeError) as exc:
        raise _malformed(record) from exc
    if not isinstance(value, str):
        raise _malformed(record)
    return value


def _malformed(record: TraceRecord) -> IntegrityError:
    return IntegrityError(f"trace record {record.seq} ({record.kind}) is malformed")
