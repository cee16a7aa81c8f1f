"""``osed market demo``: a day of double auctions among a few hundred user agents."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from osed.cli._io import print_json
from osed.domain.errors import ConfigurationError
from osed.ledger.verify import verify_store
from osed.runtime.markets import build_market, is_ledger_file, open_ledger
from osed.sim.market_demo import DemoConfig, DemoSummary, run_market_demo


def register(commands: Any) -> None:
    demo: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="run a day of 96 double auctions among a few hundred user agents",
        description=(
            "Households, prosumers with PV, batteries and a supplier trade through the Market "
            "Agent: a day-ahead round for every interval, then a real-time round in which "
            "each agent tenders only the difference between its committed position and its "
            "new need. Leaves a hash-chained ledger that `osed ledger verify` accepts."
        ),
    )
    demo.add_argument(
        "--ledger",
        type=Path,
        default=Path("osed-demo-ledger.sqlite"),
        help="ledger file to write; an existing demo ledger there is replaced "
        "(default: %(default)s)",
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
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    config = DemoConfig(
        households=args.households,
        prosumers=args.prosumers,
        batteries=args.batteries,
        intervals=args.intervals,
        seed=args.seed,
    )
    _replace_demo_ledger(args.ledger)
    price_cap = config.price_cap_per_kwh
    market = build_market("double-auction", pricing=args.pricing, price_cap=price_cap)
    ledger = open_ledger(args.ledger)
    try:
        summary = run_market_demo(config, market=market, ledger=ledger)
        report = verify_store(ledger)
    finally:
        ledger.close()
    if args.json:
        print_json({**summary.to_dict(), "ledger": str(args.ledger), "verified": report.ok})
    else:
        _print_summary(summary, args.ledger, verified=report.ok)
    return 0 if report.ok and summary.max_interval_imbalance == 0 else 1


def _replace_demo_ledger(path: Path) -> None:
    """Remove an earlier ledger at ``path``; any other file there is left alone."""
    if not path.exists():
        return
    if not is_ledger_file(path):
        raise ConfigurationError(f"{path} exists and is not an OSED ledger; choose another path")
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)


def _print_summary(summary: DemoSummary, ledger: Path, *, verified: bool) -> None:
    data = summary.to_dict()
    agents = ", ".join(f"{count} {kind}" for kind, count in summary.agents.items())
    lines = [
        f"OSED market demo: {summary.intervals} intervals, {sum(summary.agents.values())} "
        f"user agents ({agents})",
    ]
    for label, key in (("day-ahead", "day_ahead"), ("real-time", "real_time")):
        figures = data[key]
        assert isinstance(figures, dict)
        lines.append(
            f"  {label:<9}  {figures['tenders']:>7} tenders  {figures['transactions']:>7} "
            f"transactions  {figures['energy_kwh']:>10.1f} kWh  price min/mean/max "
            f"{figures['price_min']}/{figures['price_mean']}/{figures['price_max']} USD/kWh  "
            f"outcomes {figures['outcomes']}"
        )
    lines += [
        f"  ledger     {ledger}: {summary.ledger_entries} entries, "
        f"{'hash chain verified' if verified else 'VERIFICATION FAILED'}",
        f"  balance    largest net position of any interval: {summary.max_interval_imbalance} Wh",
        f"  time       {summary.seconds:.1f} s",
        f"Check it yourself: osed ledger verify {ledger}",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
