"""What every adapter checks before a command leaves the gateway: the device is known, it
offers the action, and the value is within the range it accepts."""

from __future__ import annotations

from collections.abc import Mapping

from osed.domain.devices import Command, DeviceInfo


def refusal(devices: Mapping[str, DeviceInfo], command: Command) -> str | None:
    """Why ``command`` cannot be applied, or None when it can be sent."""
    info = devices.get(command.device_id)
    if info is None:
        return f"unknown device {command.device_id!r}"
    if command.action not in info.actions:
        offered = ", ".join(sorted(info.actions)) or "none"
        return f"{info.device_id} does not take {command.action} (it takes: {offered})"
    limits = info.ranges.get(command.action)
    if limits is not None and command.value not in limits:
        return (
            f"{command.action} {command.value:g} is outside {info.device_id}'s range "
            f"[{limits.minimum:g}, {limits.maximum:g}]"
        )
    return None
