"""The stored form of a chunk of cached replies, which a restart loads without reading the replies.

A chunk is two zlib frames: the request ids as one JSON array, then the reply lines (one per
request id, in the same order). A restart reads only the first frame, so loading 100,000 cached
replies costs their ids; the replies are decompressed when a retry asks for one of them.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence

from osed.agents.snapshot_chunks import json_line
from osed.domain.errors import IntegrityError
from osed.ports.ledger import SnapshotChunk

_COMPRESSION = 1  # zlib level: fast, and the JSON text still shrinks about tenfold


def seal_replies(request_ids: Sequence[str], lines: Sequence[str]) -> SnapshotChunk:
    """A chunk of the reply ``lines`` of ``request_ids``."""
    ids = zlib.compress(json_line(list(request_ids)).encode(), _COMPRESSION)
    return SnapshotChunk.of(ids + zlib.compress("\n".join(lines).encode(), _COMPRESSION))


class ReplyChunk:
    """A stored chunk as a restart loads it: its request ids, its replies still compressed."""

    __slots__ = ("_lines", "_rest", "request_ids")

    def __init__(self, body: bytes) -> None:
        """ValueError (or zlib.error) if the ids do not decode."""
        reader = zlib.decompressobj()
        ids = json.loads(reader.decompress(body))
        if not reader.eof:
            raise ValueError("a reply chunk ends within its request ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("a reply chunk's request ids are not a list of text")
        self.request_ids: list[str] = ids
        self._rest = reader.unused_data
        self._lines: list[str] | None = None

    def line(self, request_id: str) -> str:
        """The reply line of ``request_id`` (the last, should it occur twice)."""
        if self._lines is None:
            try:
                text = zlib.decompress(self._rest).decode()
            except (zlib.error, UnicodeDecodeError) as exc:
                raise IntegrityError(f"a chunk of cached replies does not decode: {exc}") from exc
            self._lines = text.split("\n") if text else []
            if len(self._lines) != len(self.request_ids):
                raise IntegrityError("a chunk of cached replies lacks replies")
        index = len(self.request_ids) - 1 - self.request_ids[::-1].index(request_id)
        return self._lines[index]
