"""The ``osed`` command line: one sub-command group per module, each with --help.

A group's module (and the engines it needs) is imported only when that group runs, so
``osed --help`` and every command start without loading what they do not use. The table
below names each top-level command, the module that registers it and its one-line help.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from osed import __version__
from osed.cli._output import add_json_flag
from osed.domain.errors import OsedError, ValidationError

EXIT_INVALID = 2
EXIT_FAILED = 1

# command: (module under osed.cli that registers it, help shown by `osed --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "demo",
        "the whole platform on a feeder for a day: report with plots, data, KPIs",
    ),
    "market": (
        "market",
        "clear auctions, replay order books, run the market demo, talk to a Market Agent",
    ),
    "ledger": ("ledger", "verify and inspect ledgers"),
    "serve": ("serve", "run every configured service in one process until SIGINT or SIGTERM"),
    "run": ("serve", "run one service alone (with its bus connection), for separate deployment"),
    "config": ("serve", "inspect settings"),
    "bus": ("bus", "inspect the reliable databus state of the services"),
    "grid": ("grid", "network models, power flow and state estimation"),
    "series": (
        "series",
        "list and query the stored time series (measurements, statistics, states)",
    ),
    "optimize": (
        "optimize",
        "schedule batteries and PV of a community microgrid, or a household fleet",
    ),
    "grid-function": (
        "gridfunction",
        "list, describe and run the installed grid functions offline",
    ),
    "building": (
        "building",
        "a building's engines offline: plan its devices, fit its thermal model",
    ),
    "token": ("token", "issue access tokens from OSED's local issuer, rotate its signing key"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (every module when it is "*")."""
    parser = argparse.ArgumentParser(
        prog="osed",
        description="OSED: transactive markets, edge DERMS and DSO analytics. Every command "
        "prints a readable summary on a terminal and JSON when piped or given --json.",
    )
    parser.add_argument("--version", action="version", version=f"osed {__version__}")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    chosen = {module for name, (module, _) in COMMANDS.items() if command in (name, "*")}
    loaded: set[str] = set()
    for name, (module, help_text) in COMMANDS.items():
        if module not in chosen:
            groups.add_parser(name, help=help_text, add_help=False)  # never parsed
        elif module not in loaded:  # the module registers all of its commands
            importlib.import_module(f"osed.cli.{module}").register(groups)
            loaded.add(module)
    add_json_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in arguments if not word.startswith("-")), None)
    args = build_parser(command).parse_args(arguments)
    try:
        code: int = args.handler(args)
    except ValidationError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except OsedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return code


if __name__ == "__main__":
    raise SystemExit(main())
