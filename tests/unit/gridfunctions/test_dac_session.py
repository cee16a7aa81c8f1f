"""The ``dac`` game live: rounds of prices on the outbound channel, schedules back, deadlines,
snapshot and resume, removal; buildings answer with their own optimiser (no bus needed)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from osed.gridfunctions.builtin._dac_buildings import Buildings
from osed.gridfunctions.builtin._dac_document import read_document
from osed.gridfunctions.builtin._dac_game import WIDTH
from osed.gridfunctions.builtin._dac_play import play
from osed.gridfunctions.registry import load_function
from osed.gridfunctions.spec import AreaView, Inbound, Outbound, Session
from tests.unit.gridfunctions.dac_scenarios import area

START = datetime(2026, 1, 5, 12, tzinfo=UTC)


class Area:
    """The buildings of a document, each answering a round of prices with its best response
    plus the proximal term, as its controller would; and the area's clock."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.problem = read_document(document)
        self.ids = [b.id for b in self.problem.buildings]
        self.responder = Buildings(self.problem, workers=1)
        self.last: np.ndarray | None = None
        self.now = START

    def view(self) -> AreaView:
        return AreaView("feeder-7", self.now, tuple(self.ids))

    def answer(self, prices: dict[str, Any]) -> list[Inbound]:
        rho = prices["rho"]
        anchors = None if rho == 0 or self.last is None else self.last + prices["correction_kw"]
        response = self.responder.respond(np.asarray(prices["prices_per_kwh"]), anchors, rho, WIDTH)
        self.last = response.net_kw
        return [
            Inbound(
                b, "schedule", {"iteration": prices["iteration"], "net_kw": net.tolist()}, self.now
            )
            for b, net in zip(self.ids, response.net_kw, strict=True)
        ]


def parameters(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "steps": document["steps"],
        "step_h": {"value": document["step_h"] * 60, "unit": "min"},
        "prices": document["prices"],
        "response_timeout_s": 30,
    }


def play_live(
    session: Session, buildings: Area, *, rounds: int = 10_000, silent: set[str] | None = None
) -> Outbound | None:
    """Rounds until a ``final`` message (returned) or ``rounds`` rounds were answered."""
    out = session.start(buildings.view())
    for _ in range(rounds):
        (message,) = out
        if message.message_type == "final":
            return message
        assert message.message_type == "prices"
        assert message.building_id is None  # a broadcast
        out = []
        for inbound in buildings.answer(dict(message.body)):
            if silent and inbound.building_id in silent and message.body["iteration"] > 0:
                continue
            out += session.on_message(inbound, buildings.view())
        if not out:  # someone is silent: the deadline closes the round
            assert session.on_tick(buildings.view()) == []
            buildings.now += timedelta(seconds=31)
            out = session.on_tick(buildings.view())
    return None


@pytest.fixture
def document() -> dict[str, Any]:
    return area(6, 24, seed=11)


def test_the_live_game_ends_as_the_offline_one(document: dict[str, Any]) -> None:
    dac = load_function("dac")
    # Played as the live game is: from the tariff, stopped by the residuals alone.
    offline = play(read_document(copy.deepcopy(document)), informed=False)
    buildings = Area(document)
    session = dac.open(parameters(document), buildings.view())
    final = play_live(session, buildings)
    assert final is not None
    assert final.body["status"] == offline["status"] == "converged"
    # The same rounds; sums taken in another order may cross the tolerance a round apart.
    assert abs(final.body["iteration"] - offline["iterations"]) <= 2
    assert final.body["peak_kw"] == pytest.approx(offline["peak_after_kw"], rel=1e-3)
    status = session.status()
    assert status["state"] == "converged"
    assert status["peak_history_kw"][:10] == pytest.approx(
        offline["peak_history_kw"][:10], rel=1e-6
    )
    assert session.close(buildings.view()) == []  # nothing to undo after the end


def test_a_snapshot_resumes_the_game_where_it_was(document: dict[str, Any]) -> None:
    dac = load_function("dac")
    buildings = Area(document)
    first = dac.open(parameters(document), buildings.view())
    assert play_live(first, buildings, rounds=4) is None
    saved = first.snapshot()
    import json

    saved = json.loads(json.dumps(saved))  # what a store keeps
    resumed = dac.open(parameters(document), buildings.view(), resume=saved)
    assert resumed.start(buildings.view()) == []  # mid-round: the round goes on
    assert resumed.status()["iteration"] == first.status()["iteration"]
    # The round the first session opened is answered to the resumed one.
    prices = first.status()["prices_per_kwh"]
    body = {
        "iteration": saved["coordinator"]["iteration"],
        "prices_per_kwh": prices,
        "correction_kw": saved["coordinator"]["correction"],
        "rho": saved["coordinator"]["rho"],
    }
    out: list[Outbound] = []
    for inbound in buildings.answer(body):
        out += resumed.on_message(inbound, buildings.view())
    assert [m.message_type for m in out] in (["prices"], ["final"])
    assert resumed.status()["iteration"] == saved["coordinator"]["iteration"] + 1


def test_a_silent_building_is_waited_for_until_the_deadline(document: dict[str, Any]) -> None:
    dac = load_function("dac")
    buildings = Area(document)
    session = dac.open(parameters(document), buildings.view())
    final = play_live(session, buildings, rounds=3, silent={"b2"})
    assert final is None
    status = session.status()
    assert status["iteration"] == 3
    assert "b2" not in status["answered"]
    assert buildings.now >= START + timedelta(seconds=60)  # two rounds closed by the deadline


def test_strangers_and_late_answers_are_ignored_malformed_ones_named(
    document: dict[str, Any],
) -> None:
    from osed.domain.errors import ValidationError

    dac = load_function("dac")
    buildings = Area(document)
    session = dac.open(parameters(document), buildings.view())
    session.start(buildings.view())
    now = buildings.now
    good = [0.0] * document["steps"]
    for message in (
        Inbound("intruder", "schedule", {"iteration": 0, "net_kw": good}, now),
        Inbound("b0", "schedule", {"iteration": 5, "net_kw": good}, now),
    ):
        assert session.on_message(message, buildings.view()) == []
    bad = {"iteration": "0", "net_kw": [*good[:-2], "x"]}
    with pytest.raises(ValidationError) as caught:
        session.on_message(Inbound("b0", "schedule", bad, now), buildings.view())
    assert {p.path for p in caught.value.problems} == {"$.iteration", "$.net_kw"}
    bad = {"iteration": 0, "net_kw": [*good[:-1], float("nan")]}
    with pytest.raises(ValidationError) as caught:
        session.on_message(Inbound("b0", "schedule", bad, now), buildings.view())
    assert [p.path for p in caught.value.problems] == [f"$.net_kw[{len(good) - 1}]"]
    assert session.status()["answered"] == []


def test_removing_the_function_mid_game_cancels_it(document: dict[str, Any]) -> None:
    dac = load_function("dac")
    buildings = Area(document)
    session = dac.open(parameters(document), buildings.view())
    play_live(session, buildings, rounds=2)
    (cancel,) = session.close(buildings.view())
    assert cancel.message_type == "cancel"
    assert cancel.building_id is None
    assert session.status()["state"] == "cancelled"
    assert session.on_tick(buildings.view()) == []


def test_parameters_are_checked_against_the_manifest() -> None:
    from osed.domain.errors import ValidationError

    dac = load_function("dac")
    view = AreaView("a", START, ("b0",))
    with pytest.raises(ValidationError) as caught:
        dac.open({"steps": 0, "step_h": {"value": 1, "unit": "kW"}, "prices": [-1]}, view)
    paths = {p.path for p in caught.value.problems}
    assert paths == {"$.steps", "$.step_h", "$.prices[0]"}


def test_a_snapshot_is_strict_json_from_the_first_round(document: dict[str, Any]) -> None:
    """The EDC stores snapshots as strict JSON (no NaN) right after the session starts."""
    import json

    dac = load_function("dac")
    buildings = Area(document)
    session = dac.open(parameters(document), buildings.view())
    session.start(buildings.view())
    saved = json.loads(json.dumps(session.snapshot(), allow_nan=False))
    resumed = dac.open(parameters(document), buildings.view(), resume=saved)
    assert resumed.status()["peak_before_kw"] is None
    assert json.dumps(resumed.snapshot(), allow_nan=False) == json.dumps(saved)


def test_a_live_game_has_the_offline_games_round_limit() -> None:
    """The same game gets the same number of rounds live (EDC) as offline (``run``)."""
    from osed.gridfunctions.builtin._dac_document import GAME_SETTINGS

    manifest = load_function("dac").manifest
    (limit,) = [p for p in manifest.parameters if p.name == "max_iterations"]
    assert limit.default == GAME_SETTINGS["max_iterations"][0]
