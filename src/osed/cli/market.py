"""``osed market``: clear an auction, replay an order book, run the market demo."""

from __future__ import annotations

import argparse
from typing import Any


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "market", help="clear auctions, replay order books, run the market demo"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    del commands  # sub-commands are registered as their engines land
