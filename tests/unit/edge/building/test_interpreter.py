"""The grid interpreter dispatches on the channel and the message type; whatever it cannot act
on is logged with the reason and dropped, never raised."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest

from osed.buildings.devices_schema import Array
from osed.edge.building.interpreter import FUNCTIONS as INTERPRETED
from osed.edge.building.interpreter import Answer, Interpreter

TOPIC = "edc/area-1/{function}/out/b1"


class Recorder:
    """The optimisers' side: records what was triggered, answers fixed values."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def dac_schedule(self, prices: Array, correction_kw: Array, rho: float) -> Array | None:
        self.calls.append(("dac_schedule", rho))
        return prices * 0 + 1.5

    def dac_final(self, prices: Array | None) -> None:
        self.calls.append(("dac_final", None if prices is None else prices.tolist()))

    def flexibility_kw(self) -> tuple[float, float]:
        return (1.0, 4.0)

    def capacity_bounds(
        self, max_kw: float | None, min_kw: float | None, *, until_h: float | None = None
    ) -> None:
        self.calls.append(("capacity_bounds", (max_kw, min_kw, until_h)))

    def reports(self, functions: Sequence[str] | None = None) -> list[Answer]:
        return [Answer("area-1", "xor", "report", {"demand_kw": 2.0})]

    async def xor_bids(self, prices: Sequence[float], duration_h: float) -> list[float]:
        self.calls.append(("xor_bids", duration_h))
        return [0.0 for _ in prices]

    def xor_award(self, quantity_kw: float, duration_h: float) -> None:
        self.calls.append(("xor_award", quantity_kw))

    def xor_cancel(self) -> None:
        self.calls.append(("xor_cancel", None))

    async def dlc_available_kw(self, offset_c: float, duration_h: float) -> float:
        return 0.5

    def dlc_offset(self, offset_c: float, duration_h: float) -> None:
        self.calls.append(("dlc_offset", offset_c))

    def dlc_restore(self) -> None:
        self.calls.append(("dlc_restore", None))

    def hours_until(self, moment: datetime) -> float:
        return 1.0


def message(function: str, kind: str, body: dict[str, Any]) -> bytes:
    document = {"edc": "area-1", "function": function, "type": kind, "body": body, "sent_at": ""}
    return json.dumps(document).encode()


@pytest.fixture
def interpreter() -> Interpreter:
    functions = dict.fromkeys(("dac", "xor", "dlc", "capacity-limit"), "area-1")
    return Interpreter("b1", functions, Recorder())


async def test_each_function_answers_on_its_channel(interpreter: Interpreter) -> None:
    prices = {"iteration": 3, "prices_per_kwh": [0.1, 0.2], "correction_kw": [0, 0], "rho": 0.5}
    answers = await interpreter.interpret(
        TOPIC.format(function="dac"), message("dac", "prices", prices)
    )
    assert answers == [Answer("area-1", "dac", "schedule", {"iteration": 3, "net_kw": [1.5, 1.5]})]
    request = message("capacity-limit", "flexibility_request", {"interval": {}})
    answers = await interpreter.interpret(TOPIC.format(function="capacity-limit"), request)
    assert answers == [
        Answer("area-1", "capacity-limit", "flexibility", {"min_kw": 1.0, "max_kw": 4.0})
    ]
    offer = message("xor", "price_offer", {"prices": [1, 2], "request_kw": 3, "duration_h": 2})
    kinds = [
        a.message_type for a in await interpreter.interpret(TOPIC.format(function="xor"), offer)
    ]
    assert kinds == ["report", "bid"]  # the consumption the delivery is measured from, first
    dlc = message("dlc", "flexibility_request", {"offset_k": -2, "duration_s": 3600})
    answers = await interpreter.interpret(TOPIC.format(function="dlc"), dlc)
    assert answers == [Answer("area-1", "dlc", "flexibility", {"available_kw": 0.5})]
    assert interpreter.ignored == 0


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("edc/area-1/dac/out/b2", message("dac", "final", {}), "addressed to building 'b2'"),
        ("edc/area-9/dac/out/b1", message("dac", "final", {}), "not enrolled"),
        ("edc/area-1/dac/in", message("dac", "final", {}), "not an EDC's outbound channel"),
        (TOPIC.format(function="dac"), b"{not json", "not JSON"),
        (TOPIC.format(function="dac"), b"[1, 2]", "not an object"),
        (TOPIC.format(function="dac"), message("xor", "award", {}), "do not match"),
        (TOPIC.format(function="dac"), message("dac", "bid", {}), "no handler"),
        (
            TOPIC.format(function="dac"),
            message("dac", "prices", {"iteration": 1, "prices_per_kwh": [0.1, "x"], "rho": 0}),
            "$.body.prices_per_kwh[1]",
        ),
        (
            TOPIC.format(function="dac"),
            message("dac", "prices", {"iteration": 1, "prices_per_kwh": [0.1], "rho": 0}),
            "$.body.correction_kw",
        ),
        (
            TOPIC.format(function="dlc"),
            message("dlc", "setpoint_offset", {"offset_k": -2, "until": "tomorrow"}),
            "$.body.until",
        ),
        (
            TOPIC.format(function="capacity-limit"),
            message("capacity-limit", "limit", {"max_kw": "9"}),
            "$.body.max_kw",
        ),
    ],
)
async def test_what_cannot_be_acted_on_is_logged_with_the_reason(
    interpreter: Interpreter,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: bytes,
    reason: str,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert await interpreter.interpret(topic, payload) == []
    assert interpreter.ignored == 1
    assert reason in caplog.text
    recorder = interpreter.agent
    assert isinstance(recorder, Recorder)
    assert recorder.calls == []  # nothing was triggered


async def test_an_award_and_its_cancellation_reach_the_agent(interpreter: Interpreter) -> None:
    award = {
        "quantity_kw": 2.5,
        "price": 1,
        "start": "2026-01-12T00:00:00+00:00",
        "end": "2026-01-12T02:00:00+00:00",
    }
    await interpreter.interpret(TOPIC.format(function="xor"), message("xor", "award", award))
    await interpreter.interpret(TOPIC.format(function="xor"), message("xor", "award_cancelled", {}))
    recorder = interpreter.agent
    assert isinstance(recorder, Recorder)
    assert recorder.calls == [("xor_award", 2.5), ("xor_cancel", None)]


async def test_a_limit_tells_the_agent_how_long_its_interval_lasts(
    interpreter: Interpreter,
) -> None:
    topic = TOPIC.format(function="capacity-limit")
    ends = {"start": "2026-01-12T00:00:00+00:00", "end": "2026-01-12T02:00:00+00:00"}
    standing = {"start": "2026-01-12T00:00:00+00:00", "end": None}
    await interpreter.interpret(topic, message("capacity-limit", "limit", {"max_kw": 4.0}))
    body = {"max_kw": 3.0, "min_kw": None, "interval": ends}
    await interpreter.interpret(topic, message("capacity-limit", "limit", body))
    body = {"max_kw": 2.0, "min_kw": -1.0, "interval": standing}
    await interpreter.interpret(topic, message("capacity-limit", "limit", body))
    recorder = interpreter.agent
    assert isinstance(recorder, Recorder)
    assert recorder.calls == [
        ("capacity_bounds", (4.0, None, None)),
        ("capacity_bounds", (3.0, None, 1.0)),  # the recorder's hours until any moment
        ("capacity_bounds", (2.0, -1.0, None)),
    ]
    bad = {"max_kw": 3.0, "interval": {"end": "later"}}
    assert await interpreter.interpret(topic, message("capacity-limit", "limit", bad)) == []
    assert interpreter.ignored == 1


def test_the_functions_an_agent_takes_part_in_are_those_it_has_handlers_for() -> None:
    handled = {function for function, _ in Interpreter("b", {}, None).handlers}  # type: ignore[arg-type]
    assert handled == INTERPRETED
