"""Problems without a schedule get a report naming the conflicting requirements."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from osed.domain.errors import ValidationError
from osed.optimizer.optimize import optimize
from osed.optimizer.problem import Bulk, Rules
from tests.unit.optimizer.balancer_cases import START, battery, problem


def test_a_final_soc_no_surplus_can_reach_is_named() -> None:
    # pymfm's rules: batteries charge only from surplus, and there is none.
    case = problem([20.0] * 6, None, battery(initial=20.0, final=80.0), rules=Rules.PYMFM)
    schedule = optimize(case)
    assert schedule.status == "infeasible"
    assert [c.requirement for c in schedule.conflicts] == ["final_soc"]
    conflict = schedule.conflicts[0]
    assert conflict.subject == "b1"
    assert conflict.missed_by == pytest.approx(60.0)
    assert "only from surplus" in conflict.message
    assert "0 kWh" in conflict.message


def test_the_same_target_is_reachable_by_importing_in_native_mode() -> None:
    case = problem([20.0] * 6, None, battery(initial=20.0, final=80.0))
    schedule = optimize(case)
    assert schedule.status == "optimal"
    assert schedule.soc_kwh[0, -1] == pytest.approx(80.0)


def test_islanding_beyond_the_storage_names_the_bounds_and_the_target() -> None:
    zero = np.zeros(4)
    case = problem(
        [30.0, 30.0, 30.0, 30.0],
        None,
        battery(initial=50.0, final=50.0, power=100.0),
        net_upper_kw=zero,
        net_lower_kw=zero,
    )
    schedule = optimize(case)
    assert schedule.status == "infeasible"
    kinds = {c.requirement for c in schedule.conflicts}
    assert kinds <= {"net_upper", "final_soc"}
    assert kinds
    missed = sum(c.missed_by or 0.0 for c in schedule.conflicts)
    assert missed == pytest.approx(120.0)  # 4 h × 30 kW the battery must not give


def test_a_bulk_larger_than_the_batteries_is_named() -> None:
    bulk = Bulk(START, START + timedelta(hours=2), -500.0)
    case = problem([0.0] * 4, None, battery(), bulk=bulk)
    schedule = optimize(case)
    assert schedule.status == "infeasible"
    assert [c.requirement for c in schedule.conflicts] == ["bulk"]
    assert "deliver 500 kWh" in schedule.conflicts[0].message


def test_inconsistent_input_is_rejected_before_solving() -> None:
    bad = problem(
        [1.0, float("nan")],
        [1.0, 2.0, 3.0],
        battery(initial=95.0, eta=1.5),
        battery(),
    )
    with pytest.raises(ValidationError) as caught:
        optimize(bad)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.load_kw[1]",
        "$.pv_kw",
        "$.batteries[0].charge_efficiency",
        "$.batteries[0].discharge_efficiency",
        "$.batteries[0].soc_initial_kwh",
        "$.batteries[1].id",
    }
