"""OSED commands as EdgeX command requests, and OSED devices as discovered devices.

A ``set`` request names the device service, device and command in its topic and carries the
settings body ``{resource: value}`` with EdgeX's string values (``"21.5"``, ``"3"``,
``"true"``). Its request id is derived from the OSED command id (a UUID version 5), so a resend
carries the same request id as the first send.
"""

from __future__ import annotations

import math
import uuid

from osed.devices.edgex_config import CommandMap, DeviceBinding, EdgexConfig
from osed.domain.devices import VALUED_ACTIONS, Command, DeviceInfo

_COMMAND_IDS = uuid.UUID("3a1f0c52-8f0e-4c36-9a57-6f0b8f1d2e44")
"""The namespace of request ids made from OSED command ids."""
_INTEGER_LIMITS = {
    f"{sign}{bits}": (lo, hi)
    for bits in (8, 16, 32, 64)
    for sign, lo, hi in (("Int", -(2 ** (bits - 1)), 2 ** (bits - 1) - 1), ("Uint", 0, 2**bits - 1))
}


class CommandRefusedError(ValueError):
    """A command the device cannot take (no such action, value out of range); not sent."""


def request_id(command_id: str) -> str:
    return str(uuid.uuid5(_COMMAND_IDS, command_id))


def settings(
    config: EdgexConfig, binding: DeviceBinding, command: Command
) -> tuple[str, dict[str, str]]:
    """The EdgeX command name and ``set`` body of ``command``; CommandRefusedError."""
    mapping = config.profiles[binding.profile].commands.get(command.action)
    if mapping is None:
        raise CommandRefusedError(f"device {command.device_id!r} takes no {command.action}")
    if command.action not in VALUED_ACTIONS:
        assert mapping.fixed is not None  # the configuration gives on/off actions a value
        return mapping.command, {mapping.resource: mapping.fixed}
    assert command.value is not None  # Command checks that a valued action has its value
    if mapping.range is not None and command.value not in mapping.range:
        low, high = mapping.range.minimum, mapping.range.maximum
        raise CommandRefusedError(
            f"{command.action} {command.value} is out of range [{low}, {high}] "
            f"for {command.device_id!r}"
        )
    return mapping.command, {mapping.resource: _edgex_value(mapping, command.value)}


def _edgex_value(mapping: CommandMap, value: float) -> str:
    raw = value * mapping.scale + mapping.offset
    if not math.isfinite(raw):
        raise CommandRefusedError(f"value {value} overflows once scaled")
    limits = _INTEGER_LIMITS.get(mapping.value_type)
    if limits is None:
        return repr(float(raw))
    whole = round(raw)
    if not limits[0] <= whole <= limits[1]:
        raise CommandRefusedError(f"value {value} does not fit {mapping.value_type} once scaled")
    return str(whole)


def device_info(config: EdgexConfig, binding: DeviceBinding) -> DeviceInfo:
    profile = config.profiles[binding.profile]
    return DeviceInfo(
        device_id=binding.device_id,
        kind=profile.kind,
        name=binding.edgex_name,
        quantities=frozenset(r.quantity for r in profile.readings.values()),
        actions=frozenset(profile.commands),
        ranges={a: c.range for a, c in profile.commands.items() if c.range is not None},
    )
