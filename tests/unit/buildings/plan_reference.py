"""An independent least-cost reference for a building plan document, written from the device
equations with the states eliminated (each state as a cumulative sum of the powers before it),
solved by scipy's linprog; it shares no code with the engine."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linprog


def least_cost(document: dict[str, Any], *, modes: dict[str, np.ndarray] | None = None) -> float:
    """The least h Σ prices·net of ``document`` (NaN when nothing meets its equations).

    ``modes`` (battery id -> 0/1 per step) fixes when a battery may only charge (1) or only
    discharge (0); without it a battery may do both in one step, as the LP relaxation does.
    """
    n, h = int(document["steps"]), float(document["step_h"])
    prices = np.asarray(document["prices"], float)
    building = document["building"]
    base = np.asarray(building["base_kw"], float)
    lower_tri = np.tril(np.ones((n, n)))
    blocks: list[tuple[np.ndarray, np.ndarray]] = []  # per variable block: its bounds
    power_of: list[np.ndarray] = []  # per block: (N, N), its share of the net power
    a_ub: list[dict[int, np.ndarray]] = []
    b_ub: list[np.ndarray] = []
    a_eq: list[dict[int, np.ndarray]] = []
    b_eq: list[np.ndarray] = []
    count = 0

    def block(lo: np.ndarray, hi: np.ndarray, sign: float) -> int:
        nonlocal count
        blocks.append((lo, hi))
        power_of.append(sign * np.eye(n))
        count += 1
        return count - 1

    def rows(target: list[dict[int, np.ndarray]], entries: dict[int, np.ndarray]) -> None:
        target.append(entries)

    for d in building["devices"]:
        kind = d["kind"]
        if kind == "battery":
            e = d["capacity_kwh"]
            mode = None if modes is None else modes.get(d["id"])
            c_hi = np.full(n, d["charge_max_kw"]) * (1 if mode is None else mode)
            d_hi = np.full(n, d["discharge_max_kw"]) * (1 if mode is None else 1 - mode)
            c = block(np.zeros(n), c_hi, 1.0)
            dis = block(np.zeros(n), d_hi, -1.0)
            gain_c = h * d["charge_efficiency"] * lower_tri
            gain_d = -h / d["discharge_efficiency"] * lower_tri
            s0 = d["soc_init"] * e
            rows(a_ub, {c: gain_c, dis: gain_d})
            b_ub.append(np.full(n, d["soc_max"] * e - s0))
            floor = np.full(n, d["soc_min"] * e)
            floor[-1] = max(floor[-1], d.get("soc_final_min", d["soc_init"]) * e)
            rows(a_ub, {c: -gain_c, dis: -gain_d})
            b_ub.append(s0 - floor)
        elif kind == "ev":
            hi = np.zeros(n)
            hi[d["arrival_step"] : d["departure_step"]] = d["charge_max_kw"]
            p = block(np.zeros(n), hi, 1.0)
            rows(a_eq, {p: h * np.ones((1, n))})
            b_eq.append(np.array([d["energy_kwh"]]))
        elif kind == "heating":
            c_, r = d["capacitance_kwh_per_k"], d["resistance_k_per_kw"]
            keep = 1 - h / (r * c_)
            t = np.arange(n)
            decay = np.where(t[:, None] >= t[None, :], keep ** (t[:, None] - t[None, :]), 0.0)
            free = keep ** (t + 1) * d["temp_init_c"] + decay @ (
                h / (r * c_) * np.asarray(d["outdoor_c"], float)
            )
            p = block(np.zeros(n), np.full(n, d["power_max_kw"]), 1.0)
            gain = decay * h * d["cop"] / c_
            rows(a_ub, {p: gain})
            b_ub.append(np.asarray(d["comfort_max_c"], float) - free)
            rows(a_ub, {p: -gain})
            b_ub.append(free - np.asarray(d["comfort_min_c"], float))
        elif kind == "water_heater":
            w0 = d["energy_init_kwh"] - h * np.cumsum(
                np.asarray(d["draw_kw"], float) + d["loss_kw"]
            )
            p = block(np.zeros(n), np.full(n, d["power_max_kw"]), 1.0)
            rows(a_ub, {p: h * lower_tri})
            b_ub.append(d["energy_max_kwh"] - w0)
            rows(a_ub, {p: -h * lower_tri})
            b_ub.append(w0 - d["energy_min_kwh"])
    limit = document.get("import_limit_kw")
    if limit is not None and count:
        rows(a_ub, {k: power_of[k] for k in range(count)})
        b_ub.append(np.broadcast_to(np.asarray(limit, float), (n,)) - base)
    elif limit is not None and (base > np.asarray(limit, float) + 1e-9).any():
        return float("nan")
    if not count:
        return float(h * prices @ base)

    def stack(target: list[dict[int, np.ndarray]]) -> np.ndarray | None:
        """Row groups side by side over every variable block (zeros where a group has none)."""
        if not target:
            return None
        out = []
        for entries in target:
            height = next(iter(entries.values())).shape[0]
            zeros = np.zeros((height, n))
            out.append(np.hstack([entries.get(k, zeros) for k in range(count)]))
        return np.vstack(out)

    cost = np.concatenate([h * prices @ power_of[k] for k in range(count)])
    found = linprog(
        cost,
        A_ub=stack(a_ub),
        b_ub=np.concatenate(b_ub) if b_ub else None,
        A_eq=stack(a_eq),
        b_eq=np.concatenate(b_eq) if b_eq else None,
        bounds=list(
            zip(
                np.concatenate([lo for lo, _ in blocks]),
                np.concatenate([hi for _, hi in blocks]),
                strict=True,
            )
        ),
        method="highs",
    )
    if found.status != 0:
        return float("nan")
    return float(found.fun + h * prices @ base)
