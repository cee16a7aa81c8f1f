"""Compressed chunks of an append-only sequence, so that a snapshot encodes only what is new.

The reply cache and the tender ids grow with history. Each snapshot seals the entries added
since the previous one into a chunk, once; every later snapshot writes the same bytes again.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Reversible
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

T = TypeVar("T")

_COMPRESSION = 1  # zlib level: fast, and the JSON text still shrinks about tenfold
_WRITE = json.JSONEncoder(separators=(",", ":"), check_circular=False)


@dataclass(frozen=True, slots=True)
class _Chunk:
    end: int
    """The index (in the whole sequence) one past the chunk's last entry."""
    blob: bytes


class SealedChunks:
    def __init__(self) -> None:
        self._chunks: list[_Chunk] = []
        self.end = 0
        """Entries sealed so far."""

    def seal(self, end: int, lines: Iterable[str]) -> None:
        """Seal the entries from :attr:`end` to ``end``, given as lines of text."""
        if end > self.end:
            text = "\n".join(lines)
            self._chunks.append(_Chunk(end, zlib.compress(text.encode(), _COMPRESSION)))
            self.end = end

    def adopt(self, blob: bytes, count: int) -> None:
        """Take a chunk of ``count`` entries as read from a snapshot."""
        self.end += count
        self._chunks.append(_Chunk(self.end, blob))

    def drop_before(self, index: int) -> None:
        """Forget the chunks whose entries all come before ``index`` (no longer kept)."""
        self._chunks = [chunk for chunk in self._chunks if chunk.end > index]

    def blobs(self) -> list[bytes]:
        return [chunk.blob for chunk in self._chunks]


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
