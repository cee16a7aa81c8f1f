"""How OSED reaches a Home Assistant and which of its entities make up which device.

The domain of an entity says what it is for climate, water heater and switch entities; a
sensor or a number entity can be many things (a PV inverter's power, a battery's state of
charge, an EV charger's current limit), so the mapping names the device it belongs to and its
role there. Roles are OSED's quantities (for sensors) and valued actions (for numbers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from osed.domain.devices import VALUED_ACTIONS, DeviceKind, Quantity
from osed.domain.problems import Problems

SUBJECT = "Home Assistant configuration"

ENTITY_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")

FIXED_DOMAINS = frozenset({"climate", "water_heater", "switch"})
"""Domains whose entities have one meaning: they take no role."""
SENSOR_DOMAINS = frozenset({"sensor", "binary_sensor"})
"""Domains whose role is a quantity."""
NUMBER_DOMAIN = "number"
"""The domain whose role is a valued action."""
DOMAINS = FIXED_DOMAINS | SENSOR_DOMAINS | {NUMBER_DOMAIN}

BINARY_QUANTITIES = frozenset({Quantity.CONNECTED, Quantity.ON})
"""What a binary sensor can be: on is 1, off is 0."""


@dataclass(frozen=True, slots=True)
class DeviceMapping:
    """One OSED device made of Home Assistant entities. ``entities`` maps each entity id to
    its role (a quantity for a sensor, a valued action for a number) or to None: the role
    its domain, device class and unit imply."""

    device_id: str
    kind: DeviceKind
    entities: Mapping[str, str | None]
    name: str = ""


@dataclass(frozen=True, slots=True)
class HomeAssistantConfig:
    url: str
    """The base URL, such as ``http://homeassistant.local:8123``."""
    token: str = field(repr=False)
    """A long-lived access token (a Home Assistant user's profile page makes one)."""
    devices: tuple[DeviceMapping, ...] = ()
    discover_unmapped: bool = True
    """Entities no mapping names become devices of their own when their domain (or a sensor's
    device class) tells the kind: climate, water_heater, switch, power sensors."""
    timeout_s: float = 10.0
    """For connecting, authenticating and each request."""
    tls_ca_file: str | None = None

    @property
    def websocket_url(self) -> str:
        base = self.url.rstrip("/")
        scheme, rest = base.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/api/websocket"

    @property
    def rest_url(self) -> str:
        return f"{self.url.rstrip('/')}/api/"


def parse_config(document: object, *, path: str = "$") -> HomeAssistantConfig:
    """A configuration from its JSON/YAML form; every problem at once, each with its path."""
    problems = Problems(SUBJECT)
    if not isinstance(document, Mapping):
        problems.add(path, "not_object", "must be an object")
        problems.check()
    assert isinstance(document, Mapping)
    known = {"url", "token", "devices", "discover_unmapped", "timeout_s", "tls_ca_file"}
    for key in document:
        if key not in known:
            problems.add(f"{path}.{key}", "unknown_field", f"not one of {sorted(known)}")
    url = document.get("url")
    if not isinstance(url, str) or not _url_ok(url):
        problems.add(f"{path}.url", "bad_url", "an http:// or https:// URL with a host")
    token = document.get("token")
    if not isinstance(token, str) or not token.strip():
        problems.add(f"{path}.token", "missing", "a long-lived access token is needed")
    unmapped = document.get("discover_unmapped", True)
    if not isinstance(unmapped, bool):
        problems.add(f"{path}.discover_unmapped", "not_boolean", "true or false")
    timeout = document.get("timeout_s", 10.0)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        problems.add(f"{path}.timeout_s", "not_positive", "a positive number of seconds")
    ca_file = document.get("tls_ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        problems.add(f"{path}.tls_ca_file", "not_string", "a file path")
    devices = _parse_devices(document.get("devices", {}), f"{path}.devices", problems)
    problems.check()
    assert isinstance(url, str)
    assert isinstance(token, str)
    assert isinstance(unmapped, bool)
    assert isinstance(timeout, int | float)
    return HomeAssistantConfig(
        url=url,
        token=token,
        devices=devices,
        discover_unmapped=unmapped,
        timeout_s=float(timeout),
        tls_ca_file=ca_file if isinstance(ca_file, str) else None,
    )


def role_problem(entity_id: str, role: str | None) -> str | None:
    """Why ``role`` does not fit the entity's domain, or None."""
    domain = entity_id.split(".", 1)[0]
    if domain not in DOMAINS:
        return f"domain {domain!r} is not one of {sorted(DOMAINS)}"
    if role is None:
        return None
    if domain in FIXED_DOMAINS:
        return f"a {domain} entity takes no role"
    if domain == "binary_sensor":
        if role not in BINARY_QUANTITIES:
            return f"a binary_sensor is one of {sorted(BINARY_QUANTITIES)}"
        return None
    if domain == "sensor":
        if role not in set(Quantity) - {Quantity.CONNECTED, Quantity.ON}:
            return f"a sensor's role is a numeric quantity, one of {_numeric_quantities()}"
        return None
    if role not in VALUED_ACTIONS:
        return f"a number's role is one of {sorted(VALUED_ACTIONS)}"
    return None


def _parse_devices(raw: object, path: str, problems: Problems) -> tuple[DeviceMapping, ...]:
    if not isinstance(raw, Mapping):
        problems.add(path, "not_object", "device ids mapped to {kind, entities, name}")
        return ()
    mapped: list[DeviceMapping] = []
    owner: dict[str, str] = {}
    for device_id, body in raw.items():
        here = f"{path}.{device_id}"
        if not isinstance(device_id, str) or not device_id or any(c in device_id for c in "/#+"):
            problems.add(here, "bad_id", "a device id: no '/', '#' or '+'")
            continue
        if not isinstance(body, Mapping):
            problems.add(here, "not_object", "{kind, entities, name}")
            continue
        for key in body:
            if key not in {"kind", "entities", "name"}:
                problems.add(f"{here}.{key}", "unknown_field", "not kind, entities or name")
        kind = body.get("kind")
        if kind not in set(DeviceKind):
            problems.add(f"{here}.kind", "bad_kind", f"one of {sorted(DeviceKind)}")
        name = body.get("name", "")
        if not isinstance(name, str):
            problems.add(f"{here}.name", "not_string", "a display name")
        entities = body.get("entities")
        roles: dict[str, str | None] = {}
        if not isinstance(entities, Mapping) or not entities:
            problems.add(f"{here}.entities", "empty", "entity ids mapped to roles (or null)")
        else:
            for entity_id, role in entities.items():
                at = f"{here}.entities.{entity_id}"
                if not isinstance(entity_id, str) or not ENTITY_ID.match(entity_id):
                    problems.add(at, "bad_entity_id", "an entity id such as sensor.pv_power")
                    continue
                if role is not None and not isinstance(role, str):
                    problems.add(at, "bad_role", "a role name or null")
                    continue
                reason = role_problem(entity_id, role)
                if reason is not None:
                    problems.add(at, "bad_role", reason)
                    continue
                if entity_id in owner:
                    problems.add(at, "duplicate_entity", f"already part of {owner[entity_id]!r}")
                    continue
                owner[entity_id] = device_id
                roles[entity_id] = role
        if kind in set(DeviceKind) and isinstance(name, str) and roles:
            mapped.append(DeviceMapping(device_id, DeviceKind(kind), roles, name))
    return tuple(mapped)


def _url_ok(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _numeric_quantities() -> list[str]:
    return sorted(q.value for q in Quantity if q not in BINARY_QUANTITIES)


__all__ = ["DOMAINS", "DeviceMapping", "HomeAssistantConfig", "parse_config", "role_problem"]
