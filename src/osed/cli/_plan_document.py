"""The document of ``osed building plan``: one MPC run's inputs, checked whole.

Its ``building`` is read by the DAC document's building and device readers, so a device is
described, checked and reported (codes, JSON paths) the same way in both documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from osed.buildings.devices_schema import Array, Building
from osed.gridfunctions.builtin import _dac_document as dac
from osed.gridfunctions.builtin._document_fields import FieldReader

FIELDS = ("steps", "step_h", "prices", "import_limit_kw", "building")


@dataclass(frozen=True, slots=True)
class PlanDocument:
    steps: int
    step_h: float
    prices: Array
    import_limit_kw: Array
    """(N,) +inf where no limit is given."""
    building: Building


def read_plan_document(document: Any) -> PlanDocument:
    """The run in ``document``; :class:`ValidationError` names every problem first."""
    reader = FieldReader("building plan document")
    root = reader.root(document)
    reader.unknown_keys(root, "$", FIELDS)
    before = len(reader.problems)
    steps = reader.integer(root, "steps", "$", minimum=1, maximum=dac.MAX_STEPS)
    n = steps if len(reader.problems) == before else None
    step_h = reader.number(root, "step_h", "$", above=0.0)
    prices = dac._series(reader, root, "prices", "$", n)
    limit = _limit(reader, root, n)
    building = _building(reader, root, n, step_h if step_h > 0 else None)
    reader.check()
    assert n is not None
    assert prices is not None
    assert limit is not None
    assert building is not None
    return PlanDocument(n, step_h, prices, limit, building)


def _limit(reader: FieldReader, root: Mapping[str, Any], n: int | None) -> Array | None:
    """``import_limit_kw``: absent (no limit), one number for every step, or N numbers."""
    if root.get("import_limit_kw") is None:
        return np.full(n or 0, np.inf)
    before = len(reader.problems)
    values = reader.series(root, "import_limit_kw", "$", n)
    if len(reader.problems) != before:
        return None
    return np.asarray(values, dtype=float)


def _building(
    reader: FieldReader, root: Mapping[str, Any], n: int | None, step_h: float | None
) -> Building | None:
    where = "$.building"
    if "building" not in root:
        reader.problems.add(where, "missing", "required")
        return None
    item = reader.object(root["building"], where)
    if not item:
        return None
    reader.unknown_keys(item, where, ("id", "base_kw", "devices"))
    ident = reader.string(item, "id", where)
    base = dac._series(reader, item, "base_kw", where, n)
    devices = dac._devices(reader, item, where, n, step_h)
    if not ident or base is None or devices is None:
        return None
    return Building(ident, base, tuple(devices))
