"""``capacity-limit``: import and export limits of an area, shared among its buildings.

The limits follow OpenADR 3's IMPORT_CAPACITY_LIMIT and EXPORT_CAPACITY_LIMIT events: a value in
kW over an interval. The area's net import must stay at or below the import limit and its net
export at or below the export limit. Each building gets bounds on its own net power, shared by
flexibility (:mod:`._sharing`): the bounds of all buildings sum to the limit exactly when the
limit is reachable, and the shortfall is named when it is not. A live session recomputes the
bounds every control cycle from the measured building powers, so a limit holds from the next
cycle on; a building that is silent in a cycle is taken at its last measured power until that
is ``stale_after`` old, then left out (:mod:`._last_measurements`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from osed.domain.errors import Problem, ValidationError
from osed.gridfunctions.builtin._document_fields import FieldReader
from osed.gridfunctions.builtin._last_measurements import LastMeasurements, Participants
from osed.gridfunctions.builtin._sharing import Vector, share_target
from osed.gridfunctions.spec import (
    AreaView,
    ComposedFunction,
    Inbound,
    Manifest,
    MessageType,
    Outbound,
    Parameter,
)

NAME = "capacity-limit"
_TOLERANCE_KW = 1e-6

MANIFEST = Manifest(
    name=NAME,
    version="1.0.0",
    description=(
        "Area import/export limits (OpenADR 3 IMPORT_CAPACITY_LIMIT / EXPORT_CAPACITY_LIMIT) "
        "shared among buildings by their flexibility, enforced every control cycle"
    ),
    parameters=(
        Parameter(
            "import_limit_kw", "most the area may import", unit="kW", minimum=0, default=None
        ),
        Parameter(
            "export_limit_kw", "most the area may export", unit="kW", minimum=0, default=None
        ),
        Parameter(
            "start",
            "start of the event interval, ISO 8601 with a time zone; empty: when assigned",
            kind="string",
            default="",
        ),
        Parameter(
            "duration",
            "length of the event interval; 0: until removed",
            unit="s",
            minimum=0,
            default=0.0,
        ),
        Parameter(
            "deadband_kw",
            "a bound is sent again only when it moved by more than this",
            unit="kW",
            minimum=0,
            maximum=1e3,
            default=0.05,
        ),
        Parameter(
            "stale_after",
            "a silent building is taken at its last measured power this long, then left out "
            "and the limit is shared among the others",
            unit="s",
            minimum=0,
            maximum=86_400,
            default=900.0,
        ),
    ),
    messages=(
        MessageType("flexibility_request", "outbound", "asks each building for its range"),
        MessageType("limit", "outbound", "bounds on the building's net power (kW)", 512),
        MessageType("release", "outbound", "the event is over: bounds lifted", 256),
        MessageType("flexibility", "inbound", "{min_kw, max_kw}: the building's range", 512),
    ),
)


@dataclass(frozen=True, slots=True)
class Allocation:
    """Bounds per building for one set of limits."""

    max_kw: Vector | None
    min_kw: Vector | None
    import_gap_kw: float
    export_gap_kw: float

    @property
    def feasible(self) -> bool:
        return self.import_gap_kw <= _TOLERANCE_KW and self.export_gap_kw <= _TOLERANCE_KW


def allocate(
    current: Vector,
    low: Vector,
    high: Vector,
    *,
    import_limit_kw: float | None,
    export_limit_kw: float | None,
) -> Allocation:
    """Import caps summing to the import limit and export floors summing to minus the export
    limit, each by flexibility; the gaps are the shortfalls when a limit is out of reach."""
    caps = floors = None
    import_gap = export_gap = 0.0
    if import_limit_kw is not None:
        shared = share_target(import_limit_kw, current, low, high)
        caps = shared.setpoints_kw
        # Caps below the target are slack, not a shortfall; only an unreachable floor is.
        import_gap = shared.gap_kw if import_limit_kw < float(low.sum()) else 0.0
    if export_limit_kw is not None:
        shared = share_target(-export_limit_kw, current, low, high)
        floors = shared.setpoints_kw
        export_gap = shared.gap_kw if -export_limit_kw > float(high.sum()) else 0.0
    return Allocation(caps, floors, import_gap, export_gap)


# ------------------------------------------------------------------------------- offline run


def _read_document(document: Any) -> tuple[dict[str, Any], list[str], Vector, Vector, Vector]:
    reader = FieldReader(f"{NAME} document")
    root = reader.root(document)
    reader.unknown_keys(root, "$", ("import_limit_kw", "export_limit_kw", "buildings"))
    limits = {
        key: reader.optional_number(root, key, "$", minimum=0.0)
        for key in ("import_limit_kw", "export_limit_kw")
    }
    if limits["import_limit_kw"] is None and limits["export_limit_kw"] is None:
        reader.problems.add("$.import_limit_kw", "missing", "give an import or export limit")
    ids: list[str] = []
    columns: list[list[float]] = [[], [], []]
    buildings = reader.items(root, "buildings", "$")
    for index, raw in enumerate(buildings):
        path = f"$.buildings[{index}]"
        building = reader.object(raw, path)
        reader.unknown_keys(building, path, ("id", "current_kw", "min_kw", "max_kw"))
        ids.append(reader.string(building, "id", path))
        values = [reader.number(building, key, path) for key in ("current_kw", "min_kw", "max_kw")]
        if values[1] > values[2]:
            reader.problems.add(f"{path}.min_kw", "above_max", "min_kw is above max_kw")
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    reader.unique_ids(ids, "$.buildings")
    reader.check()
    current, low, high = (np.asarray(c, dtype=np.float64) for c in columns)
    return limits, ids, current, low, high


def run_document(document: Any) -> dict[str, Any]:
    limits, ids, current, low, high = _read_document(document)
    allocation = allocate(
        current,
        low,
        high,
        import_limit_kw=limits["import_limit_kw"],
        export_limit_kw=limits["export_limit_kw"],
    )
    total = float(current.sum())
    rows: list[dict[str, Any]] = []
    for i, identifier in enumerate(ids):
        rows.append(
            {
                "id": identifier,
                "current_kw": float(current[i]),
                "max_kw": None if allocation.max_kw is None else float(allocation.max_kw[i]),
                "min_kw": None if allocation.min_kw is None else float(allocation.min_kw[i]),
            }
        )
    result: dict[str, Any] = {
        "status": "feasible" if allocation.feasible else "infeasible",
        "area_kw": total,
        "import": None,
        "export": None,
        "buildings": rows,
    }
    if allocation.max_kw is not None:
        result["import"] = {
            "limit_kw": limits["import_limit_kw"],
            "bounds_sum_kw": float(allocation.max_kw.sum()),
            "curtailed_kw": float(np.maximum(current - allocation.max_kw, 0.0).sum()),
            "shortfall_kw": allocation.import_gap_kw,
        }
    if allocation.min_kw is not None:
        result["export"] = {
            "limit_kw": limits["export_limit_kw"],
            "bounds_sum_kw": float(allocation.min_kw.sum()),
            "curtailed_kw": float(np.maximum(allocation.min_kw - current, 0.0).sum()),
            "shortfall_kw": allocation.export_gap_kw,
        }
    return result


# ------------------------------------------------------------------------------- live session


def _number_field(body: Mapping[str, Any], key: str, where: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValidationError(
            [Problem(f"$.{key}", "not_a_number", "must be a finite number")], subject=where
        )
    return float(value)


def _interval_start(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationError(
            [Problem("$.start", "not_a_time", "must be an ISO 8601 time with a time zone")],
            subject=f"{NAME} parameters",
        )
    return moment


class CapacityLimitSession:
    """One capacity-limit event in one EDC."""

    def __init__(self, parameters: Mapping[str, Any], resume: Mapping[str, Any] | None) -> None:
        self._import = parameters.get("import_limit_kw")
        self._export = parameters.get("export_limit_kw")
        if self._import is None and self._export is None:
            raise ValidationError(
                [Problem("$.import_limit_kw", "missing", "give an import or export limit")],
                subject=f"{NAME} parameters",
            )
        self._start = _interval_start(str(parameters.get("start", "")))
        self._duration = float(parameters.get("duration", 0.0))
        self._deadband = float(parameters.get("deadband_kw", 0.05))
        saved = resume or {}
        self._last = LastMeasurements(
            float(parameters.get("stale_after", 900.0)), saved.get("last_kw")
        )
        self._stale: int = saved.get("stale", 0)
        self._flexibility: dict[str, tuple[float, float]] = {
            b: (float(lo), float(hi)) for b, (lo, hi) in saved.get("flexibility", {}).items()
        }
        self._sent: dict[str, tuple[float | None, float | None]] = {
            b: (hi, lo) for b, (hi, lo) in saved.get("sent", {}).items()
        }
        self._started_at: str | None = saved.get("started_at")
        self._phase: str = saved.get("phase", "pending")
        self._ticks: int = saved.get("ticks", 0)
        self._violations: int = saved.get("violations", 0)
        self._measured_kw: float | None = saved.get("measured_kw")
        self._import_gap: float = saved.get("import_shortfall_kw", 0.0)
        self._export_gap: float = saved.get("export_shortfall_kw", 0.0)

    def _ends_at(self) -> datetime | None:
        if self._started_at is None or self._duration <= 0:
            return None
        return datetime.fromisoformat(self._started_at) + timedelta(seconds=self._duration)

    def _interval(self) -> dict[str, str | None]:
        ends = self._ends_at()
        return {"start": self._started_at, "end": None if ends is None else ends.isoformat()}

    def start(self, area: AreaView) -> list[Outbound]:
        self._started_at = (self._start or area.now).isoformat()
        request = Outbound("flexibility_request", {"interval": self._interval()})
        if self._start is not None and area.now < self._start:
            self._phase = "pending"  # announced ahead; bounds go out when the interval begins
            return [request]
        self._phase = "active"
        return [request, *self._enforce(self._participants(area))]

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        if message.message_type != "flexibility":
            return []
        where = f"{NAME} flexibility from {message.building_id}"
        low = _number_field(message.body, "min_kw", where)
        high = _number_field(message.body, "max_kw", where)
        if low > high:
            raise ValidationError(
                [Problem("$.min_kw", "above_max", "min_kw is above max_kw")], subject=where
            )
        self._flexibility[message.building_id] = (low, high)
        return []  # taken into account at the next control cycle

    def on_tick(self, area: AreaView) -> list[Outbound]:
        if self._phase == "pending" and self._start is not None and area.now >= self._start:
            self._phase = "active"
        if self._phase != "active":
            return []
        ends = self._ends_at()
        if ends is not None and area.now >= ends:
            self._phase = "ended"
            return [Outbound("release", {"interval": self._interval()})]
        taken = self._participants(area)
        total = float(sum(taken.current_kw))
        self._measured_kw = total
        if self._ticks > 0 and self._violated(total):
            self._violations += 1
        self._ticks += 1
        return self._enforce(taken)

    def _violated(self, total: float) -> bool:
        over_import = self._import is not None and total > self._import + _TOLERANCE_KW
        over_export = self._export is not None and -total > self._export + _TOLERANCE_KW
        return over_import or over_export

    def _participants(self, area: AreaView) -> Participants:
        taken = self._last.participants(area, self._flexibility)
        self._stale = len(taken.stale)
        return taken

    def _enforce(self, taken: Participants) -> list[Outbound]:
        # A stale building keeps the last bound it was sent: it hears nothing until it reports
        # again and is shared in afresh.
        buildings = taken.buildings
        current = np.asarray(taken.current_kw, dtype=np.float64)
        # A building measured but silent about its range may go as far as zero net power.
        low = np.minimum(current, 0.0)
        high = np.maximum(current, 0.0)
        for i, building in enumerate(buildings):
            known = self._flexibility.get(building)
            if known is not None:
                low[i], high[i] = known
        allocation = allocate(
            current, low, high, import_limit_kw=self._import, export_limit_kw=self._export
        )
        self._import_gap, self._export_gap = allocation.import_gap_kw, allocation.export_gap_kw
        caps = None if allocation.max_kw is None else allocation.max_kw.tolist()
        floors = None if allocation.min_kw is None else allocation.min_kw.tolist()
        interval = self._interval()
        messages: list[Outbound] = []
        for i, building in enumerate(buildings):
            bound = (None if caps is None else caps[i], None if floors is None else floors[i])
            if not self._changed(self._sent.get(building), bound):
                continue
            self._sent[building] = bound
            body = {"max_kw": bound[0], "min_kw": bound[1], "interval": interval}
            messages.append(Outbound("limit", body, building))
        return messages

    def _changed(
        self,
        before: tuple[float | None, float | None] | None,
        now: tuple[float | None, float | None],
    ) -> bool:
        if before is None:
            return True
        for old, new in zip(before, now, strict=True):
            if (old is None) != (new is None):
                return True
            if old is not None and new is not None and abs(old - new) > self._deadband:
                return True
        return False

    def status(self) -> dict[str, Any]:
        return {
            "phase": self._phase,
            "import_limit_kw": self._import,
            "export_limit_kw": self._export,
            "interval": self._interval(),
            "measured_kw": self._measured_kw,
            "import_shortfall_kw": self._import_gap,
            "export_shortfall_kw": self._export_gap,
            "feasible": self._import_gap <= _TOLERANCE_KW and self._export_gap <= _TOLERANCE_KW,
            "buildings_reported": len(self._flexibility),
            "buildings_stale": self._stale,
            "cycles": self._ticks,
            "cycles_over_limit": self._violations,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "flexibility": {b: list(r) for b, r in self._flexibility.items()},
            "last_kw": self._last.snapshot(),
            "stale": self._stale,
            "sent": {b: list(s) for b, s in self._sent.items()},
            "started_at": self._started_at,
            "phase": self._phase,
            "ticks": self._ticks,
            "violations": self._violations,
            "measured_kw": self._measured_kw,
            "import_shortfall_kw": self._import_gap,
            "export_shortfall_kw": self._export_gap,
        }

    def close(self, area: AreaView) -> list[Outbound]:
        if self._phase not in ("pending", "active"):
            return []
        self._phase = "ended"
        return [Outbound("release", {"interval": self._interval()})]


CapacityLimit = ComposedFunction(MANIFEST, run_document, CapacityLimitSession)
"""The ``capacity-limit`` grid function."""
