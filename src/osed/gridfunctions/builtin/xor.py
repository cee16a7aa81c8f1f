"""``xor``: the flexibility spot market of an EDC.

The EDC publishes a price array; each building bids the curtailment (or production) it offers
at each price; at most one offer per building is accepted (XOR) and paid as bid; the EDC
procures the requested flexibility at least cost (:mod:`._xor_clearing`, proven optimal);
winners are told on their channel and their delivery is measured against their baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from osed.gridfunctions.builtin._xor_clearing import Clearing, clear
from osed.gridfunctions.builtin._xor_document import XorRound, parse_round
from osed.gridfunctions.builtin._xor_session import XorSession
from osed.gridfunctions.spec import AreaView, Manifest, MessageType, Parameter

MANIFEST = Manifest(
    name="xor",
    version="1.0.0",
    description="flexibility spot market: buildings bid a quantity per price, at most one bid "
    "each is accepted, the request is procured at least cost (proven)",
    parameters=(
        Parameter("request_kw", "flexibility to procure", unit="kW", minimum=0.0, maximum=1e9),
        Parameter("duration_h", "how long it is delivered", unit="h", minimum=0.0, maximum=48.0),
        Parameter(
            "prices",
            "the price array offered, strictly ascending",
            kind="series",
            unit="per_kWh",
            minimum=0.0,
            maximum=1e6,
        ),
        Parameter(
            "bid_window_s", "how long bids are collected", unit="s", minimum=1.0, default=300.0
        ),
    ),
    messages=(
        MessageType("price_offer", "outbound", "prices, request, duration and bid deadline"),
        MessageType("award", "outbound", "the accepted offer: price, quantity, delivery window"),
        MessageType("no_award", "outbound", "no offer of this building was accepted"),
        MessageType("bid_rejected", "outbound", "a bid that was not taken, and why", 4096),
        MessageType("award_cancelled", "outbound", "the function was removed before delivery"),
        MessageType("bid", "inbound", "quantities_kw: one quantity per price, >= 0", 16384),
    ),
)


class XorFunction:
    """The ``xor`` grid function."""

    @property
    def manifest(self) -> Manifest:
        return MANIFEST

    def run(self, document: Any) -> dict[str, Any]:
        market_round = parse_round(document)
        clearing = clear(
            market_round.quantities_kw,
            market_round.prices,
            request_kw=market_round.request_kw,
            duration_h=market_round.duration_h,
            time_limit_s=market_round.time_limit_s,
        )
        return clearing_result(market_round, clearing)

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> XorSession:
        if resume is not None:
            return XorSession.resumed(resume)
        return XorSession(dict(parameters))


def clearing_result(market_round: XorRound, clearing: Clearing) -> dict[str, Any]:
    """The result document: status, cost, procured quantity, winners in input order, proof."""
    result: dict[str, Any] = {
        "status": clearing.status,
        "cost": clearing.cost,
        "procured_kw": clearing.procured_kw,
        "request_kw": market_round.request_kw,
        "available_kw": clearing.available_kw,
    }
    if clearing.status == "infeasible":
        result["shortfall_kw"] = market_round.request_kw - clearing.available_kw
    winners = np.flatnonzero(clearing.choice >= 0)
    result["winners"] = [
        {
            "building": market_round.buildings[int(b)],
            "price_index": int(clearing.choice[b]),
            "price": float(market_round.prices[clearing.choice[b]]),
            "quantity_kw": float(market_round.quantities_kw[b, clearing.choice[b]]),
        }
        for b in winners
    ]
    result["proof"] = {
        "lower_bound": clearing.lower_bound,
        "lp_bound": clearing.lp_bound,
        "gap": max(0.0, clearing.cost - clearing.lower_bound),
        "core_buildings": clearing.core_buildings,
        "seconds": clearing.seconds,
    }
    return result


FUNCTION = XorFunction()
