"""The configuration of generic MQTT JSON devices, checked whole: every problem with its path.

    broker: {host, port, username, password, client_id, keepalive}
    qos: 1
    offline_after_s: 60        # no message for this long: the device is offline
    retry_s: 5                 # an unconfirmed command is sent again this often
    topics:                    # per device; {device} is the device id
      measurements: devices/{device}/state
      command: devices/{device}/set
      ack: devices/{device}/ack
    ack: {id_path: $.command_id, ok_path: $.ok, detail_path: $.detail}
    time_path: $.ts            # optional: epoch seconds or ISO 8601; else the receive time
    types:                     # shared by many devices
      battery:
        kind: battery
        quantities: {soc: {path: $.soc_pct, scale: 0.01}, power_kw: {path: $.power_w, scale: 0.001}}
        actions:
          set_power_kw: {min: -5, max: 5, scale: 1000,
                         payload: {id: "{command_id}", power_w: "{value}"}}
    devices:
      - {id: bat-1, type: battery}
      - {id: heater, kind: water_heater, topics: {...}, quantities: {...}, actions: {...}}

A measured value is ``raw × scale + offset`` (true and false count as 1 and 0); a command's
value goes out as ``value × scale + offset`` in the device's unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from osed.devices.json_paths import Path, parse_path, template_problems
from osed.domain.devices import (
    MAX_DEVICE_ID,
    VALUED_ACTIONS,
    Action,
    DeviceInfo,
    DeviceKind,
    Quantity,
    Range,
)
from osed.domain.problems import Problems

TOPIC_ROLES = ("measurements", "command", "ack")
_TOP = ("broker", "qos", "offline_after_s", "retry_s", "topics", "ack", "time_path", "types")
_TOP_FIELDS = (*_TOP, "devices")
_DEVICE_FIELDS = ("id", "name", "type", "kind", "topics", "quantities", "actions")
_TYPE_FIELDS = ("kind", "topics", "quantities", "actions")


@dataclass(frozen=True, slots=True)
class Reading:
    """Where a quantity is in a device's message, and how to turn it into OSED's unit."""

    quantity: Quantity
    path: Path
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class CommandMapping:
    action: Action
    payload: Any
    scale: float = 1.0
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class MqttDevice:
    info: DeviceInfo
    measurements_topic: str
    command_topic: str
    ack_topic: str
    readings: tuple[Reading, ...]
    commands: dict[Action, CommandMapping]


@dataclass(frozen=True, slots=True)
class AckMapping:
    id_path: Path
    ok_path: Path | None
    detail_path: Path | None


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    client_id: str
    keepalive: int


@dataclass(frozen=True, slots=True)
class MqttJsonConfig:
    broker: BrokerConfig
    qos: int
    offline_after_s: float
    retry_s: float
    ack: AckMapping
    time_path: Path | None
    devices: tuple[MqttDevice, ...]


def read_config(document: Any) -> MqttJsonConfig:
    """The configuration in ``document``; :class:`ValidationError` names every problem."""
    problems = Problems("MQTT JSON devices configuration")
    if not isinstance(document, Mapping):
        problems.add("$", "not_object", "the configuration must be an object")
        problems.check()
    _unknown(document, _TOP_FIELDS, "$", problems)
    broker = _broker(document.get("broker"), problems)
    qos = document.get("qos", 1)
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        problems.add("$.qos", "out_of_range", "0, 1 or 2")
    offline = _positive(document, "offline_after_s", "$", 60.0, problems)
    retry = _positive(document, "retry_s", "$", 5.0, problems)
    topics = _topics(document.get("topics", {}), "$.topics", problems, required=False)
    ack = _ack(document.get("ack"), problems)
    time_path = _path(document, "time_path", "$", problems, required=False)
    types = _types(document.get("types", {}), problems)
    devices = _devices(document.get("devices"), types, topics, problems)
    problems.check()
    assert broker is not None
    assert ack is not None
    return MqttJsonConfig(broker, int(qos), offline, retry, ack, time_path, tuple(devices))


def _unknown(item: Mapping[str, Any], known: Sequence[str], where: str, problems: Problems) -> None:
    for key in item:
        if key not in known:
            problems.add(f"{where}.{key}", "unknown_field", f"known: {', '.join(known)}")


def _broker(raw: Any, problems: Problems) -> BrokerConfig | None:
    if not isinstance(raw, Mapping):
        problems.add("$.broker", "missing" if raw is None else "not_object", "host and port")
        return None
    fields = ("host", "port", "username", "password", "client_id", "keepalive")
    _unknown(raw, fields, "$.broker", problems)
    host, port = raw.get("host"), raw.get("port", 1883)
    if not isinstance(host, str) or not host:
        problems.add("$.broker.host", "missing", "a host name or address")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.add("$.broker.port", "out_of_range", "a port in [1, 65535]")
    keepalive = raw.get("keepalive", 30)
    if isinstance(keepalive, bool) or not isinstance(keepalive, int) or not 0 < keepalive < 65536:
        problems.add("$.broker.keepalive", "out_of_range", "seconds in [1, 65535]")
    texts = {}
    for name in ("username", "password", "client_id"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            problems.add(f"$.broker.{name}", "not_text", "a non-empty string")
        texts[name] = value if isinstance(value, str) and value else None
    return BrokerConfig(
        str(host),
        port if isinstance(port, int) else 0,
        texts["username"],
        texts["password"],
        texts["client_id"] or "osed-mqtt-json-devices",
        keepalive if isinstance(keepalive, int) else 30,
    )


def _positive(
    item: Mapping[str, Any], name: str, where: str, default: float, problems: Problems
) -> float:
    value = item.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        problems.add(f"{where}.{name}", "not_positive", "a number > 0")
        return default
    return float(value)


def _number(
    item: Mapping[str, Any], name: str, where: str, default: float, problems: Problems
) -> float:
    value = item.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.add(f"{where}.{name}", "not_a_number", "a finite number")
        return default
    return float(value)


def _topics(raw: Any, where: str, problems: Problems, *, required: bool) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        problems.add(where, "not_object", f"an object with {', '.join(TOPIC_ROLES)}")
        return {}
    _unknown(raw, TOPIC_ROLES, where, problems)
    topics: dict[str, str] = {}
    for role in TOPIC_ROLES:
        template = raw.get(role)
        if template is None:
            if required:
                problems.add(f"{where}.{role}", "missing", "a topic template")
            continue
        problem = _topic_problem(template)
        if problem is not None:
            problems.add(f"{where}.{role}", "bad_topic", problem)
        else:
            topics[role] = template
    return topics


def _topic_problem(template: Any) -> str | None:
    if not isinstance(template, str) or not template:
        return "a topic template (text)"
    try:
        topic = template.format(device="device")
    except (KeyError, IndexError, ValueError):
        return f"only the placeholder {{device}} may appear: {template!r}"
    if any(c in topic for c in "+#\x00"):
        return f"not a publish topic: {template!r}"
    return None


def _path(
    item: Mapping[str, Any], name: str, where: str, problems: Problems, *, required: bool
) -> Path | None:
    raw = item.get(name)
    if raw is None:
        if required:
            problems.add(f"{where}.{name}", "missing", "a JSON path such as $.value")
        return None
    path = parse_path(raw)
    if path is None:
        problems.add(f"{where}.{name}", "bad_path", f"not a JSON path ($.a.b, $.a[0]): {raw!r}")
    return path


def _ack(raw: Any, problems: Problems) -> AckMapping | None:
    raw = {"id_path": "$.command_id"} if raw is None else raw
    if not isinstance(raw, Mapping):
        problems.add("$.ack", "not_object", "id_path, ok_path, detail_path")
        return None
    _unknown(raw, ("id_path", "ok_path", "detail_path"), "$.ack", problems)
    id_path = _path(raw, "id_path", "$.ack", problems, required=True)
    ok_path = _path(raw, "ok_path", "$.ack", problems, required=False)
    detail_path = _path(raw, "detail_path", "$.ack", problems, required=False)
    return AckMapping(id_path or (), ok_path, detail_path)


@dataclass(frozen=True, slots=True)
class _Behaviour:
    """What a device of a type measures and takes, read once for all devices of the type."""

    kind: DeviceKind
    readings: tuple[Reading, ...]
    commands: dict[Action, tuple[CommandMapping, Range | None]]
    topics: dict[str, str]


def _behaviour(spec: Mapping[str, Any], where: str, problems: Problems) -> _Behaviour | None:
    before = len(problems)
    kind = _kind(spec, where, problems)
    readings = _readings(spec.get("quantities", {}), f"{where}.quantities", problems)
    commands = _commands(spec.get("actions", {}), f"{where}.actions", problems)
    topics = _topics(spec.get("topics", {}), f"{where}.topics", problems, required=False)
    if len(problems) != before or kind is None:
        return None
    return _Behaviour(kind, tuple(readings), commands, topics)


def _types(raw: Any, problems: Problems) -> dict[str, _Behaviour | None]:
    """Each type by name; None for a type with problems (reported here, once)."""
    if not isinstance(raw, Mapping):
        problems.add("$.types", "not_object", "type name → kind, quantities, actions, topics")
        return {}
    types: dict[str, _Behaviour | None] = {}
    for name, spec in raw.items():
        where = f"$.types.{name}"
        if not isinstance(spec, Mapping):
            problems.add(where, "not_object", "kind, quantities, actions, topics")
            continue
        _unknown(spec, _TYPE_FIELDS, where, problems)
        types[name] = _behaviour(spec, where, problems)
    return types


def _devices(
    raw: Any,
    types: dict[str, _Behaviour | None],
    topics: dict[str, str],
    problems: Problems,
) -> list[MqttDevice]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        problems.add("$.devices", "missing" if raw is None else "not_a_list", "a non-empty list")
        return []
    devices: list[MqttDevice] = []
    seen: set[str] = set()
    for j, item in enumerate(raw):
        where = f"$.devices[{j}]"
        if not isinstance(item, Mapping):
            problems.add(where, "not_object", "a device must be an object")
            continue
        _unknown(item, _DEVICE_FIELDS, where, problems)
        valid_id = _identifier(item.get("id"), f"{where}.id", seen, problems)
        type_name = item.get("type")
        if type_name is None:
            behaviour = _behaviour(item, where, problems)
        elif not isinstance(type_name, str) or type_name not in types:
            message = f"not a type in $.types: {type_name!r}"
            problems.add(f"{where}.type", "unknown_type", message)
            continue
        elif any(key in item for key in ("kind", "quantities", "actions")):
            problems.add(
                f"{where}.type",
                "type_and_own",
                "a device of a type takes kind, quantities and actions from it",
            )
            continue
        else:
            behaviour = types[type_name]
            if behaviour is not None and "topics" in item:
                own = _topics(item["topics"], f"{where}.topics", problems, required=False)
                behaviour = _Behaviour(
                    behaviour.kind,
                    behaviour.readings,
                    behaviour.commands,
                    {**behaviour.topics, **own},
                )
        device = _device(item, behaviour, where, topics, problems)
        if device is not None and valid_id:
            devices.append(device)
    return devices


def _device(
    item: Mapping[str, Any],
    behaviour: _Behaviour | None,
    where: str,
    topics: dict[str, str],
    problems: Problems,
) -> MqttDevice | None:
    """The device, or None when it has problems (added to ``problems``)."""
    if behaviour is None:
        return None  # its problems are reported (at the device or its type)
    chosen = {**topics, **behaviour.topics}
    missing = [role for role in TOPIC_ROLES if role not in chosen]
    for role in missing:
        problems.add(f"{where}.topics.{role}", "missing", "no topic template here nor in $.topics")
    ident = item.get("id")
    name = item.get("name", ident)
    if not isinstance(name, str):
        problems.add(f"{where}.name", "not_text", "a name")
    if missing or not isinstance(name, str) or not isinstance(ident, str):
        return None
    commands = behaviour.commands
    info = DeviceInfo(
        ident,
        behaviour.kind,
        name,
        frozenset(r.quantity for r in behaviour.readings),
        frozenset(commands),
        {a: r for a, (_, r) in commands.items() if r is not None},
    )
    return MqttDevice(
        info,
        chosen["measurements"].format(device=ident),
        chosen["command"].format(device=ident),
        chosen["ack"].format(device=ident),
        behaviour.readings,
        {a: m for a, (m, _) in commands.items()},
    )


def _identifier(ident: Any, where: str, seen: set[str], problems: Problems) -> bool:
    if (
        not isinstance(ident, str)
        or not ident
        or len(ident) > MAX_DEVICE_ID
        or any(c in ident for c in "/#+{}")
        or not ident.isprintable()
    ):
        problems.add(where, "bad_id", "a non-empty id without '/', '#', '+', '{', '}'")
        return False
    if ident in seen:
        problems.add(where, "duplicate", f"id {ident!r} appears twice")
        return False
    seen.add(ident)
    return True


def _kind(spec: Mapping[str, Any], where: str, problems: Problems) -> DeviceKind | None:
    kind = spec.get("kind")
    if kind not in {k.value for k in DeviceKind}:
        known = ", ".join(k.value for k in DeviceKind)
        problems.add(f"{where}.kind", "unknown_kind", f"one of {known}")
        return None
    return DeviceKind(kind)


def _readings(raw: Any, where: str, problems: Problems) -> list[Reading]:
    if not isinstance(raw, Mapping):
        problems.add(where, "not_object", "quantity → {path, scale, offset}")
        return []
    readings: list[Reading] = []
    for name, spec in raw.items():
        at = f"{where}.{name}"
        if name not in {q.value for q in Quantity}:
            known = ", ".join(q.value for q in Quantity)
            problems.add(at, "unknown_quantity", f"one of {known}")
            continue
        if not isinstance(spec, Mapping):
            problems.add(at, "not_object", "path, scale, offset")
            continue
        _unknown(spec, ("path", "scale", "offset"), at, problems)
        path = _path(spec, "path", at, problems, required=True)
        scale = _number(spec, "scale", at, 1.0, problems)
        offset = _number(spec, "offset", at, 0.0, problems)
        if path is not None:
            readings.append(Reading(Quantity(name), path, scale, offset))
    return readings


def _commands(
    raw: Any, where: str, problems: Problems
) -> dict[Action, tuple[CommandMapping, Range | None]]:
    if not isinstance(raw, Mapping):
        problems.add(where, "not_object", "action → {payload, min, max, scale, offset}")
        return {}
    commands: dict[Action, tuple[CommandMapping, Range | None]] = {}
    for name, spec in raw.items():
        at = f"{where}.{name}"
        if name not in {a.value for a in Action}:
            problems.add(at, "unknown_action", f"one of {', '.join(a.value for a in Action)}")
            continue
        if not isinstance(spec, Mapping):
            problems.add(at, "not_object", "payload, min, max, scale, offset")
            continue
        action = Action(name)
        valued = action in VALUED_ACTIONS
        known = ("payload", "min", "max", "scale", "offset") if valued else ("payload",)
        _unknown(spec, known, at, problems)
        if "payload" not in spec:
            problems.add(f"{at}.payload", "missing", "the command's JSON payload template")
            continue
        for message in template_problems(spec["payload"], needs_value=valued):
            problems.add(f"{at}.payload", "bad_template", message)
        limits = None
        if valued:
            low = _number(spec, "min", at, -math.inf, problems) if "min" in spec else -math.inf
            high = _number(spec, "max", at, math.inf, problems) if "max" in spec else math.inf
            if low > high:
                problems.add(f"{at}.min", "above_max", "min is above max")
            if math.isfinite(low) or math.isfinite(high):
                limits = Range(low, high)
        scale = _number(spec, "scale", at, 1.0, problems) if valued else 1.0
        offset = _number(spec, "offset", at, 0.0, problems) if valued else 0.0
        commands[action] = (CommandMapping(action, spec["payload"], scale, offset), limits)
    return commands
