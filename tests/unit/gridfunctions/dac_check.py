"""An independent check of a ``dac`` result against the document's device equations, written
from the specification (it shares no code with the engine)."""

from __future__ import annotations

from typing import Any

import numpy as np

TOL = 1e-5


def violations(document: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """Every equation a result's schedules break (empty when all hold)."""
    found: list[str] = []
    h = float(document["step_h"])
    n = int(document["steps"])
    prices = np.asarray(result["prices"], float)
    by_id = {b["id"]: b for b in result["buildings"]}
    aggregate = np.zeros(n)
    for building in document["buildings"]:
        got = by_id[building["id"]]
        powers = {d["id"]: np.asarray(d["power_kw"], float) for d in got["devices"]}
        net = np.asarray(building["base_kw"], float) + sum(
            (powers[d["id"]] for d in building["devices"]), np.zeros(n)
        )
        where = building["id"]
        if not np.allclose(net, got["net_kw"], atol=1e-6):
            found.append(f"{where}: net is not base + device powers")
        if abs(h * prices @ net - got["cost"]) > 1e-6 * max(1.0, abs(got["cost"])):
            found.append(f"{where}: cost is not h Σ prices·net")
        aggregate += net
        for device in building["devices"]:
            found += [
                f"{where}/{device['id']}: {v}" for v in _device(device, powers[device["id"]], h)
            ]
    if not np.allclose(aggregate, result["aggregate_kw"], atol=1e-6):
        found.append("aggregate is not the sum of the nets")
    return found


def _device(d: dict[str, Any], p: np.ndarray, h: float) -> list[str]:
    out = []
    kind = d["kind"]
    if kind == "battery":
        e = d["capacity_kwh"]
        if (p > d["charge_max_kw"] + TOL).any() or (-p > d["discharge_max_kw"] + TOL).any():
            out.append("power outside its limits")
        c, dis = np.maximum(p, 0), np.maximum(-p, 0)
        s = d["soc_init"] * e + np.cumsum(
            h * (d["charge_efficiency"] * c - dis / d["discharge_efficiency"])
        )
        if (s < d["soc_min"] * e - TOL).any() or (s > d["soc_max"] * e + TOL).any():
            out.append("energy outside [soc_min, soc_max]")
        final = d.get("soc_final_min", d["soc_init"])
        if s[-1] < final * e - TOL:
            out.append("final energy below soc_final_min")
    elif kind == "ev":
        inside = np.zeros(p.size, bool)
        inside[d["arrival_step"] : d["departure_step"]] = True
        if (
            (p < -TOL).any()
            or (p > d["charge_max_kw"] + TOL).any()
            or (abs(p[~inside]) > TOL).any()
        ):
            out.append("power outside its limits or its window")
        if abs(h * p.sum() - d["energy_kwh"]) > 1e-4:
            out.append("energy delivered is not energy_kwh")
    elif kind == "heating":
        if (p < -TOL).any() or (p > d["power_max_kw"] + TOL).any():
            out.append("power outside [0, max]")
        temp, c, r = d["temp_init_c"], d["capacitance_kwh_per_k"], d["resistance_k_per_kw"]
        for t in range(p.size):
            temp = temp + h / c * ((d["outdoor_c"][t] - temp) / r + d["cop"] * p[t])
            if not d["comfort_min_c"][t] - 1e-4 <= temp <= d["comfort_max_c"][t] + 1e-4:
                out.append(f"temperature {temp:.3f} outside comfort at step {t}")
                break
    else:
        if (p < -TOL).any() or (p > d["power_max_kw"] + TOL).any():
            out.append("power outside [0, max]")
        w = d["energy_init_kwh"] + np.cumsum(h * (p - np.asarray(d["draw_kw"]) - d["loss_kw"]))
        if (w < d["energy_min_kwh"] - 1e-4).any() or (w > d["energy_max_kwh"] + 1e-4).any():
            out.append("stored energy outside [min, max]")
    return out
