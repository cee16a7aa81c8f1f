"""CGMES import: the samples that ship with cimpy, the power flow against their SV, bad input."""

from __future__ import annotations

import logging
import math
import re
import zipfile
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
from power_grid_model import PowerGridModel

from osed.domain.errors import ValidationError
from osed.grid.imports.cgmes import from_cgmes
from osed.grid.network import Network

SAMPLES = Path(str(files("cimpy"))) / "examples" / "sampledata"
CIGRE = SAMPLES / "CIGRE_MV"
SWITCHES = SAMPLES / "Sample_Grid_Switches"

# Measured on CIGRE_MV (power-grid-model Newton-Raphson vs NEPLAN's SV): at most 4.1e-8 p.u.
# in magnitude and 1.3e-5° in angle. The SV gives kV to 6 decimals (≤ 2.5e-8 p.u. of 20 kV)
# and the stiff slack source (sk = 1e15 VA, 47 MVA through it) adds ≈ 5e-8 p.u.; the bounds
# below leave a margin of about 10 over that.
U_TOLERANCE_PU = 1e-6
ANGLE_TOLERANCE_DEG = 1e-4


@pytest.fixture(scope="module")
def cigre() -> Network:
    return from_cgmes([CIGRE])


def _sv_voltages(path: Path) -> dict[str, tuple[float, float]]:
    """SvVoltage (kV, degrees) by TopologicalNode, read straight from the file."""
    pattern = re.compile(
        r"<cim:SvVoltage .*?SvVoltage.v>([^<]+)<.*?SvVoltage.angle>([^<]+)<"
        r'.*?SvVoltage.TopologicalNode rdf:resource="#([^"]+)"',
        re.S,
    )
    return {node: (float(v), float(a)) for v, a, node in pattern.findall(path.read_text())}


def test_cigre_holds_what_the_files_hold(cigre: Network) -> None:
    assert cigre.counts() == {
        "node": 15,
        "line": 12,
        "transformer": 2,
        "source": 1,
        "sym_load": 18,
    }
    assert cigre.unsupported == ()
    assert cigre.name == "Rootnet_FULL_NE_24J13h"
    assert set(cigre.ids("node")) == {f"N{i}" for i in range(15)}
    assert cigre.kind("HV-Netz") == "source"
    assert cigre.kind("L12-13") == "line"
    nodes = cigre.table("node")
    assert cigre.external_ids[nodes["id"][nodes["u_rated"] == 110e3][0]] == "N0"
    assert not np.isnan(cigre.node_xy).any()  # every node has a DL position


def test_cigre_parameters_are_converted_to_si(cigre: Network) -> None:
    line = cigre.table("line")[cigre.ids("line").index("L12-13")]
    assert line["r1"] == pytest.approx(1.64793)
    assert line["c1"] == pytest.approx(0.000250221 / (2 * math.pi * 50))
    assert line["r0"] == pytest.approx(4.89)
    transformer = cigre.table("transformer")[cigre.ids("transformer").index("TR1")]
    # End 1: r = 1.90575 Ω, x = 36.371106 Ω at 110 kV, 40 MVA; YNd5.
    z_base = 110e3**2 / 40e6
    assert transformer["uk"] == pytest.approx(math.hypot(1.90575, 36.371106) / z_base)
    assert transformer["pk"] == pytest.approx(1.90575 / z_base * 40e6)
    assert (transformer["winding_from"], transformer["winding_to"], transformer["clock"]) == (
        1,
        2,
        5,
    )
    # No SSH in this sample: the loads come from the SV power flow (15 MW, 3 Mvar).
    load = cigre.table("sym_load")[cigre.ids("sym_load").index("Load12-H")]
    assert (load["p_specified"], load["q_specified"]) == (15e6, 3e6)


def test_cigre_power_flow_matches_the_sv_profile(cigre: Network) -> None:
    result = PowerGridModel(dict(cigre.data)).calculate_power_flow()
    assert set(cigre.table("transformer")["clock"]) == {5}
    sv = _sv_voltages(next(CIGRE.glob("*_SV.xml")))
    worst_u = worst_angle = 0.0
    for row, u_rated in zip(result["node"], cigre.table("node")["u_rated"], strict=True):
        v_kv, angle_deg = sv[cigre.external_ids[row["id"]]]
        # The SV (NEPLAN) leaves out the YNd5 phase shift that power-grid-model applies:
        # 5 × 30° behind on the 20 kV side.
        shift = -150.0 if u_rated == 20e3 else 0.0
        worst_u = max(worst_u, abs(row["u"] - v_kv * 1e3) / u_rated)
        worst_angle = max(worst_angle, abs(math.degrees(row["u_angle"]) - shift - angle_deg))
    assert worst_u < U_TOLERANCE_PU
    assert worst_angle < ANGLE_TOLERANCE_DEG


@pytest.mark.parametrize(
    ("variant", "links", "open_links"), [("Bus-Branch", 5, 0), ("Node-Breaker", 10, 5)]
)
def test_switch_samples_import(variant: str, links: int, open_links: int) -> None:
    network = from_cgmes([SWITCHES / variant])
    assert network.counts() == {"node": 12, "line": 3, "link": links}
    assert network.unsupported == ()
    link = network.table("link")
    assert int(((link["from_status"] == 0) & (link["to_status"] == 0)).sum()) == open_links
    assert set(network.table("node")["u_rated"]) == {110e3}
    assert network.metadata["node_class"] == "TopologicalNode"
    assert not np.isnan(network.node_xy).any()


def test_files_directory_and_zip_give_the_same_model(cigre: Network, tmp_path: Path) -> None:
    archive = tmp_path / "cigre.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in CIGRE.glob("*.xml"):
            out.write(path, path.name)
    for source in (sorted(CIGRE.glob("*.xml")), [archive], archive):
        other = from_cgmes(source, name="other")
        assert other.name == "other"
        assert other.external_ids == cigre.external_ids
        for kind, table in cigre.data.items():
            assert table.dtype.names is not None
            for column in table.dtype.names:  # NaN counts as equal here
                np.testing.assert_array_equal(other.data[kind][column], table[column])


def _with_extra(tmp_path: Path, extra: str) -> Path:
    """The CIGRE sample with elements added to its EQ file."""
    for path in CIGRE.glob("*.xml"):
        text = path.read_text()
        if path.name.endswith("_EQ.xml"):
            text = text.replace("</rdf:RDF>", extra + "</rdf:RDF>")
        (tmp_path / path.name).write_text(text)
    return tmp_path


def test_unmapped_classes_are_listed_not_dropped(tmp_path: Path) -> None:
    extra = """
  <cim:SeriesCompensator rdf:ID="SC1"><cim:IdentifiedObject.name>series</cim:IdentifiedObject.name>
  </cim:SeriesCompensator>
  <cim:Analog rdf:ID="A1"><cim:Measurement.Terminal rdf:resource="#E-70"/></cim:Analog>
  <cim:NotACimClass rdf:ID="X1"/>
  <cim:PowerTransformer rdf:ID="T3"/>
""" + "".join(
        f'<cim:PowerTransformerEnd rdf:ID="T3{end}">'
        '<cim:PowerTransformerEnd.PowerTransformer rdf:resource="#T3"/>'
        "</cim:PowerTransformerEnd>"
        for end in "abc"
    )
    network = from_cgmes([_with_extra(tmp_path, extra)])
    listed = {u.id: u for u in network.unsupported}
    assert set(listed) == {"SC1", "A1", "X1", "T3"}
    assert listed["SC1"].kind == "SeriesCompensator"
    assert listed["SC1"].name == "series"
    assert "measured value" in listed["A1"].reason
    assert "cimpy" in listed["X1"].reason
    assert "three-winding" in listed["T3"].reason
    assert network.counts()["transformer"] == 2  # the rest still imports


def test_cimpy_logging_is_silenced(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        from_cgmes([CIGRE])
    assert not [r for r in caplog.records if r.name.startswith("cimpy")]


def _rejected(paths: list[Path]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        from_cgmes(paths)
    return caught.value


def test_missing_file_is_named(tmp_path: Path) -> None:
    error = _rejected([tmp_path / "absent_EQ.xml"])
    assert error.problems[0].code == "missing_file"
    assert "absent_EQ.xml" in str(error)


def test_file_that_is_not_xml_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken_EQ.xml"
    bad.write_text("this is not <xml")
    error = _rejected([bad])
    assert error.problems[0].code == "not_xml"
    assert "broken_EQ.xml" in str(error)


def test_xml_that_is_not_cim_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.xml"
    other.write_text('<?xml version="1.0"?><catalog><book id="1"/></catalog>')
    error = _rejected([*CIGRE.glob("*.xml"), other])
    assert error.problems[0].code == "not_cim"
    assert "other.xml" in str(error)


def test_a_set_without_eq_is_rejected() -> None:
    error = _rejected([p for p in CIGRE.glob("*.xml") if not p.name.endswith("_EQ.xml")])
    assert error.problems[0].code == "missing_eq"
    assert "_TP.xml" in str(error)


def test_empty_directory_is_rejected(tmp_path: Path) -> None:
    assert _rejected([tmp_path]).problems[0].code == "no_xml"
