"""``market``: the area's buildings trade through their Transactive Energy User Agents with the
CTS Market Agent.

Offline, ``run`` clears one call auction document, the one ``osed market clear`` reads. Live,
the session opens the market for the area: it broadcasts ``market_open`` with the market id and
the trading interval, so each building's TEUA knows where to send its tenders; the Market Agent
does the trading, and the session reports what the buildings said back (``market_joined``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from osed.gridfunctions.spec import AreaView, Inbound, Manifest, MessageType, Outbound, Parameter
from osed.markets.auction import clear_auction
from osed.markets.auction_document import auction_output, parse_auction

MANIFEST = Manifest(
    name="market",
    version="1.0.0",
    description="buildings trade through their TEUAs with the CTS Market Agent; offline: one "
    "double auction cleared",
    parameters=(
        Parameter("market_id", "the Market Agent's market the area trades in", kind="string"),
        Parameter(
            "interval_s", "length of a trading interval", unit="s", minimum=60.0, default=900.0
        ),
    ),
    messages=(
        MessageType("market_open", "outbound", "market id and the trading interval"),
        MessageType("market_closed", "outbound", "the area no longer trades through the EDC"),
        MessageType("market_joined", "inbound", "a building's TEUA is trading", 1024),
    ),
)


class MarketFunction:
    @property
    def manifest(self) -> Manifest:
        return MANIFEST

    def run(self, document: Any) -> dict[str, Any]:
        auction = parse_auction(document, subject="market document")
        result = clear_auction(
            auction.bid_prices,
            auction.bid_quantities,
            auction.offer_prices,
            auction.offer_quantities,
            pricing=auction.pricing,
            price_cap=auction.price_cap,
        )
        return auction_output(auction, result)

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> MarketSession:
        if resume is not None:
            return MarketSession(dict(resume["parameters"]), dict(resume["state"]))
        return MarketSession(dict(parameters))


class MarketSession:
    def __init__(self, parameters: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        self.parameters = parameters
        self.state = state or {"opened": None, "joined": []}

    def start(self, area: AreaView) -> list[Outbound]:
        self.state["opened"] = area.now.isoformat()
        end = area.now + timedelta(seconds=float(self.parameters["interval_s"]))
        body = {
            "market_id": self.parameters["market_id"],
            "interval": {"start": area.now.isoformat(), "end": end.isoformat()},
            "interval_s": self.parameters["interval_s"],
        }
        return [Outbound("market_open", body)]

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        if (
            message.message_type == "market_joined"
            and message.building_id not in self.state["joined"]
        ):
            self.state["joined"].append(message.building_id)
        return []

    def on_tick(self, area: AreaView) -> list[Outbound]:
        return []

    def close(self, area: AreaView) -> list[Outbound]:
        return [Outbound("market_closed", {"market_id": self.parameters["market_id"]})]

    def status(self) -> dict[str, Any]:
        return {
            "market_id": self.parameters["market_id"],
            "opened": self.state["opened"],
            "joined": sorted(self.state["joined"]),
        }

    def snapshot(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "state": self.state}


FUNCTION = MarketFunction()
