"""Rule-based control: the battery takes what it can of the difference, within its limits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.optimizer.check import check_schedule
from osed.optimizer.problem import EfficiencyModel
from osed.optimizer.rules import RuleStep, rule_step, schedule_by_rules
from tests.unit.optimizer.balancer_cases import battery, problem


def step(net: float, energy: float = 50.0, request: float = 0.0, eta: float = 1.0) -> RuleStep:
    return rule_step(
        battery(power=20.0, eta=eta),
        energy_kwh=energy,
        net_kw=net,
        request_kw=request,
        step_h=1.0,
        efficiency=EfficiencyModel.TEXTBOOK,
    )


def test_a_surplus_is_charged_up_to_the_power_limit() -> None:
    result = step(-30.0)
    assert result.battery_kw == pytest.approx(20.0)
    assert result.deviation_kw == pytest.approx(-10.0)  # 10 kW still exported
    assert result.energy_kwh == pytest.approx(70.0)


def test_a_deficit_is_covered_down_to_the_minimum_soc() -> None:
    result = step(15.0, energy=15.0)  # 5 kWh above the 10 kWh minimum
    assert result.battery_kw == pytest.approx(-5.0)
    assert result.deviation_kw == pytest.approx(10.0)
    assert result.energy_kwh == pytest.approx(10.0)


def test_losses_follow_the_textbook_model() -> None:
    charged = step(-10.0, eta=0.9)
    assert charged.energy_kwh == pytest.approx(50.0 + 0.9 * 10.0)
    discharged = step(9.0, eta=0.9)
    assert discharged.energy_kwh == pytest.approx(50.0 - 9.0 / 0.9)


def test_a_request_moves_the_target() -> None:
    # Measured −25.7 kW, request +20 kW: the battery should take 45.7 kW, can take 20.
    result = step(-25.7, request=20.0)
    assert result.battery_kw == pytest.approx(20.0)
    assert result.deviation_kw == pytest.approx(-25.7)  # net after −5.7 kW, 25.7 below request


@given(
    st.lists(st.floats(-80, 80), min_size=1, max_size=48),
    st.floats(10, 90),
    st.sampled_from([1.0, 0.95, 0.8]),
)
def test_rules_keep_every_limit(net: list[float], initial: float, eta: float) -> None:
    load = np.maximum(np.array(net), 0.0)
    pv = np.maximum(-np.array(net), 0.0)
    case = problem(load, pv, battery(initial=initial, eta=eta, power=30.0))
    schedule = schedule_by_rules(case)
    assert check_schedule(case, schedule) == []
    # The battery only ever reduces the net power's magnitude.
    assert np.all(np.abs(schedule.net_kw) <= np.abs(case.net_before_kw) + 1e-9)
