"""Market demo benchmark: ``osed market demo`` timed end to end as a user runs it.

Each repeat runs the command in a fresh process and a fresh folder (imports, the day-ahead
and real-time rounds, the ledger verify): wall time, CPU time of the process (user + system,
which other jobs on a shared machine do not inflate as much as the wall time) and tenders
per second of wall time. Prints one JSON object with min and median of each figure; the
demo's own summary (tenders, transactions) comes from the last run.

Figures (2 shared vCPUs, other jobs running at a load average of 4, default demo: 301 agents,
96 intervals, 82,720 tenders; --repeat 3, min / median): before group commit, wall
45.4 / 58.7 s, CPU 36.4 / 37.5 s, 1,410 tenders/s (median); after, wall 23.8 / 27.0 s,
CPU 20.4 / 20.7 s, 3,064 tenders/s (median). Second pass (fewer collector passes, cheaper
instants, trace rows and tenders, open tenders by instrument, the day's needs built once),
alternated with the first pass's sources at a load average of 5.5-6: first pass wall
39.2 / 41.5 s, CPU 20.9 / 21.7 s; second pass wall 21.0 / 24.3 s, CPU 12.1 / 13.9 s,
3,400 tenders/s (median), same results. Third pass (positions in memory, no reply encoding
without snapshots, the ledger verified by a process beside the demo as it grows), alternated
with the second pass at a load average of 2.2-3.1: second pass wall 12.0 / 15.5 s, CPU
10.7 / 11.4 s; third pass wall 11.0 / 17.1 s, CPU 10.8 / 11.5 s (both processes: the demo's
own CPU time fell by 2.4 / 1.8 s, min / median, of it the 1.4 s the verify moved out), same
results. Fourth pass (no collector pass during the demo, its state freed when it ends; a
clearing's outcome committed with its entries), alternated with the third at a load average
of 3.0-3.8: CPU of the demo process itself 9.30 / 10.94 s before, 7.58 / 8.86 s after (its
verifier 1.45 / 1.61 s), wall 14.9 / 21.7 s before, 14.5 / 18.1 s after, same results. See
docs/market-agent.md.

Each run reports the CPU time of the demo process apart from that of the processes it waited
for (the verifier beside it), and ``--src DIR`` runs a copy of our sources, so that editing the
working tree cannot change a comparison under way.

A user's installation holds compiled bytecode (pip compiles what it installs), so every version
timed here is compiled before its first run and its runs may keep bytecode, even where the
environment sets ``PYTHONDONTWRITEBYTECODE``: otherwise each run would compile OSED anew.

With ``--baseline-src DIR`` (the ``src`` folder of another OSED version, e.g. unpacked from
``git archive``) each repeat runs that version first, then ours; the JSON then also holds the
baseline's figures, whether both gave the same demo results, and the speed-up of the medians.

    .venv/bin/python bench/bench_market_demo.py [--repeat 3] [--baseline-src DIR] [--src DIR]
        [-- DEMO OPTIONS]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _repeat import min_median

# Runs ``osed`` in the interpreter of this venv and, when it exits, reports to standard error
# the CPU time of the processes it waited for (the ledger's verifier), so that the demo
# process's own CPU time is the rest.
_LAUNCH = """
import atexit, resource, sys
from osed.cli import main
def _children():
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{MARK} {used.ru_utime + used.ru_stime}", file=sys.stderr)
atexit.register(_children)
sys.exit(main())
"""
MARK = "bench-children-cpu-s"


def _environment(source: Path | None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if source is not None:
        environment["PYTHONPATH"] = str(source)
    return environment


def compile_sources(source: Path | None) -> None:
    """Compile the OSED package that runs with ``source`` as a user's install would be."""
    find = "import osed, pathlib; print(pathlib.Path(osed.__file__).parent)"
    environment = _environment(source)
    package = subprocess.run(
        [sys.executable, "-c", find], capture_output=True, text=True, check=True, env=environment
    ).stdout.strip()
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", package],
        check=True,
        env=environment,
        stdout=subprocess.DEVNULL,
    )


def run_once(extra: list[str], source: Path | None = None) -> dict[str, object]:
    """One demo run: of the installed OSED, or of the OSED sources under ``source``."""
    command = [sys.executable, "-c", _LAUNCH.replace("{MARK}", MARK)]
    environment = _environment(source)
    with tempfile.TemporaryDirectory() as folder:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(
            [*command, "market", "demo", "--dir", folder, "--json", *extra],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        )
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    verifier = next(
        float(line.split()[1]) for line in done.stderr.splitlines() if line.startswith(MARK)
    )
    tenders = summary["day_ahead"]["tenders"] + summary["real_time"]["tenders"]
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "demo_cpu_s": cpu - verifier,
        "verifier_cpu_s": verifier,
        "tenders": tenders,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="the src folder of another OSED version (e.g. from `git archive`): its runs "
        "alternate with ours and the result holds both and their ratio",
    )
    parser.add_argument(
        "--src",
        type=Path,
        default=None,
        help="run the OSED sources in this src folder instead of the installed ones (e.g. a "
        "copy, so that editing the working tree does not change a running comparison)",
    )
    parser.add_argument("demo", nargs="*", help="options passed to `osed market demo`")
    args = parser.parse_args()
    runs: list[dict[str, object]] = []
    baseline: list[dict[str, object]] = []
    if args.baseline_src is not None:
        compile_sources(args.baseline_src)
    compile_sources(args.src)
    for n in range(args.repeat):
        if args.baseline_src is not None:
            baseline.append(run_once(args.demo, args.baseline_src))
            print(f"run {n + 1}: baseline {_figures(baseline[-1])}", file=sys.stderr)
        runs.append(run_once(args.demo, args.src))
        print(f"run {n + 1}: {_figures(runs[-1])}", file=sys.stderr)
    result = {
        "benchmark": "market_demo",
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        **summarised(runs),
    }
    if baseline:
        before = summarised(baseline)
        result["baseline"] = before
        result["same_results"] = _results(baseline[-1]) == _results(runs[-1])
        result["speedup_median"] = {
            figure: round(before[figure]["median"] / result[figure]["median"], 2)  # type: ignore[index]
            for figure in ("wall_s", "cpu_s", "demo_cpu_s")
        }
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


def summarised(runs: list[dict[str, object]]) -> dict[str, object]:
    walls = [float(run["wall_s"]) for run in runs]  # type: ignore[arg-type]
    cpus = [float(run["cpu_s"]) for run in runs]  # type: ignore[arg-type]
    tenders = int(runs[-1]["tenders"])  # type: ignore[call-overload]
    summary = runs[-1]["summary"]
    assert isinstance(summary, dict)
    return {
        "tenders": tenders,
        "transactions": summary["day_ahead"]["transactions"] + summary["real_time"]["transactions"],
        "verified": summary["verified"],
        "wall_s": min_median(walls, 2),
        "cpu_s": min_median(cpus, 2),
        "demo_cpu_s": min_median([float(run["demo_cpu_s"]) for run in runs], 2),  # type: ignore[arg-type]
        "verifier_cpu_s": min_median([float(run["verifier_cpu_s"]) for run in runs], 2),  # type: ignore[arg-type]
        "tenders_per_s": {
            "min": round(tenders / max(walls)),
            "median": round(tenders / statistics.median(walls)),
            "best": round(tenders / min(walls)),
        },
    }


def _figures(run: dict[str, object]) -> str:
    return (
        f"{run['wall_s']:.2f} s wall, {run['demo_cpu_s']:.2f} s CPU in the demo process, "
        f"{run['verifier_cpu_s']:.2f} s in its verifier"
    )


def _results(run: dict[str, object]) -> dict[str, object]:
    """The demo's summary without what differs from run to run (its time, its folder)."""
    summary = run["summary"]
    assert isinstance(summary, dict)
    return {key: value for key, value in summary.items() if key not in ("seconds", "ledger")}


if __name__ == "__main__":
    main()
