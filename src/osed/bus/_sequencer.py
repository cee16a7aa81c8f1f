"""Per-source ordering for one consumer: pure state, no I/O, so properties can be tested alone.

For each source the sequencer knows the next seq to deliver. An envelope with that seq is
ready at once (unless its idempotency key was seen: then it only advances the stream); an older
seq is a duplicate; a newer one waits in a bounded buffer while the hole before it is replayed.
Ranges the source cannot replay (``unavailable``) become :class:`Gap` records in stream order;
ranges that are not on the consumer's pattern (``skipped``) advance the stream silently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from osed.domain.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Gap:
    """Messages ``first..last`` of ``source`` will never be delivered.

    ``reason``: ``"unavailable"`` (the source no longer holds them) or ``"timeout"`` (the
    source did not answer replay requests in time).
    """

    source: str
    first: int
    last: int
    reason: str


@dataclass(frozen=True, slots=True)
class Hole:
    """Seqs ``first..last`` of ``source`` are known to exist and have not arrived."""

    source: str
    first: int
    last: int


Ready = Envelope | Gap


class _Stream:
    __slots__ = ("known_last", "marks", "next", "pending")

    def __init__(self, next_seq: int) -> None:
        self.next = next_seq
        self.known_last = next_seq - 1  # the highest seq known to exist
        self.pending: dict[int, Envelope] = {}
        self.marks: list[tuple[int, int, str | None]] = []  # (first, last, gap reason | skip)


class Sequencer:
    """Orders the envelopes of every source one consumer sees.

    ``positions``: per source, the last seq already delivered (a restart resumes after it).
    A source without a position starts at seq 1, or with ``late_join`` at the first seq seen.
    ``max_buffered``: out-of-order envelopes held per source; beyond that they are dropped and
    replayed later. ``remember_keys``: how many recent idempotency keys are kept to drop
    republished content under a new seq.
    """

    def __init__(
        self,
        positions: Mapping[str, int] | None = None,
        *,
        max_buffered: int = 10_000,
        remember_keys: int = 100_000,
        late_join: bool = False,
    ) -> None:
        self._streams = {
            source: _Stream(seq + 1) for source, seq in (positions or {}).items() if seq >= 0
        }
        self._max_buffered = max_buffered
        self._late_join = late_join
        self._keys: set[str] = set()
        self._key_order: deque[str] = deque()
        self._remember_keys = remember_keys
        self._waiting: set[str] = set()
        # Heads of sources not seen yet: applied when their first message arrives, since a
        # head may overtake the data it announces (they travel on different subscriptions).
        self._early_heads: dict[str, int] = {}

    @property
    def waiting(self) -> bool:
        """Some source has a hole (see :meth:`holes`)."""
        return bool(self._waiting)

    def is_waiting(self, source: str) -> bool:
        return source in self._waiting

    def position(self, source: str) -> int:
        """The last seq of ``source`` delivered or reported lost (0: none)."""
        stream = self._streams.get(source)
        return stream.next - 1 if stream is not None else 0

    def positions(self) -> dict[str, int]:
        return {source: stream.next - 1 for source, stream in self._streams.items()}

    def offer(self, envelope: Envelope) -> list[Ready]:
        """What becomes ready, in order, now that ``envelope`` arrived."""
        stream = self._streams.get(envelope.source)
        if stream is None:
            first = envelope.seq if self._late_join else 1
            stream = self._streams[envelope.source] = _Stream(first)
            stream.known_last = max(stream.known_last, self._early_heads.pop(envelope.source, 0))
        seq = envelope.seq
        if seq == stream.next and seq > stream.known_last:  # in order, nothing outstanding
            stream.next = seq + 1
            stream.known_last = seq
            return self._fresh(envelope)
        if seq < stream.next or seq in stream.pending:
            return []
        stream.known_last = max(stream.known_last, seq)
        if seq == stream.next or len(stream.pending) < self._max_buffered:
            stream.pending[seq] = envelope
        return self._drain(envelope.source, stream)

    def mark(self, source: str, first: int, last: int, reason: str | None) -> list[Ready]:
        """Seqs ``first..last`` will not arrive: report them as a Gap with ``reason``, or skip
        them silently when ``reason`` is None. An envelope already held still wins."""
        stream = self._streams.get(source)
        if stream is None:
            return []
        first = max(first, stream.next)
        if first > last:
            return []
        stream.marks.append((first, last, reason))
        stream.known_last = max(stream.known_last, last)
        return self._drain(source, stream)

    def announce(self, source: str, last: int) -> None:
        """The source says it has published through ``last``; for a source not seen yet this
        counts once its first message arrives."""
        stream = self._streams.get(source)
        if stream is None:
            self._early_heads[source] = max(last, self._early_heads.get(source, 0))
        elif last > stream.known_last:
            stream.known_last = last
            self._waiting.add(source)

    def holes(self, max_length: int | None = None) -> list[Hole]:
        """The first missing range of every waiting source, at most ``max_length`` long."""
        holes = []
        for source in sorted(self._waiting):
            stream = self._streams[source]
            last = min(stream.pending) - 1 if stream.pending else stream.known_last
            for mark_first, _, _ in stream.marks:
                last = min(last, mark_first - 1)
            if max_length is not None:
                last = min(last, stream.next + max_length - 1)
            if last >= stream.next:
                holes.append(Hole(source, stream.next, last))
        return holes

    def _fresh(self, envelope: Envelope) -> list[Ready]:
        """``[envelope]``, or nothing when its key was already delivered."""
        key = envelope.key
        if key in self._keys:
            return []
        self._keys.add(key)
        self._key_order.append(key)
        if len(self._key_order) > self._remember_keys:
            self._keys.discard(self._key_order.popleft())
        return [envelope]

    def _drain(self, source: str, stream: _Stream) -> list[Ready]:
        ready: list[Ready] = []
        pending = stream.pending
        while True:
            envelope = pending.pop(stream.next, None)
            if envelope is not None:
                stream.next += 1
                ready += self._fresh(envelope)
                continue
            covering = [m for m in stream.marks if m[0] <= stream.next <= m[1]]
            if not covering:
                break
            _, last, reason = covering[0]
            held = [seq for seq in pending if stream.next < seq <= last]
            if held:
                last = min(held) - 1
            if reason is not None:
                ready.append(Gap(source, stream.next, last, reason))
            stream.next = last + 1
        stream.marks = [m for m in stream.marks if m[1] >= stream.next]
        if stream.next <= stream.known_last:
            self._waiting.add(source)
        else:
            self._waiting.discard(source)
        return ready
