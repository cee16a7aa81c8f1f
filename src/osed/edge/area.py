"""What an EDC knows of its area from its buildings' reports, kept up to date per report (a
message costs the same with ten buildings or ten thousand), and the state a session sees."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from osed.edge.wire import REPORT_FIELDS


class AreaReports:
    def __init__(self) -> None:
        self._reports: dict[str, dict[str, Any]] = {}  # building → its last report, with "at"
        self._building_kw: dict[str, float] = {}
        self._reported_at: dict[str, str] = {}
        self._totals = dict.fromkeys(REPORT_FIELDS, 0.0)
        self._latest: str | None = None

    def record(self, building_id: str, body: Mapping[str, Any], at: str) -> None:
        old = self._reports.get(building_id, {})
        for name in REPORT_FIELDS:
            self._totals[name] += float(body.get(name, 0.0)) - float(old.get(name, 0.0))
        self._reports[building_id] = {**body, "at": at}
        self._building_kw[building_id] = float(body.get("demand_kw", 0.0)) - float(
            body.get("production_kw", 0.0)
        )
        self._reported_at[building_id] = at
        self._latest = at if self._latest is None else max(self._latest, at)

    def forget(self, building_id: str) -> None:
        """A building that left: its last report no longer counts."""
        old = self._reports.pop(building_id, None)
        self._building_kw.pop(building_id, None)
        if old is not None:
            for name in REPORT_FIELDS:
                self._totals[name] -= float(old.get(name, 0.0))

    def resum(self) -> None:
        """Sum afresh, exactly, so per-report updates never drift (once per control cycle)."""
        for name in REPORT_FIELDS:
            self._totals[name] = math.fsum(float(r.get(name, 0.0)) for r in self._reports.values())

    @property
    def totals(self) -> Mapping[str, float]:
        return MappingProxyType(self._totals)

    @property
    def building_kw(self) -> dict[str, float]:
        """The live map, not a copy (sessions only read it): a plain dict, so a session may
        keep it in a JSON snapshot."""
        return self._building_kw

    @property
    def reported_at(self) -> dict[str, str]:
        """When each building last reported (ISO time), the live map like ``building_kw``: a
        session tells a fresh measurement from one a silent building left behind."""
        return self._reported_at

    @property
    def latest(self) -> str | None:
        return self._latest

    def __len__(self) -> int:
        return len(self._reports)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return self._reports

    @classmethod
    def restored(cls, stored: Mapping[str, Mapping[str, Any]]) -> AreaReports:
        reports = cls()
        for building_id, report in stored.items():
            body = {k: v for k, v in report.items() if k != "at"}
            reports.record(building_id, body, str(report["at"]))
        reports.resum()
        return reports


class AreaState(Mapping[str, Any]):
    """A session's ``area.state``: the given values, and ``responses`` computed only if the
    session reads it."""

    def __init__(self, values: dict[str, Any], responses: Callable[[], dict[str, Any]]) -> None:
        self._values = values
        self._responses = responses
        self._computed: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        if key == "responses":
            if self._computed is None:
                self._computed = self._responses()
            return self._computed
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._values
        yield "responses"

    def __len__(self) -> int:
        return len(self._values) + 1
