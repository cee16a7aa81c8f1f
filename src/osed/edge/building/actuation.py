"""From the power each device should take this cycle to the commands its device accepts.

The MPC and the real-time rule decide powers; devices take what their platform offers
(:class:`osed.domain.devices.DeviceInfo`). For each device, in this order of preference:

- a power setpoint (``set_power_kw``): the power itself;
- a power limit (``set_power_limit_kw``, an EV charger's current limit): the power as the
  most it may draw; below the limit's floor (a charger's 6 A minimum, say) the device is
  turned off when it can be, and on again once the power is back above the floor;
- a heating zone's thermostat (``set_setpoint_c``): the indoor temperature the zone reaches
  at the end of the cycle under the planned power (the zone's RC equation from the measured
  temperature), so that the thermostat heats as much as planned and no more; a thermostat
  the owner switched off stays off;
- on/off only (``turn_on``/``turn_off``: a water heater's element, a plug): on when the
  power is at least half the device's maximum, the cycle's duty rounded.

Values are kept within the range the device reports. A device that accepts none of these is
left alone (logged once by the agent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from osed.buildings.devices_schema import Device
from osed.domain.devices import Action, DeviceInfo, Range

SETPOINT_DECIMALS = 1
"""Thermostat setpoints go out in tenths of a degree."""


@dataclass(frozen=True, slots=True)
class Order:
    """One command to send: ``value`` None for on/off."""

    device_id: str
    action: Action
    value: float | None


def orders(
    device: Device,
    info: DeviceInfo,
    power_kw: float,
    *,
    indoor_c: float | None,
    cycle_h: float,
    step: int = 0,
) -> list[Order]:
    """The commands that make ``device`` take ``power_kw`` for the next cycle; empty when it
    accepts none that can. ``indoor_c``: a heating zone's measured indoor temperature."""
    actions = info.actions
    if Action.SET_POWER_KW in actions:
        return [Order(device.id, Action.SET_POWER_KW, _within(power_kw, info, Action.SET_POWER_KW))]
    if Action.SET_POWER_LIMIT_KW in actions:
        return _limit(device, info, max(power_kw, 0.0))
    if device.kind == "heating" and Action.SET_SETPOINT_C in actions and indoor_c is not None:
        target = indoor_after(device, indoor_c, power_kw, cycle_h, step)
        value = round(_within(target, info, Action.SET_SETPOINT_C), SETPOINT_DECIMALS)
        return [Order(device.id, Action.SET_SETPOINT_C, value)]
    if {Action.TURN_ON, Action.TURN_OFF} <= actions:
        on = power_kw >= 0.5 * _maximum_kw(device)
        return [Order(device.id, Action.TURN_ON if on else Action.TURN_OFF, None)]
    return []


def indoor_after(device: Device, indoor_c: float, power_kw: float, h: float, step: int) -> float:
    """A heating zone's indoor °C after ``h`` hours at ``power_kw`` (the DAC document's
    equation, outdoor temperature from the device's series at ``step``)."""
    c, r, cop = device["capacitance_kwh_per_k"], device["resistance_k_per_kw"], device["cop"]
    outdoor = device["outdoor_c"][min(step, len(device["outdoor_c"]) - 1)]
    return float(indoor_c + h / c * ((outdoor - indoor_c) / r + cop * power_kw))


def _limit(device: Device, info: DeviceInfo, power_kw: float) -> list[Order]:
    limits = info.ranges.get(Action.SET_POWER_LIMIT_KW)
    can_switch = {Action.TURN_ON, Action.TURN_OFF} <= info.actions
    if limits is not None and power_kw < limits.minimum and can_switch:
        return [Order(device.id, Action.TURN_OFF, None)]
    value = _within(power_kw, info, Action.SET_POWER_LIMIT_KW)
    limit = Order(device.id, Action.SET_POWER_LIMIT_KW, value)
    return [limit, Order(device.id, Action.TURN_ON, None)] if can_switch else [limit]


def _within(value: float, info: DeviceInfo, action: Action) -> float:
    limits: Range | None = info.ranges.get(action)
    if limits is None:
        return value
    return min(max(value, limits.minimum), limits.maximum)


def _maximum_kw(device: Device) -> float:
    values: Mapping[str, object] = device.values
    for name in ("power_max_kw", "charge_max_kw"):
        value = values.get(name)
        if isinstance(value, int | float):
            return float(value)
    return 0.0
