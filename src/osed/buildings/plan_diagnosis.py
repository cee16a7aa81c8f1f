"""Why a building has no plan, and the plan with decided battery modes.

A building's devices only meet in its net power, so without net limits it has a plan exactly
when each device has one alone: the devices that have none are named. When each has one, the
net limits are at fault, and the first step up to which they cannot all be met is found by
bisection over the limits kept on a growing prefix of the horizon.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from osed.buildings.device_lp import BlockModel, block_model
from osed.buildings.devices_schema import Array, Building
from osed.optimizer.highs import SolveStatus, solve

_FREE = ("pv", "load")
"""Kinds that follow a forecast: never the reason a building has no plan."""


def exclusive_modes(model: BlockModel) -> BlockModel:
    """``model`` with each battery either charging or discharging in a step (a binary mode
    u: charge ≤ c_max·u, discharge ≤ d_max·(1 − u))."""
    program = model.program
    for placed in model.devices:
        if placed.discharge is None:
            continue
        n = placed.power.size
        device = placed.device
        mode = program.add_columns(n, upper=1.0, integer=True)
        charge_rows = program.add_rows(n, upper=0.0)
        program.add_entries(charge_rows, placed.power, 1.0)
        program.add_entries(charge_rows, mode, -device["charge_max_kw"])
        discharge_rows = program.add_rows(n, upper=device["discharge_max_kw"])
        program.add_entries(discharge_rows, placed.discharge, 1.0)
        program.add_entries(discharge_rows, mode, device["discharge_max_kw"])
    return model


def diagnose(
    building: Building, steps: int, step_h: float, lower: Array, upper: Array, *, exclusive: bool
) -> tuple[tuple[str, ...], int | None]:
    """(device ids without a plan of their own, None), or (("building",), first step up to
    which the net limits cannot be met)."""
    alone = [
        device.id
        for device in building.devices
        if device.kind not in _FREE
        and not _feasible(
            replace(building, base_kw=np.zeros(steps), devices=(device,)),
            steps,
            step_h,
            (np.full(steps, -np.inf), np.full(steps, np.inf)),
            exclusive,
        )
    ]
    if alone:
        return tuple(alone), None
    # Limits on steps 0..k: infeasible for k = steps − 1; the smallest such k is the step.
    low, high = 0, steps - 1
    if _feasible(building, steps, step_h, _prefix(lower, upper, high), exclusive):
        return ("building",), None  # the solver's tolerances disagree; nothing more to name
    while low < high:
        middle = (low + high) // 2
        if _feasible(building, steps, step_h, _prefix(lower, upper, middle), exclusive):
            low = middle + 1
        else:
            high = middle
    return ("building",), low


def _prefix(lower: Array, upper: Array, last: int) -> tuple[Array, Array]:
    keep = np.arange(lower.size) <= last
    return np.where(keep, lower, -np.inf), np.where(keep, upper, np.inf)


def _feasible(
    building: Building, steps: int, step_h: float, net: tuple[Array, Array], exclusive: bool
) -> bool:
    lower, upper = net
    model = block_model([building], steps=steps, step_h=step_h, prices=np.zeros(steps))
    model.bound_net(0, lower, upper)
    if exclusive:
        exclusive_modes(model)
    return solve(model.program).status == SolveStatus.OPTIMAL
