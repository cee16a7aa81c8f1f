"""A small grid function for the EDC tests: it asks every enrolled building for its load (at
the start, or at the first tick after it enrolled), keeps the answers, re-asks the overdue
ones each tick and sends a restoration when removed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from osed.domain.errors import NotFoundError
from osed.gridfunctions.spec import (
    AreaView,
    GridFunction,
    Inbound,
    Manifest,
    MessageType,
    Outbound,
    Parameter,
    Session,
)

RESPONSE_MAX_BYTES = 300

MANIFEST = Manifest(
    name="probe",
    version="0.1",
    description="asks buildings for their load (tests)",
    parameters=(
        Parameter("limit_kw", "import limit", unit="kW", minimum=0, maximum=1000),
        Parameter("period", "how often", unit="s", minimum=1, default=60.0),
    ),
    messages=(
        MessageType("request", "outbound", max_bytes=1024),
        MessageType("restore", "outbound"),
        MessageType("response", "inbound", max_bytes=RESPONSE_MAX_BYTES),
    ),
)


class ProbeSession:
    def __init__(self, parameters: Mapping[str, Any], resume: Mapping[str, Any] | None) -> None:
        self.limit_kw = float(parameters["limit_kw"])
        self.responses: dict[str, Any] = dict(resume["responses"]) if resume else {}
        self.ticks: int = int(resume["ticks"]) if resume else 0
        self.asked: set[str] = set(resume["asked"]) if resume else set()

    def start(self, area: AreaView) -> list[Outbound]:
        self.asked.update(area.buildings)
        return [Outbound("request", {"limit_kw": self.limit_kw})]

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        if message.body.get("boom"):
            raise RuntimeError("the probe broke")
        self.responses[message.building_id] = message.body.get("kw")
        return []

    def on_tick(self, area: AreaView) -> list[Outbound]:
        self.ticks += 1
        new = [b for b in area.buildings if b not in self.asked]
        self.asked.update(new)
        overdue = area.state["responses"]["overdue"]
        return [Outbound("request", {"limit_kw": self.limit_kw}, b) for b in [*new, *overdue]]

    def status(self) -> dict[str, Any]:
        return {"responses": dict(self.responses), "ticks": self.ticks}

    def snapshot(self) -> dict[str, Any]:
        return {"responses": dict(self.responses), "ticks": self.ticks, "asked": sorted(self.asked)}

    def close(self, area: AreaView) -> list[Outbound]:
        return [Outbound("restore", {})]


class Probe:
    manifest = MANIFEST

    def run(self, document: Any) -> dict[str, Any]:
        return {"echo": document}

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> Session:
        return ProbeSession(parameters, resume)


def load_function(name: str) -> GridFunction:
    """The registry the tests give the manager: the probe only."""
    if name != "probe":
        raise NotFoundError(f"unknown grid function {name!r}; installed: probe")
    return Probe()


def function_names() -> list[str]:
    return ["probe"]
