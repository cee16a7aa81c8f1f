"""An EdgeX device service on a real MQTT broker, for tests and benchmarks.

It speaks the EdgeX 3/4 message bus as EdgeX's device SDK does, written here from the
documented contract and independently of OSED's adapter (its own JSON, its own topics):

- events: an ``AddEventRequest`` in a ``MessageEnvelope`` on
  ``edgex/events/device/<service>/<profile>/<device>/<source>``;
- command requests taken from ``edgex/device/command/request/<service>/#``: the device,
  command and method are the last three topic levels; ``get`` answers an ``EventResponse``
  (unless ``ds-returnevent`` is ``false``), ``set`` applies the body ``{resource: value}``;
- responses on ``edgex/response/<service>/<requestId>``; an error has ``errorCode`` 1 and the
  message as its payload. Request ids must be UUIDs (the SDK refuses to answer otherwise).

Like a real device service it does not deduplicate requests: a request received twice is
applied twice. It counts what it receives so tests can tell.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from osed.bus.mqtt_link import MqttConnection, MqttEndpoint, MqttLink, MqttMessage
from tests.services.brokers import Broker

API_VERSION = "v3"
NUMERIC = {f"{s}{b}" for s in ("Int", "Uint") for b in (8, 16, 32, 64)} | {"Float32", "Float64"}


@dataclass
class Resource:
    value_type: str
    value: str
    writable: bool = False
    minimum: float | None = None
    maximum: float | None = None


@dataclass
class Device:
    name: str
    profile: str
    resources: dict[str, Resource]
    commands: dict[str, list[str]] = field(default_factory=dict)
    """Device commands over several resources; every resource is also a command of its own."""
    step: Callable[[Device, float], None] | None = None
    """Advances the device's physics by some seconds."""

    def command(self, name: str) -> list[str] | None:
        if name in self.commands:
            return self.commands[name]
        return [name] if name in self.resources else None

    def number(self, resource: str) -> float:
        return float(self.resources[resource].value)

    def set_number(self, resource: str, value: float) -> None:
        r = self.resources[resource]
        r.value = format_float(value) if "Float" in r.value_type else str(round(value))


def format_float(value: float) -> str:
    """A float as EdgeX writes it: Go's 'e' format with the fewest digits ("2.15e+01")."""
    if value == 0:
        return "0e+00"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    power = exponent + len(digits) - 1
    tail = "".join(map(str, digits[1:]))
    mantissa = f"{digits[0]}.{tail}" if tail else str(digits[0])
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"


class DeviceService:
    """One emulated device service; ``start()`` connects it, ``stop()`` disconnects it."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        name: str,
        devices: list[Device],
        *,
        base64_payload: bool = True,
        persistent: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.name = name
        self.devices = {d.name: d for d in devices}
        self.base64_payload = base64_payload
        self.received: Counter[str] = Counter()  # request id -> times received
        self.applied: list[tuple[str, str, dict[str, str]]] = []  # (request id, device, body)
        self.refused: list[str] = []
        self._link = MqttLink(
            endpoint,
            client_id=f"edgex-{name}",
            persistent_session=persistent,
            on_connect=self._subscribe,
            on_message=self._on_request,
        )

    async def start(self) -> None:
        await self._link.start()

    async def stop(self) -> None:
        await self._link.stop()

    # --- events --------------------------------------------------------------------------

    def event(self, device: Device, source: str, resources: list[str]) -> dict[str, Any]:
        origin = time.time_ns()
        readings = [
            {
                "id": str(uuid.uuid4()),
                "origin": origin,
                "deviceName": device.name,
                "resourceName": name,
                "profileName": device.profile,
                "valueType": device.resources[name].value_type,
                "value": device.resources[name].value,
            }
            for name in resources
        ]
        return {
            "apiVersion": API_VERSION,
            "id": str(uuid.uuid4()),
            "deviceName": device.name,
            "profileName": device.profile,
            "sourceName": source,
            "origin": origin,
            "readings": readings,
        }

    def event_topic(self, profile: str, device: str, source: str) -> str:
        return f"edgex/events/device/{self.name}/{profile}/{device}/{source}"

    def event_message(self, device_name: str, source: str | None = None) -> tuple[str, bytes]:
        """The topic and bytes of an event of ``source`` (a command; all resources when None)."""
        device = self.devices[device_name]
        name = source or "all"
        resources = device.command(source) if source else list(device.resources)
        assert resources is not None, f"no command {source!r}"
        event = self.event(device, name, resources)
        request = {"apiVersion": API_VERSION, "requestId": str(uuid.uuid4()), "event": event}
        topic = self.event_topic(device.profile, device.name, name)
        return topic, self._envelope(request, request_id="")

    async def publish_event(self, device_name: str, source: str | None = None) -> None:
        await self.publish_bytes(*self.event_message(device_name, source))

    async def publish_raw(self, topic: str, event: dict[str, Any], **envelope: Any) -> None:
        """Any event on any topic, in an envelope (fields overridden by ``envelope``)."""
        request = {"apiVersion": API_VERSION, "requestId": str(uuid.uuid4()), "event": event}
        message = self._envelope(request, request_id="", **envelope)
        await self._link.publish(topic, message, qos=0, timeout=5.0)

    async def publish_bytes(self, topic: str, payload: bytes) -> None:
        await self._link.publish(topic, payload, qos=0, timeout=5.0)

    def step(self, seconds: float) -> None:
        for device in self.devices.values():
            if device.step is not None:
                device.step(device, seconds)

    # --- commands ------------------------------------------------------------------------

    async def _subscribe(self, connection: MqttConnection) -> None:
        await connection.subscribe(f"edgex/device/command/request/{self.name}/#", 1)

    async def _on_request(self, _: MqttConnection, message: MqttMessage) -> None:
        levels = message.topic.split("/")
        try:
            request = json.loads(message.payload)
            request_id = request["requestID"]
            uuid.UUID(request_id)
            uuid.UUID(request["correlationID"])
        except (ValueError, KeyError, TypeError):
            self.refused.append(message.topic)  # the SDK cannot answer without a request id
            return
        self.received[request_id] += 1
        device_name, command, method = levels[-3], levels[-2], levels[-1]
        respond = f"edgex/response/{self.name}/{request_id}"
        try:
            if request.get("apiVersion") != API_VERSION:
                raise CommandError(f"api version '{API_VERSION}' is required")
            device = self.devices.get(device_name)
            if device is None:
                raise CommandError(f"device {device_name} not found")
            resources = device.command(command)
            if resources is None:
                raise CommandError(f"command {command} not found for device {device_name}")
            if method == "get":
                payload = self._get(request, device, command, resources)
            elif method == "set":
                self._set(request, device, resources)
                payload = None
            else:
                raise CommandError(f"unknown command method '{method}'")
        except CommandError as exc:
            error = {
                "apiVersion": API_VERSION,
                "correlationID": str(uuid.uuid4()),
                "requestID": request_id,
                "errorCode": 1,
                "payload": str(exc),
                "contentType": "text/plain",
            }
            await self._link.publish(respond, json.dumps(error).encode(), qos=0, timeout=5.0)
            return
        answer = self._envelope(
            payload, request_id=request_id, correlation_id=request["correlationID"]
        )
        await self._link.publish(respond, answer, qos=0, timeout=5.0)

    def _get(
        self, request: dict[str, Any], device: Device, command: str, resources: list[str]
    ) -> dict[str, Any] | None:
        if (request.get("queryParams") or {}).get("ds-returnevent") == "false":
            return None
        return {
            "apiVersion": API_VERSION,
            "requestId": request["requestID"],
            "statusCode": 200,
            "event": self.event(device, command, resources),
        }

    def _set(self, request: dict[str, Any], device: Device, resources: list[str]) -> None:
        body = _payload(request.get("payload"))
        if not isinstance(body, dict) or not body:
            raise CommandError("the set body must be an object of resource values")
        updates: dict[str, str] = {}
        for name, value in body.items():
            resource = device.resources.get(name)
            if name not in resources or resource is None or not resource.writable:
                raise CommandError(f"resource {name} is not writable by this command")
            updates[name] = _checked(name, resource, value)
        for name, value in updates.items():
            device.resources[name].value = value
        self.applied.append((request["requestID"], device.name, dict(body)))

    def _envelope(
        self, payload: Any, *, request_id: str, correlation_id: str | None = None, **fields: Any
    ) -> bytes:
        encoded: Any = payload
        if payload is not None and self.base64_payload:
            encoded = base64.b64encode(json.dumps(payload).encode()).decode()
        envelope = {
            "apiVersion": API_VERSION,
            "receivedTopic": "",
            "correlationID": correlation_id or str(uuid.uuid4()),
            "requestID": request_id,
            "errorCode": 0,
            "payload": encoded,
            "contentType": "application/json",
        }
        envelope.update(fields)
        return json.dumps(envelope).encode()


class CommandError(Exception):
    pass


def _payload(raw: Any) -> Any:
    if isinstance(raw, str):
        return json.loads(base64.b64decode(raw))
    return raw


def _checked(name: str, resource: Resource, value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if resource.value_type == "Bool":
        if text not in ("true", "false"):
            raise CommandError(f"{name}: {value!r} is not a Bool")
        return text
    if resource.value_type in NUMERIC:
        try:
            number = float(text)
        except ValueError:
            raise CommandError(f"{name}: {value!r} is not a {resource.value_type}") from None
        if not math.isfinite(number):
            raise CommandError(f"{name}: {value!r} is not finite")
        if "Float" not in resource.value_type and not number.is_integer():
            raise CommandError(f"{name}: {value!r} is not a {resource.value_type}")
        low, high = resource.minimum, resource.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            raise CommandError(f"{name}: {value!r} is outside [{low}, {high}]")
        return text
    return text


def endpoint(broker: Broker) -> MqttEndpoint:
    """How tests reach ``broker``: short keepalive and connect timeout, so restarts are quick."""
    return MqttEndpoint(broker.host, broker.port, keepalive=5, connect_timeout=2.0)


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until ``predicate()`` holds; TimeoutError otherwise."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
