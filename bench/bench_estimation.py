"""State estimation on radial feeders, OSED beside power-grid-model and pandapower.

For each size: a feeder from :mod:`osed.sim.feeders`, its power flow as the truth, noisy
measurements (|V| at every node σ = 50 V line-to-line, P/Q of every load σ = 10 kVA, P/Q at
each feeder head). Per method (``iterative_linear``, ``newton_raphson``), ours and the peer
run in turn ``--repeat`` times each; min and median of each, and their ratios:

* ``pgm_ms``: power-grid-model alone, the model and sensors built beforehand, asked for the
  output components OSED reads (nodes, branches, sensors);
* ``osed_ms``: :class:`osed.grid.estimation.Estimator.run` with a new snapshot of values
  (sensor update, solve, state, chi-square test), prepared beforehand (``osed_prepare_s``);
* ``ratio_min`` / ``ratio_median``: OSED over power-grid-model (1.0: no overhead at all);
* the same with ``_cpu``: CPU time of the process (``time.process_time``) instead of wall time;
* ``pandapower_s``: ``pandapower.estimation.estimate(init="flat")`` once, up to
  ``--pandapower-max`` nodes (its time grows much faster than linearly);
* ``max_du_pu_vs_pandapower``: largest difference of the two estimates' voltage magnitudes.

Then bad data: one +0.1 pu error on a voltage of the 907-bus IEEE European LV feeder
(pandapower's ieee_european_lv_asymmetric, balanced), OSED's detection and removal beside
pandapower's ``remove_bad_data`` (``--pandapower-lnr``; about 40 s).

    .venv/bin/python bench/bench_estimation.py [--sizes 1001,10001,100001] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from _repeat import min_median
from osed.grid.estimation import Estimator
from osed.grid.network import BRANCHES, SENSORS
from osed.grid.powerflow import power_flow, solver_model
from osed.sim.feeders import radial_feeder
from osed.sim.measure import measure


def alternated(
    ours: Callable[[], Any], peer: Callable[[], Any], repeat: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Seconds of ``ours`` and ``peer`` by each clock (wall, CPU), run in turn ``repeat`` times
    each (after one untimed run of each), so that both see the same machine: its load, its
    caches, its clock."""
    ours()
    peer()
    times: dict[str, tuple[list[float], list[float]]] = {"wall": ([], []), "cpu": ([], [])}
    for _ in range(repeat):
        for call, side in ((peer, 1), (ours, 0)):
            wall, cpu = time.perf_counter(), time.process_time()
            call()
            times["wall"][side].append(time.perf_counter() - wall)
            times["cpu"][side].append(time.process_time() - cpu)
    return times


def side_by_side(times: dict[str, tuple[list[float], list[float]]]) -> dict[str, Any]:
    def ms(values: list[float]) -> dict[str, float]:
        return min_median([t * 1e3 for t in values], 2)

    row: dict[str, Any] = {}
    for clock, (mine, theirs) in times.items():
        suffix = "" if clock == "wall" else "_cpu"
        row |= {
            f"osed{suffix}_ms": ms(mine),
            f"pgm{suffix}_ms": ms(theirs),
            f"ratio{suffix}_min": round(min(mine) / min(theirs), 3),
            f"ratio{suffix}_median": round(statistics.median(mine) / statistics.median(theirs), 3),
        }
    return row


def feeder_case(nodes: int, repeat: int, pandapower_max: int) -> dict[str, Any]:
    network = radial_feeder(nodes)
    truth = power_flow(network)
    heads = [f"l{i}" for i in range(1, nodes, 10)]
    rng = np.random.default_rng(11)
    measurements = measure(network, truth, flows=heads, rng=rng)
    values = np.array([m.value for m in measurements])
    row: dict[str, Any] = {"nodes": nodes, "measurements": len(measurements)}
    start = time.perf_counter()
    nr = Estimator(network, measurements, method="newton_raphson")
    row["osed_prepare_s"] = round(time.perf_counter() - start, 3)
    linear = Estimator(network, measurements, method="iterative_linear")
    linear.bad_data = type(linear.bad_data)(enabled=False)
    data = {**network.without_sensors(), **nr.sensors.data}
    model = solver_model(data, network)
    # The peer asks for what OSED reads of the estimate: nodes, branches, sensor residuals.
    outputs = [kind for kind in ("node", *BRANCHES, *SENSORS) if kind in data]
    for method, ours in (("iterative_linear", linear), ("newton_raphson", nr)):
        times = alternated(
            lambda e=ours: e.run(values),
            lambda m=method: model.calculate_state_estimation(
                calculation_method=m, output_component_types=outputs
            ),
            repeat,
        )
        row[method] = side_by_side(times)
    result = nr.run(values)
    row["chi2_passed"] = result.chi2_passed
    row["max_du_pu_vs_truth"] = float(np.abs(result.state.u_pu - truth.u_pu).max())
    if nodes <= pandapower_max:
        row |= pandapower_case(network, measurements, result.state.u_pu)
    return row


def pandapower_case(network: Any, measurements: Any, osed_u_pu: Any) -> dict[str, Any]:
    from pandapower.estimation import estimate

    from osed.sim.pandapower_twin import add_measurements, to_pandapower

    net, bus = to_pandapower(network)
    add_measurements(net, network, bus, measurements)
    start = time.perf_counter()
    outcome = estimate(net, init="flat", tolerance=1e-8)
    seconds = time.perf_counter() - start
    success = bool(outcome["success"]) if isinstance(outcome, dict) else bool(outcome)
    du = float(np.abs(net.res_bus_est.vm_pu.values - osed_u_pu).max())
    return {
        "pandapower_s": round(seconds, 3),
        "pandapower_success": success,
        "max_du_pu_vs_pandapower": du,
    }


def bad_data_case(with_pandapower: bool) -> dict[str, Any]:
    import pandapower as pp
    import pandapower.networks as pn

    from osed.grid.imports.pandapower import from_pandapower
    from osed.grid.measurements import Measurement

    net = pn.ieee_european_lv_asymmetric()
    pp.runpp(net)
    network = from_pandapower(net)
    truth = power_flow(network, symmetric=True)
    rng = np.random.default_rng(5)
    u_rated = {
        network.external_ids[int(r["id"])]: float(r["u_rated"]) for r in network.table("node")
    }
    sigma_v = 0.001 * 230.0
    found: list[Measurement] = []
    for i, node in enumerate(truth.node_ids):
        found.append(
            Measurement(
                node, "voltmagnitude", float(truth.u_v[i] + rng.normal(0, sigma_v)), sigma_v
            )
        )
        for measurand, value in (("activepower", truth.p_w[i]), ("reactivepower", truth.q_var[i])):
            found.append(Measurement(node, measurand, float(value + rng.normal(0, 100.0)), 100.0))
    victim = len(truth.node_ids) // 2 * 3
    gross = found[victim]
    found[victim] = Measurement(
        gross.element,
        gross.measurand,
        gross.value + 0.1 * u_rated[gross.element] / np.sqrt(3),
        gross.sigma,
    )
    start = time.perf_counter()
    result = Estimator(network, found, symmetric=True).run()
    seconds = time.perf_counter() - start
    row: dict[str, Any] = {
        "network": "ieee_european_lv_asymmetric (balanced)",
        "buses": len(truth.node_ids),
        "measurements": len(found),
        "osed_detect_remove_s": round(seconds, 3),
        "osed_removed": [r.measurements for r in result.removed],
        "injected": gross.label(),
        "max_du_pu_after": float(np.abs(result.state.u_pu - truth.u_pu).max()),
    }
    if with_pandapower:
        from pandapower.estimation import remove_bad_data

        from osed.sim.pandapower_twin import SQRT3

        bus_of = {node: int(node.removeprefix("bus")) for node in truth.node_ids}
        for m in found:
            bus = bus_of[m.element]
            if m.measurand == "voltmagnitude":
                scale = SQRT3 / u_rated[m.element]
                pp.create_measurement(net, "v", "bus", m.value * scale, m.sigma * scale, bus)
            else:
                quantity = "p" if m.measurand == "activepower" else "q"
                pp.create_measurement(net, quantity, "bus", -m.value / 1e6, m.sigma / 1e6, bus)
        start = time.perf_counter()
        remove_bad_data(net, init="flat", rn_max_threshold=3.0)
        row["pandapower_remove_bad_data_s"] = round(time.perf_counter() - start, 3)
        kept = set(net.measurement.index)
        row["pandapower_removed"] = len(found) - len(kept)
        row["max_du_pu_vs_pandapower"] = float(
            np.abs(net.res_bus_est.vm_pu.values - result.state.u_pu).max()
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1001,10001,100001")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pandapower-max", type=int, default=10001)
    parser.add_argument(
        "--pandapower-lnr", action="store_true", help="also time pandapower's remove_bad_data"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    try:
        import numba  # noqa: F401

        numba_present = True
    except ImportError:
        numba_present = False
    # Bad data first: after the 100,000-node case the heap is large and collection pauses
    # would be measured with it.
    bad_data = bad_data_case(args.pandapower_lnr)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    rows = [feeder_case(size, args.repeat, args.pandapower_max) for size in sizes]
    print(
        json.dumps(
            {
                "benchmark": "state_estimation",
                "python": platform.python_version(),
                "pandapower_numba": numba_present,
                "feeders": rows,
                "bad_data": bad_data,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
