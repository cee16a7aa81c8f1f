"""Rule-based control of one battery: near real time (a request and a measured net power) and
scheduling (the same rule applied step by step to a forecast).

The rule: the battery takes the difference between the net power and the request (charging
a surplus, covering a deficit), within its power limits and its SoC window; what it cannot
take stays as a deviation from the request. Under :attr:`EfficiencyModel.PYMFM` the
arithmetic is pymfm's (stored energy rises by c·Δt/η_ch, falls by η_dis·d·Δt, and the power
reported is scaled by the efficiency), so its results are reproduced; under
:attr:`EfficiencyModel.TEXTBOOK` the battery is the physical one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osed.domain.errors import Problem, ValidationError
from osed.optimizer.problem import BalancingProblem, Battery, EfficiencyModel
from osed.optimizer.schedule import Schedule, objective_value
from osed.optimizer.validate import check_problem


@dataclass(frozen=True, slots=True)
class RuleStep:
    """One application of the rule."""

    battery_kw: float
    """Positive when charging."""
    energy_kwh: float
    """Stored energy after the step."""
    deviation_kw: float
    """Net power minus the request after control: what the battery could not take."""


def rule_step(
    battery: Battery,
    *,
    energy_kwh: float,
    net_kw: float,
    request_kw: float,
    step_h: float,
    efficiency: EfficiencyModel,
) -> RuleStep:
    """Bring the net power ``net_kw`` to ``request_kw`` with the battery for ``step_h``."""
    wanted = request_kw - net_kw  # battery power that would meet the request, charging +
    if efficiency is EfficiencyModel.PYMFM:
        return _pymfm_step(battery, energy_kwh, wanted, step_h)
    return _textbook_step(battery, energy_kwh, wanted, step_h)


def _textbook_step(battery: Battery, energy: float, wanted: float, dt: float) -> RuleStep:
    if wanted >= 0:
        room = max(battery.soc_max_kwh - energy, 0.0) / (battery.charge_efficiency * dt)
        power = min(wanted, battery.charge_max_kw, room)
        energy += battery.charge_efficiency * power * dt
    else:
        room = max(energy - battery.soc_min_kwh, 0.0) * battery.discharge_efficiency / dt
        power = -min(-wanted, battery.discharge_max_kw, room)
        energy += power * dt / battery.discharge_efficiency
    return RuleStep(power, energy, power - wanted)


def _pymfm_step(battery: Battery, energy: float, wanted: float, dt: float) -> RuleStep:
    """pymfm's arithmetic, step for step: the deficit to cover is d = −wanted."""
    unserved = 0.0  # deficit the battery leaves (import) or surplus it leaves (export)
    if wanted < 0:  # discharge
        demand = -wanted
        new_energy = energy - battery.discharge_efficiency * demand * dt
        power = demand / battery.discharge_efficiency
        asked = power
        if power >= battery.discharge_max_kw:
            unserved = power - battery.discharge_max_kw
            power = battery.discharge_max_kw
            new_energy = energy - battery.discharge_efficiency * battery.discharge_max_kw * dt
        if new_energy < battery.soc_min_kwh:
            unserved += (battery.soc_min_kwh - new_energy) / dt
            power = asked - unserved
            new_energy = battery.soc_min_kwh
        return RuleStep(-power, new_energy, unserved)
    surplus = wanted
    new_energy = energy + surplus * dt / battery.charge_efficiency
    power = surplus * battery.charge_efficiency
    asked = power
    if power > battery.charge_max_kw:
        unserved = power - battery.charge_max_kw
        power = battery.charge_max_kw
        new_energy = energy + battery.charge_max_kw * dt / battery.charge_efficiency
    if new_energy > battery.soc_max_kwh:
        unserved += (new_energy - battery.soc_max_kwh) / dt
        power = asked - unserved
        new_energy = battery.soc_max_kwh
    return RuleStep(power, new_energy, -unserved)


def schedule_by_rules(problem: BalancingProblem) -> Schedule:
    """Apply the rule to each step of the forecast with the problem's only battery."""
    check_problem(problem)
    if len(problem.batteries) != 1:
        raise ValidationError(
            [Problem("$.batteries", "one_battery", "rule-based control takes exactly one battery")],
            subject="balancing problem",
        )
    battery = problem.batteries[0]
    steps = problem.steps
    power = np.zeros(steps)
    deviation = np.zeros(steps)
    soc = np.zeros(steps + 1)
    soc[0] = energy = battery.soc_initial_kwh
    for k, net in enumerate(problem.net_before_kw):
        step = rule_step(
            battery,
            energy_kwh=energy,
            net_kw=float(net),
            request_kw=0.0,
            step_h=problem.step_h,
            efficiency=problem.efficiency,
        )
        power[k], deviation[k], energy = step.battery_kw, step.deviation_kw, step.energy_kwh
        soc[k + 1] = energy
    imports = np.maximum(deviation, 0.0)
    exports = np.maximum(-deviation, 0.0)
    return Schedule(
        status="applied",
        method="rules",
        pv_kw=problem.pv_kw.copy(),
        import_kw=imports,
        export_kw=exports,
        charge_kw=np.maximum(power, 0.0)[None, :],
        discharge_kw=np.maximum(-power, 0.0)[None, :],
        soc_kwh=soc[None, :],
        objective=objective_value(problem, imports, exports),
    )
