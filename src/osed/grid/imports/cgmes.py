"""Import a CGMES 2.4.15 (CIM16) model into a :class:`~osed.grid.network.Network` with cimpy.

``from_cgmes(paths)`` takes the RDF/XML files of one model: EQ (required), TP, SSH, SV and
DL/GL where present. Each path may be an XML file, a directory (its ``*.xml`` files, not
recursive) or a ``.zip`` (its XML members, and the XML members of zips inside it). Files are
checked before cimpy reads them, so a missing file, a file that is not CIM RDF/XML, mixed CIM
namespaces or a set without an EQ profile raise :class:`~osed.domain.errors.ValidationError`
naming the file; cimpy's own logging is silenced during the import.

Mapping (CIM mRIDs, i.e. the ``rdf:ID``, become the external ids; units become SI):

* ``TopologicalNode`` → ``node`` when the TP profile is present, else ``ConnectivityNode``
  → ``node``; ``u_rated`` from ``BaseVoltage.nominalVoltage`` (kV → V).
* ``Switch``/``Breaker``/``Disconnector``/``LoadBreakSwitch``/``Fuse``/``Jumper``/
  ``GroundDisconnector`` between two nodes → ``link`` (statuses 0 when open; state from SSH
  ``open``, else ``normalOpen``). A closed switch whose terminals the TP profile already put
  on one TopologicalNode is represented by that node (counted in ``metadata``); an open one
  there is reported unsupported.
* ``ACLineSegment`` → ``line`` (r, x; c1 = bch/(2πf); tan1 = gch/bch; r0/x0/c0/tan0 when the
  file gives r0/x0); with r = x = 0 → ``link``.
* ``PowerTransformer`` with 2 ``PowerTransformerEnd`` → ``transformer``: ends' r/x/g/b are
  referred to end 1 and turned into uk, pk, i0, p0 on end 1's ratedS and ratedU; winding
  types from ``connectionKind``/``grounded``; clock from the ends' ``phaseAngleClock``; a
  ``RatioTapChanger`` gives the tap (position from SSH ``step``, SV ``SvTapStep`` or
  ``normalStep``). Three or more ends → unsupported (see below).
* ``EnergyConsumer``/``ConformLoad``/``NonConformLoad``/``StationSupply`` → ``sym_load``
  (constant power; p, q from SSH, else the SV power flow at its terminal, else 0 with a note
  in ``metadata["notes"]``).
* ``ExternalNetworkInjection``/``SynchronousMachine``/``EquivalentInjection`` → ``source``
  when they are the slack, else ``sym_gen`` (p, q from SSH or SV, load sign turned into
  generation). The slack is the injection with the best (lowest positive)
  ``referencePriority``; failing that the injection at the ``TopologicalIsland``'s angle
  reference node, else the one at an SV node with angle 0, else the first external network.
  ``u_ref`` comes from SV at its node, else a voltage ``RegulatingControl`` target, else 1;
  the source is stiff (sk = 1e15 VA) because a load-flow slack holds its node at that
  voltage, so the ENI's short-circuit data (``maxInitialSymShCCurrent``) is not used.
* ``LinearShuntCompensator`` → ``shunt`` (per-section g, b × sections from SSH, SV or
  ``normalSections``).
* Node coordinates: mean of the ``DiagramObjectPoint`` of the node's DL diagram object (DL),
  else GL ``PositionPoint`` of one-terminal equipment at the node.

Reported with ``NetworkBuilder.unsupported`` (class, mRID, name, reason), never dropped:
three-winding transformers (CIM gives star impedances; power-grid-model wants pairwise
uk/pk on min(sn) bases, a conversion not validated here), phase tap changers, measurements
(``Analog`` and the like: CGMES carries neither a measured value nor an accuracy, which a
sensor needs), equipment that cannot be placed (a terminal without node) and every other
class present that is not listed here, including classes cimpy 1.1 cannot read.

Ignored as descriptive (no electrical element of their own, or used only through the mapped
elements): BaseVoltage, Terminal, ConnectivityNode/TopologicalNode not used as nodes,
BusbarSection, Junction, containers (GeographicalRegion, SubGeographicalRegion, Substation,
VoltageLevel, Bay, Line), PowerTransformerEnd and RatioTapChanger (read with their
transformer), limits (OperationalLimitSet/Type, CurrentLimit, VoltageLimit, ActivePowerLimit,
ApparentPowerLimit), controls and schedules (RegulatingControl, TapChangerControl, load
groups, schedules, LoadResponseCharacteristic: loads are constant power), generating units
and their curves, control areas, names, state variables (read as values), TopologicalIsland,
diagram and location classes.
"""

from __future__ import annotations

import logging
import math
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from xml.etree import ElementTree

from osed.domain.errors import Problem, ValidationError
from osed.grid.network import Network, NetworkBuilder

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
CGMES_VERSION = "cgmes_v2_4_15"
SUBJECT = "CGMES import"

# Model.profile URIs name their profile; boundary sets are read but do not count as EQ.
_PROFILE_KEYS = (
    ("EquipmentBoundary", "EQ_BD"),
    ("TopologyBoundary", "TP_BD"),
    ("Equipment", "EQ"),
    ("Topology", "TP"),
    ("SteadyStateHypothesis", "SSH"),
    ("StateVariables", "SV"),
    ("DiagramLayout", "DL"),
    ("GeographicalLocation", "GL"),
    ("Dynamics", "DY"),
)
_FILE_SUFFIX = re.compile(r"_(EQ|TP|SSH|SV|DL|DI|GL)(_|\.|$)", re.IGNORECASE)

SWITCHES = frozenset(
    ("Switch", "Breaker", "Disconnector", "LoadBreakSwitch", "Fuse", "Jumper", "GroundDisconnector")
)
LOADS = frozenset(("EnergyConsumer", "ConformLoad", "NonConformLoad", "StationSupply"))
INJECTIONS = frozenset(("ExternalNetworkInjection", "SynchronousMachine", "EquivalentInjection"))
MAPPED = frozenset(
    (
        "ACLineSegment",
        "PowerTransformer",
        "LinearShuntCompensator",
        "TopologicalNode",
        "ConnectivityNode",
        *SWITCHES,
        *LOADS,
        *INJECTIONS,
    )
)
# Classes that carry no electrical element of their own (see the module docstring).
DESCRIPTIVE = frozenset(
    """
    BaseVoltage Terminal BusbarSection Junction GeographicalRegion SubGeographicalRegion
    Substation VoltageLevel Bay Line PowerTransformerEnd RatioTapChanger
    RatioTapChangerTable RatioTapChangerTablePoint OperationalLimitSet OperationalLimitType
    CurrentLimit VoltageLimit ActivePowerLimit ApparentPowerLimit RegulatingControl
    TapChangerControl LoadResponseCharacteristic LoadArea SubLoadArea ConformLoadGroup
    NonConformLoadGroup ConformLoadSchedule NonConformLoadSchedule RegulationSchedule
    SwitchSchedule SeasonDayTypeSchedule DayType Season GeneratingUnit ThermalGeneratingUnit
    HydroGeneratingUnit WindGeneratingUnit SolarGeneratingUnit NuclearGeneratingUnit
    FossilFuel ReactiveCapabilityCurve CurveData EnergySchedulingType ControlArea
    ControlAreaGeneratingUnit TieFlow EquivalentNetwork Name NameType NameTypeAuthority
    SvVoltage SvPowerFlow SvTapStep SvStatus SvInjection SvShuntCompensatorSections
    TopologicalIsland Diagram DiagramObject DiagramObjectPoint DiagramObjectGluePoint
    DiagramObjectStyle DiagramStyle TextDiagramObject VisibilityLayer CoordinateSystem
    Location PositionPoint
    """.split()  # noqa: SIM905 - a word list reads better than 70 quoted names
)
# Reasons for classes that are left out on purpose, more telling than "not mapped".
_PHASE_SHIFT = "phase shift is not represented; the transformer is imported without it"
REASONS: Mapping[str, str] = {
    **dict.fromkeys(
        (
            "PhaseTapChanger",
            "PhaseTapChangerLinear",
            "PhaseTapChangerSymmetrical",
            "PhaseTapChangerAsymmetrical",
            "PhaseTapChangerTabular",
        ),
        _PHASE_SHIFT,
    ),
    "Analog": "CGMES gives no measured value or accuracy, which a sensor needs",
    "Discrete": "CGMES gives no measured value; discrete signals have no sensor",
    "Accumulator": "CGMES gives no measured value; accumulators have no sensor",
    "StringMeasurement": "not a quantity a sensor can measure",
}

WINDING = {"Y": 0, "Yn": 1, "D": 2, "Z": 3, "Zn": 4}  # power-grid-model WindingType
_SILENCE = logging.CRITICAL + 1
STIFF_SK = 1e15  # VA: a slack source with negligible internal impedance


# --------------------------------------------------------------------------- public entry


def from_cgmes(
    paths: Sequence[Path] | Path, *, name: str | None = None, frequency_hz: float = 50.0
) -> Network:
    """Read one CGMES model (EQ + TP/SSH/SV/DL/GL) into a network; see the module docstring.

    ``paths`` are XML files, directories of them or zips. ``name`` defaults to the EQ file
    name without its profile suffix. Raises :class:`ValidationError` on bad input.
    """
    with ExitStack() as stack:
        files = _expand([paths] if isinstance(paths, Path | str) else list(paths), stack)
        scan = _scan_all(files)
        topology = _run_cimpy(scan.files)
        cim = _Cim(topology, scan)
        label = name or _default_name(scan)
        builder = NetworkBuilder(
            label, frequency_hz=frequency_hz, source=", ".join(str(f.path) for f in scan.files)
        )
        _Importer(cim, builder).run()
        return builder.build()


# --------------------------------------------------------------------------- input files


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    profiles: frozenset[str]
    namespace: str


@dataclass
class _Scan:
    """What a light pass over the files finds, independent of cimpy."""

    files: list[_File] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)  # rdf:ID → class
    given: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # id → attrs

    @property
    def profiles(self) -> set[str]:
        return {p for f in self.files for p in f.profiles}


def _problem(path: Path | str, code: str, message: str) -> ValidationError:
    return ValidationError([Problem(str(path), code, message)], subject=SUBJECT)


def _expand(paths: Sequence[Path | str], stack: ExitStack) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise _problem(path, "missing_file", f"{path} does not exist")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml")
            if not found:
                raise _problem(path, "no_xml", f"directory {path} holds no .xml file")
            files.extend(found)
        elif zipfile.is_zipfile(path):
            files.extend(_unzip(path, stack))
        else:
            files.append(path)
    if not files:
        raise _problem("paths", "no_files", "no CGMES file given")
    return files


def _unzip(path: Path, stack: ExitStack) -> list[Path]:
    folder = Path(stack.enter_context(TemporaryDirectory(prefix="cgmes-")))
    found: list[Path] = []
    with zipfile.ZipFile(path) as archive:
        for number, member in enumerate(archive.namelist()):
            lower = member.lower()
            if not lower.endswith((".xml", ".zip")):
                continue
            target = folder / f"{number}_{Path(member).name}"  # flat: no path traversal
            target.write_bytes(archive.read(member))
            found.extend(_unzip(target, stack) if lower.endswith(".zip") else [target])
    if not found:
        raise _problem(path, "no_xml", f"zip {path} holds no .xml file")
    return found


def _scan_all(paths: list[Path]) -> _Scan:
    scan = _Scan()
    for path in paths:
        scan.files.append(_scan_file(path, scan))
    namespaces = {f.namespace for f in scan.files}
    if len(namespaces) > 1:
        first = scan.files[0]
        odd = next(f for f in scan.files if f.namespace != first.namespace)
        raise _problem(
            odd.path,
            "mixed_namespaces",
            f"CIM namespace {odd.namespace} differs from {first.namespace} of {first.path.name}",
        )
    if "EQ" not in scan.profiles:
        names = ", ".join(f.path.name for f in scan.files)
        raise _problem(names, "missing_eq", f"no EQ (equipment) profile among: {names}")
    return scan


def _scan_file(path: Path, scan: _Scan) -> _File:
    profiles: set[str] = set()
    prefixes: dict[str, str] = {}
    namespace = ""
    depth = 0
    try:
        for event, item in ElementTree.iterparse(path, events=("start-ns", "start", "end")):
            if event == "start-ns":
                prefixes.setdefault(*item)
                continue
            if event == "start":
                if depth == 0:
                    namespace = _check_root(path, item, prefixes)
                depth += 1
                continue
            depth -= 1
            if depth == 1:
                _record(item, scan, profiles)
                item.clear()
    except ElementTree.ParseError as exc:
        raise _problem(path, "not_xml", f"{path.name} is not well-formed XML: {exc}") from None
    except OSError as exc:
        raise _problem(path, "unreadable", f"cannot read {path}: {exc}") from None
    if not profiles:
        match = _FILE_SUFFIX.search(path.stem)
        if match:
            profiles.add({"DI": "DL"}.get(match.group(1).upper(), match.group(1).upper()))
    return _File(path, frozenset(profiles), namespace)


def _check_root(path: Path, root: ElementTree.Element, prefixes: Mapping[str, str]) -> str:
    namespace = prefixes.get("cim", "")
    if root.tag != f"{{{RDF}}}RDF" or "CIM-schema-cim" not in namespace:
        raise _problem(
            path, "not_cim", f"{path.name} is not CIM RDF/XML (root {root.tag}, no cim namespace)"
        )
    return namespace


def _record(element: ElementTree.Element, scan: _Scan, profiles: set[str]) -> None:
    tag = str(element.tag)
    local = tag.rsplit("}", 1)[-1]
    if local == "FullModel":
        for child in element:
            text = child.text or ""
            if str(child.tag).endswith("Model.profile"):
                # The first key that matches: boundary profiles come before their parents.
                short = next((s for key, s in _PROFILE_KEYS if key in text), None)
                if short:
                    profiles.add(short)
        return
    ident = element.get(f"{{{RDF}}}ID")
    about = element.get(f"{{{RDF}}}about")
    if ident is not None:
        scan.classes[ident] = local
    key = ident if ident is not None else (about or "").lstrip("#")
    if key:
        scan.given[key].update(str(c.tag).rsplit(".", 1)[-1] for c in element)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """cimpy logs every object it creates; keep that out of the caller's logs."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(_SILENCE)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run_cimpy(files: list[_File]) -> dict[str, Any]:
    import cimpy  # noqa: PLC0415 - optional extra, imported only when used

    # cimpy takes the namespaces from the first file: give it an EQ file first.
    ordered = sorted(files, key=lambda f: "EQ" not in f.profiles)
    try:
        with _quiet("cimpy"):
            result = cimpy.cim_import([str(f.path) for f in ordered], CGMES_VERSION)
    except Exception as exc:  # cimpy raises bare ValueError/KeyError on odd values
        names = ", ".join(f.path.name for f in ordered)
        raise _problem(names, "cimpy_failed", f"cimpy cannot read {names}: {exc!r}") from None
    topology: dict[str, Any] = result["topology"]
    return topology


def _default_name(scan: _Scan) -> str:
    eq = next(f for f in scan.files if "EQ" in f.profiles)
    return re.sub(r"_?EQ_?$", "", eq.path.stem, flags=re.IGNORECASE) or eq.path.stem


# --------------------------------------------------------------------------- CIM graph


def _ref(obj: Any, attribute: str) -> Any:
    """A referenced cimpy object, or None (cimpy leaves None or the string "list")."""
    value = getattr(obj, attribute, None)
    return None if value is None or isinstance(value, str | list) else value


def _number(obj: Any, attribute: str, default: float = 0.0) -> float:
    try:
        value = float(getattr(obj, attribute, default))
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) else default


class _Cim:
    """The cimpy objects with the indexes the mapping needs (cimpy's back references are
    incomplete, so they are built here from the forward references)."""

    def __init__(self, topology: dict[str, Any], scan: _Scan) -> None:
        self.objects = topology
        self.scan = scan
        self.profiles = scan.profiles
        self.ids = {id(obj): key for key, obj in topology.items()}
        self.by_class: dict[str, list[Any]] = defaultdict(list)
        for obj in topology.values():
            self.by_class[type(obj).__name__].append(obj)
        self.terminals = self._group("Terminal", "ConductingEquipment", "sequenceNumber")
        self.ends = self._group("PowerTransformerEnd", "PowerTransformer", "endNumber")
        self.taps = self._group("RatioTapChanger", "TransformerEnd", "sequenceNumber")
        self.points = self._group("DiagramObjectPoint", "DiagramObject", "sequenceNumber")
        self.positions = self._group("PositionPoint", "Location", "sequenceNumber")
        self.sv_flow = self._single("SvPowerFlow", "Terminal")
        self.sv_voltage = self._single("SvVoltage", "TopologicalNode")
        self.sv_tap = self._single("SvTapStep", "TapChanger")
        self.sv_sections = self._single("SvShuntCompensatorSections", "ShuntCompensator")

    def key(self, obj: Any) -> str:
        return self.ids[id(obj)]

    def name(self, obj: Any) -> str:
        return str(getattr(obj, "name", "") or "")

    def given(self, obj: Any, attribute: str) -> bool:
        """Whether a file set the attribute (cimpy fills in defaults that look like data)."""
        return attribute in self.scan.given.get(self.key(obj), ())

    def _group(self, cls: str, via: str, order: str) -> dict[str, list[Any]]:
        groups: dict[str, list[Any]] = defaultdict(list)
        for obj in self.by_class.get(cls, []):
            target = _ref(obj, via)
            if target is not None:
                groups[self.key(target)].append(obj)
        for members in groups.values():
            members.sort(key=lambda o: _number(o, order))
        return groups

    def _single(self, cls: str, via: str) -> dict[str, Any]:
        return {key: members[0] for key, members in self._group(cls, via, "").items()}


# --------------------------------------------------------------------------- the mapping


class _Importer:
    def __init__(self, cim: _Cim, builder: NetworkBuilder) -> None:
        self.cim = cim
        self.b = builder
        self.use_tp = "TP" in cim.profiles and bool(cim.by_class.get("TopologicalNode"))
        self.node_kind = "TopologicalNode" if self.use_tp else "ConnectivityNode"
        self.nodes: dict[str, Any] = {}
        self.handled: set[str] = set()
        self.notes: list[str] = []
        self.merged_switches = 0

    def run(self) -> None:
        self.b.metadata.update(
            profiles=sorted(self.cim.profiles), node_class=self.node_kind, cgmes=CGMES_VERSION
        )
        self._nodes()
        for cls in SWITCHES:
            for obj in self.cim.by_class.get(cls, []):
                self._switch(obj)
        for obj in self.cim.by_class.get("ACLineSegment", []):
            self._line(obj)
        for obj in self.cim.by_class.get("PowerTransformer", []):
            self._transformer(obj)
        for cls in sorted(LOADS):
            for obj in self.cim.by_class.get(cls, []):
                self._load(obj)
        self._injections()
        for obj in self.cim.by_class.get("LinearShuntCompensator", []):
            self._shunt(obj)
        self._coordinates()
        self._unmapped()
        self.b.metadata.update(notes=self.notes, merged_switches=self.merged_switches)

    # ---- helpers

    def _done(self, obj: Any) -> None:
        self.handled.add(self.cim.key(obj))

    def _skip(self, obj: Any, reason: str) -> None:
        self.b.unsupported(type(obj).__name__, self.cim.key(obj), self.cim.name(obj), reason)
        self._done(obj)

    def _node_of(self, terminal: Any) -> str | None:
        if self.use_tp:
            node = _ref(terminal, "TopologicalNode")
            if node is None:  # TP may give only ConnectivityNode → TopologicalNode
                node = _ref(_ref(terminal, "ConnectivityNode"), "TopologicalNode")
        else:
            node = _ref(terminal, "ConnectivityNode")
        key = self.cim.key(node) if node is not None else None
        return key if key in self.nodes else None

    def _connected(self, terminal: Any) -> int:
        if self.cim.given(terminal, "connected"):
            return int(bool(terminal.connected))
        return 1

    def _ends(self, obj: Any, count: int) -> list[tuple[str, int]] | None:
        """(node, connected) per terminal, or None after reporting why it cannot be placed."""
        terminals = self.cim.terminals.get(self.cim.key(obj), [])
        if len(terminals) != count:
            self._skip(obj, f"has {len(terminals)} terminals, expected {count}")
            return None
        ends: list[tuple[str, int]] = []
        for terminal in terminals:
            node = self._node_of(terminal)
            if node is None:
                self._skip(obj, f"terminal {self.cim.key(terminal)} has no {self.node_kind}")
                return None
            ends.append((node, self._connected(terminal)))
        return ends

    def _sv_flow(self, obj: Any) -> tuple[float, float] | None:
        for terminal in self.cim.terminals.get(self.cim.key(obj), []):
            flow = self.cim.sv_flow.get(self.cim.key(terminal))
            if flow is not None:
                return _number(flow, "p"), _number(flow, "q")
        return None

    def _pq(self, obj: Any) -> tuple[float, float, str]:
        """p, q in MW/Mvar with load sign (CGMES convention) and where they came from."""
        if self.cim.given(obj, "p") or self.cim.given(obj, "q"):
            return _number(obj, "p"), _number(obj, "q"), "SSH"
        flow = self._sv_flow(obj)
        if flow is not None:
            return flow[0], flow[1], "SV"
        return 0.0, 0.0, "none"

    # ---- nodes

    def _nodes(self) -> None:
        problems: list[Problem] = []
        for node in self.cim.by_class.get(self.node_kind, []):
            key = self.cim.key(node)
            kv = self._nominal_kv(node)
            if kv <= 0:
                problems.append(
                    Problem(f"$.{self.node_kind}[{key}]", "no_voltage", "no BaseVoltage found")
                )
                continue
            self.nodes[key] = node
            self.b.add("node", key, name=self.cim.name(node), u_rated=kv * 1e3)
            self._done(node)
        if problems:
            raise ValidationError(problems, subject=SUBJECT)

    def _nominal_kv(self, node: Any) -> float:
        voltage = _ref(node, "BaseVoltage")
        if voltage is None:
            voltage = _ref(_ref(node, "ConnectivityNodeContainer"), "BaseVoltage")
        if voltage is None:  # a node in a Line or Substation: ask its equipment
            via = "TopologicalNode" if self.use_tp else "ConnectivityNode"
            for terminal in self.cim.by_class.get("Terminal", []):
                if _ref(terminal, via) is node:
                    voltage = _ref(_ref(terminal, "ConductingEquipment"), "BaseVoltage")
                    if voltage is not None:
                        break
        return _number(voltage, "nominalVoltage") if voltage is not None else 0.0

    # ---- branches

    def _switch(self, obj: Any) -> None:
        ends = self._ends(obj, 2)
        if ends is None:
            return
        is_open = bool(obj.open) if self.cim.given(obj, "open") else bool(obj.normalOpen)
        (a, a_on), (b, b_on) = ends
        if a == b:
            if is_open:
                self._skip(obj, "open, but TP put both terminals on one TopologicalNode")
            else:
                self.merged_switches += 1
                self._done(obj)
            return
        status = 0 if is_open else 1
        self.b.add(
            "link",
            self.cim.key(obj),
            name=self.cim.name(obj),
            from_node=a,
            to_node=b,
            from_status=status * a_on,
            to_status=status * b_on,
        )
        self._done(obj)

    def _line(self, obj: Any) -> None:
        ends = self._ends(obj, 2)
        if ends is None:
            return
        (a, a_on), (b, b_on) = ends
        common = {"name": self.cim.name(obj), "from_node": a, "to_node": b}
        r, x = _number(obj, "r"), _number(obj, "x")
        if r == 0 and x == 0:  # power-grid-model rejects a zero-impedance line
            self.b.add("link", self.cim.key(obj), from_status=a_on, to_status=b_on, **common)
            self._done(obj)
            return
        omega = 2 * math.pi * self.b.frequency_hz
        bch, gch = _number(obj, "bch"), _number(obj, "gch")
        attributes: dict[str, Any] = {
            "r1": r,
            "x1": x,
            "c1": bch / omega,
            "tan1": gch / bch if bch else 0.0,
        }
        if self.cim.given(obj, "r0") or self.cim.given(obj, "x0"):
            b0, g0 = _number(obj, "b0ch"), _number(obj, "g0ch")
            attributes.update(
                r0=_number(obj, "r0"),
                x0=_number(obj, "x0"),
                c0=b0 / omega,
                tan0=g0 / b0 if b0 else 0.0,
            )
        self.b.add(
            "line",
            self.cim.key(obj),
            from_status=a_on,
            to_status=b_on,
            **common,
            **attributes,
        )
        self._done(obj)

    def _transformer(self, obj: Any) -> None:
        ends = self.cim.ends.get(self.cim.key(obj), [])
        if len(ends) == 3:
            self._skip(
                obj,
                "three-winding transformer: converting CIM star impedances to "
                "power-grid-model's pairwise uk/pk is not validated here",
            )
            return
        if len(ends) != 2:
            self._skip(obj, f"has {len(ends)} PowerTransformerEnd, expected 2")
            return
        placed = [self._end_node(end) for end in ends]
        if placed[0] is None or placed[1] is None:
            self._skip(obj, f"an end's terminal has no {self.node_kind}")
            return
        try:
            attributes = _two_winding(ends) | self._tap(ends)
        except ValueError as exc:
            self._skip(obj, str(exc))
            return
        self.b.add(
            "transformer",
            self.cim.key(obj),
            name=self.cim.name(obj),
            from_node=placed[0][0],
            to_node=placed[1][0],
            from_status=placed[0][1],
            to_status=placed[1][1],
            **attributes,
        )
        self._done(obj)

    def _end_node(self, end: Any) -> tuple[str, int] | None:
        terminal = _ref(end, "Terminal")
        node = self._node_of(terminal) if terminal is not None else None
        return None if node is None else (node, self._connected(terminal))

    def _tap(self, ends: list[Any]) -> dict[str, Any]:
        for side, end in enumerate(ends):
            for changer in self.cim.taps.get(self.cim.key(end), []):
                self._done(changer)
                return {
                    "tap_side": side,
                    "tap_pos": round(self._tap_position(changer)),
                    "tap_min": int(_number(changer, "lowStep")),
                    "tap_max": int(_number(changer, "highStep")),
                    "tap_nom": int(_number(changer, "neutralStep")),
                    "tap_size": _number(changer, "stepVoltageIncrement")
                    / 100
                    * _number(end, "ratedU")
                    * 1e3,
                }
        return {"tap_side": 0, "tap_pos": 0, "tap_min": 0, "tap_max": 0, "tap_size": 0.0}

    def _tap_position(self, changer: Any) -> float:
        if self.cim.given(changer, "step"):
            return _number(changer, "step")
        state = self.cim.sv_tap.get(self.cim.key(changer))
        if state is not None:
            return _number(state, "position")
        return _number(changer, "normalStep")

    # ---- appliances

    def _load(self, obj: Any) -> None:
        ends = self._ends(obj, 1)
        if ends is None:
            return
        p, q, origin = self._pq(obj)
        if origin == "none":
            self.notes.append(f"{self.cim.key(obj)}: no SSH or SV power, load set to 0")
        self.b.add(
            "sym_load",
            self.cim.key(obj),
            name=self.cim.name(obj),
            node=ends[0][0],
            status=ends[0][1],
            type=0,
            p_specified=p * 1e6,
            q_specified=q * 1e6,
        )
        self._done(obj)

    def _injections(self) -> None:
        candidates = [o for cls in sorted(INJECTIONS) for o in self.cim.by_class.get(cls, [])]
        placed = [(obj, ends[0]) for obj in candidates if (ends := self._ends(obj, 1))]
        slack = self._slack([(obj, node) for obj, (node, _) in placed])
        for obj, (node, connected) in placed:
            if self.cim.key(obj) in slack:
                self._source(obj, node, connected)
            else:
                self._generator(obj, node, connected)

    def _slack(self, placed: list[tuple[Any, str]]) -> set[str]:
        """The injections that hold the voltage: see the module docstring for the order."""
        priorities = {
            self.cim.key(o): int(_number(o, "referencePriority"))
            for o, _ in placed
            if _number(o, "referencePriority") > 0
        }
        if priorities:
            best = min(priorities.values())
            return {key for key, value in priorities.items() if value == best}
        reference = {
            self.cim.key(n)
            for island in self.cim.by_class.get("TopologicalIsland", [])
            if (n := _ref(island, "AngleRefTopologicalNode")) is not None
        } or {
            self.cim.key(n)
            for sv in self.cim.by_class.get("SvVoltage", [])
            if (n := _ref(sv, "TopologicalNode")) is not None and _number(sv, "angle") == 0
        }
        for obj, node in placed:
            if node in reference:
                self.notes.append(f"{self.cim.key(obj)}: slack by angle reference at {node}")
                return {self.cim.key(obj)}
        for obj, _ in placed:
            if type(obj).__name__ == "ExternalNetworkInjection":
                self.notes.append(f"{self.cim.key(obj)}: slack as the first external network")
                return {self.cim.key(obj)}
        return set()

    def _source(self, obj: Any, node: str, connected: int) -> None:
        u_ref, angle = self._setpoint(obj, node)
        # A CGMES slack holds its node at the set point: u_ref is that node voltage, so the
        # source is stiff; the ENI's short-circuit data would put an impedance in front of it.
        self.b.add(
            "source",
            self.cim.key(obj),
            name=self.cim.name(obj),
            node=node,
            status=connected,
            u_ref=u_ref,
            u_ref_angle=angle,
            sk=STIFF_SK,
        )
        self._done(obj)

    def _setpoint(self, obj: Any, node: str) -> tuple[float, float]:
        """u_ref (p.u.) and angle (rad): SV at the node, else a voltage control target, else 1."""
        sv = self.cim.sv_voltage.get(node)
        nominal_kv = self._nominal_kv(self.nodes[node])
        if sv is not None and _number(sv, "v") > 0:
            return _number(sv, "v") / nominal_kv, math.radians(_number(sv, "angle"))
        control = _ref(obj, "RegulatingControl")
        if control is not None and str(getattr(control, "mode", "")) == "voltage":
            target = _number(control, "targetValue")
            if target > 0:
                return target / nominal_kv, 0.0
        return 1.0, 0.0

    def _generator(self, obj: Any, node: str, connected: int) -> None:
        p, q, origin = self._pq(obj)
        if origin == "none":
            self.notes.append(f"{self.cim.key(obj)}: no SSH or SV power, generation set to 0")
        self.b.add(
            "sym_gen",
            self.cim.key(obj),
            name=self.cim.name(obj),
            node=node,
            status=connected,
            type=0,
            p_specified=-p * 1e6,  # CGMES uses load sign: generation is negative p
            q_specified=-q * 1e6,
        )
        self._done(obj)

    def _shunt(self, obj: Any) -> None:
        ends = self._ends(obj, 1)
        if ends is None:
            return
        sections = self._sections(obj)
        self.b.add(
            "shunt",
            self.cim.key(obj),
            name=self.cim.name(obj),
            node=ends[0][0],
            status=ends[0][1],
            g1=_number(obj, "gPerSection") * sections,
            b1=_number(obj, "bPerSection") * sections,
            g0=_number(obj, "g0PerSection") * sections,
            b0=_number(obj, "b0PerSection") * sections,
        )
        self._done(obj)

    def _sections(self, obj: Any) -> float:
        if self.cim.given(obj, "sections"):
            return _number(obj, "sections")
        state = self.cim.sv_sections.get(self.cim.key(obj))
        if state is not None:
            return _number(state, "sections")
        return _number(obj, "normalSections")

    # ---- coordinates and leftovers

    def _coordinates(self) -> None:
        diagram = self._diagram_xy()
        xy = diagram or self._geographic_xy()
        for node, (x, y) in xy.items():
            self.b.set_xy(node, x, y)
        self.b.metadata["xy_source"] = ("DL" if diagram else "GL") if xy else None

    def _diagram_xy(self) -> dict[str, tuple[float, float]]:
        found: dict[str, tuple[float, float]] = {}
        for drawing in self.cim.by_class.get("DiagramObject", []):
            target = _ref(drawing, "IdentifiedObject")
            points = self.cim.points.get(self.cim.key(drawing), [])
            node = self._node_for_drawing(target) if target is not None else None
            if node is None or not points or node in found:
                continue
            xs = [_number(p, "xPosition") for p in points]
            ys = [_number(p, "yPosition") for p in points]
            found[node] = (sum(xs) / len(xs), sum(ys) / len(ys))
        return found

    def _node_for_drawing(self, target: Any) -> str | None:
        key = self.cim.key(target)
        if key in self.nodes:
            return key
        if type(target).__name__ == "ConnectivityNode" and self.use_tp:
            node = _ref(target, "TopologicalNode")
            return self.cim.key(node) if node is not None else None
        if type(target).__name__ == "BusbarSection":
            terminals = self.cim.terminals.get(key, [])
            return self._node_of(terminals[0]) if terminals else None
        return None

    def _geographic_xy(self) -> dict[str, tuple[float, float]]:
        found: dict[str, tuple[float, float]] = {}
        for location in self.cim.by_class.get("Location", []):
            equipment = _ref(location, "PowerSystemResources")
            points = self.cim.positions.get(self.cim.key(location), [])
            terminals = self.cim.terminals.get(self.cim.key(equipment), []) if equipment else []
            if len(terminals) != 1 or not points:
                continue
            node = self._node_of(terminals[0])
            if node is not None and node not in found:
                found[node] = (_number(points[0], "xPosition"), _number(points[0], "yPosition"))
        return found

    def _unmapped(self) -> None:
        """Every object of a class this importer does not represent, by class and mRID."""
        for key, cls in self.cim.scan.classes.items():
            if key in self.handled or cls in DESCRIPTIVE:
                continue
            if cls in ("TopologicalNode", "ConnectivityNode"):
                continue  # the node class not chosen: described by the one that is
            obj = self.cim.objects.get(key)
            if obj is None:
                reason = f"cimpy {CGMES_VERSION} has no class {cls}; not read"
            elif cls in MAPPED:
                reason = "mapped class, but the element could not be placed"
            else:
                reason = REASONS.get(cls, f"CIM class {cls} is not mapped")
            name = self.cim.name(obj) if obj is not None else ""
            self.b.unsupported(cls, key, name, reason)


def _two_winding(ends: list[Any]) -> dict[str, Any]:
    """uk, pk, i0, p0 on end 1's ratings from the ends' r/x/g/b (Ω and S at each end's U)."""
    first, second = ends
    u1, u2 = _number(first, "ratedU") * 1e3, _number(second, "ratedU") * 1e3
    sn = (_number(first, "ratedS") or _number(second, "ratedS")) * 1e6
    if u1 <= 0 or u2 <= 0 or sn <= 0:
        raise ValueError("ratedU and ratedS must be positive on both ends")
    ratio = (u1 / u2) ** 2  # refers end 2's impedance to end 1
    r = _number(first, "r") + _number(second, "r") * ratio
    x = _number(first, "x") + _number(second, "x") * ratio
    g = _number(first, "g") + _number(second, "g") / ratio
    b = _number(first, "b") + _number(second, "b") / ratio
    z_base = u1**2 / sn
    clock = (_number(second, "phaseAngleClock") - _number(first, "phaseAngleClock")) % 12
    return {
        "u1": u1,
        "u2": u2,
        "sn": sn,
        "uk": math.hypot(r, x) / z_base,
        "pk": r / z_base * sn,
        "i0": math.hypot(g, b) * z_base,
        "p0": g * u1**2,
        "winding_from": _winding(first),
        "winding_to": _winding(second),
        "clock": int(clock),
    }


def _winding(end: Any) -> int:
    kind = str(getattr(end, "connectionKind", "") or "Y")
    if kind not in WINDING:
        raise ValueError(f"winding connection {kind} is not representable")
    grounded = bool(getattr(end, "grounded", False))
    if kind in ("Y", "Z") and grounded:
        kind += "n"
    return WINDING[kind]
