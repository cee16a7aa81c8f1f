"""The live xor round driven as an EDC drives it: offer, bids, deadline, awards, delivery."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from osed.gridfunctions.builtin.xor import FUNCTION
from osed.gridfunctions.spec import AreaView, Inbound, Session

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
BUILDINGS = ("a", "b", "c", "d")
PARAMETERS = FUNCTION.manifest.check_parameters(
    {
        "request_kw": 6,
        "duration_h": {"value": 30, "unit": "min"},
        "prices": [1.0, 2.0],
        "bid_window_s": 60,
    }
)


def area(minutes: float, **state: Any) -> AreaView:
    return AreaView("area-1", T0 + timedelta(minutes=minutes), BUILDINGS, state)


def bid(building: str, quantities: Any, minutes: float = 0.5) -> Inbound:
    return Inbound(building, "bid", {"quantities_kw": quantities}, T0 + timedelta(minutes=minutes))


def test_a_round_offers_collects_clears_at_the_deadline_and_measures_delivery() -> None:
    session = FUNCTION.open(PARAMETERS, area(0))
    assert isinstance(session, Session)
    [offer] = session.start(area(0))
    assert (offer.message_type, offer.building_id) == ("price_offer", None)
    assert offer.body["prices"] == [1.0, 2.0]
    assert offer.body["deadline"] == (T0 + timedelta(seconds=60)).isoformat()

    assert session.on_message(bid("a", [5, 5]), area(0.1)) == []
    assert session.on_message(bid("b", [5, 5]), area(0.2)) == []
    [refused] = session.on_message(bid("c", [1]), area(0.3))
    assert (refused.message_type, refused.building_id) == ("bid_rejected", "c")
    assert session.on_message(bid("c", [0, 1]), area(0.4)) == []
    assert session.on_tick(area(0.5)) == []  # before the deadline: still collecting

    measured = {"a": 10.0, "b": 8.0, "c": 3.0, "d": 4.0}
    sent = session.on_tick(area(1.0, building_kw=measured))
    by_building = {m.building_id: m for m in sent}
    assert by_building["a"].message_type == "award"
    assert by_building["a"].body["quantity_kw"] == 5.0
    assert by_building["c"].message_type == "award"
    assert by_building["c"].body["price"] == 2.0
    assert by_building["b"].message_type == "no_award"
    assert by_building["d"].message_type == "no_award"
    assert session.status()["cost"] == pytest.approx(0.5 * (5 * 1 + 1 * 2))

    late = session.on_message(bid("d", [9, 9], minutes=1.5), area(1.5))
    assert [m.message_type for m in late] == ["bid_rejected"]

    # a curtails 5 kW and c 1 kW for the whole half hour, then the round is done
    delivering = {"a": 5.0, "b": 8.0, "c": 2.0, "d": 4.0}
    session.on_tick(area(16.0, building_kw=delivering))
    resumed = FUNCTION.open(PARAMETERS, area(16), resume=json.loads(json.dumps(session.snapshot())))
    resumed.on_tick(area(31.0, building_kw=delivering))
    status = resumed.status()
    assert status["phase"] == "done"
    delivery = {row["building"]: row for row in status["delivery"]["buildings"]}
    assert delivery["a"]["delivered_kw"] == pytest.approx(5.0)
    assert delivery["a"]["share"] == pytest.approx(1.0)
    assert delivery["c"]["delivered_kwh"] == pytest.approx(0.5)
    assert status["delivery"]["measured_h"] == pytest.approx(0.5)


def test_a_round_clears_once_every_building_bid_and_close_cancels_the_awards() -> None:
    session = FUNCTION.open(PARAMETERS, area(0))
    session.start(area(0))
    for building in BUILDINGS[:-1]:
        assert session.on_message(bid(building, [2, 2]), area(0.1)) == []
    sent = session.on_message(bid("d", [2, 3]), area(0.2, building_kw={}))
    assert sorted(m.message_type for m in sent).count("award") == 3
    cancelled = session.close(area(5))
    assert {m.message_type for m in cancelled} == {"award_cancelled"}
    assert len(cancelled) == 3
    assert session.status()["phase"] == "done"


def test_a_round_nobody_can_cover_awards_nothing() -> None:
    session = FUNCTION.open(PARAMETERS, area(0))
    session.start(area(0))
    session.on_message(bid("a", [1, 2]), area(0.1))
    sent = session.on_tick(area(2))
    assert {(m.message_type, m.building_id) for m in sent} == {("no_award", b) for b in BUILDINGS}
    assert sent[0].body["shortfall_kw"] == pytest.approx(4.0)
    assert session.status()["phase"] == "done"
    assert session.close(area(3)) == []
