"""Times pymfm 0.5.5 on its own examples; run by bench_balancer.py in pymfm's environment.

pymfm needs Python ≤ 3.11 with its pinned dependencies, so it lives in a virtual environment
of its own (``python3.11 -m venv venv && venv/bin/pip install pymfm==0.5.5 pyscipopt``).
Its optimisation model is solved with SCIP in place of the hard-coded Gurobi: the Pyomo model
is written as an LP file with symbolic names, solved by pyscipopt and read back.

    venv/bin/python bench/pymfm_runner.py INPUT.json [INPUT.json ...]   # prints JSON
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from pymfm.control.algorithms import optimization_based
from pymfm.control.utils.data_input import InputData, open_json
from pymfm.control.utils.mode_logic_handler import mode_logic_handler
from pyomo.opt import SolverStatus, TerminationCondition


class _Scip:
    """The part of a Pyomo solver pymfm uses: ``solve(model).solver``."""

    seconds = 0.0

    def solve(self, model):
        import pyscipopt

        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "model.lp")
        _, symbols_id = model.write(path, io_options={"symbolic_solver_labels": True})
        symbols = model.solutions.symbol_map[symbols_id]
        scip = pyscipopt.Model()
        scip.hideOutput()
        scip.readProblem(path)
        started = time.perf_counter()
        scip.optimize()
        _Scip.seconds = time.perf_counter() - started
        for variable in scip.getVars():
            reference = symbols.bySymbol.get(variable.name)
            target = reference() if reference is not None else None  # weak references
            if target is not None:
                target.set_value(scip.getVal(variable), skip_validation=True)

        class _Result:
            class solver:  # noqa: N801
                status = SolverStatus.ok
                termination_condition = TerminationCondition.optimal

        return _Result()


def main() -> None:
    optimization_based.SolverFactory = lambda name: _Scip()
    figures = {}
    for path in sys.argv[1:]:
        data = InputData(**open_json(path))
        started = time.perf_counter()
        _, output, _ = mode_logic_handler(data)
        seconds = time.perf_counter() - started
        entry = {"seconds": seconds}
        if "P_net_after_kW" in getattr(output, "columns", []):
            net = output["P_net_after_kW"].astype(float)
            imports, exports = net.clip(lower=0), (-net).clip(lower=0)
            entry["objective"] = float(
                imports.sum() + exports.sum() + imports.max() + exports.max()
            )
        if _Scip.seconds:
            entry["scip_seconds"] = _Scip.seconds
            _Scip.seconds = 0.0
        figures[os.path.basename(path)] = entry
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
