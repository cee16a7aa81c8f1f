"""The network model: building, validation with every problem named, files in and out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from power_grid_model.utils import json_serialize

from osed.domain.errors import NotFoundError, ValidationError
from osed.grid.imports.files import from_document, from_pgm_document, load_network, to_document
from osed.grid.network import NetworkBuilder
from osed.grid.powerflow import power_flow
from osed.sim.feeders import radial_feeder


def small() -> NetworkBuilder:
    builder = NetworkBuilder("small")
    builder.add("node", "N1", name="Substation", u_rated=10.5e3, xy=(0.0, 0.0))
    builder.add("node", "N2", u_rated=10.5e3, xy=(1.0, 0.5))
    builder.add("line", "L1", from_node="N1", to_node="N2", r1=0.2, x1=0.1, c1=1e-7, tan1=0.0)
    builder.add("source", "S1", node="N1", u_ref=1.0)
    builder.add("sym_load", "D1", node="N2", type=0, p_specified=1e6, q_specified=2e5)
    return builder


def test_a_built_network_keeps_external_ids_names_and_coordinates() -> None:
    network = small().build()
    assert network.ids("node") == ["N1", "N2"]
    assert network.kind("L1") == "line"
    assert network.names[network.solver_id("N1")] == "Substation"
    assert network.node_xy.tolist() == [[0.0, 0.0], [1.0, 0.5]]
    assert network.table("line")["from_node"][0] == network.solver_id("N1")
    assert network.counts() == {"node": 2, "line": 1, "source": 1, "sym_load": 1}
    with pytest.raises(NotFoundError):
        network.solver_id("nowhere")


def test_every_problem_is_named_with_its_path() -> None:
    builder = small()
    builder.add("node", "N1", u_rated=400.0)  # duplicate
    builder.add("line", "L2", from_node="N2", to_node="N9", r1=0.1, x1=0.1, c1=0.0, tan1=0.0)
    builder.add("sym_load", "D2", node="N2", type=0, p_specified=1.0, q_specified=0.0, colour=3)
    with pytest.raises(ValidationError) as caught:
        builder.build()
    paths = {(p.path, p.code) for p in caught.value.problems}
    assert ("$.node[N1]", "duplicate_id") in paths
    assert ("$.line[L2].to_node", "unknown_reference") in paths
    assert ("$.sym_load[D2].colour", "unknown_attribute") in paths


def test_missing_required_attributes_are_reported() -> None:
    builder = NetworkBuilder("bare")
    builder.add("node", "N1", u_rated=400.0)
    builder.add("node", "N2", u_rated=400.0)
    builder.add("line", "L1", from_node="N1", to_node="N2", r1=0.1)
    with pytest.raises(ValidationError) as caught:
        builder.build()
    missing = {p.path for p in caught.value.problems if p.code == "missing_attribute"}
    assert missing == {"$.line[*].x1", "$.line[*].c1", "$.line[*].tan1"}


def test_solver_validation_names_components_by_external_id() -> None:
    builder = small()
    builder.add("node", "N3", u_rated=-5.0)
    with pytest.raises(ValidationError) as caught:
        builder.build()
    assert any("N3" in p.path and "u_rated" in p.path for p in caught.value.problems)


def test_osed_json_round_trip_keeps_everything() -> None:
    network = small().build()
    document = json.loads(json.dumps(to_document(network)))
    again = from_document(document)
    assert again.external_ids == network.external_ids
    assert again.names == network.names
    np.testing.assert_array_equal(again.node_xy, network.node_xy)
    for kind, table in network.data.items():
        for attribute in table.dtype.names or ():
            np.testing.assert_array_equal(again.table(kind)[attribute], table[attribute])


def test_osed_json_errors_name_their_paths() -> None:
    with pytest.raises(ValidationError) as caught:
        from_document({"format": "osed-network", "components": {"bus": [], "line": [{"x": 1}]}})
    codes = {(p.path, p.code) for p in caught.value.problems}
    assert ("$.components.bus", "unknown_kind") in codes
    assert ("$.components.line[0]", "bad_row") in codes


def test_power_grid_model_json_imports_with_its_ids(tmp_path: object) -> None:
    feeder = radial_feeder(12)
    text = json_serialize(dict(feeder.data))
    network = from_pgm_document(json.loads(text), name="pgm")
    assert len(network.table("node")) == 12
    assert network.kind("0") == "node"
    assert network.unsupported == ()  # every kind of a radial feeder is represented
    np.testing.assert_allclose(power_flow(network).u_pu, power_flow(feeder).u_pu, atol=1e-12)


def test_load_network_detects_the_format(tmp_path: pytest.TempPathFactory) -> None:
    feeder = radial_feeder(5)
    ours = tmp_path / "feeder.json"  # type: ignore[operator]
    ours.write_text(json.dumps(to_document(feeder)))
    theirs = tmp_path / "pgm.json"  # type: ignore[operator]
    theirs.write_text(json_serialize(dict(feeder.data)))
    assert load_network(ours).ids("node") == feeder.ids("node")
    assert len(load_network(theirs).table("line")) == 4
    junk = tmp_path / "junk.json"  # type: ignore[operator]
    junk.write_text("{not json")
    with pytest.raises(ValidationError, match="not a JSON network"):
        load_network(junk)
    with pytest.raises(ValidationError, match="no such file"):
        load_network(tmp_path / "missing.json")  # type: ignore[operator]
