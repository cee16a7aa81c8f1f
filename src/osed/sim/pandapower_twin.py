"""The same grid and measurements in pandapower, to compare estimates and times side by side.

Covers what the synthetic feeders hold: nodes, lines, a source, loads and generators, and
measurements of node voltage magnitude, appliance power (summed per bus, as pandapower
measures bus injections) and branch-end flows. pandapower is an optional dependency.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from osed.domain.errors import ConfigurationError
from osed.grid.measurements import Measurement
from osed.grid.network import Network

SQRT3 = math.sqrt(3.0)


def _pandapower() -> Any:
    try:
        import pandapower  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        raise ConfigurationError(
            "pandapower is not installed: pip install 'osed[pandapower]'"
        ) from exc
    return pandapower


def to_pandapower(network: Network) -> tuple[Any, dict[str, int]]:
    """A pandapowerNet and the bus index of each node id."""
    pp = _pandapower()
    allowed = {"node", "line", "source", "sym_load", "sym_gen"}
    other = set(network.counts()) - allowed
    if other:
        raise ConfigurationError(f"the pandapower twin does not cover {sorted(other)}")
    net = pp.create_empty_network(f_hz=network.frequency_hz)
    ids = network.external_ids
    bus: dict[str, int] = {}
    for row in network.table("node"):
        name = ids[int(row["id"])]
        bus[name] = int(pp.create_bus(net, vn_kv=float(row["u_rated"]) / 1e3, name=name))
    for row in network.table("line"):
        pp.create_line_from_parameters(
            net,
            bus[ids[int(row["from_node"])]],
            bus[ids[int(row["to_node"])]],
            length_km=1.0,
            r_ohm_per_km=float(row["r1"]),
            x_ohm_per_km=float(row["x1"]),
            c_nf_per_km=float(row["c1"]) * 1e9,
            max_i_ka=float(row["i_n"]) / 1e3 if math.isfinite(row["i_n"]) else 1.0,
            name=ids[int(row["id"])],
        )
    for row in network.table("source"):
        pp.create_ext_grid(
            net,
            bus[ids[int(row["node"])]],
            vm_pu=float(row["u_ref"]),
            va_degree=math.degrees(float(row["u_ref_angle"]))
            if math.isfinite(row["u_ref_angle"])
            else 0.0,
        )
    for kind, create in (("sym_load", pp.create_load), ("sym_gen", pp.create_sgen)):
        for row in network.table(kind):
            create(
                net,
                bus[ids[int(row["node"])]],
                p_mw=float(row["p_specified"]) / 1e6,
                q_mvar=float(row["q_specified"]) / 1e6,
                name=ids[int(row["id"])],
            )
    return net, bus


def add_measurements(
    net: Any, network: Network, bus: dict[str, int], measurements: Sequence[Measurement]
) -> None:
    """pandapower measurements equal to ours (three-phase values, ``ABC``), written into
    ``net.measurement`` as one table: ``create_measurement`` one at a time takes minutes for
    the 30,000 measurements of a 10,000-node feeder."""
    import pandas as pd  # noqa: PLC0415 - pandapower's own dependency

    _pandapower()
    line_index = {name: int(i) for i, name in net.line["name"].items()}
    u_rated = {
        network.external_ids[int(r["id"])]: float(r["u_rated"]) for r in network.table("node")
    }
    appliance_node = {
        network.external_ids[int(r["id"])]: network.external_ids[int(r["node"])]
        for kind in ("sym_load", "sym_gen")
        for r in network.table(kind)
    }
    rows: list[tuple[str, str, int, float, float, str | None]] = []
    injections: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for m in measurements:
        kind = network.kind(m.element)
        if m.measurand == "voltmagnitude":
            scale = SQRT3 / u_rated[m.element]
            rows.append(("v", "bus", bus[m.element], m.value * scale, m.sigma * scale, None))
        elif kind in ("sym_load", "sym_gen"):
            # pandapower's bus measurements are consumption positive, like its bus results
            sign = 1.0 if kind == "sym_load" else -1.0
            quantity = "p" if m.measurand == "activepower" else "q"
            injections[(appliance_node[m.element], quantity)].append((sign * m.value, m.sigma))
        elif kind == "line":
            quantity = "p" if m.measurand == "activepower" else "q"
            row = (quantity, "line", line_index[m.element], m.value / 1e6, m.sigma / 1e6, m.side)
            rows.append(row)
        else:
            raise ConfigurationError(f"the pandapower twin does not cover {m.label()}")
    for (node, quantity), parts in injections.items():
        value = sum(v for v, _ in parts) / 1e6
        sigma = math.sqrt(sum(s * s for _, s in parts)) / 1e6
        rows.append((quantity, "bus", bus[node], value, sigma, None))
    columns = ["measurement_type", "element_type", "element", "value", "std_dev", "side"]
    table = pd.DataFrame(rows, columns=columns)
    table.insert(0, "name", None)
    table.index = pd.RangeIndex(len(net.measurement), len(net.measurement) + len(table))
    table = table.astype(net.measurement.dtypes.to_dict())
    net.measurement = pd.concat([net.measurement, table]) if len(net.measurement) else table
