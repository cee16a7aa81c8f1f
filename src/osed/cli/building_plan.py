"""``osed building plan FILE``: one MPC run of a building's devices (docs/buildings.md).

The document gives ``steps``, ``step_h``, ``prices`` (per kWh), an optional
``import_limit_kw`` (one number or N) and the ``building`` in the DAC document's schema. The
result, JSON on standard output: ``status``, ``cost`` (h Σ prices·net), ``net_kw`` and each
device's ``power_kw``; an infeasible run names the devices without a schedule, or the first
step up to which the import limit cannot be met. Exit 0 with a schedule, 1 without one, 2
for an invalid document (every problem with its JSON path, on standard error).

:func:`add_commands` adds ``plan`` to the ``building`` group, whichever module creates it.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from osed.buildings.devices_schema import Array
from osed.buildings.mpc import GridRequests, Plan, Planner
from osed.cli._io import read_json
from osed.cli._output import document_text, emit
from osed.cli._plan_document import PlanDocument, read_plan_document

SUBJECT = "building plan document"


def add_commands(commands: Any) -> None:
    """Add ``plan`` to the ``building`` group's sub-parsers."""
    plan: argparse.ArgumentParser = commands.add_parser(
        "plan",
        help="one MPC run: the least-cost schedule of a building's devices; JSON result",
        description="Schedules the devices against the prices under the import limit "
        "(docs/buildings.md). Prints the result as JSON on standard output. Exit 0 with a "
        "schedule, 1 when there is none, 2 for an invalid document.",
    )
    plan.add_argument("file", metavar="FILE", help="the document (JSON), or - for standard input")
    plan.set_defaults(handler=_plan)


def _plan(args: argparse.Namespace) -> int:
    document = read_plan_document(read_json(args.file, subject=SUBJECT))
    result = plan_result(document)
    emit(result, document_text, args)
    return 0 if result["status"] == "optimal" else 1


def plan_result(document: PlanDocument) -> dict[str, Any]:
    """The result document of one run."""
    planner = Planner(document.building, document.steps, document.step_h)
    plan = planner.plan(document.prices, GridRequests(import_limit_kw=document.import_limit_kw))
    if plan.status != "optimal":
        return {"status": plan.status, "infeasible": _reasons(plan)}

    return {
        "status": plan.status,
        "cost": plan.cost,
        "net_kw": _rounded(plan.net_kw),
        "devices": [
            {"id": ident, "power_kw": _rounded(power)} for ident, power in plan.devices.items()
        ],
    }


def _reasons(plan: Plan) -> list[dict[str, Any]]:
    if plan.infeasible == ("building",):
        return [{"step": plan.infeasible_step, "limit": "import_limit_kw"}]
    return [{"device": ident} for ident in plan.infeasible]


def _rounded(values: Array) -> list[float]:
    """kW to 1e-9: solver noise (−0.0, 1e-17) is not part of the answer."""
    rounded: list[float] = (np.round(values, 9) + 0.0).tolist()
    return rounded
