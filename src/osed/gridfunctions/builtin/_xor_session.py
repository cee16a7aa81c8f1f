"""The live ``xor`` round in an EDC: offer, bids until the deadline, clearing, delivery.

Phases: ``bidding`` (the price offer is out; bids replace earlier bids of the same building)
→ at the deadline, or once every enrolled building has bid, the round is cleared →
``delivering`` (winners' consumption measured against their baseline, the consumption each had
when the round cleared, from ``area.state["building_kw"]``, once per tick) → ``done``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from osed.gridfunctions.builtin._xor_clearing import clear
from osed.gridfunctions.spec import AreaView, Inbound, Outbound

TIME_LIMIT_S = 5.0
"""The clearing's time budget inside a control cycle."""


class XorSession:
    """One round; its whole state is JSON-able (:meth:`snapshot`)."""

    def __init__(self, parameters: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        self.parameters = parameters
        self.state: dict[str, Any] = state or {
            "phase": "new",
            "deadline": None,
            "bids": {},
            "result": None,
            "baseline_kw": {},
            "delivered_kwh": {},
            "delivery_start": None,
            "delivery_end": None,
            "measured_until": None,
        }

    @classmethod
    def resumed(cls, snapshot: Any) -> XorSession:
        return cls(dict(snapshot["parameters"]), dict(snapshot["state"]))

    # ----------------------------------------------------------------------------- lifecycle

    def start(self, area: AreaView) -> list[Outbound]:
        deadline = area.now + timedelta(seconds=float(self.parameters["bid_window_s"]))
        self.state["phase"] = "bidding"
        self.state["deadline"] = deadline.isoformat()
        offer = {
            "prices": list(self.parameters["prices"]),
            "request_kw": self.parameters["request_kw"],
            "duration_h": self.parameters["duration_h"],
            "deadline": deadline.isoformat(),
        }
        return [Outbound("price_offer", offer)]

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        if message.message_type != "bid":
            return []
        if self.state["phase"] != "bidding":
            return [_rejected(message.building_id, "the round is closed")]
        reason = self._bid_problem(message.body)
        if reason:
            return [_rejected(message.building_id, reason)]
        self.state["bids"][message.building_id] = [float(q) for q in message.body["quantities_kw"]]
        if set(area.buildings) <= set(self.state["bids"]):
            return self._clear(area)
        return []

    def on_tick(self, area: AreaView) -> list[Outbound]:
        phase = self.state["phase"]
        if phase == "bidding" and area.now >= datetime.fromisoformat(self.state["deadline"]):
            return self._clear(area)
        if phase == "delivering":
            self._measure(area)
        return []

    def close(self, area: AreaView) -> list[Outbound]:
        if self.state["phase"] != "delivering":
            self.state["phase"] = "done"
            return []
        self.state["phase"] = "done"
        return [
            Outbound("award_cancelled", {"reason": "the function was removed"}, winner["building"])
            for winner in self.state["result"]["winners"]
        ]

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "phase": self.state["phase"],
            "deadline": self.state["deadline"],
            "bids": len(self.state["bids"]),
        }
        result = self.state["result"]
        if result is not None:
            status.update(
                {
                    "clearing": result["status"],
                    "cost": result["cost"],
                    "procured_kw": result["procured_kw"],
                    "winners": result["winners"],
                }
            )
        if self.state["delivery_start"] is not None:
            status["delivery"] = self._delivery()
        return status

    def snapshot(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "state": self.state}

    # ------------------------------------------------------------------------------- helpers

    def _bid_problem(self, body: Any) -> str:
        quantities = body.get("quantities_kw") if isinstance(body, dict) else None
        prices = self.parameters["prices"]
        if not isinstance(quantities, list) or len(quantities) != len(prices):
            return f"quantities_kw must be a list of {len(prices)} quantities, one per price"
        for index, value in enumerate(quantities):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                return f"quantities_kw[{index}] must be a finite number >= 0"
        return ""

    def _clear(self, area: AreaView) -> list[Outbound]:
        bidders = sorted(self.state["bids"])
        prices = np.asarray(self.parameters["prices"], dtype=float)
        quantities = np.asarray([self.state["bids"][b] for b in bidders], dtype=float)
        clearing = clear(
            quantities.reshape(len(bidders), len(prices)),
            prices,
            request_kw=float(self.parameters["request_kw"]),
            duration_h=float(self.parameters["duration_h"]),
            time_limit_s=TIME_LIMIT_S,
        )
        winners = [
            {
                "building": bidders[b],
                "price_index": int(clearing.choice[b]),
                "price": float(prices[clearing.choice[b]]),
                "quantity_kw": float(quantities[b, clearing.choice[b]]),
            }
            for b in np.flatnonzero(clearing.choice >= 0).tolist()
        ]
        self.state["result"] = {
            "status": clearing.status,
            "cost": clearing.cost,
            "procured_kw": clearing.procured_kw,
            "shortfall_kw": max(0.0, float(self.parameters["request_kw"]) - clearing.available_kw)
            if clearing.status == "infeasible"
            else 0.0,
            "winners": winners,
        }
        if not winners:
            self.state["phase"] = "done"
            reason = {
                "reason": clearing.status,
                "shortfall_kw": self.state["result"]["shortfall_kw"],
            }
            return [Outbound("no_award", reason, b) for b in area.buildings]
        start = area.now
        end = start + timedelta(hours=float(self.parameters["duration_h"]))
        measured = area.state.get("building_kw", {})
        self.state.update(
            {
                "phase": "delivering",
                "delivery_start": start.isoformat(),
                "delivery_end": end.isoformat(),
                "measured_until": start.isoformat(),
                "baseline_kw": {w["building"]: _kw(measured, w["building"]) for w in winners},
                "delivered_kwh": {w["building"]: 0.0 for w in winners},
            }
        )
        window = {"start": start.isoformat(), "end": end.isoformat()}
        messages = [Outbound("award", {**w, **window}, w["building"]) for w in winners]
        won = {w["building"] for w in winners}
        messages += [
            Outbound("no_award", {"reason": "not accepted"}, b)
            for b in area.buildings
            if b not in won
        ]
        return messages

    def _measure(self, area: AreaView) -> None:
        """Delivery since the last tick: baseline minus the consumption now, over the time."""
        end = datetime.fromisoformat(self.state["delivery_end"])
        since = datetime.fromisoformat(self.state["measured_until"])
        until = min(area.now, end)
        hours = max(0.0, (until - since).total_seconds() / 3600.0)
        measured = area.state.get("building_kw", {})
        for building, baseline in self.state["baseline_kw"].items():
            now_kw = _kw(measured, building)
            if baseline is not None and now_kw is not None:
                self.state["delivered_kwh"][building] += (baseline - now_kw) * hours
        self.state["measured_until"] = until.isoformat()
        if area.now >= end:
            self.state["phase"] = "done"

    def _delivery(self) -> dict[str, Any]:
        start = datetime.fromisoformat(self.state["delivery_start"])
        until = datetime.fromisoformat(self.state["measured_until"])
        hours = (until - start).total_seconds() / 3600.0
        rows = []
        for winner in self.state["result"]["winners"]:
            energy = self.state["delivered_kwh"][winner["building"]]
            mean = energy / hours if hours > 0 else None
            rows.append(
                {
                    "building": winner["building"],
                    "awarded_kw": winner["quantity_kw"],
                    "baseline_kw": self.state["baseline_kw"][winner["building"]],
                    "delivered_kwh": energy,
                    "delivered_kw": mean,
                    "share": mean / winner["quantity_kw"] if mean is not None else None,
                }
            )
        return {
            "start": self.state["delivery_start"],
            "end": self.state["delivery_end"],
            "measured_h": hours,
            "buildings": rows,
        }


def _kw(measured: Any, building: str) -> float | None:
    value = measured.get(building) if isinstance(measured, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _rejected(building: str, reason: str) -> Outbound:
    return Outbound("bid_rejected", {"reason": reason}, building)
