"""Home Assistant entities as OSED devices: what each entity measures, which service applies an
action, and which state confirms it. Pure functions of entity states (the JSON objects of
``get_states`` and ``state_changed``); no I/O.

An entity's units are Home Assistant's (``unit_of_measurement``, or the system's temperature
unit for climate and water heater entities); OSED's are kW, kWh, °C and fractions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from osed.devices.homeassistant.config import (
    FIXED_DOMAINS,
    NUMBER_DOMAIN,
    SENSOR_DOMAINS,
    HomeAssistantConfig,
    role_problem,
)
from osed.domain.devices import (
    Action,
    Command,
    DeviceInfo,
    DeviceKind,
    Measurement,
    Quantity,
    Range,
)
from osed.domain.errors import Problem

State = Mapping[str, Any]
"""One entity's state as Home Assistant sends it: entity_id, state, attributes, last_updated."""

MISSING_STATES = frozenset({"unavailable", "unknown", ""})

# Climate: ClimateEntityFeature.TARGET_TEMPERATURE, TURN_OFF, TURN_ON.
CLIMATE_TARGET, CLIMATE_TURN_OFF, CLIMATE_TURN_ON = 1, 128, 256
# Water heater: WaterHeaterEntityFeature.TARGET_TEMPERATURE, ON_OFF.
WATER_TARGET, WATER_ON_OFF = 1, 8

SETPOINT_TOLERANCE = 1e-6
"""A setpoint counts as reached within this (in OSED's units) or half the entity's step."""


@dataclass(frozen=True, slots=True)
class Scale:
    """OSED value = HA value · factor + offset."""

    factor: float = 1.0
    offset: float = 0.0

    def to_osed(self, value: float) -> float:
        return value * self.factor + self.offset

    def to_ha(self, value: float) -> float:
        return (value - self.offset) / self.factor


IDENTITY = Scale()
UNITS: dict[str, Scale] = {
    "W": Scale(0.001),
    "kW": IDENTITY,
    "MW": Scale(1000.0),
    "Wh": Scale(0.001),
    "kWh": IDENTITY,
    "MWh": Scale(1000.0),
    "°C": IDENTITY,
    "°F": Scale(5 / 9, -32 * 5 / 9),
    "K": Scale(1.0, -273.15),
    "%": Scale(0.01),
}
QUANTITY_UNITS: dict[Quantity, frozenset[str]] = {
    Quantity.POWER_KW: frozenset({"W", "kW", "MW"}),
    Quantity.ENERGY_KWH: frozenset({"Wh", "kWh", "MWh"}),
    Quantity.SOC: frozenset({"%"}),
    Quantity.TEMPERATURE_C: frozenset({"°C", "°F", "K"}),
    Quantity.SETPOINT_C: frozenset({"°C", "°F", "K"}),
    Quantity.OUTDOOR_C: frozenset({"°C", "°F", "K"}),
}
ACTION_UNITS: dict[Action, frozenset[str]] = {
    Action.SET_POWER_KW: QUANTITY_UNITS[Quantity.POWER_KW],
    Action.SET_POWER_LIMIT_KW: QUANTITY_UNITS[Quantity.POWER_KW],
    Action.SET_SETPOINT_C: QUANTITY_UNITS[Quantity.TEMPERATURE_C],
}
SENSOR_CLASSES: dict[str, Quantity] = {
    "power": Quantity.POWER_KW,
    "energy_storage": Quantity.ENERGY_KWH,
    "battery": Quantity.SOC,
    "temperature": Quantity.TEMPERATURE_C,
}
"""A sensor's role implied by its device class (when the mapping gives none)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """A quantity read off an entity: from an attribute, or from its state when None."""

    entity_id: str
    quantity: Quantity
    attribute: str | None
    scale: Scale
    binary: bool = False
    """on/off states read as 1/0 (and any state but "off" as 1 for ``on`` of a climate)."""

    def value(self, state: State) -> float | None:
        raw = (
            state.get("state") if self.attribute is None else _attributes(state).get(self.attribute)
        )
        if self.binary:
            if not isinstance(raw, str) or raw in MISSING_STATES:
                return None
            return 0.0 if raw == "off" else 1.0
        number = _number(raw)
        return None if number is None else self.scale.to_osed(number)


@dataclass(frozen=True, slots=True)
class Control:
    """How one action reaches an entity and how its state shows it took effect."""

    action: Action
    entity_id: str
    domain: str
    service: str
    field: str | None
    """The service data field carrying the value; None for on/off."""
    scale: Scale
    range: Range | None
    tolerance: float
    confirm_attribute: str | None
    """Where the new value shows: an attribute, or the state itself when None."""

    def service_call(self, value: float | None) -> dict[str, Any]:
        """The WebSocket ``call_service`` message (without its id)."""
        data: dict[str, Any] = {}
        if self.field is not None:
            assert value is not None
            data[self.field] = round(self.scale.to_ha(value), 9)
        return {
            "type": "call_service",
            "domain": self.domain,
            "service": self.service,
            "service_data": data,
            "target": {"entity_id": self.entity_id},
        }

    def confirmed(self, state: State, value: float | None, *, strict: bool = False) -> bool:
        """Whether ``state`` shows the command's effect. After a call, a value within half
        the entity's step counts (the entity may round to its step); ``strict`` (before a
        call: is it in effect already?) allows only rounding errors."""
        raw = state.get("state")
        if self.action is Action.TURN_OFF:
            return raw == "off"
        if self.action is Action.TURN_ON:
            return isinstance(raw, str) and raw not in MISSING_STATES and raw != "off"
        shown = (
            raw
            if self.confirm_attribute is None
            else _attributes(state).get(self.confirm_attribute)
        )
        number = _number(shown)
        if number is None or value is None:
            return False
        tolerance = SETPOINT_TOLERANCE if strict else self.tolerance
        return abs(self.scale.to_osed(number) - value) <= tolerance


@dataclass(frozen=True, slots=True)
class DeviceBinding:
    """An OSED device and the entities behind it."""

    device_id: str
    kind: DeviceKind
    name: str
    readings: tuple[Reading, ...]
    controls: Mapping[Action, Control]

    @property
    def entity_ids(self) -> frozenset[str]:
        return frozenset(r.entity_id for r in self.readings) | frozenset(
            c.entity_id for c in self.controls.values()
        )

    def info(self) -> DeviceInfo:
        return DeviceInfo(
            device_id=self.device_id,
            kind=self.kind,
            name=self.name,
            quantities=frozenset(r.quantity for r in self.readings),
            actions=frozenset(self.controls),
            ranges={a: c.range for a, c in self.controls.items() if c.range is not None},
        )

    def measurements(self, state: State, *, now: datetime) -> list[Measurement]:
        """What the entity's state says about this device (nothing for an unknown value),
        at the state's last update (``now`` if it has none)."""
        entity_id = state.get("entity_id")
        at = updated_at(state, now)
        found: list[Measurement] = []
        for reading in self.readings:
            if reading.entity_id != entity_id:
                continue
            value = reading.value(state)
            if value is not None and math.isfinite(value):
                found.append(Measurement(self.device_id, reading.quantity, value, at))
        return found

    def command_problem(self, command: Command) -> str | None:
        """Why this device cannot take ``command``, or None."""
        control = self.controls.get(command.action)
        if control is None:
            offered = sorted(self.controls) or "none"
            return f"{self.device_id} does not offer {command.action} (it offers {offered})"
        if control.range is not None and command.value not in control.range:
            low, high = control.range.minimum, control.range.maximum
            return (
                f"{command.value:g} is out of range for {command.action} of {self.device_id} "
                f"({low:g}..{high:g})"
            )
        return None


@dataclass(frozen=True, slots=True)
class Discovery:
    devices: dict[str, DeviceBinding]
    problems: tuple[Problem, ...]
    """Mapped entities Home Assistant does not have, or whose unit OSED cannot read."""
    skipped: tuple[str, ...]
    """Unmapped entities whose kind their domain does not tell."""


def discover(
    states: Iterable[State], config: HomeAssistantConfig, *, temperature_unit: str = "°C"
) -> Discovery:
    """The devices behind ``states``: the mapped ones, then (if configured) one device per
    unmapped entity whose domain tells its kind."""
    by_id = {s["entity_id"]: s for s in states if isinstance(s.get("entity_id"), str)}
    devices: dict[str, DeviceBinding] = {}
    problems: list[Problem] = []
    claimed: set[str] = set()
    for mapping in config.devices:
        readings: list[Reading] = []
        controls: dict[Action, Control] = {}
        for entity_id, role in mapping.entities.items():
            claimed.add(entity_id)
            path = f"$.devices.{mapping.device_id}.entities.{entity_id}"
            state = by_id.get(entity_id)
            if state is None:
                problems.append(
                    Problem(path, "unknown_entity", "Home Assistant has no such entity")
                )
                continue
            facets = _facets(state, role, temperature_unit)
            if isinstance(facets, str):
                problems.append(Problem(path, "unreadable_entity", facets))
                continue
            for action, control in facets[1].items():
                if action in controls:
                    problems.append(
                        Problem(path, "duplicate_action", f"{action} is taken by another entity")
                    )
                controls[action] = control
            readings.extend(facets[0])
        devices[mapping.device_id] = DeviceBinding(
            mapping.device_id, mapping.kind, mapping.name, tuple(readings), controls
        )
    skipped: list[str] = []
    if config.discover_unmapped:
        for entity_id, state in sorted(by_id.items()):
            if entity_id in claimed or role_problem(entity_id, None) is not None:
                continue
            kind = _kind_of(state)
            facets = "no kind" if kind is None else _facets(state, None, temperature_unit)
            if kind is None or isinstance(facets, str):
                skipped.append(entity_id)
                continue
            name = _attributes(state).get("friendly_name")
            devices[entity_id] = DeviceBinding(
                entity_id,
                kind,
                name if isinstance(name, str) else "",
                tuple(facets[0]),
                facets[1],
            )
    return Discovery(devices, tuple(problems), tuple(skipped))


def updated_at(state: State, now: datetime) -> datetime:
    """When Home Assistant last updated the state, or ``now`` if it does not say."""
    raw = state.get("last_updated") or state.get("last_changed")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    return now


Facets = tuple[list[Reading], dict[Action, Control]]


def _facets(state: State, role: str | None, temperature_unit: str) -> Facets | str:
    """What the entity measures and accepts in the given role, or why it cannot be read."""
    entity_id: str = state["entity_id"]
    domain = entity_id.split(".", 1)[0]
    attributes = _attributes(state)
    if domain in FIXED_DOMAINS:
        return _fixed_facets(entity_id, domain, attributes, temperature_unit)
    unit = attributes.get("unit_of_measurement")
    if domain in SENSOR_DOMAINS:
        if domain == "binary_sensor":
            flag = Quantity(role) if role is not None else Quantity.ON
            return [Reading(entity_id, flag, None, IDENTITY, binary=True)], {}
        quantity = Quantity(role) if role is not None else _sensor_class(attributes)
        if quantity is None:
            return "its device class does not tell the quantity: map it with a role"
        scale = _scale(quantity, unit)
        if scale is None:
            return f"unit {unit!r} is not one of {sorted(QUANTITY_UNITS[quantity])}"
        return [Reading(entity_id, quantity, None, scale)], {}
    assert domain == NUMBER_DOMAIN
    action = Action(role) if role is not None else _number_action(unit)
    if action is None:
        return f"unit {unit!r} does not tell the action: map it with a role"
    allowed = ACTION_UNITS[action]
    if unit not in allowed:
        return f"unit {unit!r} is not one of {sorted(allowed)} for {action}"
    scale = UNITS[unit]
    step = _number(attributes.get("step"))
    control = Control(
        action=action,
        entity_id=entity_id,
        domain="number",
        service="set_value",
        field="value",
        scale=scale,
        range=_range(attributes.get("min"), attributes.get("max"), scale),
        tolerance=_tolerance(step, scale),
        confirm_attribute=None,
    )
    return [], {action: control}


def _fixed_facets(
    entity_id: str, domain: str, attributes: Mapping[str, Any], temperature_unit: str
) -> Facets:
    if domain == "switch":
        return [Reading(entity_id, Quantity.ON, None, IDENTITY, binary=True)], {
            action: _on_off(entity_id, "switch", action)
            for action in (Action.TURN_ON, Action.TURN_OFF)
        }
    scale = UNITS.get(temperature_unit, IDENTITY)
    readings = [
        Reading(entity_id, Quantity.TEMPERATURE_C, "current_temperature", scale),
        Reading(entity_id, Quantity.SETPOINT_C, "temperature", scale),
        Reading(entity_id, Quantity.ON, None, IDENTITY, binary=True),
    ]
    features = _number(attributes.get("supported_features")) or 0
    target, turn_on, turn_off = (
        (CLIMATE_TARGET, CLIMATE_TURN_ON, CLIMATE_TURN_OFF)
        if domain == "climate"
        else (WATER_TARGET, WATER_ON_OFF, WATER_ON_OFF)
    )
    controls: dict[Action, Control] = {}
    if int(features) & target:
        step = _number(attributes.get("target_temp_step"))
        controls[Action.SET_SETPOINT_C] = Control(
            action=Action.SET_SETPOINT_C,
            entity_id=entity_id,
            domain=domain,
            service="set_temperature",
            field="temperature",
            scale=scale,
            range=_range(attributes.get("min_temp"), attributes.get("max_temp"), scale),
            tolerance=_tolerance(step, scale),
            confirm_attribute="temperature",
        )
    if int(features) & turn_on:
        controls[Action.TURN_ON] = _on_off(entity_id, domain, Action.TURN_ON)
    if int(features) & turn_off:
        controls[Action.TURN_OFF] = _on_off(entity_id, domain, Action.TURN_OFF)
    return readings, controls


def _on_off(entity_id: str, domain: str, action: Action) -> Control:
    return Control(
        action=action,
        entity_id=entity_id,
        domain=domain,
        service=action.value,
        field=None,
        scale=IDENTITY,
        range=None,
        tolerance=0.0,
        confirm_attribute=None,
    )


def _kind_of(state: State) -> DeviceKind | None:
    """The kind an unmapped entity's domain tells, if any."""
    domain = str(state["entity_id"]).split(".", 1)[0]
    if domain == "climate":
        return DeviceKind.HEATING
    if domain == "water_heater":
        return DeviceKind.WATER_HEATER
    if domain == "switch":
        return DeviceKind.SWITCH
    if domain == "sensor" and _attributes(state).get("device_class") == "power":
        return DeviceKind.LOAD
    return None


def _sensor_class(attributes: Mapping[str, Any]) -> Quantity | None:
    device_class = attributes.get("device_class")
    return SENSOR_CLASSES.get(device_class) if isinstance(device_class, str) else None


def _number_action(unit: object) -> Action | None:
    if unit in QUANTITY_UNITS[Quantity.POWER_KW]:
        return Action.SET_POWER_LIMIT_KW
    if unit in QUANTITY_UNITS[Quantity.TEMPERATURE_C]:
        return Action.SET_SETPOINT_C
    return None


def _scale(quantity: Quantity, unit: object) -> Scale | None:
    if not isinstance(unit, str) or unit not in QUANTITY_UNITS.get(quantity, frozenset()):
        return None
    return UNITS[unit]


def _range(low: object, high: object, scale: Scale) -> Range | None:
    a, b = _number(low), _number(high)
    if a is None or b is None:
        return None
    ends = sorted((scale.to_osed(a), scale.to_osed(b)))
    return Range(ends[0], ends[1])


def _tolerance(step: float | None, scale: Scale) -> float:
    if step is None or step <= 0:
        return SETPOINT_TOLERANCE
    return max(SETPOINT_TOLERANCE, abs(step * scale.factor) / 2)


def _attributes(state: State) -> Mapping[str, Any]:
    attributes = state.get("attributes")
    return attributes if isinstance(attributes, Mapping) else {}


def _number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw) if math.isfinite(raw) else None
    if isinstance(raw, str) and raw not in MISSING_STATES:
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return None
