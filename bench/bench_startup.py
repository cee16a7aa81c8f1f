"""Start-up benchmark: how long a user waits for ``osed --help`` and for a power flow on the
CIGRE MV network (15 buses), end to end as separate processes, against ``python -c pass``.

Prints one JSON object: the median of ``--repeat`` runs of each command, in seconds, and each
command's ratio to the interpreter's own start (the floor no command can go below).

    .venv/bin/python bench/bench_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CIGRE_MV = Path(__file__).parents[1] / "examples" / "grid" / "cigre-mv.json"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "osed --help": [sys.executable, "-m", "osed.cli", "--help"],
    "osed grid powerflow (CIGRE MV)": [
        sys.executable,
        "-m",
        "osed.cli",
        "grid",
        "powerflow",
        "--network",
        str(CIGRE_MV),
    ],
}


def median_seconds(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache and the bytecode
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = {name: median_seconds(command, args.repeat) for name, command in COMMANDS.items()}
    floor = seconds["python -c pass"]
    print(
        json.dumps(
            {
                "python": platform.python_version(),
                "repeat": args.repeat,
                "median_s": {name: round(value, 3) for name, value in seconds.items()},
                "ratio_to_python": {
                    name: round(value / floor, 1) for name, value in seconds.items()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
