"""The MPC's model as HiGHS holds it, changed in place for the next re-plan.

A re-plan of the same devices (the building seen from a later step: series rolled, EV windows
moved; parameters refitted; measured states; new prices and requests) changes numbers of the
device LP of :mod:`osed.buildings.device_lp`, never its shape:

- column costs: the net's (prices), a soft model's net slack (prices and penalty);
- column bounds: the net's (the requests), each device's power (EV availability, PV and load
  forecasts, power limits), a battery's discharge, the states' (SoC window, comfort band,
  tank range);
- row bounds: the balance rows (the base load), each device's rows (the initial state, the
  outdoor temperature of a zone's recursion, a tank's draws and losses);
- matrix entries: a recursion's −keep (a zone's 1 − h/(RC)), a power's gain (a battery's
  efficiencies, a zone's h·cop/C).

:class:`LoadedModel` keeps a copy of those numbers as HiGHS holds them, computes them for the
new inputs with the functions that build the model (:func:`~osed.buildings.device_lp.device_values`,
:meth:`~osed.buildings.soft_limits.Slack.price`), and passes HiGHS only what differs, so that
HiGHS keeps its model and its basis. The result is the model a fresh build would give, entry
for entry.

A new model is needed only when its structure changes: other devices (ids, kinds, order:
``Planner.update`` refuses them), another horizon, or a matrix entry that becomes zero or comes
back from zero. HiGHS keeps no entry of magnitude at most its ``small_matrix_value`` and adds a
new one at the end of its column, where a built model keeps each column's rows in order; of the
entries that depend on parameters only a zone's −keep can vanish (R·C equal to the step: the
zone keeps no memory of its temperature), so :meth:`LoadedModel.change` declines then and the
caller builds the model again.
"""

from __future__ import annotations

import highspy
import numpy as np
from numpy.typing import NDArray

from osed.buildings.device_lp import BlockModel, DeviceColumns, DeviceValues, device_values
from osed.buildings.devices_schema import Array, Building
from osed.buildings.soft_limits import Slack

Coefficients = tuple[float, float, float]


class LoadedModel:
    """One building's model loaded into ``highs``; :meth:`change` moves it to new inputs."""

    def __init__(
        self, highs: highspy.Highs, model: BlockModel, slack: Slack | None, step_h: float
    ) -> None:
        """``model`` (with ``slack`` for a soft one) as just passed to ``highs``."""
        program = model.program
        self.highs = highs
        self.model = model
        self.slack = slack
        self.step_h = step_h
        self._steps = int(model.net.shape[1])
        self._tiny = float(highs.getOptionValue("small_matrix_value")[1])
        self._cost = program.costs()
        self._col_lower = _finite(np.concatenate(program.col_lower))
        self._col_upper = _finite(np.concatenate(program.col_upper))
        self._row_lower = _finite(np.concatenate(program.row_lower))
        self._row_upper = _finite(np.concatenate(program.row_upper))
        self._coefficients = [
            device_values(placed.device, steps=self._steps, step_h=step_h).coefficients()
            for placed in model.devices
        ]

    def change(self, building: Building, prices: Array, lower: Array, upper: Array) -> bool:
        """Make the loaded model the one ``building`` (the same devices, at its state), the
        ``prices`` and the net bounds [``lower``, ``upper``] give; False, with nothing
        changed, when that model has another structure (build it anew)."""
        n, h = self._steps, self.step_h
        values = [device_values(d, steps=n, step_h=h) for d in building.devices]
        coefficients = [v.coefficients() for v in values]
        if self._pattern(coefficients) != self._pattern(self._coefficients):
            return False
        cost, col_lower, col_upper, row_lower, row_upper = self._targets(
            building, values, prices, lower, upper
        )
        highs = self.highs
        changed = _differing(cost, self._cost)
        if changed.size:
            highs.changeColsCost(changed.size, changed, cost[changed])
        changed = _differing(col_lower, self._col_lower, col_upper, self._col_upper)
        if changed.size:
            highs.changeColsBounds(changed.size, changed, col_lower[changed], col_upper[changed])
        changed = _differing(row_lower, self._row_lower, row_upper, self._row_upper)
        if changed.size:
            highs.changeRowsBounds(  # type: ignore[attr-defined]  # not in highspy's stubs
                changed.size, changed, row_lower[changed], row_upper[changed]
            )
        for placed, new, old in zip(
            self.model.devices, coefficients, self._coefficients, strict=True
        ):
            for which, (value, was) in enumerate(zip(new, old, strict=True)):
                if value != was and abs(value) > self._tiny:
                    rows, columns = _entries(placed, which)
                    for row, column in zip(rows.tolist(), columns.tolist(), strict=True):
                        highs.changeCoeff(row, column, value)
        self._cost, self._col_lower, self._col_upper = cost, col_lower, col_upper
        self._row_lower, self._row_upper = row_lower, row_upper
        self._coefficients = coefficients
        return True

    def restart_from_basis(self) -> None:
        """Let HiGHS's next run start from the current basis as it would in a model just
        passed to it: the basis factorised anew, the simplex's pricing weights of the last
        solve forgotten. After a step of the horizon that takes fewer iterations than carrying
        them over (3,430 against 4,944 over the benchmark house's day), and the plan chosen
        among equal-cost optima is the one a model built afresh gives."""
        basis = self.highs.getBasis()
        self.highs.clearSolver()
        if basis.valid:
            self.highs.setBasis(basis)

    def _targets(
        self,
        building: Building,
        values: list[DeviceValues],
        prices: Array,
        lower: Array,
        upper: Array,
    ) -> tuple[Array, Array, Array, Array, Array]:
        """Costs, column bounds and row bounds of the model for these inputs; what no input
        touches (slack bounds, penalties, the balance's and recursions' constant entries)
        stays as loaded."""
        model, h = self.model, self.step_h
        cost = self._cost.copy()
        col_lower, col_upper = self._col_lower.copy(), self._col_upper.copy()
        row_lower, row_upper = self._row_lower.copy(), self._row_upper.copy()
        net = model.net[0]
        cost[net] = h * prices
        col_lower[net], col_upper[net] = lower, upper
        if self.slack is not None:
            columns, costs = self.slack.price(prices, h)
            cost[columns] = costs
        balance = model.balance[0]
        row_lower[balance] = row_upper[balance] = building.base_kw
        for placed, device in zip(model.devices, values, strict=True):
            col_lower[placed.power], col_upper[placed.power] = device.power
            if placed.discharge is not None:
                assert device.discharge_max is not None
                col_upper[placed.discharge] = device.discharge_max
            if placed.state is not None:
                assert device.state is not None
                col_lower[placed.state], col_upper[placed.state] = device.state
            if placed.rows is not None:
                assert device.rhs is not None
                row_lower[placed.rows] = row_upper[placed.rows] = device.rhs
        return (
            cost,
            _finite(col_lower),
            _finite(col_upper),
            _finite(row_lower),
            _finite(row_upper),
        )

    def _pattern(self, coefficients: list[Coefficients]) -> list[tuple[bool, ...]]:
        """Which of the entries that depend on parameters HiGHS keeps (above its tiny)."""
        return [tuple(abs(value) > self._tiny for value in three) for three in coefficients]


def _entries(placed: DeviceColumns, which: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(rows, columns) of a device's entries that hold coefficient ``which`` of
    :meth:`DeviceValues.coefficients`: 0 the recursion's −keep, 1 the power's gain, 2 the
    discharge's."""
    rows = placed.rows
    assert rows is not None
    if which == 0:
        assert placed.state is not None
        return rows[1:], placed.state[:-1]
    if which == 1:
        return np.broadcast_to(rows, placed.power.shape), placed.power
    assert placed.discharge is not None
    return rows, placed.discharge


def _differing(*pairs: Array) -> NDArray[np.int32]:
    """Positions where any new array (first of each pair) differs from its old one (second),
    in increasing order as HiGHS takes index sets."""
    differ = pairs[0] != pairs[1]
    for new, old in zip(pairs[2::2], pairs[3::2], strict=True):
        differ |= new != old
    return np.flatnonzero(differ).astype(np.int32)


def _finite(values: Array) -> Array:
    """HiGHS's own infinity for unbounded sides (as the model was passed)."""
    clipped: Array = np.clip(values, -highspy.kHighsInf, highspy.kHighsInf)
    return clipped
