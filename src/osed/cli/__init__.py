"""The ``osed`` command line: one sub-command group per module, each with --help."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from osed import __version__
from osed.cli import bus, grid, ledger, market, optimize, series, serve
from osed.domain.errors import OsedError, ValidationError

EXIT_INVALID = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osed",
        description="OSED: transactive markets, edge DERMS and DSO analytics.",
    )
    parser.add_argument("--version", action="version", version=f"osed {__version__}")
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    market.register(groups)
    ledger.register(groups)
    serve.register(groups)
    bus.register(groups)
    grid.register(groups)
    optimize.register(groups)
    series.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
