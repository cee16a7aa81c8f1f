"""The Market Agent's replies by request id, so that a retried request is answered, not executed,
again.

Only the ``limit`` most recent are kept. A reply is encoded once, when it is sealed into a
chunk (:mod:`osed.agents.snapshot_chunks`): every :data:`SEAL_EVERY` replies, and the rest at
the next snapshot. Sealing as they come keeps the work a snapshot does (while a request waits)
to at most that many replies; a reply is kept encoded from then on (a fraction of the memory),
and the rare retry that asks for one decodes it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from osed.agents.market_state import Reply
from osed.agents.snapshot import CachedReply, reply_line, reply_of_line
from osed.agents.snapshot_chunks import SealedChunks, newest
from osed.ports.ledger import SnapshotChunk

SEAL_EVERY = 1_000
"""Replies sealed in one go between snapshots (about 15 ms of encoding)."""


class RecentReplies:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._replies: OrderedDict[str, Reply | str] = OrderedDict()
        self._added = 0  # replies ever put or loaded
        self._chunks = SealedChunks()

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._replies

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, request_id: str) -> Reply | None:
        reply = self._replies.get(request_id)
        return reply_of_line(reply) if isinstance(reply, str) else reply

    def put(self, request_id: str, reply: Reply | str) -> None:
        """Remember a reply (or its line, from a snapshot) for a request id not cached."""
        self._replies[request_id] = reply
        self._added += 1
        if len(self._replies) > self.limit:
            self._replies.popitem(last=False)
        if self._added - self._chunks.end >= SEAL_EVERY:
            self._seal()

    def items(self) -> Iterator[tuple[str, Reply]]:
        """Every cached reply, decoded, oldest first."""
        for request_id in list(self._replies):
            reply = self.get(request_id)
            assert reply is not None
            yield request_id, reply

    def sealed(self) -> list[tuple[SnapshotChunk, int]]:
        """The cache as compressed chunks for a snapshot, oldest first, each with its number
        of replies; those not sealed yet are encoded and sealed into a new one."""
        self._seal()
        return self._chunks.pieces()

    def _seal(self) -> None:
        unsealed = min(self._added - self._chunks.end, len(self._replies))
        lines: list[str] = []
        for request_id, reply in newest(self._replies.items(), unsealed):
            line = reply if isinstance(reply, str) else reply_line(request_id, reply)
            self._replies[request_id] = line  # a new value keeps its place
            lines.append(line)
        self._chunks.seal(self._added, lines)
        self._chunks.drop_before(self._added - len(self._replies))

    def load(self, chunks: Iterable[tuple[SnapshotChunk, list[CachedReply]]]) -> None:
        """Take the chunks of a snapshot, oldest first, into an empty cache."""
        for piece, replies in chunks:
            for request_id, line in replies:
                # A request forgotten and executed again is cached at its later place.
                self._replies.pop(request_id, None)
                self._replies[request_id] = line
            self._added += len(replies)
            self._chunks.adopt(piece, len(replies))
        while len(self._replies) > self.limit:
            self._replies.popitem(last=False)
        self._chunks.drop_before(self._added - len(self._replies))
