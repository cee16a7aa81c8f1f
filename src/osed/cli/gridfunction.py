"""``osed grid-function list | show NAME | run NAME FILE``: the installed grid functions.

``list`` names each function found through the ``osed.grid_functions`` entry points with its
version and description; ``show`` prints one manifest (parameters with units, ranges and
defaults; channel message types); ``run`` runs one function offline on a JSON document (``-``:
standard input) and prints its result as JSON on standard output, nothing else. Exit 0 when it
ran (also when the result is infeasible), 2 for an invalid document (every problem with its
JSON path on standard error) or an unknown function (the installed names on standard error).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from osed.cli._io import read_json
from osed.cli._output import document_text, emit, fields, note, print_json, table
from osed.domain.errors import ConfigurationError, NotFoundError
from osed.gridfunctions.registry import function_names, load_function
from osed.gridfunctions.spec import GridFunction

EXIT_UNKNOWN = 2


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "grid-function",
        help="list, describe and run the installed grid functions offline",
        description="Grid functions are plugins (entry points osed.grid_functions) that an "
        "EDGE DERMS Coordinator runs in its electric area (docs/grid-functions.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="the installed functions with their versions")
    listing.set_defaults(handler=_list)
    show = commands.add_parser("show", help="one function's manifest")
    show.add_argument("name", metavar="NAME", help="the function's name, as listed")
    show.set_defaults(handler=_show)
    run = commands.add_parser(
        "run",
        help="run one function offline on a JSON document; the result as JSON",
        description="Prints the result as JSON on standard output. Exit 0 when the function "
        "ran (an infeasible result included), 2 for an invalid document or unknown NAME.",
    )
    run.add_argument("name", metavar="NAME", help="the function's name, as listed")
    run.add_argument("file", metavar="FILE", help="the document (JSON), or - for standard input")
    run.set_defaults(handler=_run)


def _function(name: str) -> GridFunction | None:
    try:
        return load_function(name)
    except NotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _list(args: argparse.Namespace) -> int:
    """Every function that loads; one that does not is named on standard error (exit 1)."""
    rows: list[dict[str, Any]] = []
    broken = 0
    for name in function_names():
        try:
            manifest = load_function(name).manifest
        except ConfigurationError as exc:
            note(f"error: {exc}")
            broken += 1
            continue
        rows.append(
            {
                "name": manifest.name,
                "version": manifest.version,
                "description": manifest.description,
            }
        )
    emit(rows, _list_text, args)
    return 1 if broken else 0


def _list_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no grid functions installed"
    return table(
        ["name", "version", "description"],
        ([row["name"], row["version"], row["description"]] for row in rows),
    )


def _show(args: argparse.Namespace) -> int:
    function = _function(args.name)
    if function is None:
        return EXIT_UNKNOWN
    emit(function.manifest.to_dict(), _manifest_text, args)
    return 0


def _manifest_text(manifest: dict[str, Any]) -> str:
    head = fields(
        [
            ("name", manifest["name"]),
            ("version", manifest["version"]),
            ("description", manifest["description"]),
        ]
    )
    parameters = table(
        ["parameter", "kind", "unit", "minimum", "maximum", "default", "description"],
        (
            [
                p["name"],
                p["kind"],
                p["unit"],
                p["minimum"],
                p["maximum"],
                "required" if p["required"] else p.get("default"),
                p["description"],
            ]
            for p in manifest["parameters"]
        ),
    )
    messages = document_text(manifest["messages"], "messages")
    return f"{head}\n\n{parameters}\n\n{messages}"


def _run(args: argparse.Namespace) -> int:
    function = _function(args.name)
    if function is None:
        return EXIT_UNKNOWN
    document = read_json(args.file, subject=f"{args.name} document")
    result = function.run(document)
    print_json(result)  # JSON on a terminal too: a result is for programs
    return 0
