"""The building's MPC: its devices scheduled on HiGHS against the tariff and what the active
grid functions ask (DAC prices, capacity limits, XOR commitments, DLC comfort offsets).

One :class:`Planner` per building keeps its HiGHS instance: a re-plan on the receding horizon
(new prices, limits, measured state, forecasts, EV windows or parameters) changes in place only
the costs, bounds, right-hand sides and coefficients that differ
(:mod:`osed.buildings.loaded_model`), so HiGHS starts from the previous optimal basis. The
model is the device LP of :mod:`osed.buildings.device_lp` with the net power bounded by the
requests.

A battery may charge and discharge in the same step in the LP. That never lowers the cost
while prices are positive; where it would (negative prices, an export limit above a surplus
that cannot be curtailed) the plan is solved again with a binary charge/discharge mode per
step, so a plan is always physically possible and of least cost.

A planner with ``soft`` constraints (:mod:`osed.buildings.soft_limits`) always has a plan when
the devices alone have one: what it cannot keep (the net bounds, an EV's energy, a comfort
band, a tank's band) is bought at a penalty and named in :attr:`Plan.shortfall`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import highspy
import numpy as np

from osed.buildings.device_lp import BlockModel, block_model, device_powers
from osed.buildings.devices_schema import Array, Building
from osed.buildings.loaded_model import LoadedModel
from osed.buildings.plan_diagnosis import diagnose as name_infeasible
from osed.buildings.plan_diagnosis import exclusive_modes
from osed.buildings.plan_inputs import at_state, check_building, net_bounds, prices_series
from osed.buildings.soft_limits import Slack, net_objective, soften
from osed.domain.errors import OsedError
from osed.optimizer.highs import SolveStatus, pass_program, solve
from osed.optimizer.highs_instance import quiet_highs

_OPTIMAL = highspy.HighsModelStatus.kOptimal
_INFEASIBLE = highspy.HighsModelStatus.kInfeasible
_SAME_STEP = 1e-9
"""kW of charge and discharge in one step below which a battery is not doing both."""


@dataclass(frozen=True, slots=True)
class GridRequests:
    """What the active grid functions ask of the building, all optional."""

    prices_per_kwh: Array | None = None
    """(N,) DAC prices replacing the tariff."""
    import_limit_kw: Array | None = None
    """(N,) capacity limit on the building's net import (inf: none)."""
    export_limit_kw: Array | None = None
    """(N,) limit on its net export (inf: none)."""
    reduction_kw: Array | None = None
    """(N,) XOR commitment: net at most baseline − reduction."""
    baseline_kw: Array | None = None
    """(N,) the baseline the reduction is measured against (inf: no commitment that step)."""
    comfort_offset_c: dict[str, Array] | None = None
    """DLC: per heating zone id, (N,) shift of its comfort band (°C)."""


@dataclass(frozen=True, slots=True)
class Plan:
    status: str
    """"optimal" | "feasible" (a battery-mode MILP stopped at the planner's time limit: a
    schedule the devices can follow, within ``gap`` of the least cost) | "infeasible"."""
    cost: float
    """h Σ prices·net (NaN without a schedule)."""
    net_kw: Array
    """(N,) the building's net power (NaN without a schedule)."""
    devices: dict[str, Array]
    """Device id -> (N,) power kW (consumption positive); empty without a schedule."""
    infeasible: tuple[str, ...] = ()
    """Devices without a schedule of their own, or ("building",) when the net limits cannot
    be met."""
    infeasible_step: int | None = None
    """With ("building",): the first step up to which the net limits cannot all be met."""
    exclusive: bool = False
    """True when a battery's charge/discharge modes had to be decided (a MILP)."""
    gap: float = 0.0
    """The proven relative gap of a "feasible" plan (0 for an optimal one)."""
    shortfall: dict[str, float] = field(default_factory=dict)
    """What a soft plan does not keep: "building" -> kWh of net power beyond its bounds; an EV
    -> kWh not charged by its departure; a water heater -> kWh, a heating zone -> K outside
    its band (summed over the steps). Empty when the plan keeps everything."""
    penalty: float = 0.0
    """The penalties a soft plan pays for its shortfall (0 when it keeps everything; NaN
    without a schedule): the lower, the closer the plan comes to what is asked."""

    @property
    def usable(self) -> bool:
        """Is there a schedule to follow?"""
        return self.status in ("optimal", "feasible")

    @property
    def kept(self) -> bool:
        """Is there a schedule that keeps every limit and need?"""
        return self.usable and not self.shortfall


class Planner:
    """Plans one building's devices over ``steps`` steps of ``step_h`` hours.

    ``mode_time_limit_s`` bounds the battery-mode MILP (None: solved to optimality); a control
    loop that must not wait sets it, and takes the best schedule found by then. With ``soft``
    the net bounds, EV energies and bands give way at a penalty instead of leaving the
    building without a plan (:mod:`osed.buildings.soft_limits`)."""

    def __init__(
        self,
        building: Building,
        steps: int,
        step_h: float,
        *,
        mode_time_limit_s: float | None = None,
        soft: bool = False,
    ) -> None:
        if steps < 1 or not step_h > 0:
            raise ValueError("steps must be ≥ 1 and step_h > 0")
        check_building(building, steps)
        self.building = building
        self.steps = steps
        self.step_h = step_h
        self.mode_time_limit_s = mode_time_limit_s
        self.soft = soft
        self._highs: highspy.Highs | None = None
        self._loaded: LoadedModel | None = None
        """The model HiGHS holds, changed in place for each plan."""
        self._planned: Building | None = None
        """The building (given or updated) the last plan was made for."""

    @property
    def loaded(self) -> LoadedModel | None:
        """The model HiGHS holds (None before the first plan); the same object as long as
        re-plans change it in place."""
        return self._loaded

    def update(self, building: Building) -> None:
        """The same devices with new forecasts, windows or parameters (the receding horizon:
        the caller shifts the series and EV windows); the next plan changes the loaded model
        in place and starts from its basis."""
        same = [(d.id, d.kind) for d in building.devices] == [
            (d.id, d.kind) for d in self.building.devices
        ]
        if not same:
            raise ValueError("update needs the same devices (ids and kinds, in order)")
        check_building(building, self.steps)
        self.building = building

    def plan(
        self,
        tariff_per_kwh: Array,
        requests: GridRequests = GridRequests(),
        *,
        state: Mapping[str, float] | None = None,
        diagnose: bool = True,
    ) -> Plan:
        """The least-cost schedule; ``state`` (device id -> SoC fraction, indoor °C, stored
        kWh, or an EV's kWh still to charge) replaces the devices' initial states. Without
        ``diagnose`` an infeasible plan names no device and no step (finding them takes a
        dozen more solves, wasted on a caller that will plan again with other requests)."""
        n, h = self.steps, self.step_h
        given = requests.prices_per_kwh
        prices = prices_series(
            tariff_per_kwh if given is None else given,
            n,
            "tariff_per_kwh" if given is None else "prices_per_kwh",
        )
        lower, upper = net_bounds(
            n,
            import_limit_kw=requests.import_limit_kw,
            export_limit_kw=requests.export_limit_kw,
            reduction_kw=requests.reduction_kw,
            baseline_kw=requests.baseline_kw,
        )
        building = at_state(self.building, state, requests.comfort_offset_c)
        loaded = self._loaded
        if loaded is None or not loaded.change(building, prices, lower, upper):
            loaded = self._load(*self._model_of(building, prices, lower, upper))
        elif self.building is not self._planned:
            loaded.restart_from_basis()  # a new step: as a model passed anew would start
        self._planned = self.building
        model, slack = loaded.model, loaded.slack
        x = self._run()
        if x is None:
            return _infeasible(building, n, h, lower, upper, exclusive=False, diagnose=diagnose)
        powers = device_powers(model, x)
        net = building.base_kw + np.sum(powers, axis=0) if powers else building.base_kw.copy()
        bounds = (lower, upper)
        if not _both_ways(model, x) or _fold_keeps_optimum(
            model, x, net=net, prices=prices, bounds=bounds, h=h, slack=slack
        ):
            return _result(building, prices, net, powers, h, slack=slack, x=x)
        exclusive, exclusive_slack = self._model_of(building, prices, lower, upper)
        program = exclusive_modes(exclusive).program
        found = solve(program, mip_gap=1e-6, time_limit_s=self.mode_time_limit_s)
        if found.status == SolveStatus.TIME_LIMIT and found.x.size == 0:
            found = solve(program, mip_gap=1e-6)  # nothing found in time: a plan, however long
        stopped = found.status == SolveStatus.TIME_LIMIT
        if found.status != SolveStatus.OPTIMAL and not stopped:
            return _infeasible(building, n, h, lower, upper, exclusive=True, diagnose=diagnose)
        powers = device_powers(exclusive, found.x)
        net = building.base_kw + np.sum(powers, axis=0)
        result = _result(
            building, prices, net, powers, h, exclusive=True, slack=exclusive_slack, x=found.x
        )
        return replace(result, status="feasible", gap=found.gap) if stopped else result

    def _model_of(
        self, building: Building, prices: Array, lower: Array, upper: Array
    ) -> tuple[BlockModel, Slack | None]:
        n, h = self.steps, self.step_h
        model = block_model([building], steps=n, step_h=h, prices=prices, cycling_cost=0.0)
        model.bound_net(0, lower, upper)
        return model, soften(model, prices, h) if self.soft else None

    def _load(self, model: BlockModel, slack: Slack | None) -> LoadedModel:
        """A model of another structure into HiGHS, starting from the previous basis when it
        has the shape."""
        highs = self._highs
        basis = highs.getBasis() if highs is not None else None
        if highs is None:
            highs = quiet_highs()
            highs.setOptionValue("threads", 1)
        if not pass_program(highs, model.program):
            raise OsedError(f"HiGHS refused the model of building {self.building.id!r}")
        old = self._loaded.model.program if self._loaded is not None else None
        same_shape = old is not None and (old.rows, old.columns) == (
            model.program.rows,
            model.program.columns,
        )
        if basis is not None and basis.valid and same_shape:
            highs.setBasis(basis)
        self._highs = highs
        self._loaded = LoadedModel(highs, model, slack, self.step_h)
        return self._loaded

    def _run(self) -> Array | None:
        """The optimum of the loaded model; None when it has none."""
        highs = self._highs
        assert highs is not None
        highs.run()
        status = highs.getModelStatus()
        if status not in (_OPTIMAL, _INFEASIBLE):
            highs.clearSolver()  # a warm start HiGHS could not finish: once more from scratch
            highs.run()
            status = highs.getModelStatus()
        if status == _INFEASIBLE:
            return None
        if status != _OPTIMAL:
            raise OsedError(
                f"building {self.building.id!r}: HiGHS stopped with "
                f"{highs.modelStatusToString(status)}"
            )
        return np.asarray(highs.getSolution().col_value, dtype=float)


def _both_ways(model: BlockModel, x: Array) -> bool:
    """Does a battery charge and discharge in one step?"""
    return any(
        placed.discharge is not None
        and bool((np.minimum(x[placed.power], x[placed.discharge]) > _SAME_STEP).any())
        for placed in model.devices
    )


def _fold_keeps_optimum(
    model: BlockModel,
    x: Array,
    *,
    net: Array,
    prices: Array,
    bounds: tuple[Array, Array],
    h: float,
    slack: Slack | None,
) -> bool:
    """Folding such steps into one power lowers the net there: is it still within the export
    limit (a soft one: no dearer for its penalty) and no dearer than the LP's optimum (so it
    is an optimum itself)? The devices' energy paths, and so their own slack, are unchanged."""
    lower, upper = bounds
    lp_net = x[model.net[0]]
    if slack is None:
        lp_cost = float(h * prices @ lp_net)
        folded = float(h * prices @ net)
        within = bool((net >= lower - 1e-9).all())
        return within and folded <= lp_cost + 1e-9 * max(1.0, abs(lp_cost))
    lp_net = lp_net + x[slack.over] - x[slack.under]
    lp_cost = net_objective(lp_net, prices, lower, upper, h)
    folded = net_objective(net, prices, lower, upper, h)
    return folded <= lp_cost + 1e-9 * max(1.0, abs(lp_cost))


def _result(
    building: Building,
    prices: Array,
    net: Array,
    powers: list[Array],
    h: float,
    *,
    exclusive: bool = False,
    slack: Slack | None = None,
    x: Array | None = None,
) -> Plan:
    devices = {
        device.id: power + 0.0 for device, power in zip(building.devices, powers, strict=True)
    }
    shortfall, penalty = {}, 0.0
    if slack is not None and x is not None:
        shortfall, penalty = slack.shortfalls(x, h), slack.penalty(x, h)
    cost = float(h * prices @ net)
    return Plan(
        "optimal", cost, net, devices, exclusive=exclusive, shortfall=shortfall, penalty=penalty
    )


def _infeasible(
    building: Building,
    n: int,
    h: float,
    lower: Array,
    upper: Array,
    *,
    exclusive: bool,
    diagnose: bool = True,
) -> Plan:
    devices: tuple[str, ...] = ()
    step = None
    if diagnose:
        devices, step = name_infeasible(building, n, h, lower, upper, exclusive=exclusive)
    return Plan(
        "infeasible",
        float("nan"),
        np.full(n, np.nan),
        {},
        devices,
        step,
        exclusive,
        penalty=math.nan,
    )
