"""``osed ledger``: verify and inspect a ledger."""

from __future__ import annotations

import argparse
from typing import Any


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("ledger", help="verify and inspect ledgers")
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    del commands
