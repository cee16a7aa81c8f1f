"""The state of a grid as a power flow or an estimate gives it, keyed by external ids.

Node quantities: ``u_pu``, ``u_angle`` (rad), ``u_v`` phase-to-ground volts (SOGNO's unit),
and the injection ``p_w``/``q_var`` (generation positive). Branch quantities at both ends:
power into the branch and current magnitude, plus loading. Symmetric results are arrays of
shape ``(n,)`` with three-phase powers; asymmetric ones ``(n, 3)`` per phase.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.grid.network import BRANCHES, Network, Table

Floats = NDArray[np.float64]
SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True, eq=False)
class BranchState:
    ids: list[str]
    kinds: list[str]
    p_from_w: Floats
    q_from_var: Floats
    i_from_a: Floats
    p_to_w: Floats
    q_to_var: Floats
    i_to_a: Floats
    loading: Floats


@dataclass(frozen=True, eq=False)
class GridState:
    """Read only: arrays may be views of the solver's output (``raw``) and id lists the
    network's own."""

    calculation: str  # "power_flow" | "state_estimation"
    symmetric: bool
    node_ids: list[str]
    u_pu: Floats
    u_angle: Floats
    u_v: Floats  # phase-to-ground
    p_w: Floats
    q_var: Floats
    energized: NDArray[np.bool_]
    branches: BranchState
    raw: Mapping[str, Table] = field(default_factory=dict)  # the solver's own output arrays

    def node(self, node_id: str) -> int:
        return self.node_ids.index(node_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calculation": self.calculation,
            "symmetric": self.symmetric,
            "nodes": [
                {
                    "id": node_id,
                    "energized": bool(self.energized[i]),
                    "u_pu": _json(self.u_pu[i]),
                    "u_angle_rad": _json(self.u_angle[i]),
                    "u_v": _json(self.u_v[i]),
                    "p_w": _json(self.p_w[i]),
                    "q_var": _json(self.q_var[i]),
                }
                for i, node_id in enumerate(self.node_ids)
            ],
            "branches": [
                {
                    "id": branch_id,
                    "kind": self.branches.kinds[i],
                    "p_from_w": _json(self.branches.p_from_w[i]),
                    "q_from_var": _json(self.branches.q_from_var[i]),
                    "i_from_a": _json(self.branches.i_from_a[i]),
                    "p_to_w": _json(self.branches.p_to_w[i]),
                    "q_to_var": _json(self.branches.q_to_var[i]),
                    "i_to_a": _json(self.branches.i_to_a[i]),
                    "loading": _json(self.branches.loading[i]),
                }
                for i, branch_id in enumerate(self.branches.ids)
            ],
        }


def _json(value: Any) -> float | list[float | None] | None:
    if np.ndim(value):
        return [_round(float(v)) for v in value]
    return _round(float(value))


def _round(value: float) -> float | None:
    return None if not math.isfinite(value) else float(f"{value:.10g}")


def _ids(network: Network, kinds: list[str], tables: list[Table]) -> list[str]:
    """External ids of output rows; the solver keeps the input order, checked cheaply. One
    kind in input order gives the network's own list (read only, like every state field)."""
    found: list[str] = []
    for kind, table in zip(kinds, tables, strict=True):
        known = network.table(kind)["id"]
        if len(known) == len(table) and (
            len(table) == 0 or (known[0] == table["id"][0] and known[-1] == table["id"][-1])
        ):
            if len(kinds) == 1:
                return network.ids(kind)
            found += network.ids(kind)
        else:
            found += [network.external_ids[int(i)] for i in table["id"]]
    return found


def _repeated(kinds: list[str], tables: list[Table]) -> list[str]:
    """Each kind once per row of its table (list repetition: no Python loop per row)."""
    if len(kinds) == 1:
        return [kinds[0]] * len(tables[0])
    found: list[str] = []
    for kind, table in zip(kinds, tables, strict=True):
        found += [kind] * len(table)
    return found


def state_from_output(
    network: Network, output: Mapping[str, Table], *, calculation: str, symmetric: bool
) -> GridState:
    nodes = output["node"]
    u = nodes["u"]
    u_phase = u / SQRT3 if symmetric else u  # symmetric output is line-to-line
    branch_kinds = [kind for kind in BRANCHES if kind in output and len(output[kind])]
    tables = [output[kind] for kind in branch_kinds]

    def column(name: str, empty: tuple[int, ...] = (0,) if symmetric else (0, 3)) -> Floats:
        if len(tables) == 1:  # a view of the solver's column, like the node quantities
            only: Floats = tables[0][name]
            return only
        if not tables:
            return np.zeros(empty)
        return np.concatenate([table[name] for table in tables])

    branches = BranchState(
        ids=_ids(network, branch_kinds, tables),
        kinds=_repeated(branch_kinds, tables),
        p_from_w=column("p_from"),
        q_from_var=column("q_from"),
        i_from_a=column("i_from"),
        p_to_w=column("p_to"),
        q_to_var=column("q_to"),
        i_to_a=column("i_to"),
        loading=column("loading", (0,)),
    )
    return GridState(
        calculation=calculation,
        symmetric=symmetric,
        node_ids=_ids(network, ["node"], [nodes]),
        u_pu=nodes["u_pu"],
        u_angle=nodes["u_angle"],
        u_v=u_phase,
        p_w=nodes["p"],
        q_var=nodes["q"],
        energized=nodes["energized"].astype(bool),
        branches=branches,
        raw=dict(output),
    )
