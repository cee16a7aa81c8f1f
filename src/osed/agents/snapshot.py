"""Snapshots of the Market Agent's state, so that a restart replays only the trace after one.

A snapshot holds what a replay of the trace up to its position would rebuild: open tenders,
tender ids, quotes, cleared intervals, unsent clearings, the quote match counter, the engine's
books (as a :class:`~osed.agents.market_journal.MarketJournal`) and the reply cache. The
store keeps it beside the trace, at the position of the last trace row it covers, with a
checksum (``LedgerStore.save_snapshot``).

A snapshot is incremental: its body is a manifest, and what grows with history lives in
chunks stored once beside it (``SnapshotChunk``). The body is one zlib frame of two JSON lines:
a header (format version, the agent's configuration, see :func:`fingerprint`, and the digest
and entry count of each chunk of tender ids and of the reply cache, oldest first) and the
state in the compact form of :mod:`osed.codec.snapshot`. The chunks
(:mod:`osed.agents.snapshot_chunks`) are each encoded once; a snapshot writes those sealed
since the previous one and refers to the others, and the store drops a chunk once no kept
snapshot refers to it. Tender ids are stored as :mod:`osed.agents.tender_ids` says; replies
as :mod:`osed.agents.reply_chunks` says, each line ``[request id, reply]``, which stays encoded
until a retry asks for it. A chunk is checked
against its digest when it is read, so a damaged or missing one makes the snapshot unusable.

A snapshot that fails its checksum, does not decode, was taken with another configuration or
lies beyond the trace is skipped with a warning; the next older one is tried, and without
any the whole trace is replayed.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from osed.agents.market_journal import (
    Cancel,
    InstrumentJournal,
    MarketJournal,
    Submit,
    Sweep,
)
from osed.agents.market_state import (
    Notification,
    OpenQuote,
    OpenTender,
    Reply,
    UnsentTransactions,
)
from osed.agents.reply_chunks import ReplyChunk
from osed.agents.snapshot_chunks import json_line
from osed.agents.tender_ids import TenderIdChunk, read_chunk
from osed.agents.units import MarketUnits
from osed.codec.snapshot import ValueCodec
from osed.domain import cts
from osed.domain.errors import IntegrityError
from osed.domain.time import Interval
from osed.markets.protocol import Market, Order
from osed.ports.ledger import LedgerStore, SnapshotChunk, SnapshotRecord, TraceRecord

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = "osed.market-agent"
# 3: tender ids stored as plain lines (osed.agents.tender_ids); 2: as JSON lines; 1: the
# chunks were inside the body.
_VERSION = 3
_COMPRESSION = 1  # zlib level: fast, and the JSON text still shrinks about tenfold

Fingerprint = dict[str, str | int]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """When the agent writes snapshots and whether it starts from one.

    ``every``: after this many state-changing steps (requests other than position requests,
    clearings, expiries, records of sent transactions), also right after a recovery that
    replayed as many; None: only when asked (:meth:`MarketAgent.snapshot`, e.g. at a graceful
    stop). ``keep``: snapshots kept, newest first (the older are the fallback when the newest
    is damaged). ``restore``: start from the newest usable snapshot, else replay everything.
    ``seal_replies``: encode the cached replies as they come, a chunk at a time, so that a
    snapshot (periodic or asked for) encodes few; off for an agent that never takes one (the
    market demo), which then never encodes them.
    """

    every: int | None = 1_000
    keep: int = 2
    restore: bool = True
    seal_replies: bool = True


@dataclass(frozen=True, slots=True)
class AgentState:
    """Everything of the agent a replay rebuilds but the tender ids and the reply cache."""

    open_tenders: tuple[tuple[str, OpenTender], ...]
    quotes: tuple[tuple[str, OpenQuote], ...]
    cleared: tuple[str, ...]
    unsent: tuple[UnsentTransactions, ...]
    next_quote_match: int
    market: MarketJournal
    ledger_count: int
    """Ledger entries when the snapshot was taken: a message recorded at or below this seq
    was recorded before the snapshot's position."""


@dataclass(frozen=True, slots=True)
class LoadedSnapshot:
    trace_seq: int
    state: AgentState
    parts: list[tuple[SnapshotChunk, TenderIdChunk]]
    """Each chunk of tender ids as stored, with its content, oldest first."""
    replies: list[tuple[SnapshotChunk, ReplyChunk]]
    """Each chunk of the reply cache as stored, with its content, oldest first."""


_CODEC = ValueCodec(
    [
        Interval,
        cts.IntervalDetail,
        cts.StreamDetail,
        cts.StreamInterval,
        cts.Tender,
        cts.Transaction,
        cts.Rfq,
        cts.Quote,
        cts.PositionInterval,
        cts.EiResponse,
        cts.EiCreateTender,
        cts.EiCreatedTender,
        cts.EiCancelTender,
        cts.EiCanceledTender,
        cts.EiCreateTransaction,
        cts.EiCreatedTransaction,
        cts.EiRequestPosition,
        cts.EiReplyPosition,
        cts.EiCreateRfq,
        cts.EiCreateQuote,
        cts.EiAcceptQuote,
        cts.EiRejectQuote,
        cts.EiCancelQuote,
        Notification,
        Reply,
        UnsentTransactions,
        OpenTender,
        OpenQuote,
        Order,
        Submit,
        Cancel,
        Sweep,
        InstrumentJournal,
        MarketJournal,
        AgentState,
    ]
)


def fingerprint(market_id: str, market: Market, units: MarketUnits, replies: int) -> Fingerprint:
    """What a snapshot must have been taken with to be used: the same market, engine, units
    and reply cache size rebuild the same state from the same trace."""
    engine = type(market)
    resolution = units.resolution
    return {
        "marketId": market_id,
        "engine": f"{engine.__module__}.{engine.__qualname__}",
        "mechanism": market.name,
        "priceScale": units.price_scale,
        "quantityScale": units.quantity_scale,
        "currency": units.currency,
        "resolutionS": -1 if resolution is None else resolution // timedelta(seconds=1),
        "rememberedReplies": replies,
    }


def reply_line(request_id: str, reply: Reply) -> str:
    """A cached reply as a line of a snapshot: ``[request id, reply]``."""
    return json_line([request_id, _CODEC.encode(reply)])


def reply_of_line(line: str) -> Reply:
    try:
        _, data = json.loads(line)
    except ValueError as exc:
        raise IntegrityError(f"a cached reply does not decode: {exc}") from exc
    reply: Reply = _CODEC.decode(Reply, data)
    return reply


ChunkList = list[tuple[SnapshotChunk, int]]
"""Chunks, oldest first, each with its number of entries."""


def encode_snapshot(
    identity: Fingerprint, state: AgentState, parts: ChunkList, replies: ChunkList
) -> bytes:
    """The manifest: the header naming the chunks, and the state."""
    header = {
        "version": _VERSION,
        **identity,
        "parts": [[piece.digest.hex(), count] for piece, count in parts],
        "replies": [[piece.digest.hex(), count] for piece, count in replies],
    }
    head = f"{json_line(header)}\n{json_line(_CODEC.encode(state))}"
    return zlib.compress(head.encode(), _COMPRESSION)


def decode_snapshot(
    record: SnapshotRecord, identity: Fingerprint, ledger: LedgerStore
) -> LoadedSnapshot:
    """The snapshot's content, its chunks read from ``ledger``; :class:`IntegrityError` saying
    why it cannot be used."""
    if not record.intact:
        raise IntegrityError("its checksum does not match its body")
    try:
        header_text, state_text = zlib.decompress(record.body).decode().split("\n")
        header = json.loads(header_text)
        if not isinstance(header, dict):
            raise ValueError("the header is not an object")
        parts_list = _chunk_list(header.pop("parts", None))
        replies_list = _chunk_list(header.pop("replies", None))
        if header != {"version": _VERSION, **identity}:
            raise IntegrityError(f"it was taken with another version or configuration: {header}")
        state: AgentState = _CODEC.decode(AgentState, json.loads(state_text))
        stored = ledger.snapshot_chunks(digest for digest, _ in parts_list + replies_list)
        parts = [
            (piece, _counted_ids(read_chunk(piece.body), count))
            for piece, count in _pieces(parts_list, stored)
        ]
        replies = [
            (piece, _counted_replies(ReplyChunk(piece.body), count))
            for piece, count in _pieces(replies_list, stored)
        ]
    except (zlib.error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise IntegrityError(f"it does not decode: {exc}") from exc
    return LoadedSnapshot(record.trace_seq, state, parts, replies)


def _chunk_list(data: object) -> list[tuple[bytes, int]]:
    if not isinstance(data, list):
        raise ValueError("the header lists no chunks")
    return [(bytes.fromhex(digest), int(count)) for digest, count in data]


def _pieces(
    listed: list[tuple[bytes, int]], stored: dict[bytes, bytes]
) -> Iterator[tuple[SnapshotChunk, int]]:
    """The listed chunks as stored, each checked against its digest."""
    for digest, count in listed:
        body = stored.get(digest)
        if body is None:
            raise IntegrityError(f"its chunk {digest.hex()[:16]} is missing")
        piece = SnapshotChunk(digest, body)
        if SnapshotChunk.of(body) != piece:
            raise IntegrityError(f"its chunk {digest.hex()[:16]} is damaged")
        yield piece, count


def _counted_ids(content: TenderIdChunk, count: int) -> TenderIdChunk:
    _counted(content.lines, count)
    return content


def _counted_replies(chunk: ReplyChunk, count: int) -> ReplyChunk:
    _counted(chunk.request_ids, count)
    return chunk


def _counted(entries: list[T], count: int) -> list[T]:
    if len(entries) != count:
        raise ValueError(f"a chunk holds {len(entries)} entries, not {count}")
    return entries


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a recovery starts: the newest usable snapshot (None: the beginning), the trace
    after it, and how many newer snapshots were skipped (each logged)."""

    snapshot: LoadedSnapshot | None
    tail: Iterator[TraceRecord]
    skipped: int


def resume_point(ledger: LedgerStore, identity: Fingerprint, *, snapshots: bool) -> ResumePoint:
    """The newest snapshot of ``identity`` that is intact, decodes and lies on this trace
    (not on a trace since replaced), if ``snapshots``; else, or without one, the beginning."""
    skipped = 0
    for record in ledger.snapshots(SNAPSHOT_FORMAT) if snapshots else ():
        try:
            loaded = decode_snapshot(record, identity, ledger)
            tail = _trace_after(ledger, record.trace_seq)
        except IntegrityError as exc:
            log.warning(
                "snapshot %d at trace position %d is skipped: %s",
                record.snapshot_id,
                record.trace_seq,
                exc,
            )
            skipped += 1
            continue
        return ResumePoint(loaded, tail, skipped)
    return ResumePoint(None, iter(ledger.traces()), skipped)


def _trace_after(ledger: LedgerStore, trace_seq: int) -> Iterator[TraceRecord]:
    """The trace after ``trace_seq``, once its row ``trace_seq`` is found there."""
    rows = iter(ledger.traces(after_seq=max(trace_seq - 1, 0)))
    if trace_seq > 0:  # a snapshot at 0 was taken before anything was traced
        first = next(rows, None)
        if first is None or first.seq != trace_seq:
            raise IntegrityError(f"the trace has no row {trace_seq}")
    return rows
