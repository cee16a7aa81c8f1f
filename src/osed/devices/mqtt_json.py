"""A device gateway for devices that speak JSON over MQTT, mapped by configuration.

Each device publishes its state on its measurements topic; the gateway reads each configured
quantity at its JSON path and scales it to OSED's unit. A command goes out on the device's
command topic as the action's payload template, filled in with the value (scaled to the
device's unit) and the command id; the device answers on its acknowledgement topic with a
message carrying that id (and, where configured, whether it applied it and why not).

The link is the project's MQTT client (:class:`~osed.bus.mqtt_link.MqttLink`): it reconnects
with backoff and subscribes again on every connection. Commands go through
:class:`~osed.devices.pending.PendingCommands`: once a device confirmed an id, sending it again
returns that outcome without publishing; an unconfirmed command is published again after every
reconnection and every ``retry_s`` until its confirmation arrives. A device therefore sees a
command id possibly more than once and must apply it once, confirming repeats by id (what
every device that acknowledges by command id does).

Only a device's own acknowledgement topic settles its commands: an acknowledgement of another
device's command id is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from osed.bus.mqtt_link import (
    LinkUnavailableError,
    MqttConnection,
    MqttEndpoint,
    MqttLink,
    MqttMessage,
)
from osed.devices.commands import refusal
from osed.devices.json_paths import MISSING, Path, render, walk
from osed.devices.mqtt_json_config import MqttDevice, MqttJsonConfig
from osed.devices.pending import PendingCommands
from osed.domain.devices import (
    Command,
    CommandResult,
    DeviceInfo,
    Liveness,
    Measurement,
    Outcome,
)
from osed.domain.time import Clock, SystemClock
from osed.ports.devices import MeasurementHandler

log = logging.getLogger(__name__)

MEASUREMENTS, ACK = "measurements", "ack"


class MqttJsonGateway:
    def __init__(self, config: MqttJsonConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        self._clock = clock if clock is not None else SystemClock()
        self._devices = {d.info.device_id: d for d in config.devices}
        self._infos = {i: d.info for i, d in self._devices.items()}
        self._routes: dict[str, list[tuple[str, MqttDevice]]] = defaultdict(list)
        for device in config.devices:
            self._routes[device.measurements_topic].append((MEASUREMENTS, device))
            self._routes[device.ack_topic].append((ACK, device))
        self._patterns = _subscriptions(config.devices)
        self._handlers: list[MeasurementHandler] = []
        self._pending = PendingCommands()
        self._sent_at: dict[str, float] = {}
        self._outstanding: dict[str, Command] = {}  # published, not confirmed yet
        self._last_seen: dict[str, datetime] = {}
        self._connection: MqttConnection | None = None
        self._connections = 0
        self._retry_task: asyncio.Task[None] | None = None
        self._resends: set[asyncio.Task[None]] = set()
        self.stats = {"messages": 0, "measurements": 0, "unreadable": 0, "resent": 0}
        """Counters: messages received, measurements read, messages that were no JSON (or
        lacked every mapped quantity), commands published again."""
        broker = config.broker
        self._link = MqttLink(
            MqttEndpoint(
                broker.host,
                broker.port,
                username=broker.username,
                password=broker.password,
                keepalive=broker.keepalive,
            ),
            client_id=broker.client_id,
            persistent_session=False,
            on_connect=self._on_connect,
            on_messages=self._on_messages,
        )

    # -- the port ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self._link.start()
        self._retry_task = asyncio.create_task(self._retry(), name="mqtt-json-retry")

    async def discover(self) -> list[DeviceInfo]:
        return list(self._infos.values())

    def on_measurements(self, handler: MeasurementHandler) -> None:
        self._handlers.append(handler)

    async def send(self, command: Command, *, timeout_s: float = 10.0) -> CommandResult:
        earlier = self._pending.admit(command)
        if earlier is not None:
            return earlier
        reason = refusal(self._infos, command)
        if reason is not None:
            self._pending.settle(command.command_id, Outcome.REJECTED, self._clock.now(), reason)
        else:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await self._publish(command, timeout_s)
            timeout_s = max(0.0, timeout_s - (loop.time() - started))
        return await self._pending.wait(command.command_id, timeout_s, self._clock.now())

    def liveness(self) -> list[Liveness]:
        now = self._clock.now()
        window = self._config.offline_after_s
        states = []
        for device_id in self._infos:
            seen = self._last_seen.get(device_id)
            online = self._up() and seen is not None and (now - seen).total_seconds() <= window
            states.append(Liveness(device_id, online, seen))
        return states

    async def close(self) -> None:
        tasks = [t for t in (self._retry_task, *self._resends) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._retry_task = None
        await self._link.stop()
        self._connection = None

    def pending(self) -> list[Command]:
        return self._pending.pending()

    # -- commands ---------------------------------------------------------------------------

    async def _publish(self, command: Command, timeout_s: float) -> None:
        device = self._devices[command.device_id]
        mapping = device.commands[command.action]
        value: str | float = ""
        if command.value is not None:
            value = command.value * mapping.scale + mapping.offset
        payload = render(
            mapping.payload,
            {
                "value": value,
                "command_id": command.command_id,
                "device": command.device_id,
                "action": command.action.value,
            },
        )
        self._sent_at[command.command_id] = asyncio.get_running_loop().time()
        self._outstanding[command.command_id] = command
        try:
            await self._link.publish(
                device.command_topic, payload, qos=self._config.qos, timeout=max(timeout_s, 0.01)
            )
        except LinkUnavailableError as exc:  # it stays pending and goes out after reconnecting
            log.info("command %s not published yet: %s", command.command_id, exc)

    async def _resend(self, only_older_than: float | None = None) -> None:
        now = asyncio.get_running_loop().time()
        for command in self._pending.pending():
            sent = self._sent_at.get(command.command_id, -math.inf)
            if only_older_than is not None and now - sent < only_older_than:
                continue
            self.stats["resent"] += 1
            await self._publish(command, self._config.retry_s)

    async def _retry(self) -> None:
        every = self._config.retry_s
        while True:
            await asyncio.sleep(every / 2)
            if self._up():
                await self._resend(only_older_than=every)

    # -- the link ---------------------------------------------------------------------------

    def _up(self) -> bool:
        connection = self._connection
        return connection is not None and not connection.closed.done()

    async def _on_connect(self, connection: MqttConnection) -> None:
        for pattern in self._patterns:
            await connection.subscribe(pattern, qos=self._config.qos)
        self._connections += 1
        self._connection = connection
        if self._connections > 1:
            # Published through the link once it is up (after this hook returns).
            task = asyncio.create_task(self._resend(), name="mqtt-json-resend")
            self._resends.add(task)
            task.add_done_callback(self._resends.discard)

    async def _on_messages(self, connection: MqttConnection, batch: list[MqttMessage]) -> None:
        now = self._clock.now()
        measurements: list[Measurement] = []
        for message in batch:
            self.stats["messages"] += 1
            routes = self._routes.get(message.topic)
            if not routes:
                continue
            try:
                document = json.loads(message.payload)
            except (ValueError, UnicodeDecodeError):
                self.stats["unreadable"] += 1
                continue
            for role, device in routes:
                self._last_seen[device.info.device_id] = now
                if role == MEASUREMENTS:
                    measurements += self._read(device, document, now)
                else:
                    self._acknowledge(device, document, now)
        self.stats["measurements"] += len(measurements)
        if measurements:
            for handler in self._handlers:
                await handler(measurements)

    def _read(self, device: MqttDevice, document: Any, now: datetime) -> list[Measurement]:
        at = self._time(document, now)
        found = []
        for reading in device.readings:
            raw = walk(document, reading.path)
            if isinstance(raw, bool):
                raw = float(raw)
            if raw is MISSING or not isinstance(raw, int | float):
                continue
            value = raw * reading.scale + reading.offset
            if math.isfinite(value):
                found.append(Measurement(device.info.device_id, reading.quantity, value, at))
        if not found and device.readings:
            self.stats["unreadable"] += 1
        return found

    def _time(self, document: Any, now: datetime) -> datetime:
        path: Path | None = self._config.time_path
        if path is None:
            return now
        raw = walk(document, path)
        try:
            if isinstance(raw, int | float) and not isinstance(raw, bool):
                return datetime.fromtimestamp(raw, UTC)
            if isinstance(raw, str):
                at = datetime.fromisoformat(raw)
                if at.utcoffset() is not None:
                    return at
        except (ValueError, OverflowError, OSError):
            pass
        return now

    def _acknowledge(self, device: MqttDevice, document: Any, now: datetime) -> None:
        ack = self._config.ack
        command_id = walk(document, ack.id_path)
        if not isinstance(command_id, str):
            return
        command = self._outstanding.get(command_id)
        if command is None or command.device_id != device.info.device_id:
            return  # settled already, unknown, or another device's command
        ok: Any = True if ack.ok_path is None else walk(document, ack.ok_path)
        detail: Any = "" if ack.detail_path is None else walk(document, ack.detail_path)
        detail = detail if isinstance(detail, str) else ""
        outcome = Outcome.APPLIED if ok is True else Outcome.REJECTED
        if outcome is Outcome.REJECTED and not detail:
            detail = f"{device.info.device_id} refused it"
        self._pending.settle(command_id, outcome, now, detail)
        self._sent_at.pop(command_id, None)
        del self._outstanding[command_id]


def _subscriptions(devices: tuple[MqttDevice, ...]) -> list[str]:
    """Few filters for many devices: a topic whose device id is a whole level becomes the
    pattern with ``+`` there, shared by every device whose topic has that shape."""
    patterns: set[str] = set()
    for device in devices:
        ident = device.info.device_id
        for topic in (device.measurements_topic, device.ack_topic):
            levels = topic.split("/")
            patterns.add("/".join("+" if level == ident else level for level in levels))
    return sorted(patterns)
