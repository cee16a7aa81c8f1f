"""Mechanisms are found through the ``osed.markets`` entry points, built-ins included."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from osed.domain.errors import ConfigurationError
from osed.markets import registry
from osed.markets.auction import DoubleAuctionMarket
from osed.markets.orderbook import BilateralMarket


def test_built_ins_are_registered() -> None:
    markets = registry.available_markets()
    assert markets["double-auction"] == "osed.markets.auction:DoubleAuctionMarket"
    assert markets["bilateral"] == "osed.markets.orderbook:BilateralMarket"


def test_create_market_passes_options() -> None:
    auction = registry.create_market("double-auction", pricing="pay-as-clear", price_cap=10.0)
    assert isinstance(auction, DoubleAuctionMarket)
    assert (auction.pricing, auction.price_cap) == ("pay-as-clear", 10.0)
    assert isinstance(registry.create_market("bilateral"), BilateralMarket)


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="known: bilateral, double-auction"):
        registry.create_market("sealed-bid")


def test_bad_options_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="rejects its options"):
        registry.create_market("bilateral", depth=3)


def test_a_third_party_mechanism_can_be_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    third_party = EntryPoint(
        name="third-party", value="osed.markets.orderbook:BilateralMarket", group="osed.markets"
    )
    built_ins = registry._entry_points()
    monkeypatch.setattr(registry, "_entry_points", lambda: (*built_ins, third_party))
    assert "third-party" in registry.available_markets()
    market = registry.create_market("third-party", name="third-party")
    assert market.name == "third-party"


def test_a_factory_that_is_not_a_market_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint(name="broken", value="builtins:dict", group="osed.markets")
    missing = EntryPoint(name="missing", value="no.such.module:Thing", group="osed.markets")
    monkeypatch.setattr(registry, "_entry_points", lambda: (broken, missing))
    with pytest.raises(ConfigurationError, match="does not implement Market"):
        registry.create_market("broken")
    with pytest.raises(ConfigurationError, match="cannot be loaded"):
        registry.create_market("missing")
