"""Devices behind the meter as the building side sees them: what a device is and can do,
what it measures, the commands it takes and what became of them.

These are the values the device gateway port (:mod:`osed.ports.devices`) speaks, whatever
the adapter behind it (simulated devices, MQTT JSON, Home Assistant, EdgeX). Units are in the
names: kW for power, kWh for energy, °C for temperatures, fractions for a state of charge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from osed.domain.errors import Problem, ValidationError
from osed.domain.time import require_aware

MAX_DEVICE_ID = 200
"""Device ids travel in topics and URLs."""


class DeviceKind(StrEnum):
    BATTERY = "battery"
    EV = "ev"
    """An EV charger with the vehicle plugged in or not."""
    HEATING = "heating"
    """A heating zone: a thermostat and the heat pump or heater behind it."""
    WATER_HEATER = "water_heater"
    PV = "pv"
    LOAD = "load"
    """A load nobody controls (what the rest of the house draws)."""
    METER = "meter"
    """The building's main meter: import positive, export negative."""
    SWITCH = "switch"
    """Anything that is only on or off."""


class Quantity(StrEnum):
    """What a device measures."""

    POWER_KW = "power_kw"
    """Drawn from the building's installation positive, fed into it negative."""
    ENERGY_KWH = "energy_kwh"
    """Stored energy (a water heater's, a battery's)."""
    SOC = "soc"
    """State of charge, a fraction of the capacity."""
    TEMPERATURE_C = "temperature_c"
    """Indoor (a zone) or water temperature."""
    SETPOINT_C = "setpoint_c"
    OUTDOOR_C = "outdoor_c"
    CONNECTED = "connected"
    """1 when an EV is plugged in, else 0."""
    ON = "on"
    """1 when the device is on, else 0."""


class Action(StrEnum):
    """What a device can be told to do."""

    SET_POWER_KW = "set_power_kw"
    """A power setpoint (a battery's charge positive, discharge negative; a charger's rate)."""
    SET_POWER_LIMIT_KW = "set_power_limit_kw"
    """The most the device may draw (an EV's charge limit, say)."""
    SET_SETPOINT_C = "set_setpoint_c"
    TURN_ON = "turn_on"
    TURN_OFF = "turn_off"


VALUED_ACTIONS = frozenset({Action.SET_POWER_KW, Action.SET_POWER_LIMIT_KW, Action.SET_SETPOINT_C})
"""Actions that carry a value; the others carry none."""


@dataclass(frozen=True, slots=True)
class Range:
    """The values an action accepts, both ends included."""

    minimum: float
    maximum: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.minimum <= value <= self.maximum


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A device found by discovery: its kind, what it measures and what it accepts."""

    device_id: str
    kind: DeviceKind
    name: str = ""
    quantities: frozenset[Quantity] = frozenset()
    actions: frozenset[Action] = frozenset()
    ranges: dict[Action, Range] = field(default_factory=dict)
    """Accepted values of the valued actions that have limits."""

    def __post_init__(self) -> None:
        problems = _id_problems(self.device_id, "$.device_id")
        for action in self.ranges:
            if action not in self.actions:
                problems.append(
                    Problem(f"$.ranges.{action}", "unknown_action", "not an action it offers")
                )
        if problems:
            raise ValidationError(problems)


@dataclass(frozen=True, slots=True)
class Measurement:
    device_id: str
    quantity: Quantity
    value: float
    at: datetime

    def __post_init__(self) -> None:
        problems = _id_problems(self.device_id, "$.device_id")
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            problems.append(Problem("$.value", "not_number", "the value must be a number"))
        elif not math.isfinite(self.value):
            problems.append(Problem("$.value", "not_finite", "the value must be finite"))
        if problems:
            raise ValidationError(problems)
        require_aware(self.at, path="$.at")


@dataclass(frozen=True, slots=True)
class Command:
    """One command to one device. ``command_id`` makes it idempotent: a gateway applies a
    command id once, however often it is sent (a resend after a reconnect, say)."""

    command_id: str
    device_id: str
    action: Action
    value: float | None
    issued_at: datetime

    def __post_init__(self) -> None:
        problems = _id_problems(self.command_id, "$.command_id")
        problems += _id_problems(self.device_id, "$.device_id")
        if self.action in VALUED_ACTIONS:
            if isinstance(self.value, bool) or not isinstance(self.value, int | float):
                problems.append(Problem("$.value", "not_number", f"{self.action} needs a number"))
            elif not math.isfinite(self.value):
                problems.append(Problem("$.value", "not_finite", "the value must be finite"))
        elif self.value is not None:
            problems.append(Problem("$.value", "unexpected", f"{self.action} takes no value"))
        if problems:
            raise ValidationError(problems)
        require_aware(self.issued_at, path="$.issued_at")


class Outcome(StrEnum):
    APPLIED = "applied"
    """The device confirmed the new state (or had it already)."""
    REJECTED = "rejected"
    """The device or its platform refused it (unknown device, value out of range, …)."""
    PENDING = "pending"
    """Sent, not confirmed before the deadline; it is resent after a reconnect."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    command_id: str
    device_id: str
    outcome: Outcome
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Liveness:
    device_id: str
    online: bool
    last_seen: datetime | None
    """The last measurement or confirmation from the device."""


def _id_problems(value: object, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(path, "empty", "an id must be a non-empty string")]
    if len(value) > MAX_DEVICE_ID:
        return [Problem(path, "too_long", f"at most {MAX_DEVICE_ID} characters")]
    if any(c in value for c in "/#+") or not value.isprintable():
        return [Problem(path, "bad_character", "no '/', '#', '+' or control characters")]
    return []
