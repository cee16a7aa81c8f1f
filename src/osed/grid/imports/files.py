"""Network files: OSED's own JSON, power-grid-model JSON, and dispatch to the other importers.

OSED network JSON uses power-grid-model's component names and attributes (SI units) with
string ids and references::

    {"format": "osed-network", "version": 1, "name": "feeder", "frequency_hz": 50,
     "components": {"node": [{"id": "N1", "u_rated": 10500, "x": 0.0, "y": 1.5}, ...],
                    "line": [{"id": "L1", "from_node": "N1", "to_node": "N2", ...}], ...},
     "unsupported": [{"kind": "...", "id": "...", "name": "...", "reason": "..."}]}

A power-grid-model input file (``{"version": "1.0", "type": "input", "data": ...}``) imports
as is; its integer ids become the external ids ("12").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from osed.codec import json_text
from osed.domain.errors import Problem, ValidationError
from osed.grid.imports._document_checks import header_problems, row_problems
from osed.grid.network import KINDS, REFERENCES, Network, NetworkBuilder, component_rows

FORMAT = "osed-network"


def load_network(spec: str | Path) -> Network:
    """A network from a file or a ``pandapower:<constructor>`` name; the kind is detected."""
    text = str(spec)
    if text.startswith("pandapower:"):
        from osed.grid.imports.pandapower import load_pandapower  # noqa: PLC0415 - optional

        return load_pandapower(text)
    path = Path(text)
    if not path.exists():
        raise ValidationError(
            [Problem(text, "not_found", "no such file or directory")], subject="network"
        )
    if path.is_dir() or path.suffix.lower() in (".xml", ".zip"):
        from osed.grid.imports.cgmes import from_cgmes  # noqa: PLC0415 - optional

        return from_cgmes([path])
    # Not UTF-8, not JSON, NaN, overflowing numbers, deep nesting: a problem at the file name.
    try:
        document = json_text.loads(path.read_bytes(), subject="network", where=text)
    except ValidationError as exc:
        problems = [
            Problem(p.path, p.code, f"not a JSON network: {p.message}") for p in exc.problems
        ]
        raise ValidationError(problems, subject="network") from None
    if isinstance(document, Mapping) and document.get("format") == FORMAT:
        return from_document(document, source=text)
    if isinstance(document, Mapping) and document.get("type") == "input" and "data" in document:
        return from_pgm_document(document, name=path.stem, source=text)
    if isinstance(document, Mapping) and "pandapower" in str(document.get("_module", "")):
        from osed.grid.imports.pandapower import load_pandapower  # noqa: PLC0415 - optional

        return load_pandapower(text)
    raise ValidationError(
        [
            Problem(
                text,
                "unknown_format",
                "expected an osed-network, power-grid-model or pandapower JSON file",
            )
        ],
        subject="network",
    )


def from_document(document: Mapping[str, Any], *, source: str = "") -> Network:
    """A network from an OSED network document; every problem is named at its path in the
    document (``$.components.line[0].r1``), all at once."""
    problems = header_problems(document)
    components = document.get("components")
    if not isinstance(components, Mapping):
        problems.append(
            Problem("$.components", "required", "expected an object of component lists")
        )
        raise ValidationError(problems, subject="network")
    positions: dict[tuple[str, str], int] = {}

    def locate(kind: str, external_id: str) -> str:
        position = positions.get((kind, external_id))
        return f"$.components.{kind}[{'*' if position is None else position}]"

    name = document.get("name", "network")
    frequency = document.get("frequency_hz", 50.0)
    builder = NetworkBuilder(
        name if isinstance(name, str) else "network",
        frequency_hz=float(frequency) if not problems else 50.0,
        source=source,
        locate=locate,
    )
    for kind, rows in components.items():
        if kind not in KINDS:
            problems.append(
                Problem(f"$.components.{kind}", "unknown_kind", f"unknown component kind {kind!r}")
            )
            continue
        if not isinstance(rows, list):
            problems.append(Problem(f"$.components.{kind}", "not_a_list", "expected a list"))
            continue
        for position, row in enumerate(rows):
            path = f"$.components.{kind}[{position}]"
            identity = row.get("id") if isinstance(row, Mapping) else None
            if isinstance(identity, bool) or not isinstance(identity, str | int):
                problems.append(Problem(path, "bad_row", "expected an object with an id"))
                continue
            external = str(identity)
            if (kind, external) in positions:
                first = positions[kind, external]
                problems.append(Problem(f"{path}.id", "duplicate_id", f"as {kind}[{first}]"))
                continue
            positions[kind, external] = position
            problems.extend(row_problems(kind, row, path))
            attributes = {k: v for k, v in row.items() if k not in ("id", "name", "x", "y")}
            if kind == "node" and _is_point(row.get("x"), row.get("y")):
                attributes["xy"] = (row["x"], row["y"])
            builder.add(kind, external, name=str(row.get("name", "")), **attributes)
    for position, item in enumerate(document.get("unsupported", []) or []):
        if isinstance(item, Mapping):
            builder.unsupported(
                str(item.get("kind", "")),
                str(item.get("id", "")),
                str(item.get("name", "")),
                str(item.get("reason", "")),
            )
        else:
            problems.append(Problem(f"$.unsupported[{position}]", "bad_row", "expected an object"))
    try:
        network = builder.build()
    except ValidationError as exc:
        # What the document checks named already is not named again by the model's checks.
        named = {problem.path for problem in problems}
        problems.extend(p for p in exc.problems if p.path not in named)
        raise ValidationError(problems, subject=f"network {builder.name}") from None
    if problems:
        raise ValidationError(problems, subject=f"network {builder.name}")
    return network


def _is_point(x: object, y: object) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in (x, y)
    )


def to_document(network: Network) -> dict[str, Any]:
    components: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        rows = component_rows(network, kind)
        if not rows:
            continue
        if kind == "node":
            for row, (x, y) in zip(rows, network.node_xy, strict=True):
                if np.isfinite(x) and np.isfinite(y):
                    row["x"], row["y"] = float(x), float(y)
        components[kind] = rows
    return {
        "format": FORMAT,
        "version": 1,
        "name": network.name,
        "frequency_hz": network.frequency_hz,
        "components": components,
        "unsupported": [vars_of(u) for u in network.unsupported],
    }


def vars_of(item: Any) -> dict[str, str]:
    return {"kind": item.kind, "id": item.id, "name": item.name, "reason": item.reason}


def from_pgm_document(document: Mapping[str, Any], *, name: str, source: str = "") -> Network:
    from power_grid_model.errors import PowerGridSerializationError  # noqa: PLC0415
    from power_grid_model.utils import json_deserialize  # noqa: PLC0415

    try:
        data = json_deserialize(json.dumps(document))
    except (PowerGridSerializationError, ValueError, KeyError) as exc:
        raise ValidationError(
            [Problem("$.data", "bad_pgm_input", str(exc).splitlines()[0])], subject="network"
        ) from exc
    positions: dict[tuple[str, str], int] = {}

    def locate(kind: str, external_id: str) -> str:
        position = positions.get((kind, external_id))
        return f"$.data.{kind}[{'*' if position is None else position}]"

    builder = NetworkBuilder(name, source=source, locate=locate)
    for kind in KINDS:
        table = data.get(kind)  # type: ignore[call-overload,unused-ignore]
        if table is None or not len(table):
            continue
        columns: dict[str, Any] = {}
        for attribute in table.dtype.names:
            if attribute == "id":
                continue
            values = table[attribute]
            if attribute in REFERENCES.get(kind, ()):
                columns[attribute] = [str(int(v)) for v in values]
            else:
                columns[attribute] = values
        ids = [str(int(i)) for i in table["id"]]
        positions.update(((kind, external), n) for n, external in enumerate(ids))
        builder.add_many(kind, ids, **columns)
    for kind in data:
        kind_name = str(getattr(kind, "value", kind))  # ComponentType, a str enum, or a str
        if kind_name not in KINDS:
            builder.unsupported(kind_name, "*", "", "component kind not represented")
    return builder.build()
