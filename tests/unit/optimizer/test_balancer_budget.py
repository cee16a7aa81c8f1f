"""The time budget of a balancing request runs from its start through parsing, model building
and solving: a request whose budget is spent gets ``time_limit``, never a late answer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from osed.optimizer.budget import MIN_SOLVER_S, Deadline
from osed.optimizer.documents import solve_document
from osed.optimizer.formats import native as osed_format
from osed.optimizer.optimize import optimize
from tests.unit.optimizer.balancer_cases import osed_document

CASES = Path(__file__).parents[2] / "data" / "optimizer" / "pymfm"
PYMFM = json.loads((CASES / "input_scheduling_optimization_based.json").read_text())


def test_a_deadline_counts_down_from_its_start() -> None:
    deadline = Deadline(10.0, started=time.monotonic() - 4.0)
    assert deadline.left() == pytest.approx(6.0, abs=0.5)
    assert not deadline.expired()
    spent = Deadline(1.0, started=time.monotonic() - 2.0)
    assert spent.left() == 0.0
    assert spent.expired()
    assert spent.solver_s() == MIN_SOLVER_S


def test_a_problem_whose_budget_is_spent_is_not_solved() -> None:
    problem = osed_format.to_problem(osed_format.parse(osed_document()))
    spent = Deadline(2.0, started=time.monotonic() - 3.0)
    schedule = optimize(problem, deadline=spent)
    assert schedule.status == "time_limit"
    assert [c.requirement for c in schedule.conflicts] == ["time_limit"]
    assert "2 s" in schedule.conflicts[0].message
    assert optimize(problem, time_limit_s=30).status == "optimal"


def test_the_budget_of_a_document_counts_from_the_start_of_the_request() -> None:
    document = osed_document(time_limit_s=5)
    # Five seconds already went into reading the request: nothing is left to solve it.
    late = solve_document(document, started=time.monotonic() - 5.0)
    assert late["status"] == "time_limit"
    assert "grid" not in late
    assert late["conflicts"][0]["requirement"] == "time_limit"
    on_time = solve_document(document, started=time.monotonic())
    assert on_time["status"] == "optimal"


def test_a_pymfm_request_past_its_budget_says_time_limit() -> None:
    late = solve_document(PYMFM, time_limit_s=1.0, started=time.monotonic() - 1.5)
    assert late["solver_status"] == "time_limit"
    assert late["results"] == []
