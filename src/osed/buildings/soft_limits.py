"""The MPC's soft constraints: what a plan cannot keep is bought at a penalty and reported,
so that a building always has a schedule to follow.

A building under a limit it cannot reach (a capacity-limit share below its base load, a zone
that starts above its comfort band, an EV that cannot be filled by its departure) still needs
the schedule that comes closest. Slack columns enter the device LP of
:mod:`osed.buildings.device_lp`:

- the net power: import above the upper bound and export below the lower bound, in the
  balance rows (the bounded net column plus the slack is the building's true net);
- an EV: energy not charged by its departure, in its energy row;
- a heating zone: temperature (K) added or taken away in its recursion, so that the band
  holds on paper while the devices do what comes closest to it;
- a water heater: energy (kWh) added or taken away in its recursion, likewise.

The penalties rank what gives way first: an EV's energy before the net limits, the net limits
before comfort and hot water (the real-time rule keeps that order too: it holds comfort and
device ranges, and takes the EV's power away first among the devices that can wait).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from osed.buildings.device_lp import BlockModel, Index
from osed.buildings.devices_schema import Array

EV_PENALTY = 50.0
"""Per kWh an EV is not charged by its departure."""
NET_PENALTY = 500.0
"""Per kWh of net power beyond the bounds (on top of its price)."""
BAND_PENALTY = 5000.0
"""Per K a heating zone is outside its band, and per kWh a water heater is outside its own,
at the end of a step."""
TOLERANCE = 1e-6
"""Slack below this is the solver's rounding, not a shortfall."""


@dataclass(frozen=True, slots=True)
class Slack:
    """The slack columns added to one building's model."""

    over: Index
    """(N,) net import above the upper bound (kW)."""
    under: Index
    """(N,) net export below the lower bound (kW)."""
    devices: dict[str, tuple[Index, float]] = field(default_factory=dict)
    """Device id -> (its slack columns, their penalty per unit)."""

    def price(self, prices: Array, h: float) -> tuple[Index, Array]:
        """The net slack's columns and costs at ``prices``: the energy is paid for like the
        rest of the net import, and the penalty on top."""
        columns = np.concatenate([self.over, self.under])
        costs = np.concatenate([h * (prices + NET_PENALTY), h * (NET_PENALTY - prices)])
        return columns, costs

    def shortfalls(self, x: Array, h: float) -> dict[str, float]:
        """What the plan ``x`` does not keep: "building" -> kWh beyond the net bounds; an EV
        -> kWh not charged by its departure; a water heater -> kWh, a heating zone -> K
        outside its band (summed over the steps). Only what exceeds the rounding."""
        found = {"building": h * float(x[self.over].sum() + x[self.under].sum())}
        for device_id, (columns, _) in self.devices.items():
            found[device_id] = float(x[columns].sum())
        return {name: value for name, value in found.items() if value > TOLERANCE}

    def penalty(self, x: Array, h: float) -> float:
        """The penalties the plan ``x`` pays: how far it is from keeping everything, in one
        number that ranks what gives way."""
        paid = NET_PENALTY * h * float(x[self.over].sum() + x[self.under].sum())
        for columns, per_unit in self.devices.values():
            paid += per_unit * float(x[columns].sum())
        return paid


def soften(model: BlockModel, prices: Array, h: float) -> Slack:
    """Slack columns for the first building of ``model`` (the MPC plans one at a time)."""
    program = model.program
    n = model.net.shape[1]
    balance = model.balance[0]
    over = program.add_columns(n, cost=h * (prices + NET_PENALTY))
    under = program.add_columns(n, cost=h * (NET_PENALTY - prices))
    program.add_entries(balance, over, 1.0)
    program.add_entries(balance, under, -1.0)
    devices: dict[str, tuple[Index, float]] = {}
    for placed in model.devices:
        if placed.building != 0 or placed.rows is None:
            continue
        kind = placed.device.kind
        if kind == "ev":
            short = program.add_columns(1, cost=EV_PENALTY)
            program.add_entries(placed.rows, short, 1.0)
            devices[placed.device.id] = (short, EV_PENALTY)
        elif kind in ("heating", "water_heater"):
            added = program.add_columns(n, cost=BAND_PENALTY)
            taken = program.add_columns(n, cost=BAND_PENALTY)
            program.add_entries(placed.rows, added, -1.0)
            program.add_entries(placed.rows, taken, 1.0)
            devices[placed.device.id] = (np.concatenate([added, taken]), BAND_PENALTY)
    return Slack(over, under, devices)


def net_objective(net: Array, prices: Array, lower: Array, upper: Array, h: float) -> float:
    """The cost of a true net power series under soft bounds: its price and the penalty on
    what lies beyond them."""
    beyond = np.maximum(net - upper, 0.0) + np.maximum(lower - net, 0.0)
    return float(h * prices @ net + h * NET_PENALTY * beyond.sum())
