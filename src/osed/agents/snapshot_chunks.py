"""Compressed chunks of an append-only sequence, so that a snapshot encodes and writes only what
is new.

The reply cache and the tender ids grow with history. Their entries are sealed into chunks,
each encoded and compressed once and named by its SHA-256 (a
:class:`~osed.ports.ledger.SnapshotChunk`); the store writes a chunk once and every later
snapshot refers to it by its digest. Small chunks at the tail are merged as they accumulate
(up to ``merge_up_to`` entries), so that the number of chunks a snapshot lists stays small
without re-encoding anything: merging only recompresses text.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Reversible, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from osed.ports.ledger import SnapshotChunk

T = TypeVar("T")

_COMPRESSION = 1  # zlib level: fast, and the JSON text still shrinks about tenfold
_WRITE = json.JSONEncoder(separators=(",", ":"), check_circular=False)


@dataclass(frozen=True, slots=True)
class _Chunk:
    end: int
    """The index (in the whole sequence) one past the chunk's last entry."""
    count: int
    piece: SnapshotChunk


class SealedChunks:
    def __init__(self, *, merge_up_to: int = 0) -> None:
        self._chunks: list[_Chunk] = []
        self._merge_up_to = merge_up_to
        self.end = 0
        """Entries sealed so far."""

    def seal(self, end: int, lines: Sequence[str]) -> None:
        """Seal the entries from :attr:`end` to ``end``, given as lines of text (those of them
        still kept: the chunk holds as many entries as lines)."""
        if end > self.end:
            text = "\n".join(lines)
            piece = SnapshotChunk.of(zlib.compress(text.encode(), _COMPRESSION))
            self.add(end, len(lines), piece)

    def add(self, end: int, count: int, piece: SnapshotChunk) -> None:
        """Take the entries from :attr:`end` to ``end`` as ``piece``, encoded by the caller,
        holding ``count`` of them (those still kept)."""
        self._chunks.append(_Chunk(end, count, piece))
        self.end = end
        self._merge_tail()

    def adopt(self, piece: SnapshotChunk, count: int) -> None:
        """Take a chunk of ``count`` entries as read from a snapshot."""
        self.end += count
        self._chunks.append(_Chunk(self.end, count, piece))

    def drop_before(self, index: int) -> None:
        """Forget the chunks whose entries all come before ``index`` (no longer kept)."""
        self._chunks = [chunk for chunk in self._chunks if chunk.end > index]

    def pieces(self) -> list[tuple[SnapshotChunk, int]]:
        """The chunks, oldest first, each with its number of entries."""
        return [(chunk.piece, chunk.count) for chunk in self._chunks]

    def _merge_tail(self) -> None:
        """Merge the newest chunk into the one before while that stays within the limit."""
        while len(self._chunks) >= 2:
            older, newer = self._chunks[-2], self._chunks[-1]
            if older.count + newer.count > self._merge_up_to:
                return
            text = b"\n".join(zlib.decompress(c.piece.body) for c in (older, newer) if c.count)
            piece = SnapshotChunk.of(zlib.compress(text, _COMPRESSION))
            self._chunks[-2:] = [_Chunk(newer.end, older.count + newer.count, piece)]


def newest(items: Reversible[T], count: int) -> list[T]:
    """The last ``count`` of ``items``, in order."""
    found = list(islice(reversed(items), count))
    found.reverse()
    return found


def lines_of(blob: bytes) -> list[str]:
    """The lines of a chunk; ValueError (or zlib.error) if it does not decode."""
    text = zlib.decompress(blob).decode()
    return text.split("\n") if text else []


def json_line(value: object) -> str:
    return _WRITE.encode(value)
