"""``osed building …``: a building's engines offline (learning from its history)."""

from __future__ import annotations

import argparse
from typing import Any

from osed.cli import building_learn


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "building",
        help="a building's models offline: fit its thermal model",
        description="A building agent's engines run offline on JSON documents "
        "(docs/buildings-learning.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    building_learn.add_commands(commands)
