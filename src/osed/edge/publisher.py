"""Envelopes of one EDC: one source per run of the EDC (``edc-<id>-<run>``), numbered 1, 2, 3,
… so consumers sequence and de-duplicate them; a restarted EDC starts a new run, so its
numbers never collide with the previous run's."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from osed.domain.envelope import Envelope
from osed.ports.bus import Bus


class Publisher:
    def __init__(self, bus: Bus, edc_id: str) -> None:
        self._bus = bus
        self.source = f"edc-{edc_id}-{secrets.token_hex(4)}"
        self._seq = 0

    async def publish(self, messages: Sequence[tuple[str, bytes]], at: datetime) -> None:
        """``(topic, payload)`` pairs, in order, in one hand-over to the bus."""
        if not messages:
            return
        envelopes = []
        for topic, payload in messages:
            self._seq += 1
            envelopes.append(Envelope(topic, self.source, self._seq, payload, at))
        await self._bus.publish_many(envelopes)
