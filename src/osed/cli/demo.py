"""``osed demo``: the whole platform on a feeder for a day, a report with plots and the data.

``osed demo`` plays the bundled default scenario (docs/simulation.md): building agents through
the simulated device gateway, the EDC manager and its grid functions, the grid intelligence on
the state estimate, the market and its ledger, beside a baseline run without grid functions or
market. It writes ``report.html`` and the tables (Parquet and CSV) into ``--out`` and prints
their paths and the main KPIs. ``osed demo sweep`` plays scenarios × seeds on Dask and prints
one row of KPIs per case.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from osed.cli._output import emit, fields, note, table
from osed.cli._progress import ProgressReport
from osed.domain.errors import Problem, ValidationError

BUNDLED = ("default", "small")


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "demo",
        help="the whole platform on a feeder for a day: report with plots, data, KPIs",
        description="Plays a scenario (the bundled default: about 100 households, one day at "
        "15 minutes, a capacity-limit event, DAC and the market) on the platform's own parts, "
        "beside a baseline without grid functions or market, and writes an offline HTML "
        "report and the time series (docs/simulation.md).",
    )
    parser.add_argument(
        "--scenario",
        default="default",
        metavar="FILE",
        help="a scenario file, or a bundled one: default, small (default)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("osed-demo"), help="output folder (./osed-demo)"
    )
    parser.add_argument("--seed", type=int, help="replace the scenario's seed")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="then serve the dashboard on the results until Ctrl-C (its address on stderr)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="with --serve: the address to listen on (127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="with --serve: the port (default: a free one)"
    )
    parser.set_defaults(handler=_demo)
    commands = parser.add_subparsers(dest="command", required=False, metavar="COMMAND")
    sweep = commands.add_parser(
        "sweep",
        help="play scenarios × seeds on Dask, one row of KPIs per case",
        description="Plays every scenario with every seed on a Dask cluster (a local one by "
        "default) and prints one row of KPIs per case, in case order.",
    )
    sweep.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        metavar="FILE",
        help="a scenario file or a bundled name; repeat for several (default: default)",
    )
    sweep.add_argument(
        "--seeds", default="0:4", help="START:STOP (STOP excluded) or a list 1,5,9 (0:4)"
    )
    sweep.add_argument("--scheduler", help="a Dask scheduler address (default: a local cluster)")
    sweep.add_argument("--workers", type=int, help="local worker processes (default: cores)")
    sweep.add_argument("--out", type=Path, help="also write the table here (.csv or .parquet)")
    sweep.set_defaults(handler=_sweep)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0: a free one)")
    return port


def _source(name: str) -> str | Path:
    from osed.sim.scenario import bundled_scenario  # noqa: PLC0415 - simulation extra

    if name in BUNDLED and not Path(name).exists():
        return bundled_scenario(name)
    return Path(name)


def _demo(args: argparse.Namespace) -> int:
    from osed.sim.outputs import write_outputs  # noqa: PLC0415 - simulation extra
    from osed.sim.report import write_report  # noqa: PLC0415
    from osed.sim.runner import run_study  # noqa: PLC0415
    from osed.sim.scenario import load_scenario, materialise  # noqa: PLC0415

    scenario = load_scenario(_source(args.scenario))
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    study = materialise(scenario)
    progress = ProgressReport(f"osed demo {study.name}")
    try:
        result = run_study(study, progress=progress)
    finally:
        progress.finish()
    out: Path = args.out
    data = out / "data"
    files = write_outputs(result, data)
    report = write_report(result, out / "report.html")
    summary = {
        "scenario": study.name,
        "seed": study.seed,
        "households": len(study.households),
        "report": str(report),
        "data": str(data),
        "files": [str(path) for path in files],
        "kpis": result.kpis,
    }
    emit(summary, _demo_text, args)
    if args.serve:
        _serve(result, study.network, out, report, args)
    return 0


def _serve(result: Any, network: Any, out: Path, report: Path, args: argparse.Namespace) -> None:
    from osed.runtime.study_server import StudyServer, serve_study  # noqa: PLC0415 - api extra

    sys.stdout.flush()  # the summary is complete before the server runs
    server = StudyServer(
        result,
        network,
        out,
        report=report,
        host=args.host,
        port=args.port,
        on_ready=lambda url: note(f"dashboard: {url}  (Ctrl-C stops it)"),
    )
    note(f"{server.points} points of the study's tables are in the dashboard's time series")
    serve_study(server)


def _demo_text(summary: dict[str, Any]) -> str:
    head = fields(
        [
            ("scenario", f"{summary['scenario']} (seed {summary['seed']})"),
            ("households", summary["households"]),
            ("report", summary["report"]),
            ("data", summary["data"]),
        ]
    )
    rows = [(name, value) for name, value in summary["kpis"].items()]
    return head + "\n\n" + table(("KPI", "value"), rows)


def _seeds(text: str) -> list[int]:
    if ":" in text:
        start, stop = (int(part) for part in text.split(":", 1))
        return list(range(start, stop))
    return [int(part) for part in text.split(",") if part.strip()]


def _sweep(args: argparse.Namespace) -> int:
    from osed.sim.sweep import cases, sweep  # noqa: PLC0415 - simulation extra

    try:
        seeds = _seeds(args.seeds)
    except ValueError:
        problem = Problem("--seeds", "not_seeds", f"{args.seeds!r}: START:STOP or a list 1,5,9")
        raise ValidationError([problem], subject="osed demo sweep") from None
    planned = cases([_source(name) for name in args.scenarios or ["default"]], seeds)
    progress = ProgressReport("osed demo sweep")
    try:
        rows = sweep(planned, scheduler=args.scheduler, workers=args.workers, progress=progress)
    finally:
        progress.finish()
    if args.out is not None:
        _write_rows(rows, args.out)
    emit(rows, _rows_text, args)
    return 0


def _rows_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no cases"
    columns = ["scenario", "seed", *(k for k in rows[0] if k not in ("scenario", "seed"))]
    return table(columns, [[row.get(c, "") for c in columns] for row in rows])


def _write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    import pandas as pd  # noqa: PLC0415 - simulation extra

    frame = pd.DataFrame(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
