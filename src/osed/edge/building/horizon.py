"""The building description seen from step ``k`` of its day: every series rolled so that
index 0 is now, EV windows moved as many steps earlier (the receding horizon)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from osed.buildings.devices_schema import Array, Building, Device


def from_step(building: Building, k: int) -> Building:
    """``building`` as the plan starting at step ``k`` sees it (series repeat daily)."""
    n = len(building.base_kw)
    shift = k % n
    if shift == 0:
        return building
    devices = tuple(_device_from(d, shift) for d in building.devices)
    return replace(building, base_kw=_ahead(building.base_kw, shift), devices=devices)


def _device_from(device: Device, shift: int) -> Device:
    values = dict(device.values)
    for name, value in device.values.items():
        if isinstance(value, np.ndarray):
            values[name] = _ahead(value, shift)
    if device.kind == "ev":
        values["arrival_step"] = max(0, int(device["arrival_step"]) - shift)
        values["departure_step"] = max(0, int(device["departure_step"]) - shift)
    return replace(device, values=values)


def _ahead(series: Array, shift: int) -> Array:
    """``series`` from index ``shift`` on, the first ``shift`` values after (np.roll by
    −shift, without its overhead: one agent rolls every series at every step)."""
    return np.concatenate((series[shift:], series[:shift]))
