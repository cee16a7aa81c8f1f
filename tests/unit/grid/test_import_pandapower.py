"""The pandapower import: bundled networks convert, and power-grid-model's power flow on the
result reproduces pandapower's own (``runpp(trafo_model="pi")``, ``runpp_3ph``)."""

from __future__ import annotations

import copy
import json
import logging
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandapower as pp
import pytest
from pandapower import networks as pn
from power_grid_model import PowerGridModel

from osed.domain.errors import ConfigurationError, ValidationError
from osed.grid.imports.pandapower import from_pandapower, load_pandapower
from osed.grid.network import Network

# (constructor, keyword arguments, max |ΔV| in pu, max |Δθ| in rad): each just above the figure
# measured with the tolerances below (docs/grid-network.md, "pandapower import").
CASES = [
    ("create_cigre_network_mv", {}, 1e-10, 1e-10),
    ("create_cigre_network_mv", {"with_der": "pv_wind"}, 1e-10, 1e-10),
    ("create_cigre_network_mv", {"with_der": "all"}, 1e-10, 1e-10),
    ("create_cigre_network_lv", {}, 5e-9, 5e-9),
    ("create_kerber_landnetz_freileitung_1", {}, 1e-10, 1e-10),
    ("create_kerber_vorstadtnetz_kabel_1", {}, 1e-10, 1e-10),
    ("kb_extrem_vorstadtnetz_2", {}, 1e-10, 1e-10),
    ("mv_oberrhein", {}, 1e-10, 1e-10),
    ("lv_schutterwald", {}, 2e-9, 1e-9),
    ("example_simple", {}, 2e-7, 1e-7),
    ("example_multivoltage", {}, 2e-5, 5e-5),
    ("case14", {}, 1e-9, 1e-9),
    ("ieee_european_lv_asymmetric", {}, 1e-3, 1e-3),
]


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    # pandapower warns about numba and deprecations; none of that is under test here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        yield
        logging.disable(logging.NOTSET)


@cache
def _net(constructor: str, options: str = "{}") -> Any:
    return getattr(pn, constructor)(**json.loads(options))


@cache
def _network(constructor: str, options: str = "{}") -> Network:
    return from_pandapower(_net(constructor, options), name=constructor)


def _reference(net: Any) -> Any:
    """The pandapower net as imported: a gen injects its p at q = 0; wards are dropped."""
    net = copy.deepcopy(net)
    for _, gen in net.gen.iterrows():
        pp.create_sgen(
            net, gen.bus, p_mw=gen.p_mw, q_mvar=0.0, scaling=gen.scaling, in_service=gen.in_service
        )
    net.gen = net.gen.iloc[0:0]
    for table in ("ward", "xward"):
        net[table] = net[table].iloc[0:0]
    return net


def _deviation(net: Any, network: Network) -> tuple[float, float]:
    reference = _reference(net)
    symmetric = not network.is_asymmetric
    if symmetric:
        pp.runpp(reference, trafo_model="pi", tolerance_mva=1e-9, max_iteration=30)
        vm = reference.res_bus["vm_pu"].to_numpy()
        va = np.deg2rad(reference.res_bus["va_degree"].to_numpy())
    else:
        pp.runpp_3ph(reference)
        phases = ("a", "b", "c")
        vm = reference.res_bus_3ph[[f"vm_{x}_pu" for x in phases]].to_numpy()
        va = np.deg2rad(reference.res_bus_3ph[[f"va_{x}_degree" for x in phases]].to_numpy())
    model = PowerGridModel(dict(network.data), system_frequency=network.frequency_hz)
    node = model.calculate_power_flow(symmetric=symmetric, error_tolerance=1e-10)["node"]
    order = [int(i[3:]) for i in network.ids("node")]
    position = reference.bus.index.get_indexer(order)
    vm, va = vm[position], va[position]
    # Buses pandapower leaves unsupplied (NaN) are unenergised in power-grid-model too.
    supplied = np.isfinite(vm)
    energized = node["energized"] == 1
    assert np.array_equal(supplied.all(axis=-1) if vm.ndim > 1 else supplied, energized)
    dv = np.abs(node["u_pu"] - vm)[supplied]
    da = np.abs(np.angle(np.exp(1j * (node["u_angle"] - va))))[supplied]
    return float(dv.max()), float(da.max())


@pytest.mark.parametrize(("constructor", "options", "tol_v", "tol_a"), CASES)
def test_power_flow_matches_pandapower(
    constructor: str, options: dict[str, str], tol_v: float, tol_a: float
) -> None:
    key = json.dumps(options)
    network = _network(constructor, key)
    dv, da = _deviation(_net(constructor, key), network)
    assert dv < tol_v
    assert da < tol_a


def test_gens_become_generators_listed_as_unsupported() -> None:
    network = _network("case14")
    gens = [u for u in network.unsupported if u.kind == "gen"]
    assert [u.id for u in gens] == ["gen0", "gen1", "gen2", "gen3"]
    assert {u.reason for u in gens} == {"voltage control not represented"}
    generators = network.table("sym_gen")
    assert len(generators) == 4
    assert np.all(generators["q_specified"] == 0)


def test_multivoltage_elements() -> None:
    net = _net("example_multivoltage")
    network = _network("example_multivoltage")
    assert network.kind("impedance0") == "generic_branch"
    assert network.kind("trafo3w0") == "three_winding_transformer"
    assert {(u.kind, u.id) for u in network.unsupported} == {
        ("xward", "xward0"),
        ("xward", "xward1"),
        ("gen", "gen0"),
    }
    links = network.table("link")
    open_bus_switches = net.switch[(net.switch.et == "b") & ~net.switch.closed].index
    for index in open_bus_switches:
        row = links[links["id"] == network.solver_id(f"switch{index}")]
        assert row["from_status"][0] == 0
        assert row["to_status"][0] == 0
    shunt = network.table("shunt")[0]
    # q = -0.96 Mvar (capacitive, delivers reactive power) at 110 kV → b > 0.
    assert shunt["b1"] == pytest.approx(0.96e6 / 110e3**2)


def test_open_line_switch_opens_the_line_end() -> None:
    net = _net("mv_oberrhein")
    network = _network("mv_oberrhein")
    switch = net.switch[~net.switch.closed].iloc[0]
    line = net.line.loc[switch.element]
    row = network.table("line")[
        network.solver_id(f"line{switch.element}") - _first("line", network)
    ]
    end = "from_status" if line.from_bus == switch.bus else "to_status"
    assert row[end] == 0
    assert np.isfinite(network.node_xy).all()  # GeoJSON bus coordinates


def _first(kind: str, network: Network) -> int:
    return int(network.table(kind)["id"][0])


def test_zip_load_splits_into_load_types() -> None:
    net = pp.create_empty_network()
    b0, b1 = pp.create_bus(net, 20.0), pp.create_bus(net, 20.0)
    pp.create_ext_grid(net, b0, vm_pu=1.02)
    pp.create_line_from_parameters(net, b0, b1, 3.0, 0.2, 0.3, 200.0, 0.4)
    pp.create_load(
        net, b1, p_mw=2.0, q_mvar=0.8, const_z_p_percent=30, const_i_p_percent=20,
        const_z_q_percent=50, scaling=0.9,
    )  # fmt: skip
    network = from_pandapower(net)
    assert network.ids("sym_load") == ["load0", "load0:z", "load0:i"]
    loads = network.table("sym_load")
    assert list(loads["type"]) == [0, 1, 2]
    assert loads["p_specified"] == pytest.approx(np.array([0.5, 0.3, 0.2]) * 1.8e6)
    assert loads["q_specified"] == pytest.approx(np.array([0.5, 0.5, 0.0]) * 0.72e6)
    dv, da = _deviation(net, network)
    assert dv < 1e-9
    assert da < 1e-9


def test_measurements_become_sensors_that_estimate_the_state() -> None:
    net = copy.deepcopy(_net("create_cigre_network_mv"))
    pp.runpp(net, trafo_model="pi")
    for bus, result in net.res_bus.iterrows():
        pp.create_measurement(net, "v", "bus", result.vm_pu, 1e-3, bus)
        pp.create_measurement(net, "p", "bus", result.p_mw, 1e-3, bus)
        pp.create_measurement(net, "q", "bus", result.q_mvar, 1e-3, bus)
    pp.create_measurement(net, "p", "line", net.res_line.p_from_mw[0], 1e-3, 0, side="from")
    pp.create_measurement(net, "q", "line", net.res_line.q_from_mvar[0], 1e-3, 0, side="from")
    pp.create_measurement(net, "i", "line", net.res_line.i_from_ka[0], 1e-3, 0, side="from")
    network = from_pandapower(net)
    voltages = network.table("sym_voltage_sensor")
    assert voltages["u_measured"][0] == pytest.approx(net.res_bus.vm_pu[0] * 110e3)
    assert voltages["u_sigma"][0] == pytest.approx(110.0)
    powers = network.table("sym_power_sensor")
    assert powers["p_sigma"] == pytest.approx(np.full(len(powers), 1e3))
    assert [u.kind for u in network.unsupported] == ["measurement"]  # the current
    model = PowerGridModel(dict(network.data), system_frequency=network.frequency_hz)
    estimate = model.calculate_state_estimation(symmetric=True)["node"]
    assert estimate["u_pu"] == pytest.approx(net.res_bus.vm_pu.to_numpy(), abs=1e-6)


def test_json_file_and_constructor_spec(tmp_path: Path) -> None:
    path = tmp_path / "simple.json"
    pp.to_json(_net("example_simple"), str(path))
    from_file = load_pandapower(str(path))
    assert from_file.name == "simple"
    assert from_file.counts() == _network("example_simple").counts()
    by_name = load_pandapower("pandapower:example_simple")
    assert by_name.source == "pandapower:example_simple"
    assert by_name.has("trafo0")


def test_unknown_constructor_lists_close_names() -> None:
    with pytest.raises(ValidationError) as caught:
        load_pandapower("pandapower:mv_oberhein")
    assert caught.value.problems[0].code == "unknown_constructor"
    assert "mv_oberrhein" in caught.value.problems[0].message


def test_not_a_network_constructor() -> None:
    with pytest.raises(ValidationError):
        load_pandapower("pandapower:create_bus")


def test_foreign_json_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something else", "rows": [1, 2]}), encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        load_pandapower(str(path))
    assert caught.value.problems[0].code == "not_pandapower"
    with pytest.raises(ValidationError):
        load_pandapower(str(tmp_path / "missing.json"))
    with pytest.raises(ValidationError):
        from_pandapower({"bus": []})


def test_missing_pandapower_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandapower", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'osed\[pandapower\]'"):
        load_pandapower("pandapower:example_simple")
