"""``osed market demo``: a day of double auctions among a few hundred user agents."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from osed.cli._following_verify import verifying_alongside
from osed.cli._output import emit
from osed.cli._progress import ProgressReport
from osed.domain.errors import ConfigurationError
from osed.runtime.markets import build_market, is_ledger_file, open_ledger
from osed.sim.market_demo import DemoConfig, DemoSummary, run_market_demo

LEDGER_NAME = "ledger.sqlite"


def register(commands: Any) -> None:
    demo: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="run a day of 96 double auctions among a few hundred user agents",
        description=(
            "Households, prosumers with PV, batteries and a supplier trade through the Market "
            "Agent: a day-ahead round for every interval, then a real-time round in which "
            "each agent tenders only the difference between its committed position and its "
            "new need. Leaves a hash-chained ledger that `osed ledger verify` accepts, in "
            "a folder of its own. Progress goes to standard error; the summary (JSON when "
            "piped or with --json) to standard output."
        ),
    )
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("osed-demo"),
        help="folder for the demo's files, created if missing (default: %(default)s)",
    )
    demo.add_argument(
        "--ledger",
        type=Path,
        default=None,
        help=f"ledger file to write; an existing demo ledger there is replaced "
        f"(default: {LEDGER_NAME} in the --dir folder)",
    )
    demo.add_argument("--households", type=int, default=DemoConfig.households)
    demo.add_argument("--prosumers", type=int, default=DemoConfig.prosumers)
    demo.add_argument("--batteries", type=int, default=DemoConfig.batteries)
    demo.add_argument("--intervals", type=int, default=DemoConfig.intervals)
    demo.add_argument(
        "--pricing",
        choices=("gridlabd", "pay-as-clear", "pay-as-bid"),
        default="gridlabd",
        help="double-auction pricing rule (default: %(default)s)",
    )
    demo.add_argument("--seed", type=int, default=DemoConfig.seed)
    demo.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    config = DemoConfig(
        households=args.households,
        prosumers=args.prosumers,
        batteries=args.batteries,
        intervals=args.intervals,
        seed=args.seed,
    )
    path: Path = args.ledger or args.dir / LEDGER_NAME
    _replace_demo_ledger(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    price_cap = config.price_cap_per_kwh
    market = build_market("double-auction", pricing=args.pricing, price_cap=price_cap)
    open_ledger(path).close()  # the file exists, and is not open here when the verifier forks
    progress = ProgressReport("market demo")
    # The ledger is verified as it grows, by a process of its own (_following_verify): at the
    # end the demo waits only for the last rows to be checked.
    with verifying_alongside(path) as verifier:
        ledger = open_ledger(path)
        try:
            summary = run_market_demo(config, market=market, ledger=ledger, progress=progress)
            ledger.flush()  # the confirmations traced after the last clearing
            report = verifier.report()
        finally:
            progress.finish()
            ledger.close()
    result = {**summary.to_dict(), "ledger": str(path), "verified": report.ok}
    emit(result, lambda _: _summary_text(summary, path, verified=report.ok), args)
    return 0 if report.ok and summary.max_interval_imbalance == 0 else 1


def _replace_demo_ledger(path: Path) -> None:
    """Remove an earlier ledger at ``path``; any other file there is left alone."""
    if not path.exists():
        return
    if not is_ledger_file(path):
        raise ConfigurationError(f"{path} exists and is not an OSED ledger; choose another path")
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)


def _summary_text(summary: DemoSummary, ledger: Path, *, verified: bool) -> str:
    data = summary.to_dict()
    agents = ", ".join(f"{count} {kind}" for kind, count in summary.agents.items())
    lines = [
        f"OSED market demo: {summary.intervals} intervals, {sum(summary.agents.values())} "
        f"user agents ({agents})",
    ]
    for label, key in (("day-ahead", "day_ahead"), ("real-time", "real_time")):
        figures = data[key]
        assert isinstance(figures, dict)
        outcomes = ", ".join(f"{count} {name}" for name, count in figures["outcomes"].items())
        lines.append(
            f"  {label:<9}  {figures['tenders']:>7} tenders  {figures['transactions']:>7} "
            f"transactions  {figures['energy_kwh']:>10.1f} kWh  price min/mean/max "
            f"{figures['price_min']}/{figures['price_mean']}/{figures['price_max']} USD/kWh  "
            f"outcomes: {outcomes}"
        )
    lines += [
        f"  ledger     {ledger}: {summary.ledger_entries} entries, "
        f"{'hash chain verified' if verified else 'VERIFICATION FAILED'}",
        f"  balance    largest net position of any interval: {summary.max_interval_imbalance} Wh",
        f"  time       {summary.seconds:.1f} s",
        f"Check it yourself: osed ledger verify {ledger}",
    ]
    return "\n".join(lines)
