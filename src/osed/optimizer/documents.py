"""One entry for a balancing request as a JSON document: pymfm's format, OSED's balancing
document or OSED's fleet document.

:func:`solve_document` checks the document, runs the mode it asks for (optimisation, rule-based
scheduling, near-real-time rule; fleet scheduling under feeder caps) and returns the result
document in the same format, with the objective value and the solve status included. The
time budget runs from ``started`` (when the request arrived) and covers parsing, model
building and solving; a request whose budget ends first gets the status ``time_limit``.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from osed.domain.errors import Problem, ValidationError
from osed.optimizer.budget import Deadline
from osed.optimizer.formats import fleet, pymfm
from osed.optimizer.formats import native as osed_format
from osed.optimizer.optimize import optimize
from osed.optimizer.rules import schedule_by_rules

DEFAULT_TIME_LIMIT_S = 60.0


class Format(StrEnum):
    PYMFM = "pymfm"
    OSED = "osed"
    FLEET = "fleet"


def detect_format(document: object) -> Format:
    if pymfm.is_pymfm(document):
        return Format.PYMFM
    if fleet.is_fleet(document):
        return Format.FLEET
    if isinstance(document, dict):
        return Format.OSED
    raise ValidationError([Problem("$", "not_object", "expected a JSON object")], subject="input")


def solve_document(
    document: object,
    *,
    format: Format | None = None,
    native: bool = False,
    time_limit_s: float | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """The result document of a request. ``native`` (pymfm inputs only) drops pymfm's
    operating rules and efficiency convention and reports the gain over the compatible
    schedule. ``time_limit_s`` (default: the document's, else 60 s) counts from ``started``
    (``time.monotonic()``, default now). Raises :class:`ValidationError` for a malformed
    document."""
    started = time.monotonic() if started is None else started
    chosen = format or detect_format(document)
    if chosen is Format.PYMFM:
        limit = DEFAULT_TIME_LIMIT_S if time_limit_s is None else time_limit_s
        return _pymfm(document, native=native, deadline=Deadline(limit, started))
    if chosen is Format.FLEET:
        data = fleet.parse(document)
        limit = data.time_limit_s if time_limit_s is None else time_limit_s
        return fleet.solve(data, time_limit_s=Deadline(limit, started).solver_s())
    return _osed(document, time_limit_s=time_limit_s, started=started)


def _pymfm(document: object, *, native: bool, deadline: Deadline) -> dict[str, Any]:
    data = pymfm.parse(document)
    if data.operation_mode is pymfm.OperationMode.NEAR_REAL_TIME:
        return pymfm.near_real_time(data, native=native)
    problem = pymfm.to_problem(data, native=native)
    if data.control_logic is pymfm.ControlLogic.RULE_BASED:
        return pymfm.schedule_output(data, problem, schedule_by_rules(problem))
    schedule = optimize(problem, deadline=deadline)
    result = pymfm.schedule_output(data, problem, schedule)
    if native:
        compatible = optimize(pymfm.to_problem(data), deadline=deadline)
        result["compatible_objective_value"] = compatible.objective
        if compatible.objective and schedule.objective is not None:
            gain = (compatible.objective - schedule.objective) / abs(compatible.objective)
            result["improvement_over_compatible"] = gain
    return result


def _osed(document: object, *, time_limit_s: float | None, started: float) -> dict[str, Any]:
    data = osed_format.parse(document)
    if data.mode is osed_format.Mode.NEAR_REAL_TIME:
        return osed_format.near_real_time(data)
    deadline = Deadline(data.time_limit_s if time_limit_s is None else time_limit_s, started)
    problem = osed_format.to_problem(data)
    if data.mode is osed_format.Mode.RULES:
        return osed_format.schedule_output(problem, schedule_by_rules(problem))
    schedule = optimize(problem, mip_gap=data.mip_gap, deadline=deadline)
    return osed_format.schedule_output(problem, schedule)
