"""The community-balancing and market built-ins: offline runs and live sessions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from osed.domain.errors import ValidationError
from osed.gridfunctions.registry import load_function
from osed.gridfunctions.spec import AreaView, Inbound
from tests.unit.optimizer.balancer_cases import osed_document

T0 = datetime(2026, 6, 1, tzinfo=UTC)
TEMPLATE: dict[str, Any] = osed_document()


def area(minutes: float, **state: Any) -> AreaView:
    return AreaView("area-1", T0 + timedelta(minutes=minutes), ("h1", "h2"), state)


def test_balancing_replans_from_forecasts_and_sends_setpoints() -> None:
    function = load_function("community-balancing")
    parameters = function.manifest.check_parameters(
        {"document": TEMPLATE, "replan_every_s": {"value": 15, "unit": "min"}}
    )
    session = function.open(parameters, area(0))
    [first] = session.start(area(0))
    assert first.message_type == "setpoints"
    assert first.body["batteries"][0]["power_kw"] == pytest.approx([-20, -20, 20, 20])
    assert session.on_tick(area(5)) == []  # not due yet
    forecast = {"load_forecast_kw": [10, 10, 5, 5], "pv_forecast_kw": [0, 0, 40, 40]}
    resumed = function.open(parameters, area(5), resume=json.loads(json.dumps(session.snapshot())))
    [again] = resumed.on_tick(area(15, **forecast))
    planned = function.run(
        {**TEMPLATE, "start": area(15).now.isoformat(), "load_kw": [10, 10, 5, 5]}
    )
    power = again.body["batteries"][0]["power_kw"]
    assert power == pytest.approx(planned["batteries"][0]["power_kw"])
    assert power != pytest.approx(first.body["batteries"][0]["power_kw"])  # the forecast counts
    assert resumed.status()["plans"] == 2
    assert [m.message_type for m in resumed.close(area(20))] == ["clear_setpoints"]


def test_balancing_run_rejects_a_bad_document_with_paths() -> None:
    with pytest.raises(ValidationError) as caught:
        load_function("community-balancing").run({**TEMPLATE, "load_kw": [1, "x", 3, 4]})
    assert any(p.path.startswith("$.load_kw") for p in caught.value.problems)


def test_market_opens_for_the_area_and_reports_who_joined() -> None:
    function = load_function("market")
    parameters = function.manifest.check_parameters({"market_id": "lv-feeder-3"})
    session = function.open(parameters, area(0))
    [opened] = session.start(area(0))
    assert opened.message_type == "market_open"
    assert opened.building_id is None
    assert opened.body["market_id"] == "lv-feeder-3"
    assert opened.body["interval"]["end"] == (T0 + timedelta(minutes=15)).isoformat()
    joined = Inbound("h2", "market_joined", {}, T0)
    assert session.on_message(joined, area(1)) == []
    resumed = function.open(parameters, area(2), resume=json.loads(json.dumps(session.snapshot())))
    resumed.on_message(Inbound("h1", "market_joined", {}, T0), area(2))
    assert resumed.status()["joined"] == ["h1", "h2"]
    assert [m.message_type for m in resumed.close(area(3))] == ["market_closed"]


def test_market_run_clears_a_double_auction_and_names_bad_orders() -> None:
    function = load_function("market")
    result = function.run(
        {
            "pricing": "pay-as-clear",
            "bids": [{"id": "b1", "price": 0.3, "quantity": 5}],
            "offers": [{"id": "s1", "price": 0.1, "quantity": 3}],
        }
    )
    assert result["quantity"] == pytest.approx(3.0)
    with pytest.raises(ValidationError) as caught:
        function.run({"pricing": "nope", "bids": [{"id": "b1", "quantity": -1}], "offers": []})
    assert {p.path for p in caught.value.problems} >= {
        "$.pricing",
        "$.bids[0].price",
        "$.bids[0].quantity",
    }
