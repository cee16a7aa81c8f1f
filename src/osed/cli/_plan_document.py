"""The document of ``osed building plan``: one MPC run's inputs, checked whole.

Its ``building`` is read by the DAC document's building and device readers, so a device is
described, checked and reported (codes, JSON paths) the same way in both documents.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from osed.buildings.devices_schema import Array, Building
from osed.domain.problems import Problems
from osed.gridfunctions.builtin import _dac_document as dac

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
    problems = Problems("building plan document")
    if not isinstance(document, Mapping):
        problems.add("$", "not_object", "the document must be a JSON object")
        problems.check()
    for key in document:
        if key not in FIELDS:
            problems.add(f"$.{key}", "unknown_field", f"not a field; known: {list(FIELDS)}")
    steps = dac._integer(document, "steps", "$", problems, minimum=1, maximum=dac.MAX_STEPS)
    step_h = dac._number(document, "step_h", "$", problems, positive=True)
    prices = dac._series(document, "prices", "$", steps, problems)
    limit = _limit(document, steps, problems)
    building = _building(document, steps, step_h, problems)
    problems.check()
    assert steps is not None
    assert step_h is not None
    assert prices is not None
    assert limit is not None
    assert building is not None
    return PlanDocument(steps, step_h, prices, limit, building)


def _limit(document: Mapping[str, Any], n: int | None, problems: Problems) -> Array | None:
    """``import_limit_kw``: absent (no limit), one number for every step, or N numbers."""
    raw = document.get("import_limit_kw")
    if raw is None:
        return np.full(n or 0, np.inf)
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return dac._series(document, "import_limit_kw", "$", n, problems)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        problems.add("$.import_limit_kw", "not_a_number", "a finite number or a list of them")
        return None
    return np.full(n or 0, float(raw))


def _building(
    document: Mapping[str, Any], n: int | None, step_h: float | None, problems: Problems
) -> Building | None:
    where = "$.building"
    item = document.get("building")
    if not isinstance(item, Mapping):
        problems.add(where, "missing" if item is None else "not_object", "a building object")
        return None
    for key in item:
        if key not in ("id", "base_kw", "devices"):
            problems.add(f"{where}.{key}", "unknown_field", "known: id, base_kw, devices")
    ident = dac._identifier(item, where, set(), problems)
    base = dac._series(item, "base_kw", where, n, problems)
    devices = dac._devices(item, where, n, step_h, problems)
    if ident is None or base is None or devices is None:
        return None
    return Building(ident, base, tuple(devices))
