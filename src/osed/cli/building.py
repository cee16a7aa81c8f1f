"""``osed building …``: a building agent's engines offline, on JSON documents."""

from __future__ import annotations

import argparse
from typing import Any

from osed.cli import building_plan


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "building",
        help="a building's engines offline: plan its devices (MPC)",
        description="A building agent's engines run offline on JSON documents (docs/buildings.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    building_plan.add_commands(commands)
