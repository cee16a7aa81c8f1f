"""``community-balancing``: the area's batteries and PV scheduled by the balancer optimizer.

Offline, ``run`` is the balancer on one OSED balancing document (docs/optimizer.md). Live, the
session keeps the document as a template and re-plans every ``replan_every_s`` from the area's
latest forecasts (``area.state["load_forecast_kw"]`` and ``["pv_forecast_kw"]``, one value per
step of the template, when present), sending each battery its schedule as ``setpoints``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from osed.domain.errors import ValidationError
from osed.gridfunctions.spec import AreaView, Inbound, Manifest, MessageType, Outbound, Parameter
from osed.optimizer.documents import Format, solve_document

MANIFEST = Manifest(
    name="community-balancing",
    version="1.0.0",
    description="batteries and PV of the area scheduled by the balancer optimizer (HiGHS), "
    "re-planned from the latest forecasts",
    parameters=(
        Parameter("document", "an OSED balancing document: the plan's template", kind="object"),
        Parameter("replan_every_s", "time between plans", unit="s", minimum=1.0, default=900.0),
    ),
    messages=(
        MessageType("setpoints", "outbound", "each battery's power schedule (kW, charge +)"),
        MessageType("clear_setpoints", "outbound", "the function was removed: own control"),
    ),
)


class CommunityBalancing:
    @property
    def manifest(self) -> Manifest:
        return MANIFEST

    def run(self, document: Any) -> dict[str, Any]:
        return solve_document(document, format=Format.OSED)

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> BalancingSession:
        if resume is not None:
            return BalancingSession(dict(resume["parameters"]), dict(resume["state"]))
        return BalancingSession(dict(parameters))


class BalancingSession:
    def __init__(self, parameters: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        self.parameters = parameters
        self.state = state or {"plans": 0, "next_plan": None, "last": None, "error": None}

    def start(self, area: AreaView) -> list[Outbound]:
        return self._plan(area)

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        return []  # the channel is outbound only

    def on_tick(self, area: AreaView) -> list[Outbound]:
        due = self.state["next_plan"]
        if due is not None and area.now < datetime.fromisoformat(due):
            return []
        return self._plan(area)

    def close(self, area: AreaView) -> list[Outbound]:
        return [Outbound("clear_setpoints", {"reason": "the function was removed"})]

    def status(self) -> dict[str, Any]:
        return dict(self.state)

    def snapshot(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "state": self.state}

    def _plan(self, area: AreaView) -> list[Outbound]:
        document = dict(self.parameters["document"])
        document["start"] = area.now.isoformat()
        for key, source in (("load_kw", "load_forecast_kw"), ("pv_kw", "pv_forecast_kw")):
            forecast = area.state.get(source)
            if isinstance(forecast, list) and len(forecast) == len(document.get(key, [])):
                document[key] = forecast
        every = timedelta(seconds=float(self.parameters["replan_every_s"]))
        self.state["next_plan"] = (area.now + every).isoformat()
        try:
            result = solve_document(document, format=Format.OSED)
        except ValidationError as exc:
            self.state["error"] = str(exc)
            return []
        self.state["plans"] += 1
        self.state["error"] = None
        self.state["last"] = {
            "at": area.now.isoformat(),
            "status": result.get("status"),
            "objective": result.get("objective", {}).get("value"),
        }
        if "batteries" not in result:
            return []
        body = {
            "start": result.get("start"),
            "step_minutes": result.get("step_minutes"),
            "batteries": [
                {"id": battery["id"], "power_kw": battery["power_kw"]}
                for battery in result["batteries"]
            ],
        }
        return [Outbound("setpoints", body)]


FUNCTION = CommunityBalancing()
