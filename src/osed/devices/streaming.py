"""Measurements from any device gateway to the bus and to time-series storage, batched.

What arrives from the gateway waits in a buffer that is flushed when it holds ``max_batch``
measurements or its oldest has waited ``max_delay_s``. A flush

- publishes one envelope per device on ``buildings/<building>/devices/<device>/measurements``
  through a reliable :class:`~osed.bus.reliable.Publisher` (source ``devices.<building>``:
  numbered, in its outbox before it is sent, replayed on request), payload
  ``{"building", "device", "measurements": [{"quantity", "value", "unit", "at"}]}``;
- writes one point per measurement to the :class:`~osed.ports.timeseries.TimeSeriesStore`,
  series ``<building>/<device>/<quantity>`` in the quantity's unit, belief time the receive
  time, source the stream's.

Every ``liveness_every_s`` the gateway's liveness goes out on
``buildings/<building>/devices/liveness``: ``{"building", "at", "devices": [{"device",
"online", "last_seen"}]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from osed.bus.reliable import Outbox, Publisher
from osed.domain.devices import Measurement, Quantity
from osed.domain.time import Clock, SystemClock
from osed.ports.bus import Bus
from osed.ports.devices import DeviceGateway
from osed.ports.timeseries import TimeSeriesPoint, TimeSeriesStore

log = logging.getLogger(__name__)

UNITS: dict[Quantity, str] = {
    Quantity.POWER_KW: "kW",
    Quantity.ENERGY_KWH: "kWh",
    Quantity.SOC: "1",
    Quantity.TEMPERATURE_C: "degC",
    Quantity.SETPOINT_C: "degC",
    Quantity.OUTDOOR_C: "degC",
    Quantity.CONNECTED: "1",
    Quantity.ON: "1",
}


PUBLISH_SLICE = 50
"""Envelopes handed to the bus at a time."""


def measurements_topic(building_id: str, device_id: str) -> str:
    return f"buildings/{building_id}/devices/{device_id}/measurements"


def building_topic(building_id: str) -> str:
    return f"buildings/{building_id}/devices/measurements"


def liveness_topic(building_id: str) -> str:
    return f"buildings/{building_id}/devices/liveness"


def series_id(building_id: str, device_id: str, quantity: Quantity) -> str:
    return f"{building_id}/{device_id}/{quantity.value}"


class MeasurementStream:
    def __init__(
        self,
        gateway: DeviceGateway,
        *,
        building_id: str,
        bus: Bus | None = None,
        store: TimeSeriesStore | None = None,
        outbox: Outbox | None = None,
        clock: Clock | None = None,
        max_batch: int = 1000,
        max_delay_s: float = 1.0,
        liveness_every_s: float = 30.0,
        per_building: bool = False,
        keep_at_most: int = 20_000,
    ) -> None:
        """``per_building``: one envelope per flush for all devices of the building, on
        :func:`building_topic`, instead of one per device (for buildings with thousands of
        devices: the bus then carries one message where it would carry thousands).
        ``keep_at_most``: envelopes the publisher keeps for replays (the oldest go first)."""
        self._gateway = gateway
        self.building_id = building_id
        self.source = f"devices.{building_id}"
        self._clock = clock if clock is not None else SystemClock()
        self._publisher = (
            Publisher(bus, self.source, outbox, clock=self._clock, keep_at_most=keep_at_most)
            if bus is not None
            else None
        )
        self._store = store
        self._per_building = per_building
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._liveness_every_s = liveness_every_s
        self._buffer: list[tuple[Measurement, datetime]] = []
        self._lock = asyncio.Lock()
        self._full = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        """Envelopes of measurements published."""
        self.stored = 0
        """Points written (new ones)."""

    async def start(self) -> None:
        if self._publisher is not None:
            await self._publisher.start()
        self._gateway.on_measurements(self._take)
        self._tasks = [asyncio.create_task(self._flushing(), name="stream-flush")]
        if self._publisher is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._every(self._liveness_every_s, self.publish_liveness),
                    name="stream-liveness",
                )
            )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.flush()
        if self._publisher is not None:
            await self._publisher.close()

    async def _take(self, batch: Sequence[Measurement]) -> None:
        received = self._clock.now()
        self._buffer.extend((m, received) for m in batch)
        if len(self._buffer) >= self._max_batch:
            self._full.set()  # flushed by its own task: the gateway's intake goes on meanwhile

    async def flush(self) -> None:
        """Publish and store what waits in the buffer."""
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return
            if self._store is not None:
                self.stored += self._store.write(
                    [
                        TimeSeriesPoint(
                            series_id(self.building_id, m.device_id, m.quantity),
                            m.at,
                            float(m.value),
                            UNITS[m.quantity],
                            received,
                            self.source,
                        )
                        for m, received in batch
                    ]
                )
            if self._publisher is not None:
                messages = self._messages([m for m, _ in batch])
                for start in range(0, len(messages), PUBLISH_SLICE):
                    # Slices, each sent as the next one is built: the gateway's messages get
                    # their turn in the event loop between them.
                    piece = messages[start : start + PUBLISH_SLICE]
                    await self._publisher.publish_many(piece, wait_for_broker=False)
                    self.published += len(piece)
                    await asyncio.sleep(0)

    async def publish_liveness(self) -> None:
        if self._publisher is None:
            return
        now = self._clock.now()
        devices = [
            {
                "device": s.device_id,
                "online": s.online,
                "last_seen": None if s.last_seen is None else s.last_seen.isoformat(),
            }
            for s in self._gateway.liveness()
        ]
        payload = {"building": self.building_id, "at": now.isoformat(), "devices": devices}
        await self._publisher.publish(
            liveness_topic(self.building_id), json.dumps(payload).encode(), event_time=now
        )

    def _messages(self, batch: list[Measurement]) -> list[tuple[str, bytes]]:
        by_device: dict[str, list[dict[str, object]]] = {}
        for m in batch:
            by_device.setdefault(m.device_id, []).append(
                {
                    "quantity": m.quantity.value,
                    "value": m.value,
                    "unit": UNITS[m.quantity],
                    "at": m.at.isoformat(),
                }
            )
        if self._per_building:
            devices = [{"device": d, "measurements": items} for d, items in by_device.items()]
            payload = {"building": self.building_id, "devices": devices}
            return [(building_topic(self.building_id), _json(payload))]
        return [
            (
                measurements_topic(self.building_id, device),
                _json({"building": self.building_id, "device": device, "measurements": items}),
            )
            for device, items in by_device.items()
        ]

    async def _flushing(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self._max_delay_s)
            self._full.clear()
            try:
                await self.flush()
            except Exception:  # storage or broker trouble must not end the stream
                log.exception("device measurements of %s could not be flushed", self.building_id)

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await action()
            except Exception:  # storage or broker trouble must not end the stream
                log.exception("device measurements of %s: %s failed", self.building_id, action)


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
