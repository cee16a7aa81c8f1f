"""EdgeX events in, measurements out, after checking who sent them.

An event arrives as an ``AddEventRequest`` (``{"apiVersion", "requestId", "event"}``) on an
event topic, or as the ``event`` of a ``get`` command's ``EventResponse``. Its readings carry
``resourceName``, ``valueType``, ``value`` (a string: ``"21.5"``, ``"true"``) and ``origin``
(nanoseconds since 1970). EdgeX 4.1 may leave a reading's names and origin out
(``EDGEX_OPTIMIZE_EVENT_PAYLOAD``); they are then the event's (the resource is its source).

An event is refused whole, with the reason, when

- the topic's device, profile or source differs from the event's or a reading's (a device
  publishing on another device's topic);
- the device is bound to another device service or profile than the topic names, or is not
  known at all (neither configured nor of a ``discover`` pair);
- a mapped reading has no number, or a time that is not nanoseconds within 2000-2200.

Resources the profile mapping does not name are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from osed.devices.edgex_config import NUMERIC_TYPES, DeviceBinding, EdgexConfig, ReadingMap
from osed.devices.edgex_topics import EventTopic
from osed.domain.devices import MAX_DEVICE_ID, Measurement

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ORIGIN_MIN = 946_684_800 * 10**9  # 2000-01-01 in nanoseconds
_ORIGIN_MAX = 7_258_118_400 * 10**9  # 2200-01-01
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TRUE = {"true", "t", "1"}
_FALSE = {"false", "f", "0"}


class RefusedError(ValueError):
    """A message refused; ``impersonation`` when it claims to be a device it cannot be."""

    def __init__(
        self, reason: str, *, device: str = "", impersonation: bool = False, unknown: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.device = device
        self.impersonation = impersonation
        self.unknown = unknown
        """A device OSED does not manage (an EdgeX installation runs many): logged quietly."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused message, kept for inspection (a dead letter)."""

    topic: str
    reason: str
    device: str
    impersonation: bool
    at: datetime


class EventReader:
    """Binds EdgeX devices to OSED ids and turns their events into measurements."""

    def __init__(self, config: EdgexConfig) -> None:
        self._config = config
        self._bindings: dict[str, DeviceBinding] = dict(config.by_name)
        self._by_id = {b.device_id: b for b in config.devices}

    @property
    def bindings(self) -> list[DeviceBinding]:
        """Configured devices, then those taken in when seen."""
        return list(self._bindings.values())

    def binding(self, device_id: str) -> DeviceBinding | None:
        """The EdgeX device behind an OSED device id."""
        return self._by_id.get(device_id)

    def from_topic(
        self, where: EventTopic, document: object
    ) -> tuple[DeviceBinding, list[Measurement]]:
        """The device and measurements of an event published on ``where``; RefusedError."""
        binding = self._bound(where)
        event = _field(document, "event", dict, "$")
        return binding, self._measurements(binding, where.source, event)

    def from_response(self, binding: DeviceBinding, event: object) -> list[Measurement]:
        """The measurements of an event a ``get`` command of ``binding`` answered with."""
        if not isinstance(event, dict):
            raise RefusedError("the response has no event object", device=binding.edgex_name)
        _same(event, "deviceName", binding.edgex_name, "$.event", binding.edgex_name)
        _same(event, "profileName", binding.profile, "$.event", binding.edgex_name)
        source = event.get("sourceName", "")
        return self._measurements(binding, source if isinstance(source, str) else "", event)

    def _bound(self, where: EventTopic) -> DeviceBinding:
        binding = self._bindings.get(where.device)
        if binding is not None:
            if (binding.service, binding.profile) != (where.service, where.profile):
                raise RefusedError(
                    f"device {where.device!r} belongs to service {binding.service!r} and profile "
                    f"{binding.profile!r}, not {where.service!r}/{where.profile!r}",
                    device=where.device,
                    impersonation=True,
                )
            return binding
        if (where.service, where.profile) not in self._config.discover:
            raise RefusedError(
                f"unknown device {where.device!r} of service {where.service!r} and profile "
                f"{where.profile!r} (neither configured nor discoverable)",
                device=where.device,
                unknown=True,
            )
        name = where.device
        if len(name) > MAX_DEVICE_ID or any(c in name for c in "/#+") or not name.isprintable():
            raise RefusedError(f"device name {name!r} cannot be an OSED device id", device=name)
        if name in self._by_id:
            raise RefusedError(f"device name {name!r} is a configured device's id", device=name)
        binding = DeviceBinding(name, name, where.service, where.profile)
        self._bindings[name] = binding
        self._by_id[name] = binding
        return binding

    def _measurements(
        self, binding: DeviceBinding, source: str, event: dict[str, Any]
    ) -> list[Measurement]:
        name = binding.edgex_name
        _same(event, "deviceName", name, "$.event", name, required=True)
        _same(event, "profileName", binding.profile, "$.event", name)
        _same(event, "sourceName", source, "$.event", name)
        origin = event.get("origin")
        readings = _field(event, "readings", list, "$.event")
        mapping = self._config.profiles[binding.profile].readings
        out: list[Measurement] = []
        for i, reading in enumerate(readings):
            path = f"$.event.readings[{i}]"
            if not isinstance(reading, dict):
                raise RefusedError(f"{path}: not an object", device=name)
            _same(reading, "deviceName", name, path, name)
            _same(reading, "profileName", binding.profile, path, name)
            resource = reading.get("resourceName", source)
            spec = mapping.get(resource) if isinstance(resource, str) else None
            if spec is None:
                continue
            value = _value(reading, spec, path, name)
            at = _time(reading.get("origin", origin), path, name)
            out.append(Measurement(binding.device_id, spec.quantity, value, at))
        return out


def _field(document: object, key: str, kind: type, path: str) -> Any:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, kind):
        raise RefusedError(f"{path}.{key}: missing or not a {kind.__name__}")
    return value


def _same(
    document: Mapping[str, Any],
    key: str,
    expected: str,
    path: str,
    device: str,
    *,
    required: bool = False,
) -> None:
    """A name the document gives must be the one the topic (or binding) gives."""
    if key not in document and not required:
        return
    actual = document.get(key)
    if actual != expected:
        raise RefusedError(
            f"{path}.{key} is {actual!r} but the message is for {expected!r}",
            device=device,
            impersonation=True,
        )


def _value(reading: Mapping[str, Any], spec: ReadingMap, path: str, device: str) -> float:
    value_type = reading.get("valueType")
    if not isinstance(value_type, str):
        raise RefusedError(f"{path}.valueType {value_type!r} is not a type name", device=device)
    raw = reading.get("value")
    number: float | None = None
    if value_type == "Bool" and isinstance(raw, str | bool):
        text = str(raw).lower()
        number = 1.0 if text in _TRUE else 0.0 if text in _FALSE else None
    elif value_type in NUMERIC_TYPES:
        number = _number(raw)
    if number is None:
        raise RefusedError(f"{path}: {value_type!r} value {raw!r} is not a number", device=device)
    scaled = number * spec.scale + spec.offset
    if not math.isfinite(scaled):
        raise RefusedError(f"{path}: value {raw!r} is out of range", device=device)
    return scaled


def _number(raw: object) -> float | None:
    """A JSON number, or EdgeX's text of one (no 'inf', 'nan' or '1_000' as Python reads)."""
    if isinstance(raw, str):
        return float(raw) if _NUMBER.fullmatch(raw.strip()) else None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return float(raw)
        except OverflowError:  # an integer beyond any float
            return None
    return None


def _time(origin: object, path: str, device: str) -> datetime:
    if (
        isinstance(origin, bool)
        or not isinstance(origin, int)
        or not _ORIGIN_MIN <= origin < _ORIGIN_MAX
    ):
        raise RefusedError(
            f"{path}.origin {origin!r} is not nanoseconds since 1970 in 2000-2200", device=device
        )
    return _EPOCH + timedelta(microseconds=origin // 1000)
