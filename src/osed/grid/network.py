"""The network model: a distribution grid as columnar component tables.

The tables use power-grid-model's component vocabulary and SI units (V, Ω, F, W, var), so a
model is handed to the solver without copying row by row. What power-grid-model does not keep
is kept beside the tables: the external id of every component (a CIM mRID where the model
came from CGMES), a display name, node coordinates and the elements an import could not
represent (``unsupported``, never dropped silently).

Switches are ``link`` rows: closed when both statuses are 1, open when either is 0.
Solver ids are dense integers assigned in ``KINDS`` order; external ids are strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from power_grid_model import DatasetType, initialize_array

from osed.domain.errors import NotFoundError, Problem, ValidationError

Floats = NDArray[np.float64]
Table = NDArray[np.void]

BRANCHES = ("line", "link", "transformer", "generic_branch")
BRANCHES3 = ("three_winding_transformer",)
APPLIANCES = ("source", "sym_load", "asym_load", "sym_gen", "asym_gen", "shunt")
SENSORS = (
    "sym_voltage_sensor",
    "asym_voltage_sensor",
    "sym_power_sensor",
    "asym_power_sensor",
    "sym_current_sensor",
    "asym_current_sensor",
)
KINDS: tuple[str, ...] = ("node", *BRANCHES, *BRANCHES3, *APPLIANCES, *SENSORS)

# Attributes that name another component, resolved from external ids when a model is built.
REFERENCES: Mapping[str, tuple[str, ...]] = {
    **dict.fromkeys(BRANCHES, ("from_node", "to_node")),
    "three_winding_transformer": ("node_1", "node_2", "node_3"),
    **dict.fromkeys(APPLIANCES, ("node",)),
    **dict.fromkeys(SENSORS, ("measured_object",)),
}

# Attributes a row must give; the rest default to power-grid-model's "not given".
REQUIRED: Mapping[str, tuple[str, ...]] = {
    "node": ("u_rated",),
    "line": ("from_node", "to_node", "r1", "x1", "c1", "tan1"),
    "link": ("from_node", "to_node"),
    "transformer": (
        "from_node",
        "to_node",
        "u1",
        "u2",
        "sn",
        "uk",
        "pk",
        "i0",
        "p0",
        "winding_from",
        "winding_to",
        "clock",
        "tap_side",
        "tap_pos",
        "tap_min",
        "tap_max",
        "tap_size",
    ),
    "generic_branch": ("from_node", "to_node", "r1", "x1", "g1", "b1"),
    "source": ("node", "u_ref"),
    "sym_load": ("node", "type", "p_specified", "q_specified"),
    "asym_load": ("node", "type", "p_specified", "q_specified"),
    "sym_gen": ("node", "type", "p_specified", "q_specified"),
    "asym_gen": ("node", "type", "p_specified", "q_specified"),
    "shunt": ("node", "g1", "b1"),
    **dict.fromkeys(SENSORS, ("measured_object",)),
}

# Defaults that every model shares: components in service unless told otherwise.
DEFAULTS: Mapping[str, Mapping[str, float]] = {
    **{kind: {"from_status": 1, "to_status": 1} for kind in BRANCHES},
    "three_winding_transformer": {"status_1": 1, "status_2": 1, "status_3": 1, "tap_nom": 0},
    **{kind: {"status": 1} for kind in APPLIANCES},
    "generic_branch": {"from_status": 1, "to_status": 1, "k": 1.0, "theta": 0.0},
    "transformer": {"from_status": 1, "to_status": 1, "tap_nom": 0},
    # constant power unless told otherwise
    **{kind: {"status": 1, "type": 0} for kind in ("sym_load", "asym_load", "sym_gen", "asym_gen")},
}


# Where a component is named in a problem: (kind, external id or "*") -> JSON path. By default
# by kind and external id; an importer passes where the component is in the user's file.
Locate = Callable[[str, str], str]


def by_external_id(kind: str, external_id: str) -> str:
    return f"$.{kind}[{external_id}]"


@dataclass(frozen=True, slots=True)
class Unsupported:
    """An element of the source model that this network does not represent."""

    kind: str
    id: str
    name: str
    reason: str


@dataclass(frozen=True, eq=False)
class Network:
    """A grid model; build one with :class:`NetworkBuilder` or an importer."""

    name: str
    frequency_hz: float
    data: Mapping[str, Table]
    external_ids: tuple[str, ...]  # indexed by solver id
    names: tuple[str, ...]  # indexed by solver id, "" when the source gave none
    node_xy: Floats  # (nodes, 2), NaN where the source gave no coordinates
    unsupported: tuple[Unsupported, ...] = ()
    source: str = ""  # where the model came from (file, constructor)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {external: solver for solver, external in enumerate(self.external_ids)}

    @cached_property
    def _kind_of(self) -> NDArray[np.int16]:
        kinds = np.empty(len(self.external_ids), dtype=np.int16)
        for position, kind in enumerate(KINDS):
            if kind in self.data:
                kinds[self.data[kind]["id"]] = position
        return kinds

    def solver_id(self, external_id: str) -> int:
        try:
            return self._index[external_id]
        except KeyError:
            raise NotFoundError(f"{self.name}: no component with id {external_id!r}") from None

    def has(self, external_id: str) -> bool:
        return external_id in self._index

    def kind(self, external_id: str) -> str:
        return KINDS[int(self._kind_of[self.solver_id(external_id)])]

    def kind_of_solver_id(self, solver_id: int) -> str:
        return KINDS[int(self._kind_of[solver_id])]

    def table(self, kind: str) -> Table:
        table = self.data.get(kind)
        return _empty(kind) if table is None else table

    def ids(self, kind: str) -> list[str]:
        """External ids of a component kind, in table order (a shared list: do not modify)."""
        cached = self._ids_of.get(kind)
        if cached is None:
            cached = [self.external_ids[i] for i in self.table(kind)["id"]]
            self._ids_of[kind] = cached
        return cached

    @cached_property
    def _ids_of(self) -> dict[str, list[str]]:
        return {}

    def counts(self) -> dict[str, int]:
        return {kind: len(table) for kind, table in self.data.items() if len(table)}

    def without_sensors(self) -> dict[str, Table]:
        return {kind: table for kind, table in self.data.items() if kind not in SENSORS}

    @property
    def is_asymmetric(self) -> bool:
        """True when some appliance is unbalanced, so only an asymmetric calculation is exact."""
        return any(len(self.table(kind)) for kind in ("asym_load", "asym_gen"))


def _empty(kind: str) -> Table:
    array: Table = initialize_array(DatasetType.input, kind, 0)
    return array


class NetworkBuilder:
    """Collects components by external id, then builds a validated :class:`Network`.

    References (``from_node``, ``node``, ``measured_object``) are external ids; ``build``
    resolves them and reports every problem at once: duplicate or missing ids, missing
    required attributes, and what power-grid-model's own validation finds.
    """

    def __init__(
        self,
        name: str,
        *,
        frequency_hz: float = 50.0,
        source: str = "",
        locate: Locate = by_external_id,
    ) -> None:
        self.name = name
        self.frequency_hz = frequency_hz
        self.source = source
        self._locate = locate
        self._columns: dict[str, list[tuple[Sequence[str], Sequence[str], dict[str, Any]]]] = {}
        self._xy: dict[str, tuple[float, float]] = {}
        self._unsupported: list[Unsupported] = []
        self.metadata: dict[str, Any] = {}

    def add(self, kind: str, id: str, *, name: str = "", **attributes: Any) -> None:
        """One component; attributes by power-grid-model name (``xy`` for node coordinates)."""
        xy = attributes.pop("xy", None)
        if xy is not None:
            self._xy[id] = (float(xy[0]), float(xy[1]))
        self.add_many(kind, [id], names=[name], **{k: [v] for k, v in attributes.items()})

    def add_many(
        self,
        kind: str,
        ids: Sequence[str],
        *,
        names: Sequence[str] | None = None,
        **columns: Any,
    ) -> None:
        """Many components of one kind; each column is a sequence (or array) of ``len(ids)``."""
        if kind not in KINDS:
            raise ValidationError(
                [Problem(f"$.{kind}", "unknown_kind", f"unknown component kind {kind!r}")],
                subject=f"network {self.name}",
            )
        self._columns.setdefault(kind, []).append(
            (list(ids), list(names) if names is not None else [""] * len(ids), columns)
        )

    def set_xy(self, node_id: str, x: float, y: float) -> None:
        self._xy[node_id] = (float(x), float(y))

    def unsupported(self, kind: str, id: str, name: str, reason: str) -> None:
        self._unsupported.append(Unsupported(kind, id, name, reason))

    def build(self, *, validate: bool = True) -> Network:
        problems: list[Problem] = []
        external: list[str] = []
        names: list[str] = []
        kinds: list[str] = []
        index: dict[str, int] = {}
        starts: dict[str, int] = {}
        for kind in KINDS:
            starts[kind] = len(external)
            for ids, row_names, _ in self._columns.get(kind, []):
                for position, raw in enumerate(ids):
                    ext = str(raw)
                    if ext in index:
                        problems.append(
                            Problem(
                                self._locate(kind, ext),
                                "duplicate_id",
                                f"id {ext!r} is already used by a {kinds[index[ext]]}",
                            )
                        )
                    index.setdefault(ext, len(external))
                    external.append(ext)
                    kinds.append(kind)
                    names.append(str(row_names[position] or ""))
        data: dict[str, Table] = {}
        for kind in KINDS:
            chunks = self._columns.get(kind)
            if not chunks:
                continue
            data[kind] = self._table(kind, chunks, starts[kind], index, problems)
        if problems and not validate:
            raise ValidationError(problems, subject=f"network {self.name}")
        xy = np.full((len(data.get("node", ())), 2), np.nan)
        if self._xy and "node" in data:
            for row, solver in enumerate(data["node"]["id"]):
                point = self._xy.get(external[solver])
                if point is not None:
                    xy[row] = point
        network = Network(
            name=self.name,
            frequency_hz=self.frequency_hz,
            data=data,
            external_ids=tuple(external),
            names=tuple(names),
            node_xy=xy,
            unsupported=tuple(self._unsupported),
            source=self.source,
            metadata=dict(self.metadata),
        )
        if validate:
            try:
                check(network, locate=self._locate)
            except ValidationError as exc:
                # The model's own checks run on what could be read, so that their findings
                # come with the builder's; a place the builder named is not named again.
                named = {problem.path for problem in problems}
                problems.extend(p for p in exc.problems if p.path not in named)
        if problems:
            raise ValidationError(problems, subject=f"network {self.name}")
        return network

    def _table(
        self,
        kind: str,
        chunks: list[tuple[Sequence[str], Sequence[str], dict[str, Any]]],
        start: int,
        index: Mapping[str, int],
        problems: list[Problem],
    ) -> Table:
        total = sum(len(ids) for ids, _, _ in chunks)
        table = initialize_array(DatasetType.input, kind, total)
        table["id"] = np.arange(start, start + total)
        for attribute, value in DEFAULTS.get(kind, {}).items():
            table[attribute] = value
        references = REFERENCES.get(kind, ())
        given: set[str] = set()
        offset = 0
        for ids, _, columns in chunks:
            rows = slice(offset, offset + len(ids))
            for attribute, column in columns.items():
                if attribute not in (table.dtype.names or ()) or attribute == "id":
                    problems.append(
                        Problem(
                            f"{self._locate(kind, str(ids[0]))}.{attribute}",
                            "unknown_attribute",
                            f"{kind} has no attribute {attribute!r}",
                        )
                    )
                    continue
                if attribute in references:
                    table[attribute][rows] = self._resolve(
                        kind, attribute, ids, column, index=index, problems=problems
                    )
                else:
                    try:
                        table[attribute][rows] = _column(column, table.dtype[attribute])
                    except (TypeError, ValueError) as exc:
                        problems.append(
                            Problem(
                                f"{self._locate(kind, str(ids[0]))}.{attribute}",
                                "bad_value",
                                f"cannot read {attribute}: {exc}",
                            )
                        )
                given.add(attribute)
            offset += len(ids)
        for attribute in REQUIRED.get(kind, ()):
            if attribute not in given and attribute not in DEFAULTS.get(kind, {}):
                problems.append(
                    Problem(
                        f"{self._locate(kind, '*')}.{attribute}",
                        "missing_attribute",
                        f"every {kind} needs {attribute}",
                    )
                )
        return table

    def _resolve(
        self,
        kind: str,
        attribute: str,
        ids: Sequence[str],
        column: Iterable[Any],
        *,
        index: Mapping[str, int],
        problems: list[Problem],
    ) -> NDArray[np.int32]:
        resolved = np.full(len(ids), -1, dtype=np.int32)
        for row, reference in enumerate(column):
            solver = index.get(str(reference))
            if solver is None:
                problems.append(
                    Problem(
                        f"{self._locate(kind, str(ids[row]))}.{attribute}",
                        "unknown_reference",
                        f"{attribute} names {reference!r}, which is not in the network",
                    )
                )
            else:
                resolved[row] = solver
        return resolved


_NAMED_PER_ERROR = 10  # components named one by one per validation error, then a summary


def check(network: Network, *, locate: Locate = by_external_id) -> None:
    """power-grid-model's input validation: every error named per component (at ``locate``'s
    path for it) and attribute."""
    from power_grid_model import CalculationType  # noqa: PLC0415
    from power_grid_model.validation import validate_input_data  # noqa: PLC0415 - slow import

    # A model with sensors is for estimation, where loads need no specified power.
    with_sensors = any(len(network.table(kind)) for kind in SENSORS)
    calculation = CalculationType.state_estimation if with_sensors else CalculationType.power_flow
    errors = validate_input_data(
        dict(network.data), calculation_type=calculation, symmetric=not network.is_asymmetric
    )
    if not errors:
        return
    problems: list[Problem] = []
    for error in errors:
        component = getattr(error, "component", "?")
        component = getattr(component, "value", component)
        if isinstance(component, list | tuple):
            component = ",".join(str(getattr(c, "value", c)) for c in component)
        fields = getattr(error, "field", "?")
        if isinstance(fields, list | tuple):
            fields = ",".join(str(f) for f in fields)
        ids = [i for i in getattr(error, "ids", None) or [] if 0 <= i < len(network.external_ids)]
        code, message = type(error).__name__, str(error)
        for solver_id in ids[:_NAMED_PER_ERROR]:
            external = network.external_ids[solver_id]
            where = locate(network.kind_of_solver_id(solver_id), external)
            problems.append(Problem(f"{where}.{fields}", code, message))
        if not ids or len(ids) > _NAMED_PER_ERROR:
            more = f" ({len(ids) - _NAMED_PER_ERROR} more not named)" if ids else ""
            where = f"{locate(str(component), '*')}.{fields}"
            problems.append(Problem(where, code, message + more))
    raise ValidationError(problems, subject=f"network {network.name}")


def component_rows(network: Network, kind: str) -> list[dict[str, Any]]:
    """Rows of one table as dicts with external ids (for files and reports)."""
    table = network.table(kind)
    references = REFERENCES.get(kind, ())
    rows: list[dict[str, Any]] = []
    assert table.dtype.names is not None
    for record in table:
        row: dict[str, Any] = {"id": network.external_ids[int(record["id"])]}
        name = network.names[int(record["id"])]
        if name:
            row["name"] = name
        for attribute in table.dtype.names:
            if attribute == "id":
                continue
            value = record[attribute]
            if attribute in references:
                row[attribute] = network.external_ids[int(value)]
            elif np.ndim(value):
                values = [float(v) for v in value]
                if not all(np.isnan(values)):
                    row[attribute] = values
            elif np.issubdtype(type(value), np.floating):
                if not np.isnan(value):
                    row[attribute] = float(value)
            elif int(value) != _int_missing(table.dtype[attribute]):
                row[attribute] = int(value)
        rows.append(row)
    return rows


def _column(column: Any, dtype: np.dtype[Any]) -> NDArray[Any]:
    """``column`` as values of ``dtype``; an integer column (status, type, tap) takes only
    whole numbers in its range: a cast would silently round or wrap them."""
    values = np.asarray(column)
    if np.issubdtype(dtype.base, np.integer) and values.size:
        limits = np.iinfo(dtype.base)
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_):
            raise ValueError(f"expected whole numbers, got {values.dtype}")
        with np.errstate(invalid="ignore"):
            whole = np.isfinite(values) & (values == np.round(values))
            inside = (values >= limits.min) & (values <= limits.max)
        if not (whole & inside).all():
            bad = values[~(whole & inside)][0].item()
            raise ValueError(f"{bad!r} is not a whole number in [{limits.min}, {limits.max}]")
    return values


def _int_missing(dtype: np.dtype[Any]) -> int:
    return int(np.iinfo(dtype).min)
