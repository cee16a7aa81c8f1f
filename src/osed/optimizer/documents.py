"""One entry for a balancing request as a JSON document: pymfm's format, OSED's balancing
document or OSED's fleet document.

:func:`solve_document` checks the document, runs the mode it asks for (optimisation, rule-based
scheduling, near-real-time rule; fleet scheduling under feeder caps) and returns the result
document in the same format, with the objective value and the solve status included.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from osed.domain.errors import Problem, ValidationError
from osed.optimizer.formats import fleet, pymfm
from osed.optimizer.formats import native as osed_format
from osed.optimizer.optimize import optimize
from osed.optimizer.rules import schedule_by_rules


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
) -> dict[str, Any]:
    """The result document of a request. ``native`` (pymfm inputs only) drops pymfm's
    operating rules and efficiency convention and reports the gain over the compatible
    schedule. Raises :class:`ValidationError` for a malformed document."""
    chosen = format or detect_format(document)
    if chosen is Format.PYMFM:
        return _pymfm(document, native=native, time_limit_s=time_limit_s)
    if chosen is Format.FLEET:
        return fleet.solve(fleet.parse(document), time_limit_s=time_limit_s)
    return _osed(document, time_limit_s=time_limit_s)


def _pymfm(document: object, *, native: bool, time_limit_s: float | None) -> dict[str, Any]:
    data = pymfm.parse(document)
    if data.operation_mode is pymfm.OperationMode.NEAR_REAL_TIME:
        return pymfm.near_real_time(data, native=native)
    problem = pymfm.to_problem(data, native=native)
    if data.control_logic is pymfm.ControlLogic.RULE_BASED:
        return pymfm.schedule_output(data, problem, schedule_by_rules(problem))
    limit = 60.0 if time_limit_s is None else time_limit_s
    schedule = optimize(problem, time_limit_s=limit)
    result = pymfm.schedule_output(data, problem, schedule)
    if native:
        compatible = optimize(pymfm.to_problem(data), time_limit_s=limit)
        result["compatible_objective_value"] = compatible.objective
        if compatible.objective and schedule.objective is not None:
            gain = (compatible.objective - schedule.objective) / abs(compatible.objective)
            result["improvement_over_compatible"] = gain
    return result


def _osed(document: object, *, time_limit_s: float | None) -> dict[str, Any]:
    data = osed_format.parse(document)
    if data.mode is osed_format.Mode.NEAR_REAL_TIME:
        return osed_format.near_real_time(data)
    problem = osed_format.to_problem(data)
    if data.mode is osed_format.Mode.RULES:
        return osed_format.schedule_output(problem, schedule_by_rules(problem))
    limit = data.time_limit_s if time_limit_s is None else time_limit_s
    schedule = optimize(problem, time_limit_s=limit, mip_gap=data.mip_gap)
    return osed_format.schedule_output(problem, schedule)
