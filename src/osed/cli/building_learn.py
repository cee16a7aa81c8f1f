"""``osed building fit-thermal FILE``: fit a heating zone's RC model from its history.

FILE (``-``: standard input) holds ``step_h``, ``cop`` and the equal-length series
``indoor_c``, ``outdoor_c``, ``power_kw`` (``null`` for a missing sample). The result, JSON on
standard output and nothing else: ``capacitance_kwh_per_k``, ``resistance_k_per_kw``,
``rmse_c`` (daily simulations against the measurements), ``samples``, and ``held_out`` when
the history spans at least four whole days (docs/buildings-learning.md). Exit 2 with every
problem and its JSON path on standard error for an invalid document or a history that does
not determine the model.

:func:`add_commands` adds the learning commands to the ``building`` group, whichever module
creates that group.
"""

from __future__ import annotations

import argparse
from typing import Any

from osed.buildings.thermal_document import read_thermal_document
from osed.buildings.thermal_fit import SUBJECT, fit_thermal
from osed.cli._io import read_json
from osed.cli._output import print_json


def add_commands(commands: Any) -> None:
    """Add ``fit-thermal`` to the ``building`` group's sub-parsers."""
    fit: argparse.ArgumentParser = commands.add_parser(
        "fit-thermal",
        help="fit a heating zone's RC model (C, R) from measured history; JSON result",
        description="Fits T(t+1) = T(t) + h/C ((Tout(t) - T(t))/R + cop p(t)) to measured "
        "indoor and outdoor temperature and heating power (docs/buildings-learning.md). "
        "Prints JSON on standard output; exit 2 for an invalid document.",
    )
    fit.add_argument("file", metavar="FILE", help="the history (JSON), or - for standard input")
    fit.set_defaults(handler=_fit_thermal)


def _fit_thermal(args: argparse.Namespace) -> int:
    history = read_thermal_document(read_json(args.file, subject=SUBJECT))
    fit = fit_thermal(history)
    result: dict[str, Any] = {
        "capacitance_kwh_per_k": fit.capacitance_kwh_per_k,
        "resistance_k_per_kw": fit.resistance_k_per_kw,
        "rmse_c": fit.rmse_c,
        "samples": fit.samples,
    }
    if fit.held_out is not None:
        held = fit.held_out
        result["held_out"] = {
            "train_days": held.train_days,
            "test_days": held.test_days,
            "capacitance_kwh_per_k": held.capacitance_kwh_per_k,
            "resistance_k_per_kw": held.resistance_k_per_kw,
            "train_rmse_c": held.train_rmse_c,
            "test_rmse_c": held.test_rmse_c,
        }
    print_json(result)
    return 0
