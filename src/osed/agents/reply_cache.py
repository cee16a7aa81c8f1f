"""The Market Agent's replies by request id, so that a retried request is answered, not executed,
again.

Only the ``limit`` most recent are kept. A reply is encoded once, when it is sealed into a
chunk (:mod:`osed.agents.reply_chunks`): every :data:`SEAL_EVERY` replies, and the rest at
the next snapshot. Sealing as they come keeps the work a snapshot does (while a request waits)
to at most that many replies; a reply is kept encoded from then on (a fraction of the memory),
and the rare retry that asks for one decodes it. A restart loads only the request ids of each
chunk; a retry decompresses the chunk of its reply.

With ``seal_every=None`` (an agent that takes no snapshots) replies stay as they are until a
snapshot asks for them: encoding them cost the market demo, which takes none, a twentieth of
its time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from itertools import repeat

from osed.agents.market_state import Reply
from osed.agents.reply_chunks import ReplyChunk, seal_replies
from osed.agents.snapshot import reply_line, reply_of_line
from osed.agents.snapshot_chunks import SealedChunks, newest
from osed.ports.ledger import SnapshotChunk

SEAL_EVERY = 1_000
"""Replies sealed in one go between snapshots (about 15 ms of encoding)."""


class RecentReplies:
    def __init__(self, limit: int, *, seal_every: int | None = SEAL_EVERY) -> None:
        self.limit = limit
        self.seal_every = seal_every
        # A reply, its line once sealed, or the loaded chunk that holds its line.
        self._replies: OrderedDict[str, Reply | str | ReplyChunk] = OrderedDict()
        self._added = 0  # replies ever put or loaded
        self._chunks = SealedChunks()

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._replies

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, request_id: str) -> Reply | None:
        reply = self._replies.get(request_id)
        if isinstance(reply, ReplyChunk):
            return reply_of_line(reply.line(request_id))
        return reply_of_line(reply) if isinstance(reply, str) else reply

    def put(self, request_id: str, reply: Reply) -> None:
        """Remember a reply for a request id not cached."""
        self._replies[request_id] = reply
        self._added += 1
        if len(self._replies) > self.limit:
            self._replies.popitem(last=False)
        every = self.seal_every
        if every is not None and self._added - self._chunks.end >= every:
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
        request_ids: list[str] = []
        lines: list[str] = []
        for request_id, reply in newest(self._replies.items(), unsealed):
            assert not isinstance(reply, ReplyChunk)  # loaded ones are sealed
            line = reply if isinstance(reply, str) else reply_line(request_id, reply)
            self._replies[request_id] = line  # a new value keeps its place
            request_ids.append(request_id)
            lines.append(line)
        if self._added > self._chunks.end:
            self._chunks.add(self._added, len(lines), seal_replies(request_ids, lines))
        self._chunks.drop_before(self._added - len(self._replies))

    def load(self, chunks: Iterable[tuple[SnapshotChunk, ReplyChunk]]) -> None:
        """Take the chunks of a snapshot, oldest first, into an empty cache."""
        loaded: list[tuple[str, ReplyChunk]] = []
        request_ids: list[str] = []
        for piece, chunk in chunks:
            loaded += zip(chunk.request_ids, repeat(chunk))
            request_ids += chunk.request_ids
            self._chunks.adopt(piece, len(chunk.request_ids))
        self._added += len(loaded)
        if len(set(request_ids)) == len(loaded):  # no request executed twice: in one go
            self._replies.update(loaded[-self.limit :] if self.limit else ())
        else:
            for request_id, chunk in loaded:
                # A request forgotten and executed again is cached at its later place.
                self._replies.pop(request_id, None)
                self._replies[request_id] = chunk
            while len(self._replies) > self.limit:
                self._replies.popitem(last=False)
        self._chunks.drop_before(self._added - len(self._replies))
