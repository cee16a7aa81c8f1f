"""A device gateway over the EdgeX Foundry message bus on MQTT ([devices-edgex.md]).

OSED takes the place EdgeX's core services take on the bus: it subscribes to the events the
device services publish and sends them command requests, matching each response by its request
id. Configuration (:mod:`osed.devices.edgex_config`) says which EdgeX devices are which OSED
devices and how their resources and commands map to quantities and actions.

Commands are kept by id (:class:`PendingCommands`): one not confirmed before its deadline stays
pending and is sent again, with the same request id, on every reconnection until its response
comes; one confirmed is never sent again. Every OSED action sets an absolute state (a value, on,
off), so a device service that gets a resend it had already applied ends in the same state.

Messages that are not EdgeX envelopes, events a device could not have sent, and responses from
the wrong service are refused: logged with the reason and kept in :meth:`refusals`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from osed.bus.mqtt_link import (
    LinkUnavailableError,
    MqttConnection,
    MqttEndpoint,
    MqttLink,
    MqttMessage,
)
from osed.devices import edgex_envelope as envelopes
from osed.devices.edgex_commands import CommandRefusedError, device_info, request_id, settings
from osed.devices.edgex_config import DeviceBinding, EdgexConfig, load_config
from osed.devices.edgex_envelope import Envelope, EnvelopeError
from osed.devices.edgex_events import EventReader, Refusal, RefusedError
from osed.devices.edgex_topics import Topics
from osed.devices.pending import PendingCommands
from osed.domain.devices import Command, CommandResult, DeviceInfo, Liveness, Measurement, Outcome
from osed.domain.errors import NotFoundError, UnavailableError
from osed.domain.time import Clock, SystemClock
from osed.ports.devices import DeviceGateway, MeasurementHandler

log = logging.getLogger(__name__)

REFUSALS_KEPT = 1000
INTERNAL_ERROR = "internal error"


@dataclass(frozen=True, slots=True)
class _Request:
    """A request waiting for its response."""

    binding: DeviceBinding
    topic: str
    payload: bytes
    command_id: str | None = None
    """The OSED command of a ``set``; None for a ``get``."""
    answer: asyncio.Future[Envelope] | None = None
    """Where a ``get`` waits for its response."""


@dataclass(slots=True)
class EdgexStats:
    events: int = 0
    measurements: int = 0
    refused: int = 0
    requests: int = 0
    resent: int = 0
    responses: int = 0


class EdgexGateway:
    """The :class:`osed.ports.devices.DeviceGateway` of EdgeX devices."""

    def __init__(
        self, config: EdgexConfig, endpoint: MqttEndpoint, *, clock: Clock | None = None
    ) -> None:
        self._config = config
        self._topics = Topics(config.base_topic, config.name_field_escape)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._reader = EventReader(config)
        self._pending = PendingCommands()
        self._requests: dict[str, _Request] = {}  # by request id
        self._in_flight: set[str] = set()  # request ids whose publish the link still retries
        self._sent_at: dict[str, float] = {}  # loop time each pending set request was last sent
        self._retries: asyncio.Task[None] | None = None
        self._handlers: list[MeasurementHandler] = []
        self._last_seen: dict[str, datetime] = {}
        self._refusals: deque[Refusal] = deque(maxlen=REFUSALS_KEPT)
        self.stats = EdgexStats()
        self._link = MqttLink(
            endpoint,
            client_id=config.client_id,
            persistent_session=True,
            on_connect=self._on_connect,
            on_messages=self._on_messages,
        )

    @classmethod
    def from_document(cls, document: object, *, clock: Clock | None = None) -> EdgexGateway:
        """The gateway a configuration document describes, broker included; ValidationError
        naming every problem of the document."""
        config = load_config(document)
        broker = config.broker
        endpoint = MqttEndpoint(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            keepalive=broker.keepalive,
        )
        return cls(config, endpoint, clock=clock)

    @property
    def config(self) -> EdgexConfig:
        return self._config

    # --- the port ------------------------------------------------------------------------

    async def start(self) -> None:
        await self._link.start()
        if self._config.resend_after_s > 0:
            self._retries = asyncio.create_task(self._resend_late(), name="edgex-resend")

    async def discover(self) -> list[DeviceInfo]:
        return [device_info(self._config, b) for b in self._reader.bindings]

    def on_measurements(self, handler: MeasurementHandler) -> None:
        self._handlers.append(handler)

    async def send(self, command: Command, *, timeout_s: float = 10.0) -> CommandResult:
        known = self._pending.admit(command)
        if known is not None:
            return known
        rid = request_id(command.command_id)
        now = self._clock.now()
        if rid not in self._requests:  # new, not a retry of a pending command
            binding = self._binding_of(command.device_id)
            try:
                if binding is None:
                    raise CommandRefusedError(f"unknown device {command.device_id!r}")
                name, body = settings(self._config, binding, command)
            except CommandRefusedError as exc:
                self._pending.settle(command.command_id, Outcome.REJECTED, now, str(exc))
                rejected = self._pending.admit(command)
                assert rejected is not None
                return rejected
            topic = self._topics.request(binding.service, binding.edgex_name, name, "set")
            payload = self._envelope(rid, body)
            self._requests[rid] = _Request(binding, topic, payload, command.command_id)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            await self._publish(rid, timeout_s)
            timeout_s = max(0.0, deadline - loop.time())
        return await self._pending.wait(command.command_id, timeout_s, self._clock.now())

    def liveness(self) -> list[Liveness]:
        now = self._clock.now()
        window = timedelta(seconds=self._config.offline_after_s)
        out = []
        for binding in self._reader.bindings:
            seen = self._last_seen.get(binding.device_id)
            out.append(Liveness(binding.device_id, seen is not None and now - seen <= window, seen))
        return out

    async def close(self) -> None:
        if self._retries is not None:
            self._retries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retries
        await self._link.stop()
        for request in self._requests.values():
            if request.answer is not None and not request.answer.done():
                request.answer.cancel()

    # --- beyond the port -----------------------------------------------------------------

    async def read(self, device_id: str, *, timeout_s: float = 10.0) -> list[Measurement]:
        """A fresh reading: ``get`` every command the device's profile ``reads``; the
        measurements also go to the handlers. UnavailableError naming the commands that
        failed or did not answer in time."""
        binding = self._binding_of(device_id)
        if binding is None:
            raise NotFoundError(f"unknown EdgeX device {device_id!r}")
        names = self._config.profiles[binding.profile].reads
        answers = await asyncio.gather(*(self._get(binding, n, timeout_s) for n in names))
        measurements: list[Measurement] = []
        failures: list[str] = []
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, str):
                failures.append(f"{name}: {answer}")
            else:
                measurements += answer
        if measurements:
            await self._deliver(measurements)
        if failures:
            raise UnavailableError(f"EdgeX device {binding.edgex_name!r}: " + "; ".join(failures))
        return measurements

    def refusals(self) -> list[Refusal]:
        """The latest refused messages (at most 1,000), oldest first."""
        return list(self._refusals)

    # --- requests ------------------------------------------------------------------------

    def _binding_of(self, device_id: str) -> DeviceBinding | None:
        return self._reader.binding(device_id)

    def _envelope(
        self, rid: str, body: dict[str, str] | None, query: dict[str, str] | None = None
    ) -> bytes:
        envelope = Envelope(
            api_version=self._config.api_version,
            correlation_id=str(uuid.uuid4()),
            request_id=rid,
            payload=body,
            query_params=query or {},
        )
        return envelopes.encode(envelope, base64_payload=self._config.base64_payload)

    async def _publish(self, rid: str, timeout_s: float) -> None:
        request = self._requests[rid]
        self._in_flight.add(rid)
        self._sent_at[rid] = asyncio.get_running_loop().time()
        self.stats.requests += 1
        try:
            await self._link.publish(
                request.topic, request.payload, qos=self._config.qos, timeout=timeout_s
            )
        except LinkUnavailableError as exc:
            log.info("EdgeX request %s not sent yet (%s); it is sent on reconnection", rid, exc)
        finally:
            self._in_flight.discard(rid)

    async def _get(
        self, binding: DeviceBinding, name: str, timeout_s: float
    ) -> list[Measurement] | str:
        rid = str(uuid.uuid4())
        topic = self._topics.request(binding.service, binding.edgex_name, name, "get")
        payload = self._envelope(rid, None, {"ds-returnevent": "true", "ds-pushevent": "false"})
        answer: asyncio.Future[Envelope] = asyncio.get_running_loop().create_future()
        self._requests[rid] = _Request(binding, topic, payload, answer=answer)
        try:
            async with asyncio.timeout(timeout_s):
                await self._link.publish(topic, payload, qos=self._config.qos, timeout=timeout_s)
                response = await answer
        except (TimeoutError, LinkUnavailableError):
            return f"no answer within {timeout_s} s"
        finally:
            self._requests.pop(rid, None)
        if response.error_code:
            return f"refused: {response.payload}"
        event = response.payload.get("event") if isinstance(response.payload, dict) else None
        try:
            return self._reader.from_response(binding, event)
        except RefusedError as exc:
            self._refuse(topic, exc)
            return f"unusable answer: {exc.reason}"

    # --- the link ------------------------------------------------------------------------

    async def _on_connect(self, connection: MqttConnection) -> None:
        qos = self._config.qos
        await connection.subscribe(self._topics.events_filter, qos)
        for service in sorted(self._config.services):
            await connection.subscribe(self._topics.responses_filter(service), qos)
        resends = []
        for command in self._pending.pending():
            rid = request_id(command.command_id)
            request = self._requests.get(rid)
            if request is None or rid in self._in_flight:
                continue  # refused before sending, or the link itself publishes it again
            resends.append(connection.publish(request.topic, request.payload, qos=qos))
            self._sent_at[rid] = asyncio.get_running_loop().time()
            self.stats.resent += 1
        if resends:
            log.info("EdgeX gateway sends %d pending commands again", len(resends))
            await asyncio.gather(*resends)

    async def _resend_late(self) -> None:
        """Sends a pending command again once it waited ``resend_after_s`` for its response:
        a device service that was not subscribed when it was sent (it restarted, or came back
        after the broker) never saw it, and nothing else would bring it there."""
        loop = asyncio.get_running_loop()
        wait = self._config.resend_after_s
        while True:
            await asyncio.sleep(wait / 4)
            for command in self._pending.pending():
                rid = request_id(command.command_id)
                sent = self._sent_at.get(rid)
                if sent is None or rid in self._in_flight or loop.time() - sent < wait:
                    continue
                self.stats.resent += 1
                await self._publish(rid, wait)

    async def _on_messages(self, _: MqttConnection, batch: list[MqttMessage]) -> None:
        await self.receive(batch)

    async def receive(self, batch: Sequence[MqttMessage]) -> None:
        """Take messages as the broker delivered them: measurements to the handlers, responses
        to their requests, everything else refused. Never raises for what a message holds."""
        measurements: list[Measurement] = []
        for message in batch:
            try:
                measurements += self._on_message(message)
            except (EnvelopeError, RefusedError) as exc:
                refusal = exc if isinstance(exc, RefusedError) else RefusedError(str(exc))
                self._refuse(message.topic, refusal)
            except Exception as exc:  # a message must never stop the link; this is a bug
                log.exception("EdgeX message on %s could not be handled", message.topic)
                self._refuse(message.topic, RefusedError(f"{INTERNAL_ERROR}: {exc!r}"))
        if measurements:
            await self._deliver(measurements)

    def _on_message(self, message: MqttMessage) -> list[Measurement]:
        where = self._topics.parse_event(message.topic)
        if where is not None:
            self.stats.events += 1
            envelope = envelopes.decode(message.payload, api_version=self._config.api_version)
            if envelope.error_code:
                raise RefusedError("an event envelope with an error code")
            binding, measurements = self._reader.from_topic(where, envelope.payload)
            self._last_seen[binding.device_id] = self._clock.now()
            return measurements
        response = self._topics.parse_response(message.topic)
        if response is not None:
            self._on_response(*response, message.payload)
            return []
        raise RefusedError("not an EdgeX event or response topic")

    def _on_response(self, service: str, rid: str, payload: bytes) -> None:
        request = self._requests.get(rid)
        if request is None:
            return  # not ours, or answered already (a duplicate of a resend)
        if service != request.binding.service:
            raise RefusedError(
                f"response to request {rid} from service {service!r}, sent to "
                f"{request.binding.service!r}",
                device=request.binding.edgex_name,
                impersonation=True,
            )
        envelope = envelopes.decode(payload, api_version=self._config.api_version)
        if envelope.request_id != rid:
            raise RefusedError(f"response on the topic of {rid} names {envelope.request_id!r}")
        self.stats.responses += 1
        now = self._clock.now()
        self._last_seen[request.binding.device_id] = now
        if request.answer is not None:
            if not request.answer.done():
                request.answer.set_result(envelope)
            return
        assert request.command_id is not None
        del self._requests[rid]
        self._sent_at.pop(rid, None)
        if envelope.error_code:
            detail = f"EdgeX refused: {envelope.payload}"
            self._pending.settle(request.command_id, Outcome.REJECTED, now, detail)
        else:
            self._pending.settle(request.command_id, Outcome.APPLIED, now)

    async def _deliver(self, measurements: Sequence[Measurement]) -> None:
        self.stats.measurements += len(measurements)
        for handler in self._handlers:
            try:
                await handler(measurements)
            except Exception:  # one failing consumer must not stop the stream to the others
                log.exception("a measurement handler failed")

    def _refuse(self, topic: str, exc: RefusedError) -> None:
        self.stats.refused += 1
        self._refusals.append(
            Refusal(topic, exc.reason, exc.device, exc.impersonation, self._clock.now())
        )
        level = (
            logging.WARNING if exc.impersonation else logging.DEBUG if exc.unknown else logging.INFO
        )
        log.log(level, "EdgeX message on %s refused: %s", topic, exc.reason)


if TYPE_CHECKING:  # the port is a Protocol: mypy checks that the adapter fits it

    def _fits(gateway: EdgexGateway) -> DeviceGateway:
        return gateway
