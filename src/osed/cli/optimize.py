"""``osed optimize FILE``: balance a community microgrid; print the result.

The input is pymfm's JSON (its three uses), OSED's balancing document or OSED's fleet document
(household batteries under feeder caps, docs/optimizer-fleet.md); the result comes back
in the same format with ``objective_value``/``objective`` and the solve status. Exit 0 with a
schedule, 1 when there is none (infeasible: the result names the conflicting requirements; or
the time budget ended first), 2 when the input is malformed (every problem with its JSON
path, on standard error) or larger than ``--max-request-mb``.

The time budget covers reading, parsing, model building and solving. HiGHS may overrun its
own limit on a large model (it checks the clock between iterations only), so the command is
stopped outright one second after its budget: exit 1, a message on standard error and
nothing on standard output.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from osed.cli._io import parse_json, read_text
from osed.cli._output import document_text, emit
from osed.codec import json_text
from osed.domain.errors import Problem, ValidationError
from osed.optimizer.budget import HARD_STOP_GRACE_S, MAX_REQUEST_BYTES
from osed.optimizer.documents import DEFAULT_TIME_LIMIT_S, Format, solve_document

SUBJECT = "balancing request"


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
        "--time-limit",
        type=_positive,
        metavar="SECONDS",
        help="time budget for reading, parsing, model building and solving (default: the "
        "document's time_limit_s, else 60)",
    )
    parser.add_argument(
        "--max-request-mb",
        type=_positive,
        default=MAX_REQUEST_BYTES / 2**20,
        metavar="MB",
        help=f"refuse larger files before reading them (default {MAX_REQUEST_BYTES // 2**20})",
    )
    parser.set_defaults(handler=_optimize)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number: {text!r}")
    return value


def _optimize(args: argparse.Namespace) -> int:
    started = time.monotonic()
    text = _read_request(args.file, int(args.max_request_mb * 2**20))
    document = parse_json(text, subject=SUBJECT)
    del text
    limit = args.time_limit or _document_limit(document)
    stop = _stop_after(limit + HARD_STOP_GRACE_S - (time.monotonic() - started), limit)
    try:
        result = solve_document(
            document,
            format=Format(args.format) if args.format else None,
            native=args.native,
            time_limit_s=args.time_limit,
            started=started,
        )
    finally:
        stop.cancel()  # the command may run inside a longer-lived process (tests, scripts)
    emit(result, document_text, args)
    status = result.get("solver_status", result.get("status"))
    if status == "applied":  # rules always give their answer
        return 0
    scheduled = bool(result.get("results")) or "grid" in result or "households" in result
    return 0 if scheduled else 1


def _read_request(source: str, max_bytes: int) -> str:
    """The request's text, refused before it is read when larger than ``max_bytes``."""
    if source == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
        size = len(data)
    else:
        path = Path(source)
        size = path.stat().st_size if path.is_file() else 0
    if size > max_bytes:
        where = "standard input" if source == "-" else source
        raise ValidationError(
            [
                Problem(
                    "$",
                    "too_large",
                    f"{where} has more than {max_bytes} bytes (--max-request-mb "
                    f"{max_bytes / 2**20:g}); a larger request needs a larger limit",
                )
            ],
            subject=SUBJECT,
        )
    if source != "-":
        return read_text(source, subject=SUBJECT)
    return json_text.decode_utf8(data, where="<stdin>", subject=SUBJECT)


def _document_limit(document: object) -> float:
    """The budget a document asks for (parsing checks it again), else the default."""
    value = document.get("time_limit_s") if isinstance(document, dict) else None
    if isinstance(value, int | float) and 0 < value <= 3600:
        return float(value)
    return DEFAULT_TIME_LIMIT_S


def _stop_after(seconds: float, limit: float) -> threading.Timer:
    """End the process ``seconds`` from now if it is still working (a solver that overran)."""

    def stop() -> None:
        sys.stderr.write(f"error: time_limit: the time budget of {limit:g} s ran out\n")
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(max(seconds, 0.0), stop)
    timer.daemon = True
    timer.start()
    return timer
