"""What the EdgeX adapter reads from configuration: the bus, the profiles and the devices.

A *profile* mapping says what OSED makes of an EdgeX device profile: the device kind, which
resources are which measured quantity (with a scale and offset), which commands carry which
action, and which commands to ``get`` for a fresh reading. A *device* binds an OSED device id
to one EdgeX device: its name, the device service that runs it and its profile. Events of a
device are accepted only from that service and profile. Devices of a ``discover`` pair
(service, profile) that are not listed are taken in when first seen, under their EdgeX name.

Numbers: ``osed = edgex × scale + offset`` for readings; ``edgex = osed × scale + offset`` for
command values. Checked whole: every problem is reported with its JSON path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from osed.domain.devices import (
    MAX_DEVICE_ID,
    VALUED_ACTIONS,
    Action,
    DeviceKind,
    Quantity,
    Range,
)
from osed.domain.problems import Problems

NUMERIC_TYPES = frozenset(
    {f"{sign}{bits}" for sign in ("Int", "Uint") for bits in (8, 16, 32, 64)}
    | {"Float32", "Float64"}
)
"""EdgeX value types that carry one number (``Bool`` reads as 1 or 0)."""
WRITABLE_TYPES = NUMERIC_TYPES | {"Bool", "String"}

_E = TypeVar("_E", DeviceKind, Quantity, Action)


@dataclass(frozen=True, slots=True)
class ReadingMap:
    quantity: Quantity
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class CommandMap:
    command: str
    """The EdgeX device command (or device resource) name."""
    resource: str
    """The resource the set body names."""
    value_type: str = "Float64"
    scale: float = 1.0
    offset: float = 0.0
    fixed: str | None = None
    """The value sent for actions without one (on/off)."""
    range: Range | None = None
    """Accepted OSED values (before scaling)."""


@dataclass(frozen=True, slots=True)
class ProfileMap:
    kind: DeviceKind
    readings: dict[str, ReadingMap]
    commands: dict[Action, CommandMap]
    reads: tuple[str, ...] = ()
    """Commands to ``get`` for a fresh reading of the device."""


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    device_id: str
    edgex_name: str
    service: str
    profile: str


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """The MQTT broker of the EdgeX message bus (TLS is not configured here)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    keepalive: int = 30


@dataclass(frozen=True, slots=True)
class EdgexConfig:
    profiles: dict[str, ProfileMap]
    devices: tuple[DeviceBinding, ...] = ()
    discover: frozenset[tuple[str, str]] = frozenset()
    base_topic: str = "edgex"
    api_version: str = "v3"
    base64_payload: bool = True
    """Write payloads as base64 bytes (every EdgeX reads them) or, false, as JSON (EdgeX 4)."""
    name_field_escape: bool = False
    """EdgeX's ``EnableNameFieldEscape``: names in topics are URL path-escaped."""
    client_id: str = "osed-edgex"
    qos: int = 1
    offline_after_s: float = 60.0
    resend_after_s: float = 10.0
    """A pending command is sent again after this long without a response (0: only after a
    reconnection)."""
    broker: BrokerConfig = BrokerConfig()
    by_name: dict[str, DeviceBinding] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_name.update({d.edgex_name: d for d in self.devices})

    @property
    def services(self) -> frozenset[str]:
        return frozenset(d.service for d in self.devices) | {s for s, _ in self.discover}


_TOP_KEYS = {
    "base_topic",
    "api_version",
    "base64_payload",
    "name_field_escape",
    "client_id",
    "qos",
    "offline_after_s",
    "profiles",
    "devices",
    "discover",
    "broker",
    "resend_after_s",
}


def load_config(document: object) -> EdgexConfig:
    """The adapter's configuration from a JSON-like document; ValidationError with every
    problem and its path."""
    problems = Problems("EdgeX adapter configuration")
    if not isinstance(document, Mapping):
        problems.add("$", "not_object", "the configuration must be an object")
        problems.check()
        raise AssertionError  # unreachable: check() raised
    _unknown(document, _TOP_KEYS, "$", problems)
    escape = _bool(document, "name_field_escape", False, "$", problems)
    base_topic = _string(document, "base_topic", "edgex", "$", problems)
    if any(c in base_topic for c in "#+") or base_topic.endswith("/"):
        problems.add("$.base_topic", "bad_topic", "no wildcards and no trailing '/'")
    api_version = _string(document, "api_version", "v3", "$", problems)
    client_id = _string(document, "client_id", "osed-edgex", "$", problems)
    base64_payload = _bool(document, "base64_payload", True, "$", problems)
    qos = document.get("qos", 1)
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        problems.add("$.qos", "bad_qos", "0, 1 or 2")
        qos = 1
    offline = _number(document, "offline_after_s", 60.0, "$", problems)
    if offline <= 0:
        problems.add("$.offline_after_s", "not_positive", "must be more than 0")
    resend = _number(document, "resend_after_s", 10.0, "$", problems)
    if resend < 0:
        problems.add("$.resend_after_s", "negative", "0 (never) or more seconds")

    profiles: dict[str, ProfileMap] = {}
    raw_profiles = document.get("profiles")
    if not isinstance(raw_profiles, Mapping) or not raw_profiles:
        problems.add("$.profiles", "missing", "an object of at least one profile mapping")
        raw_profiles = {}
    for name, raw in raw_profiles.items():
        path = f"$.profiles.{name}"
        _name_problems(name, path, escape, problems)
        profile = _profile(raw, path, problems)
        if profile is not None:
            profiles[name] = profile

    broker = _broker(document.get("broker", {}), problems)
    devices = _devices(document.get("devices", []), profiles, raw_profiles, escape, problems)
    discover = _discover(document.get("discover", []), raw_profiles, escape, problems)
    problems.check()
    return EdgexConfig(
        profiles=profiles,
        devices=devices,
        discover=discover,
        base_topic=base_topic,
        api_version=api_version,
        base64_payload=base64_payload,
        name_field_escape=escape,
        client_id=client_id,
        qos=int(qos),
        offline_after_s=offline,
        resend_after_s=resend,
        broker=broker,
    )


def _broker(raw: object, problems: Problems) -> BrokerConfig:
    path = "$.broker"
    if not isinstance(raw, Mapping):
        problems.add(path, "not_object", "{host, port, username, password, keepalive}")
        return BrokerConfig()
    _unknown(raw, {"host", "port", "username", "password", "keepalive"}, path, problems)
    host = _string(raw, "host", "127.0.0.1", path, problems)
    port = raw.get("port", 1883)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.add(f"{path}.port", "bad_port", "an integer from 1 to 65535")
        port = 1883
    keepalive = raw.get("keepalive", 30)
    if isinstance(keepalive, bool) or not isinstance(keepalive, int) or not 0 < keepalive < 65536:
        problems.add(f"{path}.keepalive", "bad_keepalive", "whole seconds from 1 to 65535")
        keepalive = 30
    credentials = {}
    for key in ("username", "password"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            problems.add(f"{path}.{key}", "not_string", "must be a string")
            value = None
        credentials[key] = value
    return BrokerConfig(host, port, credentials["username"], credentials["password"], keepalive)


def _profile(raw: object, path: str, problems: Problems) -> ProfileMap | None:
    if not isinstance(raw, Mapping):
        problems.add(path, "not_object", "a profile mapping must be an object")
        return None
    _unknown(raw, {"kind", "readings", "commands", "reads"}, path, problems)
    kind = _enum(raw.get("kind"), DeviceKind, f"{path}.kind", problems)
    readings: dict[str, ReadingMap] = {}
    raw_readings = raw.get("readings", {})
    if not isinstance(raw_readings, Mapping):
        problems.add(f"{path}.readings", "not_object", "an object: resource name -> reading")
        raw_readings = {}
    for resource, spec in raw_readings.items():
        reading = _reading(spec, f"{path}.readings.{resource}", problems)
        if reading is not None:
            readings[resource] = reading
    commands: dict[Action, CommandMap] = {}
    raw_commands = raw.get("commands", {})
    if not isinstance(raw_commands, Mapping):
        problems.add(f"{path}.commands", "not_object", "an object: action -> command")
        raw_commands = {}
    for action_name, spec in raw_commands.items():
        action = _enum(action_name, Action, f"{path}.commands.{action_name}", problems)
        command = _command(spec, action, f"{path}.commands.{action_name}", problems)
        if action is not None and command is not None:
            commands[action] = command
    reads = raw.get("reads", [])
    if not isinstance(reads, list) or not all(isinstance(r, str) and r for r in reads):
        problems.add(f"{path}.reads", "not_names", "a list of command names")
        reads = []
    if kind is None:
        return None
    return ProfileMap(kind, readings, commands, tuple(reads))


def _reading(spec: object, path: str, problems: Problems) -> ReadingMap | None:
    if not isinstance(spec, Mapping):
        problems.add(path, "not_object", "a reading mapping must be an object")
        return None
    _unknown(spec, {"quantity", "scale", "offset"}, path, problems)
    quantity = _enum(spec.get("quantity"), Quantity, f"{path}.quantity", problems)
    scale = _number(spec, "scale", 1.0, path, problems)
    if scale == 0:
        problems.add(f"{path}.scale", "zero", "a scale of 0 loses the value")
    offset = _number(spec, "offset", 0.0, path, problems)
    return None if quantity is None else ReadingMap(quantity, scale, offset)


def _command(
    spec: object, action: Action | None, path: str, problems: Problems
) -> CommandMap | None:
    if not isinstance(spec, Mapping):
        problems.add(path, "not_object", "a command mapping must be an object")
        return None
    keys = {"command", "resource", "value_type", "scale", "offset", "value", "min", "max"}
    _unknown(spec, keys, path, problems)
    command = _string(spec, "command", "", path, problems)
    if not command:
        problems.add(f"{path}.command", "missing", "the EdgeX command name")
    resource = _string(spec, "resource", command, path, problems)
    valued = action in VALUED_ACTIONS
    value_type = _string(spec, "value_type", "Float64" if valued else "Bool", path, problems)
    if value_type not in WRITABLE_TYPES:
        problems.add(f"{path}.value_type", "bad_value_type", f"one of {sorted(WRITABLE_TYPES)}")
    if valued and value_type not in NUMERIC_TYPES:
        problems.add(f"{path}.value_type", "not_numeric", f"{action} sends a number")
    scale = _number(spec, "scale", 1.0, path, problems)
    if scale == 0:
        problems.add(f"{path}.scale", "zero", "a scale of 0 sends 0 whatever the value")
    offset = _number(spec, "offset", 0.0, path, problems)
    fixed: str | None = None
    if valued:
        if "value" in spec:
            problems.add(f"{path}.value", "unexpected", f"{action} sends the command's value")
    else:
        default = "false" if action is Action.TURN_OFF else "true"
        fixed = _string(spec, "value", default, path, problems)
    limits = [spec.get(k) for k in ("min", "max")]
    value_range: Range | None = None
    if any(v is not None for v in limits):
        low = _number(spec, "min", -math.inf, path, problems)
        high = _number(spec, "max", math.inf, path, problems)
        if not valued:
            problems.add(f"{path}.min", "unexpected", f"{action} takes no value to limit")
        elif low > high:
            problems.add(f"{path}.max", "below_min", "max must not be below min")
        else:
            value_range = Range(low, high)
    return CommandMap(command, resource, value_type, scale, offset, fixed, value_range)


def _devices(
    raw: object,
    profiles: dict[str, ProfileMap],
    raw_profiles: Mapping[str, Any],
    escape: bool,
    problems: Problems,
) -> tuple[DeviceBinding, ...]:
    if not isinstance(raw, list):
        problems.add("$.devices", "not_list", "a list of devices")
        return ()
    devices: list[DeviceBinding] = []
    ids: set[str] = set()
    names: set[str] = set()
    for i, item in enumerate(raw):
        path = f"$.devices[{i}]"
        if not isinstance(item, Mapping):
            problems.add(path, "not_object", "a device must be an object")
            continue
        _unknown(item, {"id", "name", "service", "profile"}, path, problems)
        name = _string(item, "name", "", path, problems)
        device_id = _string(item, "id", name, path, problems)
        service = _string(item, "service", "", path, problems)
        profile = _string(item, "profile", "", path, problems)
        _id_problems(device_id, f"{path}.id", problems)
        for key, value in (("name", name), ("service", service)):
            _name_problems(value, f"{path}.{key}", escape, problems)
        if profile not in raw_profiles:
            problems.add(f"{path}.profile", "unknown_profile", f"no profile mapping {profile!r}")
        if device_id in ids:
            problems.add(f"{path}.id", "duplicate", f"device id {device_id!r} is used twice")
        if name in names:
            problems.add(f"{path}.name", "duplicate", f"EdgeX device {name!r} is bound twice")
        ids.add(device_id)
        names.add(name)
        devices.append(DeviceBinding(device_id, name, service, profile))
    return tuple(d for d in devices if d.profile in profiles)


def _discover(
    raw: object, raw_profiles: Mapping[str, Any], escape: bool, problems: Problems
) -> frozenset[tuple[str, str]]:
    if not isinstance(raw, list):
        problems.add("$.discover", "not_list", "a list of {service, profile}")
        return frozenset()
    pairs: set[tuple[str, str]] = set()
    for i, item in enumerate(raw):
        path = f"$.discover[{i}]"
        if not isinstance(item, Mapping):
            problems.add(path, "not_object", "{service, profile}")
            continue
        _unknown(item, {"service", "profile"}, path, problems)
        service = _string(item, "service", "", path, problems)
        profile = _string(item, "profile", "", path, problems)
        _name_problems(service, f"{path}.service", escape, problems)
        if profile not in raw_profiles:
            problems.add(f"{path}.profile", "unknown_profile", f"no profile mapping {profile!r}")
        pairs.add((service, profile))
    return frozenset(pairs)


def _unknown(raw: Mapping[str, Any], known: set[str], path: str, problems: Problems) -> None:
    for key in raw:
        if key not in known:
            problems.add(f"{path}.{key}", "unknown_field", f"not one of {sorted(known)}")


def _string(raw: Mapping[str, Any], key: str, default: str, path: str, problems: Problems) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        problems.add(f"{path}.{key}", "not_string", "must be a string")
        return default
    return value


def _bool(raw: Mapping[str, Any], key: str, default: bool, path: str, problems: Problems) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.add(f"{path}.{key}", "not_boolean", "must be true or false")
        return default
    return value


def _number(
    raw: Mapping[str, Any], key: str, default: float, path: str, problems: Problems
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        problems.add(f"{path}.{key}", "not_number", "must be a number")
        return default
    if not math.isfinite(value) and value != default:
        problems.add(f"{path}.{key}", "not_finite", "must be finite")
        return default
    return float(value)


def _enum(value: object, kind: type[_E], path: str, problems: Problems) -> _E | None:
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    problems.add(path, "unknown_value", f"{value!r} is not one of {[e.value for e in kind]}")
    return None


def _id_problems(value: str, path: str, problems: Problems) -> None:
    if not value:
        problems.add(path, "empty", "an id must be a non-empty string")
    elif len(value) > MAX_DEVICE_ID:
        problems.add(path, "too_long", f"at most {MAX_DEVICE_ID} characters")
    elif any(c in value for c in "/#+") or not value.isprintable():
        problems.add(path, "bad_character", "no '/', '#', '+' or control characters")


def _name_problems(value: str, path: str, escape: bool, problems: Problems) -> None:
    """EdgeX names travel as topic levels: '/' only when names are escaped, never wildcards."""
    bad = "#+" if escape else "/#+"
    if not value:
        problems.add(path, "empty", "a name must be a non-empty string")
    elif any(c in value for c in bad) or not value.isprintable():
        problems.add(path, "bad_character", f"no {' '.join(bad)} or control characters")
