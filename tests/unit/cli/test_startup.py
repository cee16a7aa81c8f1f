"""The command line starts without the heavy libraries, and every command has --json."""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

import pytest

from osed.cli import COMMANDS, build_parser
from osed.cli._output import to_json
from osed.domain.errors import OsedError

HEAVY = ("numpy", "scipy", "pydantic", "power_grid_model", "highspy", "fastapi", "networkx")


def test_importing_the_cli_and_building_its_help_loads_no_heavy_library() -> None:
    probe = (
        "import json, sys\n"
        "from osed.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []


def test_a_command_loads_only_its_own_group() -> None:
    probe = (
        "import json, sys\n"
        "from osed.cli import build_parser\n"
        "build_parser('ledger').parse_args(['ledger', 'head', 'x'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('osed.cli.'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert "osed.cli.ledger" in loaded
    assert not loaded & {"osed.cli.grid", "osed.cli.market", "osed.cli.optimize", "osed.cli.serve"}


def test_the_help_table_says_what_each_module_registers() -> None:
    """`osed --help` without the modules reads the same as with all of them loaded."""
    assert build_parser().format_help() == build_parser("*").format_help()
    loaded = _subparsers(build_parser("*"))
    assert list(loaded.choices) == list(COMMANDS)


def test_every_command_takes_json() -> None:
    leaves = list(_leaves(build_parser("*"), "osed"))
    assert len(leaves) >= 15
    for name, parser in leaves:
        assert "--json" in parser._option_string_actions, name


def test_json_output_never_holds_nan_or_infinity() -> None:
    assert to_json({"a": 1.5, "b": [None, 2]}) == '{"a":1.5,"b":[null,2]}'
    for value, where in (
        ({"a": math.nan}, r"\$\.a"),
        ({"b": [1.0, math.inf]}, r"\$\.b\[1\]"),
        ({"c": {"d": (-math.inf,)}}, r"\$\.c\.d\[0\]"),
    ):
        with pytest.raises(OsedError, match=rf"non-finite number at {where}"):
            to_json(value)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _leaves(parser: argparse.ArgumentParser, name: str):  # type: ignore[no-untyped-def]
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield name, parser
    for action in actions:
        for child_name, child in action.choices.items():
            yield from _leaves(child, f"{name} {child_name}")
