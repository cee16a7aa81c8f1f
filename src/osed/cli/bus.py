"""``osed bus gaps``: the ranges of messages consumers reported lost, read from the position
files where the services saved them (the same files ``osed serve`` and ``osed run`` write)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from osed.bus.reliable import GapReport, read_gap_reports
from osed.cli._output import emit_lines, table
from osed.codec.gap import gap_report_to_json
from osed.domain.errors import NotFoundError
from osed.runtime.container import POSITIONS_FILES, positions_path


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "bus", help="inspect the reliable databus state of the services"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    gaps = commands.add_parser(
        "gaps",
        help="print the gap reports (messages a consumer will never get)",
        description="Oldest first: a table on a terminal; when piped, one JSON object per "
        "line in the shape published on _osed/gaps/<consumer> (docs/bus.md). Reads the "
        "position files of the services in "
        "the state folder, or the file given with --db.",
    )
    gaps.add_argument(
        "--state-dir",
        type=Path,
        default=Path("osed-state"),
        help="the services' state folder, as given to `osed serve`/`osed run` "
        "(default: %(default)s)",
    )
    gaps.add_argument(
        "--service",
        choices=list(POSITIONS_FILES),  # the services that consume from the bus
        action="append",
        help="only this service's consumers (repeatable; default: every service found)",
    )
    gaps.add_argument(
        "--db", type=Path, default=None, help="read this positions file instead of the folder"
    )
    gaps.add_argument("--consumer", default=None, help="only this consumer's reports")
    gaps.add_argument("--source", default=None, help="only the ranges of this source")
    gaps.set_defaults(handler=_gaps)


def _gaps(args: argparse.Namespace) -> int:
    reports: list[GapReport] = []
    for path in _position_files(args):
        reports += read_gap_reports(path, args.consumer)
    # Files interleave by detection; a deferred consumer may save a later gap first.
    reports.sort(key=lambda report: report.detected_at)
    chosen = [
        gap_report_to_json(report)
        for report in reports
        if args.source is None or report.source == args.source
    ]
    emit_lines(chosen, _gaps_text, args)
    return 0


def _gaps_text(reports: list[dict[str, Any]]) -> str:
    if not reports:
        return "no gaps reported"
    headers = list(dict.fromkeys(key for report in reports for key in report))
    return table(headers, ([report.get(key, "") for key in headers] for report in reports))


def _position_files(args: argparse.Namespace) -> list[Path]:
    if args.db is not None:
        return [args.db]  # a missing file is reported by the reader
    services = args.service or list(POSITIONS_FILES)
    found = [
        path
        for path in (positions_path(args.state_dir, service) for service in services)
        if path.is_file()
    ]
    if not found:
        raise NotFoundError(
            f"no positions file of {', '.join(services)} in {args.state_dir} "
            "(give the services' --state-dir, or --db)"
        )
    return found
