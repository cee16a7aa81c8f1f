"""``osed grid``: network summaries, power flow and state estimation.

JSON when piped or with --json, tables on a terminal. The JSON shapes of ``estimate`` and
``powerflow`` are a stable contract (docs/grid-estimation.md).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from osed.cli import _grid_text
from osed.cli._io import read_json
from osed.cli._output import emit, note
from osed.codec import json_text
from osed.domain.errors import ConfigurationError
from osed.domain.problems import Problems
from osed.grid.imports.files import load_network, to_document
from osed.grid.network import KINDS, REFERENCES, Network
from osed.grid.powerflow import power_flow

NETWORK_HELP = (
    "a network: osed-network or power-grid-model JSON, pandapower JSON, a CGMES folder, "
    ".zip or .xml file, or pandapower:<constructor> (e.g. pandapower:mv_oberrhein)"
)


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "grid", help="network models, power flow and state estimation"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    show = commands.add_parser(
        "show", help="summarise a network: element ids by kind, unsupported elements"
    )
    show.add_argument("network", help=NETWORK_HELP)
    show.add_argument("--export", metavar="FILE", help="also write the model as osed-network JSON")
    show.set_defaults(handler=_show)

    flow = commands.add_parser("powerflow", help="print the power-flow state")
    flow.add_argument("--network", required=True, help=NETWORK_HELP)
    _symmetry(flow)
    flow.add_argument(
        "--method",
        default="newton_raphson",
        choices=("newton_raphson", "iterative_current", "linear", "linear_current"),
    )
    flow.set_defaults(handler=_powerflow)

    est = commands.add_parser(
        "estimate",
        help="estimate the state from measurements; print it",
        description='Measurements file: {"measurements": [{"element", "measurand", '
        '"phase", "side", "value", "sigma"}, ...]} in the SOGNO vocabulary '
        "(docs/grid-estimation.md).",
    )
    est.add_argument("--network", required=True, help=NETWORK_HELP)
    est.add_argument("--measurements", required=True, help="measurements JSON file, or - for stdin")
    _symmetry(est)
    est.add_argument(
        "--method", default="newton_raphson", choices=("newton_raphson", "iterative_linear")
    )
    est.add_argument(
        "--no-bad-data", action="store_true", help="skip bad-data detection and removal"
    )
    est.add_argument(
        "--threshold", type=float, default=3.0, help="normalised residual limit (default 3)"
    )
    est.add_argument(
        "--confidence", type=float, default=0.99, help="chi-square test confidence (default 0.99)"
    )
    est.add_argument("--no-pseudo", action="store_true", help="never add pseudo-measurements")
    est.add_argument(
        "--forecast",
        metavar="FILE",
        help="JSON {appliance id: [P W, Q var]} for pseudo-measurements "
        "(default: the model's load values)",
    )
    est.set_defaults(handler=_estimate)


def _symmetry(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--symmetric", dest="symmetric", action="store_const", const=True, default=None
    )
    group.add_argument("--asymmetric", dest="symmetric", action="store_const", const=False)


def summary(network: Network) -> dict[str, Any]:
    return {
        "name": network.name,
        "source": network.source,
        "frequency_hz": network.frequency_hz,
        "asymmetric": network.is_asymmetric,
        "components": network.counts(),
        "has_coordinates": bool(len(network.node_xy))
        and bool((network.node_xy == network.node_xy).all()),
        "unsupported": [
            {"kind": u.kind, "id": u.id, "name": u.name, "reason": u.reason}
            for u in network.unsupported
        ],
        "elements": elements(network),
    }


def elements(network: Network) -> dict[str, list[dict[str, str]]]:
    """Every element by kind: its id, name and the ids of the elements it connects to."""
    listed: dict[str, list[dict[str, str]]] = {}
    for kind in KINDS:
        table = network.table(kind)
        if not len(table):
            continue
        references = {
            attribute: [network.external_ids[int(i)] for i in table[attribute]]
            for attribute in REFERENCES.get(kind, ())
        }
        listed[kind] = [
            {
                "id": external,
                "name": network.names[int(solver)],
                **{attribute: ids[row] for attribute, ids in references.items()},
            }
            for row, (external, solver) in enumerate(
                zip(network.ids(kind), table["id"], strict=True)
            )
        ]
    return listed


def _show(args: argparse.Namespace) -> int:
    network = load_network(args.network)
    if args.export:
        text = json_text.dumps(to_document(network), subject="network export")
        try:
            Path(args.export).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot write {args.export}: {exc.strerror}") from None
    emit(summary(network), _grid_text.network_text, args)
    return 0


def _powerflow(args: argparse.Namespace) -> int:
    network = load_network(args.network)
    state = power_flow(network, symmetric=args.symmetric, method=args.method)
    emit({"network": network.name, **state.to_dict()}, _grid_text.state_text, args)
    return 0


def _estimate(args: argparse.Namespace) -> int:
    # The estimator (and SciPy behind it) is imported only when an estimate is asked for.
    from osed.grid.estimation import (  # noqa: PLC0415
        BadDataOptions,
        PseudoOptions,
        UnobservableError,
        estimate,
    )
    from osed.grid.measurements import parse_measurements  # noqa: PLC0415

    network = load_network(args.network)
    measurements = parse_measurements(read_json(args.measurements, subject="measurements"), network)
    forecast = None
    if args.forecast:
        forecast = parse_forecast(read_json(args.forecast, subject="forecast"))
    try:
        result = estimate(
            network,
            measurements,
            symmetric=args.symmetric,
            method=args.method,
            bad_data=BadDataOptions(
                enabled=not args.no_bad_data, confidence=args.confidence, threshold=args.threshold
            ),
            pseudo=PseudoOptions(enabled=not args.no_pseudo, forecast=forecast),
        )
    except UnobservableError as exc:
        failure = {
            "network": network.name,
            "error": "not_observable",
            "observability": exc.report.to_dict(),
        }
        emit(failure, _grid_text.unobservable_text, args)
        note(f"error: {exc}")
        return 1
    for warning in result.warnings():
        note(f"warning: {warning}")
    emit({"network": network.name, **result.to_dict()}, _grid_text.estimate_text, args)
    return 0


def parse_forecast(document: Any) -> dict[str, tuple[float, float]]:
    """``{appliance id: [P W, Q var]}``; raises ValidationError naming every bad entry."""
    problems = Problems("forecast")
    if not isinstance(document, dict):
        problems.add("$", "not_object", "must be an object {appliance id: [P in W, Q in var]}")
        problems.check()
    forecast: dict[str, tuple[float, float]] = {}
    for key, value in document.items():
        pair = value if isinstance(value, list) and len(value) == 2 else []
        if not pair or not all(_is_finite(number) for number in pair):
            problems.add(
                f"$[{json.dumps(key)}]", "bad_forecast", "must be [P in W, Q in var], two numbers"
            )
            continue
        forecast[key] = (float(pair[0]), float(pair[1]))
    problems.check()
    return forecast


def _is_finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
