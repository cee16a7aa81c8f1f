"""Import a pandapower network into a :class:`~osed.grid.network.Network`.

``from_pandapower(net)`` converts a ``pandapowerNet``; ``load_pandapower(spec)`` reads a
pandapower JSON file or calls a constructor of ``pandapower.networks``
(``pandapower:mv_oberrhein``). pandapower is the optional extra ``osed[pandapower]`` and is
imported only when one of these is called.

External ids are ``<table><index>`` (``bus12``, ``line3``, ``trafo0``, ``ext_grid0``): the
pandapower index is unique and stable within a table, where names are often empty or repeated.
Names are kept as display names. Extra rows made from one element get a suffix (``load4:z``).

Units become SI; ``status`` is 0 for elements out of service or at an out-of-service bus.
The mapping is chosen so that power-grid-model's power flow reproduces pandapower's
``runpp(trafo_model="pi")``; see ``docs/grid-network.md`` for the measured agreement.
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from osed.domain.errors import ConfigurationError, Problem, ValidationError
from osed.grid.network import Network, NetworkBuilder

SUBJECT = "pandapower import"
PREFIX = "pandapower:"
# An ext_grid is an ideal voltage source in pandapower's power flow; this short-circuit power
# (VA) makes the power-grid-model source impedance negligible (< 1e-10 pu voltage error).
IDEAL_SK_VA = 1e18
# pandapower's default ``switch_rx_ratio`` for bus-bus switches with an impedance.
SWITCH_RX_RATIO = 2.0
# Tables with no counterpart in power-grid-model, reported as unsupported.
UNSUPPORTED_TABLES: dict[str, str] = {
    "ward": "ward equivalent not represented",
    "xward": "extended ward equivalent not represented",
    "dcline": "DC line not represented",
    "svc": "static var compensator not represented",
    "tcsc": "thyristor-controlled series capacitor not represented",
    "ssc": "static synchronous compensator not represented",
    "vsc": "voltage source converter not represented",
    "motor": "motor not represented",
    "source_dc": "DC source not represented",
    "load_dc": "DC load not represented",
    "line_dc": "DC line not represented",
    "bus_dc": "DC bus not represented",
    "b2b_vsc": "back-to-back converter not represented",
}
WINDINGS = {"yn": 1, "y": 0, "d": 2, "zn": 4, "z": 3}  # power-grid-model WindingType
Bools = NDArray[np.bool_]
Floats = NDArray[np.float64]


def _pandapower() -> ModuleType:
    try:
        return importlib.import_module("pandapower")
    except ImportError as exc:
        raise ConfigurationError(
            "the pandapower import needs pandapower: pip install 'osed[pandapower]'"
        ) from exc


def _reject(path: str, code: str, message: str) -> ValidationError:
    return ValidationError([Problem(path, code, message)], subject=SUBJECT)


def load_pandapower(spec: str) -> Network:
    """A network from a pandapower JSON file or ``pandapower:<constructor>``."""
    pp = _pandapower()
    if spec.startswith(PREFIX):
        constructor = spec[len(PREFIX) :]
        return from_pandapower(_construct(constructor), name=constructor, source=spec)
    path = Path(spec)
    if not path.is_file():
        raise _reject(spec, "not_found", "no such file")
    try:
        net = pp.from_json(str(path))
    except Exception as exc:  # pandapower raises many kinds on foreign JSON
        raise _reject(spec, "not_pandapower", f"not a pandapower JSON file: {exc}") from exc
    if not isinstance(net, pp.pandapowerNet):
        raise _reject(spec, "not_pandapower", "not a pandapower JSON file")
    return from_pandapower(net, name=path.stem, source=spec)


def _construct(constructor: str) -> Any:
    from pandapower import networks  # noqa: PLC0415 - optional extra

    known = sorted(
        name
        for name, value in vars(networks).items()
        if callable(value)
        and not name.startswith("_")
        and str(getattr(value, "__module__", "")).startswith("pandapower.networks")
    )
    if constructor not in known:
        close = difflib.get_close_matches(constructor, known, n=5, cutoff=0.5)
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise _reject(
            f"{PREFIX}{constructor}",
            "unknown_constructor",
            f"pandapower.networks has no network constructor {constructor!r}{hint}",
        )
    return getattr(networks, constructor)()


def from_pandapower(net: Any, *, name: str | None = None, source: str = "") -> Network:
    """Convert a ``pandapowerNet``; elements that cannot be represented go to ``unsupported``."""
    pp = _pandapower()
    if not isinstance(net, pp.pandapowerNet):
        raise _reject("$", "not_pandapower", f"expected a pandapowerNet, got {type(net).__name__}")
    title = name or str(net.get("name") or "") or "pandapower"
    builder = NetworkBuilder(title, frequency_hz=float(net.f_hz), source=source or "pandapower")
    _Converter(net, builder).run()
    return builder.build()


def _ids(prefix: str, index: Any) -> list[str]:
    return [f"{prefix}{i}" for i in index]


def _names(table: Any) -> list[str]:
    if "name" not in table:
        return [""] * len(table)
    return ["" if value is None or _isnan(value) else str(value) for value in table["name"]]


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _column(table: Any, column: str, default: float) -> Floats:
    if column not in table:
        return np.full(len(table), default)
    values: Floats = table[column].to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(values), default, values)


class _Converter:
    """One conversion: the net, the builder, and what the tables share (bus state, switches)."""

    def __init__(self, net: Any, builder: NetworkBuilder) -> None:
        self.net = net
        self.builder = builder
        self.bus_ok = net.bus["in_service"].astype(bool)
        self.vn_kv = net.bus["vn_kv"].astype(float)
        self.split_loads: set[int] = set()
        self.converted: dict[str, set[int]] = {}
        self.open_ends = self._open_switch_ends()

    def run(self) -> None:
        steps: list[Callable[[], None]] = [
            self.buses,
            self.bus_switches,
            self.lines,
            self.trafos,
            self.trafo3ws,
            self.impedances,
            self.ext_grids,
            self.loads,
            self.asymmetric,
            self.sgens,
            self.gens,
            self.storages,
            self.shunts,
            self.measurements,
            self.unsupported_tables,
        ]
        for step in steps:
            step()

    def table(self, name: str) -> Any:
        table = self.net.get(name)
        return table if table is not None and len(table) else None

    def ok(self, table: Any, bus_column: str = "bus") -> Bools:
        """In service and at an in-service bus (pandapower drops the rest from the calculation)."""
        buses = table[bus_column].to_numpy()
        result: Bools = table["in_service"].to_numpy(dtype=bool) & self.bus_ok.loc[buses].to_numpy()
        return result

    def unsupported(self, kind: str, table: Any, rows: Any, reason: str) -> None:
        names = _names(table.loc[rows])
        for index, element_name in zip(rows, names, strict=True):
            self.builder.unsupported(kind, f"{kind}{index}", element_name, reason)

    # --- nodes and switches ---------------------------------------------------------------

    def buses(self) -> None:
        bus = self.net.bus
        ids = _ids("bus", bus.index)
        self.builder.add_many("node", ids, names=_names(bus), u_rated=self.vn_kv.to_numpy() * 1e3)
        for node, point in zip(ids, _bus_points(self.net), strict=True):
            if point is not None:
                self.builder.set_xy(node, *point)

    def _open_switch_ends(self) -> set[tuple[str, int, int]]:
        """(element table, element, bus) of every open switch at a branch end."""
        switch = self.table("switch")
        if switch is None:
            return set()
        open_ = switch[~switch["closed"].astype(bool) & (switch["et"] != "b")]
        return set(
            zip(open_["et"], open_["element"].astype(int), open_["bus"].astype(int), strict=True)
        )

    def end_closed(self, et: str, elements: Any, buses: Any) -> Bools:
        closed = [
            (et, int(e), int(b)) not in self.open_ends for e, b in zip(elements, buses, strict=True)
        ]
        return np.array(closed, dtype=bool)

    def bus_switches(self) -> None:
        switch = self.table("switch")
        if switch is None:
            return
        bb = switch[switch["et"] == "b"]
        closed = bb["closed"].to_numpy(dtype=bool)
        z = _column(bb, "z_ohm", 0.0)
        ok = self.bus_ok.loc[bb["bus"].to_numpy()].to_numpy()
        ok &= self.bus_ok.loc[bb["element"].to_numpy()].to_numpy()
        links = bb[~(closed & (z > 0))]
        status = (closed & ok)[~(closed & (z > 0))].astype(np.int8)
        self.builder.add_many(
            "link",
            _ids("switch", links.index),
            names=_names(links),
            from_node=_ids("bus", links["bus"]),
            to_node=_ids("bus", links["element"]),
            from_status=status,
            to_status=status,
        )
        # pandapower models a closed bus-bus switch with z_ohm > 0 as an R + jX branch.
        with_z = bb[closed & (z > 0)]
        if len(with_z):
            zz = z[closed & (z > 0)]
            count = len(with_z)
            status = ok[closed & (z > 0)].astype(np.int8)
            self.builder.add_many(
                "line",
                _ids("switch", with_z.index),
                names=_names(with_z),
                from_node=_ids("bus", with_z["bus"]),
                to_node=_ids("bus", with_z["element"]),
                from_status=status,
                to_status=status,
                r1=zz * SWITCH_RX_RATIO / math.hypot(1, SWITCH_RX_RATIO),
                x1=zz / math.hypot(1, SWITCH_RX_RATIO),
                c1=np.zeros(count),
                tan1=np.zeros(count),
            )

    # --- branches -------------------------------------------------------------------------

    def lines(self) -> None:
        line = self.table("line")
        if line is None:
            return
        length = line["length_km"].to_numpy(dtype=float)
        parallel = _column(line, "parallel", 1.0)
        omega = 2 * math.pi * float(self.net.f_hz)
        c = line["c_nf_per_km"].to_numpy(dtype=float) * 1e-9 * length * parallel
        g = _column(line, "g_us_per_km", 0.0) * 1e-6 * length * parallel
        status = line["in_service"].to_numpy(dtype=bool)
        from_on = status & self.bus_ok.loc[line["from_bus"]].to_numpy()
        from_on &= self.end_closed("l", line.index, line["from_bus"])
        to_on = status & self.bus_ok.loc[line["to_bus"]].to_numpy()
        to_on &= self.end_closed("l", line.index, line["to_bus"])
        columns: dict[str, Any] = {
            "from_node": np.array(_ids("bus", line["from_bus"])),
            "to_node": np.array(_ids("bus", line["to_bus"])),
            "from_status": from_on.astype(np.int8),
            "to_status": to_on.astype(np.int8),
            "r1": line["r_ohm_per_km"].to_numpy(dtype=float) * length / parallel,
            "x1": line["x_ohm_per_km"].to_numpy(dtype=float) * length / parallel,
        }
        # A conductance without capacitance has no tan δ: such lines become generic branches.
        generic = (c <= 0) & (g > 0)
        ids = np.array(_ids("line", line.index))
        names = np.array(_names(line), dtype=object)
        plain = ~generic
        line_columns = {k: v[plain] for k, v in columns.items()}
        line_columns["c1"] = c[plain]
        line_columns["tan1"] = np.divide(g, omega * c, out=np.zeros_like(g), where=c > 0)[plain]
        line_columns["i_n"] = (
            line["max_i_ka"].to_numpy(dtype=float) * 1e3 * _column(line, "df", 1.0) * parallel
        )[plain]
        if {"r0_ohm_per_km", "x0_ohm_per_km", "c0_nf_per_km"} <= set(line.columns):
            c0 = line["c0_nf_per_km"].to_numpy(dtype=float) * 1e-9 * length * parallel
            g0 = _column(line, "g0_us_per_km", 0.0) * 1e-6 * length * parallel
            line_columns["r0"] = (line["r0_ohm_per_km"].to_numpy(dtype=float) * length / parallel)[
                plain
            ]
            line_columns["x0"] = (line["x0_ohm_per_km"].to_numpy(dtype=float) * length / parallel)[
                plain
            ]
            line_columns["c0"] = c0[plain]
            line_columns["tan0"] = np.divide(g0, omega * c0, out=np.zeros_like(g0), where=c0 > 0)[
                plain
            ]
        self.builder.add_many("line", list(ids[plain]), names=list(names[plain]), **line_columns)
        if generic.any():
            self.builder.add_many(
                "generic_branch",
                list(ids[generic]),
                names=list(names[generic]),
                **{k: v[generic] for k, v in columns.items()},
                g1=g[generic],
                b1=np.zeros(int(generic.sum())),
            )

    def trafos(self) -> None:
        trafo = self.table("trafo")
        if trafo is None:
            return
        t = _TrafoValues(trafo, self.vn_kv)
        status = trafo["in_service"].to_numpy(dtype=bool)
        hv_on = status & self.bus_ok.loc[trafo["hv_bus"]].to_numpy()
        hv_on &= self.end_closed("t", trafo.index, trafo["hv_bus"])
        lv_on = status & self.bus_ok.loc[trafo["lv_bus"]].to_numpy()
        lv_on &= self.end_closed("t", trafo.index, trafo["lv_bus"])
        ids = np.array(_ids("trafo", trafo.index))
        names = np.array(_names(trafo), dtype=object)
        common = {
            "from_node": np.array(_ids("bus", trafo["hv_bus"])),
            "to_node": np.array(_ids("bus", trafo["lv_bus"])),
            "from_status": hv_on.astype(np.int8),
            "to_status": lv_on.astype(np.int8),
        }
        fits = t.fits_transformer()
        if fits.any():
            self.builder.add_many(
                "transformer",
                list(ids[fits]),
                names=list(names[fits]),
                **{k: v[fits] for k, v in common.items()},
                **{k: v[fits] for k, v in t.transformer_columns().items()},
            )
        if (~fits).any():
            self.builder.add_many(
                "generic_branch",
                list(ids[~fits]),
                names=list(names[~fits]),
                **{k: v[~fits] for k, v in common.items()},
                **{k: v[~fits] for k, v in t.generic_columns().items()},
            )
        phase = t.phase_shifting_tap()
        if phase.any():
            self.unsupported("trafo", trafo, trafo.index[phase], "phase-shifting tap not applied")

    def trafo3ws(self) -> None:
        t3 = self.table("trafo3w")
        if t3 is None:
            return
        sides = ("hv", "mv", "lv")
        on = [
            t3["in_service"].to_numpy(dtype=bool)
            & self.bus_ok.loc[t3[f"{side}_bus"]].to_numpy()
            & self.end_closed("t3", t3.index, t3[f"{side}_bus"])
            for side in sides
        ]
        sn = {side: t3[f"sn_{side}_mva"].to_numpy(dtype=float) * 1e6 for side in sides}
        u = {side: t3[f"vn_{side}_kv"].to_numpy(dtype=float) * 1e3 for side in sides}
        # pandapower's vk_hv/mv/lv are the hv-mv, mv-lv and hv-lv pairs on min(sn) of the pair.
        pairs = {"12": ("hv", "mv", "hv"), "23": ("mv", "lv", "mv"), "13": ("hv", "lv", "lv")}
        columns: dict[str, Any] = {}
        for pair, (a, b, name) in pairs.items():
            columns[f"uk_{pair}"] = t3[f"vk_{name}_percent"].to_numpy(dtype=float) / 100
            columns[f"pk_{pair}"] = (
                t3[f"vkr_{name}_percent"].to_numpy(dtype=float) / 100 * np.minimum(sn[a], sn[b])
            )
        clock_12 = np.mod(np.rint(_column(t3, "shift_mv_degree", 0.0) / 30).astype(int), 12)
        clock_13 = np.mod(np.rint(_column(t3, "shift_lv_degree", 0.0) / 30).astype(int), 12)
        p0 = _column(t3, "pfe_kw", 0.0) * 1e3
        tap = _Tap3(t3, u)
        self.builder.add_many(
            "three_winding_transformer",
            _ids("trafo3w", t3.index),
            names=_names(t3),
            node_1=_ids("bus", t3["hv_bus"]),
            node_2=_ids("bus", t3["mv_bus"]),
            node_3=_ids("bus", t3["lv_bus"]),
            status_1=on[0].astype(np.int8),
            status_2=on[1].astype(np.int8),
            status_3=on[2].astype(np.int8),
            u1=u["hv"],
            u2=u["mv"],
            u3=u["lv"],
            sn_1=sn["hv"],
            sn_2=sn["mv"],
            sn_3=sn["lv"],
            **columns,
            i0=np.maximum(_column(t3, "i0_percent", 0.0) / 100, p0 / sn["hv"]),
            p0=p0,
            winding_1=np.full(len(t3), WINDINGS["yn"], dtype=np.int8),
            winding_2=np.where(clock_12 % 2, WINDINGS["d"], WINDINGS["yn"]).astype(np.int8),
            winding_3=np.where(clock_13 % 2, WINDINGS["d"], WINDINGS["yn"]).astype(np.int8),
            clock_12=clock_12.astype(np.int8),
            clock_13=clock_13.astype(np.int8),
            **tap.columns(),
        )

    def impedances(self) -> None:
        impedance = self.table("impedance")
        if impedance is None:
            return
        rft, xft = _column(impedance, "rft_pu", 0.0), _column(impedance, "xft_pu", 0.0)
        gf, bf = _column(impedance, "gf_pu", 0.0), _column(impedance, "bf_pu", 0.0)
        symmetric = (
            np.isclose(rft, _column(impedance, "rtf_pu", 0.0))
            & np.isclose(xft, _column(impedance, "xtf_pu", 0.0))
            & np.isclose(gf, _column(impedance, "gt_pu", 0.0))
            & np.isclose(bf, _column(impedance, "bt_pu", 0.0))
        )
        rows = impedance[symmetric]
        if (~symmetric).any():
            self.unsupported(
                "impedance", impedance, impedance.index[~symmetric], "asymmetric impedance"
            )
        if not len(rows):
            return
        # Per unit on sn_mva and the to-bus voltage; pandapower's ratio is 1 pu (k = 1).
        z_base = np.square(self.vn_kv.loc[rows["to_bus"]].to_numpy() * 1e3) / (
            rows["sn_mva"].to_numpy(dtype=float) * 1e6
        )
        on = self.ok(rows, "from_bus") & self.bus_ok.loc[rows["to_bus"]].to_numpy()
        self.builder.add_many(
            "generic_branch",
            _ids("impedance", rows.index),
            names=_names(rows),
            from_node=_ids("bus", rows["from_bus"]),
            to_node=_ids("bus", rows["to_bus"]),
            from_status=on.astype(np.int8),
            to_status=on.astype(np.int8),
            r1=rft[symmetric] * z_base,
            x1=xft[symmetric] * z_base,
            # pandapower puts gf + j·bf at each end; power-grid-model splits g1 + j·b1 in half.
            g1=2 * gf[symmetric] / z_base,
            b1=2 * bf[symmetric] / z_base,
            k=np.ones(len(rows)),
            theta=np.zeros(len(rows)),
            sn=rows["sn_mva"].to_numpy(dtype=float) * 1e6,
        )

    # --- appliances -----------------------------------------------------------------------

    def ext_grids(self) -> None:
        ext = self.table("ext_grid")
        if ext is None:
            return
        self.builder.add_many(
            "source",
            _ids("ext_grid", ext.index),
            names=_names(ext),
            node=_ids("bus", ext["bus"]),
            status=self.ok(ext).astype(np.int8),
            u_ref=ext["vm_pu"].to_numpy(dtype=float),
            u_ref_angle=np.deg2rad(_column(ext, "va_degree", 0.0)),
            sk=np.full(len(ext), IDEAL_SK_VA),
        )
        sc = _column(ext, "s_sc_max_mva", np.nan)
        if np.isfinite(sc).any():
            self.builder.metadata["ext_grid_s_sc_max_va"] = {
                f"ext_grid{i}": float(v) * 1e6
                for i, v in zip(ext.index, sc, strict=True)
                if np.isfinite(v)
            }

    def loads(self) -> None:
        load = self.table("load")
        if load is None:
            return
        scaling = _column(load, "scaling", 1.0)
        p = load["p_mw"].to_numpy(dtype=float) * scaling * 1e6
        q = load["q_mvar"].to_numpy(dtype=float) * scaling * 1e6
        status = self.ok(load).astype(np.int8)
        shares = _zip_shares(load)
        ids = np.array(_ids("load", load.index))
        names = np.array(_names(load), dtype=object)
        nodes = np.array(_ids("bus", load["bus"]))
        # One row per load model: constant power (type 0), impedance (1) and current (2).
        for load_type, suffix, (share_p, share_q) in zip(
            (0, 1, 2), ("", ":z", ":i"), shares, strict=True
        ):
            rows = (
                np.ones(len(load), dtype=bool)
                if load_type == 0
                else (share_p != 0) | (share_q != 0)
            )
            if not rows.any():
                continue
            if load_type:
                self.split_loads.update(int(i) for i in load.index[rows])
            self.builder.add_many(
                "sym_load",
                [f"{i}{suffix}" for i in ids[rows]],
                names=list(names[rows]),
                node=nodes[rows],
                status=status[rows],
                type=np.full(int(rows.sum()), load_type, dtype=np.int8),
                p_specified=(p * share_p)[rows],
                q_specified=(q * share_q)[rows],
            )

    def asymmetric(self) -> None:
        for table_name, kind in (("asymmetric_load", "asym_load"), ("asymmetric_sgen", "asym_gen")):
            table = self.table(table_name)
            if table is None:
                continue
            delta = (table["type"] == "delta").to_numpy() if "type" in table else None
            if delta is not None and delta.any():
                self.unsupported(
                    table_name, table, table.index[delta], "delta connection not represented"
                )
                table = table[~delta]
            scaling = _column(table, "scaling", 1.0)[:, None] * 1e6
            phases = ("a", "b", "c")
            self.builder.add_many(
                kind,
                _ids(table_name, table.index),
                names=_names(table),
                node=_ids("bus", table["bus"]),
                status=self.ok(table).astype(np.int8),
                type=np.zeros(len(table), dtype=np.int8),
                p_specified=table[[f"p_{x}_mw" for x in phases]].to_numpy(float) * scaling,
                q_specified=table[[f"q_{x}_mvar" for x in phases]].to_numpy(float) * scaling,
            )

    def _appliance(self, table_name: str, kind: str, q_scale: float = 1.0) -> None:
        table = self.table(table_name)
        if table is None:
            return
        scaling = _column(table, "scaling", 1.0) * 1e6
        q = _column(table, "q_mvar", 0.0) * scaling * q_scale
        self.builder.add_many(
            kind,
            _ids(table_name, table.index),
            names=_names(table),
            node=_ids("bus", table["bus"]),
            status=self.ok(table).astype(np.int8),
            type=np.zeros(len(table), dtype=np.int8),
            p_specified=table["p_mw"].to_numpy(dtype=float) * scaling,
            q_specified=q,
        )

    def sgens(self) -> None:
        self._appliance("sgen", "sym_gen")

    def storages(self) -> None:
        # pandapower storage uses the load convention (p > 0 charging), like sym_load.
        self._appliance("storage", "sym_load")

    def gens(self) -> None:
        gen = self.table("gen")
        if gen is None:
            return
        # power-grid-model has no PV node: the gen injects its p at q = 0.
        self._appliance("gen", "sym_gen", q_scale=0.0)
        self.unsupported("gen", gen, gen.index, "voltage control not represented")

    def shunts(self) -> None:
        shunt = self.table("shunt")
        if shunt is None:
            return
        vn = _column(shunt, "vn_kv", np.nan)
        vn = np.where(np.isnan(vn), self.vn_kv.loc[shunt["bus"]].to_numpy(), vn) * 1e3
        step = _column(shunt, "step", 1.0)
        # p, q are drawn at vn_kv; q > 0 absorbs reactive power, so b = -q / vn².
        self.builder.add_many(
            "shunt",
            _ids("shunt", shunt.index),
            names=_names(shunt),
            node=_ids("bus", shunt["bus"]),
            status=self.ok(shunt).astype(np.int8),
            g1=shunt["p_mw"].to_numpy(dtype=float) * 1e6 * step / vn**2,
            b1=-shunt["q_mvar"].to_numpy(dtype=float) * 1e6 * step / vn**2,
        )
        if "step_dependency_table" in shunt:
            tabled = shunt["step_dependency_table"].fillna(False).to_numpy(dtype=bool)
            if tabled.any():
                self.unsupported(
                    "shunt", shunt, shunt.index[tabled], "step characteristic table not applied"
                )

    # --- measurements and the rest --------------------------------------------------------

    def measurements(self) -> None:
        measurement = self.table("measurement")
        if measurement is not None:
            _Measurements(self, measurement).run()

    def unsupported_tables(self) -> None:
        for table_name, reason in UNSUPPORTED_TABLES.items():
            table = self.table(table_name)
            if table is not None:
                self.unsupported(table_name, table, table.index, reason)


def _bus_points(net: Any) -> list[tuple[float, float] | None]:
    """Bus coordinates: GeoJSON points in ``bus.geo`` (pandapower 3), else ``bus_geodata``."""
    if "geo" in net.bus:
        return [_geojson_point(value) for value in net.bus["geo"]]
    geodata = net.get("bus_geodata")
    if geodata is None or not len(geodata):
        return [None] * len(net.bus)
    xy = geodata.reindex(net.bus.index)[["x", "y"]].to_numpy(dtype=float)
    return [None if np.isnan(p).any() else (float(p[0]), float(p[1])) for p in xy]


def _geojson_point(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, str | dict):
        return None
    try:
        shape = json.loads(value) if isinstance(value, str) else value
        if shape.get("type") != "Point":
            return None
        x, y = shape["coordinates"][:2]
        return float(x), float(y)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None  # no usable point: the bus has no coordinates


def _zip_shares(load: Any) -> list[tuple[Floats, Floats]]:
    """Shares of p and q that are constant power, impedance and current."""
    if "const_z_p_percent" in load:
        z_p, i_p = _column(load, "const_z_p_percent", 0), _column(load, "const_i_p_percent", 0)
        z_q, i_q = _column(load, "const_z_q_percent", 0), _column(load, "const_i_q_percent", 0)
    else:  # pandapower 2 files
        z_p = z_q = _column(load, "const_z_percent", 0.0)
        i_p = i_q = _column(load, "const_i_percent", 0.0)
    z_p, i_p, z_q, i_q = z_p / 100, i_p / 100, z_q / 100, i_q / 100
    return [(1 - z_p - i_p, 1 - z_q - i_q), (z_p, z_q), (i_p, i_q)]


class _TrafoValues:
    """Two-winding transformer parameters, totals over ``parallel`` units, in SI."""

    def __init__(self, trafo: Any, vn_kv: Any) -> None:
        self.trafo = trafo
        n = _column(trafo, "parallel", 1.0)
        self.u1 = trafo["vn_hv_kv"].to_numpy(dtype=float) * 1e3
        self.u2 = trafo["vn_lv_kv"].to_numpy(dtype=float) * 1e3
        # n units in parallel act as one of n times the rating: uk and i0 stay, pk and p0 add.
        self.sn = trafo["sn_mva"].to_numpy(dtype=float) * 1e6 * n
        self.uk = trafo["vk_percent"].to_numpy(dtype=float) / 100
        self.pk = trafo["vkr_percent"].to_numpy(dtype=float) / 100 * self.sn
        self.p0 = _column(trafo, "pfe_kw", 0.0) * 1e3 * n
        # pandapower drops a negative magnetising susceptance; i0 >= p0/sn says the same.
        self.i0 = np.maximum(_column(trafo, "i0_percent", 0.0) / 100, self.p0 / self.sn)
        self.shift = _column(trafo, "shift_degree", 0.0)
        self.u_hv = vn_kv.loc[trafo["hv_bus"]].to_numpy() * 1e3
        self.u_lv = vn_kv.loc[trafo["lv_bus"]].to_numpy() * 1e3
        self.tap = _Tap(trafo, self.u1, self.u2)

    def fits_transformer(self) -> Bools:
        """Rows that power-grid-model's transformer accepts; the rest become generic branches."""
        clock_ok = np.isclose(np.mod(self.shift, 30.0), 0) | np.isclose(np.mod(self.shift, 30), 30)
        result: Bools = (
            (self.uk > 0) & (self.uk < 1) & (self.uk >= self.pk / self.sn) & (self.i0 < 1)
        ) & clock_ok
        return result

    def transformer_columns(self) -> dict[str, Any]:
        clock = np.mod(np.rint(self.shift / 30).astype(int), 12)
        winding_from, winding_to = _windings(self.trafo, clock)
        return {
            "u1": self.u1,
            "u2": self.u2,
            "sn": self.sn,
            "uk": self.uk,
            "pk": self.pk,
            "i0": self.i0,
            "p0": self.p0,
            "winding_from": winding_from,
            "winding_to": winding_to,
            "clock": clock.astype(np.int8),
            **self.tap.columns(),
        }

    def generic_columns(self) -> dict[str, Any]:
        """The same π model as a generic branch, at the present tap (impedances at lv side)."""
        u1, u2 = self.tap.tapped(self.u1, self.u2)
        z = self.uk * u2**2 / self.sn
        r = self.pk * u2**2 / self.sn**2
        y = self.i0 * self.sn / u2**2
        g = self.p0 / u2**2
        return {
            "r1": r,
            "x1": np.sqrt(np.maximum(z**2 - r**2, 0)),
            "g1": g,
            "b1": -np.sqrt(np.maximum(y**2 - g**2, 0)),
            "k": (u1 / u2) / (self.u_hv / self.u_lv),
            "theta": np.deg2rad(self.shift),
            "sn": self.sn,
        }

    def phase_shifting_tap(self) -> Bools:
        return self.tap.phase_shifting


class _Tap:
    """pandapower's tap changer as power-grid-model's (tap_size in V on the tap side)."""

    def __init__(self, trafo: Any, u1: Floats, u2: Floats) -> None:
        kind = trafo.get("tap_changer_type")
        side = trafo["tap_side"].to_numpy(dtype=object) if "tap_side" in trafo else None
        pos = _column(trafo, "tap_pos", np.nan)
        step = _column(trafo, "tap_step_percent", np.nan)
        degree = _column(trafo, "tap_step_degree", 0.0)
        # pandapower 3 applies a tap only for these changer types (older files: when given).
        typed = (
            kind.isin(["Ratio", "Symmetrical"]).to_numpy()
            if kind is not None
            else np.ones(len(trafo), dtype=bool)
        )
        on_side = (side == "hv") | (side == "lv") if side is not None else np.zeros(len(pos), bool)
        self.active = typed & on_side & np.isfinite(pos) & np.isfinite(step)
        self.phase_shifting: Bools = self.active & (degree != 0)
        self.active &= degree == 0
        self.lv = self.active & (side == "lv")
        neutral = _column(trafo, "tap_neutral", 0.0)
        # power-grid-model wants tap_size >= 0: a negative step mirrors the positions.
        sign = np.where(step < 0, -1.0, 1.0)
        self.pos = np.where(self.active, np.rint(pos * sign), 0)
        self.nom = np.where(self.active, np.rint(neutral * sign), 0)
        low = np.where(self.active, _column(trafo, "tap_min", np.nan) * sign, 0)
        high = np.where(self.active, _column(trafo, "tap_max", np.nan) * sign, 0)
        low, high = np.fmin(low, high), np.fmax(low, high)
        # Missing or too narrow ranges are widened to hold the position and the neutral.
        self.min = np.fmin(np.fmin(low, self.pos), self.nom)
        self.max = np.fmax(np.fmax(high, self.pos), self.nom)
        self.size = np.where(
            self.active, np.where(self.lv, u2, u1) * np.abs(np.nan_to_num(step)) / 100, 0
        )

    def columns(self) -> dict[str, Any]:
        return {
            "tap_side": self.lv.astype(np.int8),
            "tap_pos": self.pos.astype(np.int8),
            "tap_nom": self.nom.astype(np.int8),
            "tap_min": self.min.astype(np.int8),
            "tap_max": self.max.astype(np.int8),
            "tap_size": self.size,
        }

    def tapped(self, u1: Floats, u2: Floats) -> tuple[Floats, Floats]:
        offset = (self.pos - self.nom) * self.size
        return u1 + np.where(self.lv, 0, offset), u2 + np.where(self.lv, offset, 0)


class _Tap3:
    """A three-winding transformer's tap (tap_side 0, 1, 2 for hv, mv, lv)."""

    def __init__(self, t3: Any, u: dict[str, Floats]) -> None:
        side = t3["tap_side"].to_numpy(dtype=object)
        pos = _column(t3, "tap_pos", np.nan)
        step = _column(t3, "tap_step_percent", np.nan)
        typed = (
            t3["tap_changer_type"].isin(["Ratio", "Symmetrical"]).to_numpy()
            if "tap_changer_type" in t3
            else np.ones(len(t3), dtype=bool)
        )
        star = _column(t3, "tap_at_star_point", 0.0) != 0
        self.active = typed & np.isin(side, ["hv", "mv", "lv"]) & np.isfinite(pos)
        self.active &= np.isfinite(step) & (_column(t3, "tap_step_degree", 0.0) == 0) & ~star
        self.side = np.select([side == "mv", side == "lv"], [1, 2], 0)
        self.pos = np.where(self.active, np.rint(pos), 0)
        self.nom = np.where(self.active, np.rint(_column(t3, "tap_neutral", 0.0)), 0)
        low = np.where(self.active, _column(t3, "tap_min", np.nan), 0)
        high = np.where(self.active, _column(t3, "tap_max", np.nan), 0)
        self.min = np.fmin(np.fmin(np.fmin(low, high), self.pos), self.nom)
        self.max = np.fmax(np.fmax(np.fmax(low, high), self.pos), self.nom)
        u_side = np.choose(self.side, [u["hv"], u["mv"], u["lv"]])
        self.size = np.where(self.active, u_side * np.nan_to_num(step) / 100, 0)

    def columns(self) -> dict[str, Any]:
        return {
            "tap_side": self.side.astype(np.int8),
            "tap_pos": self.pos.astype(np.int8),
            "tap_nom": self.nom.astype(np.int8),
            "tap_min": self.min.astype(np.int8),
            "tap_max": self.max.astype(np.int8),
            "tap_size": self.size,
        }


def _windings(trafo: Any, clock: NDArray[np.int_]) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
    """Winding types from ``vector_group``; without one, YNyn for even clocks, Dyn for odd."""
    odd = clock % 2 == 1
    winding_from = np.where(odd, WINDINGS["d"], WINDINGS["yn"]).astype(np.int8)
    winding_to = np.full(len(trafo), WINDINGS["yn"], dtype=np.int8)
    if "vector_group" not in trafo:
        return winding_from, winding_to
    for row, group in enumerate(trafo["vector_group"]):
        parsed = _vector_group(group)
        if parsed is None:
            continue
        hv, lv = parsed
        # A group contradicting the clock (wye-wye at an odd clock) is ignored.
        if ((hv == WINDINGS["d"]) != (lv == WINDINGS["d"])) == bool(odd[row]) or hv in (3, 4):
            winding_from[row], winding_to[row] = hv, lv
    return winding_from, winding_to


def _vector_group(group: Any) -> tuple[int, int] | None:
    if not isinstance(group, str):
        return None
    letters = group.rstrip("0123456789").strip()
    for hv in ("YN", "ZN", "Y", "Z", "D"):
        lv = letters[len(hv) :]
        if letters.startswith(hv) and lv in WINDINGS:
            return WINDINGS[hv.lower()], WINDINGS[lv]
    return None


class _Measurements:
    """pandapower measurements as power-grid-model sensors (p and q of one place pair up)."""

    BRANCH_SIDES: ClassVar[dict[str, dict[str, int]]] = {
        "line": {"from": 0, "to": 1},
        "trafo": {"hv": 0, "lv": 1},
    }
    APPLIANCES: ClassVar[dict[str, tuple[str, int]]] = {
        "load": ("load", 4),
        "sgen": ("sgen", 5),
        "gen": ("gen", 5),
        "shunt": ("shunt", 3),
        "ext_grid": ("ext_grid", 2),
        "storage": ("storage", 4),
    }

    def __init__(self, converter: _Converter, measurement: Any) -> None:
        self.converter = converter
        self.net = converter.net
        self.m = measurement

    def reject(self, rows: Any, reason: str) -> None:
        self.converter.unsupported("measurement", self.m, rows, reason)

    def run(self) -> None:
        m = self.m
        kind = m["measurement_type"]
        self.voltages(m[kind == "v"], m[kind == "va"])
        self.powers(m[kind.isin(["p", "q"])])
        self.reject(m.index[kind.isin(["i", "ia"])], "current sensor needs magnitude and angle")

    def voltages(self, v: Any, va: Any) -> None:
        angles = {
            int(bus): (i, float(value))
            for i, bus, value in zip(va.index, va["element"], va["value"], strict=True)
        }
        used: set[int] = set()
        ids, angle_values = [], []
        for index, bus in zip(v.index, v["element"].astype(int), strict=True):
            ids.append(f"measurement{index}")
            if bus in angles:
                used.add(angles[bus][0])
                ids[-1] += f"+{angles[bus][0]}"
                angle_values.append(math.radians(angles[bus][1]))
            else:
                angle_values.append(math.nan)
        self.reject([i for i in va.index if i not in used], "voltage angle without magnitude")
        if not len(v):
            return
        u_base = self.converter.vn_kv.loc[v["element"].astype(int)].to_numpy() * 1e3
        # Sensors measure line-to-line voltage in V: pu times the bus's nominal voltage.
        self.converter.builder.add_many(
            "sym_voltage_sensor",
            ids,
            names=_names(v),
            measured_object=_ids("bus", v["element"].astype(int)),
            u_measured=v["value"].to_numpy(dtype=float) * u_base,
            u_sigma=v["std_dev"].to_numpy(dtype=float) * u_base,
            u_angle_measured=np.array(angle_values),
        )

    def place(self, element_type: str, element: int, side: Any) -> tuple[str, int] | None:
        """The measured object and terminal type of a p or q measurement."""
        if element_type == "bus":
            return f"bus{element}", 9
        if element_type in self.APPLIANCES:
            prefix, terminal = self.APPLIANCES[element_type]
            if element_type == "load" and element in self.converter.split_loads:
                return None  # the load became several rows; one sensor cannot cover them
            return f"{prefix}{element}", terminal
        sides = self.BRANCH_SIDES.get(element_type)
        if sides is None:
            return None
        if isinstance(side, str) and side in sides:
            return f"{element_type}{element}", sides[side]
        table = self.net[element_type]
        ends = ("from_bus", "to_bus") if element_type == "line" else ("hv_bus", "lv_bus")
        for terminal, end in enumerate(ends):
            try:
                if int(table.at[element, end]) == int(side):
                    return f"{element_type}{element}", terminal
            except (KeyError, TypeError, ValueError):
                return None
        return None

    def powers(self, pq: Any) -> None:
        pairs: dict[tuple[str, int, str], dict[str, tuple[int, float, float]]] = {}
        for index, row in zip(pq.index, pq.itertuples(index=False), strict=True):
            key = (str(row.element_type), int(row.element), str(row.side))
            pairs.setdefault(key, {})[str(row.measurement_type)] = (
                int(index),
                float(row.value) * 1e6,
                float(row.std_dev) * 1e6,
            )
        columns: dict[str, list[Any]] = {
            k: [] for k in ("id", "name", "obj", "terminal", "p", "q", "p_sigma", "q_sigma")
        }
        names = dict(zip(pq.index, _names(pq), strict=True))
        for (element_type, element, side), found in pairs.items():
            rows = [found[t][0] for t in ("p", "q") if t in found]
            place = self.place(element_type, element, side)
            if len(found) < 2 or place is None:
                reason = "p and q must both be measured" if place else "measured element"
                if place is None:
                    reason = f"no sensor for a {element_type} measurement here"
                self.reject(rows, reason)
                continue
            (ip, p, sp), (iq, q, sq) = found["p"], found["q"]
            # pandapower bus powers are consumption; power-grid-model node sensors injection.
            sign = -1.0 if element_type == "bus" else 1.0
            for column, value in zip(
                columns,
                (
                    f"measurement{ip}+{iq}",
                    names[ip],
                    place[0],
                    place[1],
                    sign * p,
                    sign * q,
                    sp,
                    sq,
                ),
                strict=True,
            ):
                columns[column].append(value)
        if columns["id"]:
            self.converter.builder.add_many(
                "sym_power_sensor",
                columns["id"],
                names=columns["name"],
                measured_object=columns["obj"],
                measured_terminal_type=np.array(columns["terminal"], dtype=np.int8),
                p_measured=np.array(columns["p"]),
                q_measured=np.array(columns["q"]),
                p_sigma=np.array(columns["p_sigma"]),
                q_sigma=np.array(columns["q_sigma"]),
            )
