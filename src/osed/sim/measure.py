"""Synthetic measurements of a known grid state, with Gaussian noise or none.

The usual distribution-grid set: a voltage magnitude at every node (``voltage_sigma_v`` on
the phase-to-ground value), P and Q of every in-service load and generator
(``power_sigma_va``; an unbalanced one by its three-phase total), and P and Q at the from
end of the ``flows`` branches.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from osed.grid.measurements import Measurement
from osed.grid.network import Network
from osed.grid.state import GridState


def measure(
    network: Network,
    state: GridState,
    *,
    voltage_sigma_v: float = 50.0 / np.sqrt(3.0),
    power_sigma_va: float = 10e3,
    flows: Iterable[str] = (),
    voltage_angles: bool = False,
    rng: np.random.Generator | None = None,
) -> list[Measurement]:
    def noisy(value: float, sigma: float) -> float:
        return value if rng is None else float(value + rng.normal(0.0, sigma))

    found: list[Measurement] = []
    for i, node in enumerate(state.node_ids):
        if not state.energized[i]:
            continue
        found.append(
            Measurement(
                node, "voltmagnitude", noisy(float(state.u_v[i]), voltage_sigma_v), voltage_sigma_v
            )
        )
        if voltage_angles:
            relative = voltage_sigma_v / float(state.u_v[i])
            found.append(
                Measurement(node, "voltangle", noisy(float(state.u_angle[i]), relative), relative)
            )
    for kind in ("sym_load", "sym_gen", "asym_load", "asym_gen"):
        output = state.raw.get(kind)
        if output is None:
            continue
        for row in output:
            element = network.external_ids[int(row["id"])]
            for measurand, column in (("activepower", "p"), ("reactivepower", "q")):
                value = float(np.sum(row[column]))  # an unbalanced appliance: its total
                found.append(
                    Measurement(element, measurand, noisy(value, power_sigma_va), power_sigma_va)
                )
    wanted = set(flows)
    branches = state.branches
    for i, branch in enumerate(branches.ids):
        if branch in wanted:
            found.append(
                Measurement(
                    branch,
                    "activepower",
                    noisy(float(branches.p_from_w[i]), power_sigma_va),
                    power_sigma_va,
                    side="from",
                )
            )
            found.append(
                Measurement(
                    branch,
                    "reactivepower",
                    noisy(float(branches.q_from_var[i]), power_sigma_va),
                    power_sigma_va,
                    side="from",
                )
            )
    return found
