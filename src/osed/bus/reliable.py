"""Reliable delivery over any Bus: no loss, no duplicates, per-source order, gaps reported.

Brokers lose acknowledged messages on kill -9, so the guarantee is built end to end and uses
only the :class:`~osed.ports.bus.Bus` port (it holds for the memory, MQTT and NATS backends):

- a :class:`Publisher` numbers the messages of its source 1, 2, 3, …, writes each to its
  :class:`Outbox` before sending it, and resends ranges on request;
- a :class:`Consumer` delivers each source's messages in seq order exactly once, drops
  duplicates (by seq and by idempotency key), asks the source to replay a hole, and reports what
  cannot be replayed as a :class:`Gap` with its exact range: published as a
  :class:`GapReport` on ``_osed/gaps/<consumer>`` and saved with the consumer's positions
  (:meth:`PositionStore.gaps`, :func:`read_gap_reports`).

The control topics and their JSON payloads are described in docs/bus.md.
"""

from osed.bus._consumer import (
    Accept,
    Commit,
    Consumer,
    GapHandler,
    ReplayPolicy,
    deferred_consumer,
)
from osed.bus._control import (
    FRAME,
    GAPS_PATTERN,
    ack_topic,
    gap_envelope,
    gaps_topic,
    head_topic,
    replay_topic,
    replayed_topic,
)
from osed.bus._outbox import InMemoryOutbox, Outbox, SqliteOutbox
from osed.bus._positions import (
    InMemoryPositions,
    PositionStore,
    SqlitePositions,
    read_gap_reports,
)
from osed.bus._publisher import Publisher
from osed.bus._sequencer import Gap, Hole, Sequencer
from osed.codec.gap import GapReport

__all__ = [
    "FRAME",
    "GAPS_PATTERN",
    "Accept",
    "Commit",
    "Consumer",
    "Gap",
    "GapHandler",
    "GapReport",
    "Hole",
    "InMemoryOutbox",
    "InMemoryPositions",
    "Outbox",
    "PositionStore",
    "Publisher",
    "ReplayPolicy",
    "Sequencer",
    "SqliteOutbox",
    "SqlitePositions",
    "ack_topic",
    "deferred_consumer",
    "gap_envelope",
    "gaps_topic",
    "head_topic",
    "read_gap_reports",
    "replay_topic",
    "replayed_topic",
]
