"""Optimised schedules: every constraint holds (checked without the solver), objectives do
what they say, and the optimum is never worse than a schedule known to be feasible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.optimizer.check import check_schedule
from osed.optimizer.optimize import optimize
from osed.optimizer.problem import (
    BalancingProblem,
    EfficiencyModel,
    Objective,
    ObjectiveSpec,
    Rules,
)
from osed.optimizer.schedule import Schedule, objective_value
from tests.unit.optimizer.balancer_cases import battery, problem


def test_the_checker_catches_a_broken_schedule() -> None:
    case = problem([10.0, -10.0, 5.0], None, battery())
    schedule = optimize(case)
    assert check_schedule(case, schedule) == []
    soc = schedule.soc_kwh.copy()
    soc[0, 2] += 1.0
    broken = Schedule(**{**_fields(schedule), "soc_kwh": soc})
    assert "b1: SoC recursion broken" in check_schedule(case, broken)


def _fields(schedule: Schedule) -> dict[str, object]:
    return {name: getattr(schedule, name) for name in Schedule.__slots__}


def test_lossy_batteries_that_would_burn_energy_need_the_milp() -> None:
    # A full battery and a surplus that cannot be curtailed: exporting costs interaction, so
    # an LP would charge and discharge at once to waste part of it. The MILP forbids that.
    case = problem([0.0, 0.0], [20.0, 20.0], battery(initial=90.0, high=90.0, eta=0.9))
    schedule = optimize(case)
    assert schedule.method == "milp"
    assert check_schedule(case, schedule) == []
    assert schedule.export_kw == pytest.approx([20.0, 20.0])


def test_lossless_batteries_never_need_binaries() -> None:
    case = problem([10.0, -30.0, 20.0, -5.0], None, battery(), battery("b2", initial=20.0))
    schedule = optimize(case)
    assert schedule.method == "lp"
    assert check_schedule(case, schedule) == []


def test_cost_objective_shifts_energy_to_cheap_hours() -> None:
    prices = np.array([0.10, 0.10, 0.40, 0.40])
    spec = ObjectiveSpec(Objective.COST, import_price=prices, export_price=np.full(4, 0.05))
    case = problem([10.0] * 4, None, battery(initial=10.0, low=0.0, high=40.0), objective=spec)
    schedule = optimize(case)
    assert check_schedule(case, schedule) == []
    assert schedule.import_kw[2:] == pytest.approx([0.0, 0.0], abs=1e-9)
    # 40 kWh needed, 10 kWh stored: 30 kWh bought, all at 0.10.
    assert schedule.objective == pytest.approx(0.10 * 30.0)


def test_export_paid_above_import_price_stays_exclusive() -> None:
    spec = ObjectiveSpec(
        Objective.COST, import_price=np.full(2, 0.10), export_price=np.array([0.30, 0.0])
    )
    case = problem([5.0, 5.0], [0.0, 0.0], battery(initial=50.0, low=0.0), objective=spec)
    schedule = optimize(case)
    assert check_schedule(case, schedule) == []
    assert schedule.method == "milp"


def test_peak_shaving_keeps_import_under_the_limit_when_it_can() -> None:
    load = np.array([10.0, 40.0, 45.0, 10.0])
    spec = ObjectiveSpec(Objective.PEAK_SHAVING, capacity_kw=np.full(4, 30.0))
    case = problem(load, None, battery(initial=40.0, low=10.0, power=20.0), objective=spec)
    schedule = optimize(case)
    assert check_schedule(case, schedule) == []
    assert schedule.import_kw.max() <= 30.0 + 1e-9


def test_a_hard_milp_returns_its_best_schedule_and_gap_within_the_budget() -> None:
    # Thirty lossy batteries that would rather burn surplus than export it.
    rng = np.random.default_rng(1)
    steps = 96
    load = rng.uniform(10, 60, steps)
    pv = np.clip(150 * np.sin(np.linspace(0, np.pi, steps)), 0, None) * rng.uniform(0.7, 1, steps)
    batteries = [
        battery(
            f"b{n}",
            capacity=80,
            power=float(rng.uniform(5, 20)),
            initial=10,
            low=5,
            high=18,
            eta=0.9,
        )
        for n in range(30)
    ]
    case = problem(load, pv, *batteries)
    schedule = optimize(case, time_limit_s=3.0)
    assert schedule.method == "milp"
    assert schedule.status == "time_limit"
    assert schedule.seconds < 6.0
    assert schedule.gap is not None
    assert 0 < schedule.gap < 1
    assert schedule.bound is not None
    assert schedule.objective is not None
    assert schedule.bound <= schedule.objective
    assert check_schedule(case, schedule) == []
    hopeless = optimize(case, time_limit_s=0.05)
    assert hopeless.status == "time_limit"
    assert hopeless.objective is None
    assert "time budget" in hopeless.conflicts[0].message


@st.composite
def feasible_cases(draw: st.DrawFn) -> tuple[BalancingProblem, float]:
    """A random problem built around a random feasible trajectory; returns the problem and
    the objective of that trajectory (the optimum can only be lower)."""
    steps = draw(st.integers(3, 16))
    count = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(list(Objective)))
    eta = draw(st.sampled_from([1.0, 0.92]))
    rng = np.random.default_rng(seed)
    load = rng.uniform(0, 40, steps)
    pv = rng.uniform(0, 60, steps) * (rng.random(steps) < 0.5)
    batteries, charge, discharge = [], np.zeros((count, steps)), np.zeros((count, steps))
    for n in range(count):
        capacity = float(rng.uniform(20, 200))
        power = float(rng.uniform(5, 50))
        soc = float(rng.uniform(0.2, 0.8)) * capacity
        initial = soc
        for k in range(steps):  # a random walk that stays inside the window
            u = float(rng.uniform(-power, power))
            if u >= 0:
                u = min(u, (0.9 * capacity - soc) / eta)
                soc += eta * u
                charge[n, k] = u
            else:
                u = -min(-u, (soc - 0.1 * capacity) * eta)
                soc += u / eta
                discharge[n, k] = -u
        with_target = bool(rng.random() < 0.5)
        batteries.append(
            battery(
                f"b{n}",
                capacity=capacity,
                power=power,
                initial=initial,
                final=soc if with_target else None,
                low=0.1 * capacity,
                high=0.9 * capacity,
                eta=eta,
            )
        )
    net = load - pv + charge.sum(axis=0) - discharge.sum(axis=0)
    margin = rng.uniform(0, 10, steps)
    spec = ObjectiveSpec(
        kind,
        import_price=rng.uniform(0.1, 0.4, steps),
        export_price=rng.uniform(0.0, 0.1, steps),
        capacity_kw=rng.uniform(5, 40, steps),
    )
    case = problem(
        load,
        pv,
        *batteries,
        objective=spec,
        net_upper_kw=net + margin,
        net_lower_kw=net - margin,
        household_full_at_day_end=False,
    )
    known = objective_value(case, np.maximum(net, 0.0), np.maximum(-net, 0.0))
    return case, known


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feasible_cases())
def test_random_feasible_problems_are_solved_and_verified(
    case_and_known: tuple[BalancingProblem, float],
) -> None:
    case, known = case_and_known
    schedule = optimize(case, time_limit_s=20)
    assert schedule.status == "optimal", schedule.conflicts
    assert check_schedule(case, schedule) == []
    assert schedule.objective is not None
    assert schedule.objective <= known + 1e-6 * (1 + abs(known)) + (schedule.gap or 0) * abs(known)


def test_pymfm_rules_and_efficiency_hold_in_a_lossy_case() -> None:
    case = problem(
        [10.0, 10.0, 5.0, 5.0],
        [40.0, 30.0, 0.0, 0.0],
        battery(initial=20.0, final=40.0, eta=0.9),
        rules=Rules.PYMFM,
        efficiency=EfficiencyModel.PYMFM,
    )
    schedule = optimize(case)
    assert schedule.status == "optimal"
    assert check_schedule(case, schedule) == []
