"""Bad input to an EDC with real grid functions: wrong parameters are refused through the API
with every problem and nothing applied; forged, oversized, misdirected or undeclared messages
are dead-lettered and never reach the function."""

from __future__ import annotations

from tests.scenarios.support import Grid
from tests.unit.edge.conftest import eventually

EDC = "feeder-4"
OFFER = {"request_kw": 5, "duration_h": 1, "prices": [0.1, 0.2], "bid_window_s": 60}


async def test_bad_parameters_are_refused_and_nothing_is_applied(grid: Grid) -> None:
    await grid.create(EDC, ["b1"])
    unknown = await grid.client.post(f"/api/v1/edcs/{EDC}/functions/teleport", json={})
    assert unknown.status_code == 404
    assert "xor" in unknown.json()["message"]  # the installed ones are named
    bad = {
        "request_kw": -5,
        "duration_h": {"value": 30, "unit": "kW"},
        "prices": [0.1, "cheap"],
        "colour": "red",
    }
    refused = await grid.client.post(f"/api/v1/edcs/{EDC}/functions/xor", json={"parameters": bad})
    assert refused.status_code == 422
    problems = {(p["path"], p["code"]) for p in refused.json()["problems"]}
    assert {path for path, _ in problems} == {
        "$.parameters.request_kw",
        "$.parameters.duration_h",
        "$.parameters.prices[1]",
        "$.parameters.colour",
    }
    assert ("$.parameters.duration_h", "wrong_unit") in problems
    assert (await grid.client.get(f"/api/v1/edcs/{EDC}")).json()["functions"] == []
    assert grid.outbound(EDC, "xor", "b1") == []


async def test_bad_messages_never_reach_the_function(grid: Grid) -> None:
    await grid.create(EDC, ["b1", "b2"])
    enrolled = await grid.client.post(
        f"/api/v1/edcs/{EDC}/buildings", json={"building_id": "b3", "functions": ["dlc"]}
    )
    grid.tokens["b3"] = enrolled.json()["token"]
    await grid.assign(EDC, "xor", OFFER)
    await grid.assign(EDC, "dlc", {})
    channel = f"{EDC}/xor"
    bid = {"quantities_kw": [1.0, 2.0]}
    await grid.send(channel, "b1", "bid", bid, token="forged")
    await grid.send(channel, "b2", "bid", {"quantities_kw": [1.0] * 5000})  # over 16 KiB
    await grid.send(channel, "b3", "bid", bid)  # enrolled in dlc only
    await grid.send(channel, "b9", "bid", bid, token="x")  # not enrolled at all
    await grid.send(channel, "b1", "flexibility", {"available_kw": 3.0})  # dlc's type
    await grid.send(f"{EDC}/dlc", "b1", "bid", bid)  # xor's type on dlc's channel
    await eventually(lambda: len(grid.field.on("dead-letter/")) == 6)
    codes = [
        {p["code"] for p in letter["problems"]}
        for letter in grid.field.on(f"dead-letter/edc/{channel}/in")
    ]
    assert codes == [
        {"wrong_token"},
        {"too_large"},
        {"not_enrolled"},
        {"not_enrolled"},
        {"undeclared_type"},
    ]
    (dlc_letter,) = grid.field.on(f"dead-letter/edc/{EDC}/dlc/in")
    assert {p["code"] for p in dlc_letter["problems"]} == {"undeclared_type"}
    assert all(grid.tokens["b1"] not in str(m) for m in grid.field.on("dead-letter/"))
    xor = await grid.status(EDC, "xor")
    assert xor["status"]["bids"] == 0
    assert xor["messages"] == {"accepted": 0, "rejected": 5}
    dlc = await grid.status(EDC, "dlc")
    assert dlc["status"]["responded"] == 0
    assert dlc["messages"] == {"accepted": 0, "rejected": 1}
