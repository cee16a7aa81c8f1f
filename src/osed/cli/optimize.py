"""``osed optimize FILE``: balance a community microgrid; print the result.

The input is pymfm's JSON (its three uses), OSED's balancing document or OSED's fleet document
(household batteries under feeder caps, docs/optimizer-fleet.md); the result comes back
in the same format with ``objective_value``/``objective`` and the solve status. Exit 0 with a
schedule, 1 when there is none (infeasible: the result names the conflicting requirements; or
the time budget ended first), 2 when the input is malformed (every problem with its JSON
path, on standard error).
"""

from __future__ import annotations

import argparse
from typing import Any

from osed.cli._io import read_json
from osed.cli._output import document_text, emit
from osed.optimizer.documents import Format, solve_document


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "optimize",
        help="schedule batteries and PV of a community microgrid, or a household fleet",
        description="Optimisation-based or rule-based balancing of a community microgrid "
        "(docs/optimizer.md). FILE is a JSON document, or - for standard input.",
    )
    parser.add_argument(
        "file", metavar="FILE", help="the request: pymfm, OSED or OSED fleet JSON, or -"
    )
    parser.add_argument(
        "--format",
        choices=[f.value for f in Format],
        help="the input format (default: recognised from the document's keys)",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="pymfm inputs: drop pymfm's operating rules and efficiency convention and "
        "report the gain over the compatible schedule",
    )
    parser.add_argument(
        "--time-limit", type=float, metavar="SECONDS", help="solver time budget (default 60)"
    )
    parser.set_defaults(handler=_optimize)


def _optimize(args: argparse.Namespace) -> int:
    document = read_json(args.file, subject="balancing request")
    result = solve_document(
        document,
        format=Format(args.format) if args.format else None,
        native=args.native,
        time_limit_s=args.time_limit,
    )
    emit(result, document_text, args)
    status = result.get("solver_status", result.get("status"))
    if status == "applied":  # rules always give their answer
        return 0
    scheduled = bool(result.get("results")) or "grid" in result or "households" in result
    return 0 if scheduled else 1
