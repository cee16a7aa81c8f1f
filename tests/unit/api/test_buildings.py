"""Buildings and devices through the platform API over real building agents on simulated
devices: the latest plan, report and device states; commands through the gateway, applied
once per Idempotency-Key; and who sees and commands which building (table-driven)."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest

from osed.devices.simulated import METER_ID, SimulatedGateway
from tests.unit.api.conftest import BUILDING_PARTIES, Platform, bearer

ALICE = bearer("alice-token")


def gateway_of(platform: Platform, building_id: str) -> SimulatedGateway:
    found = next(b for b in platform.buildings if b.agent.building.id == building_id)
    assert isinstance(found.agent.gateway, SimulatedGateway)
    return found.agent.gateway


async def command(
    client: httpx.AsyncClient, token: str, building: str, device: str, body: Any, *, key: str | None
) -> httpx.Response:
    headers = bearer(token) | ({} if key is None else {"Idempotency-Key": key})
    path = f"/api/v1/buildings/{building}/devices/{device}/commands"
    return await client.post(path, json=body, headers=headers)


async def test_a_building_its_plan_report_and_devices(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    listed = (await client.get("/api/v1/buildings", headers=ALICE)).json()
    assert [b["building_id"] for b in listed["items"]] == ["b-alice"]
    building = (await client.get("/api/v1/buildings/b-alice", headers=ALICE)).json()
    assert building["party_id"] == "alice"
    assert building["devices"] == 4  # battery, zone, the rest of the house, the meter
    assert (await client.get("/api/v1/buildings/b-alice/plan", headers=ALICE)).status_code == 404

    agent = platform.buildings[0].agent
    await agent.cycle()
    plan = (await client.get("/api/v1/buildings/b-alice/plan", headers=ALICE)).json()
    assert plan["status"] == "optimal"
    assert plan["from_step"] == 0
    assert len(plan["net_kw"]) == len(agent.building.base_kw)
    assert plan["net_kw"][0] == pytest.approx(float(agent.plan.net_kw[0]), abs=1e-9)  # type: ignore[union-attr]
    assert set(plan["devices_kw"]) >= {"battery", "zone"}

    await gateway_of(platform, "b-alice").advance()  # a meter reading the agent knows as one
    devices = (await client.get("/api/v1/buildings/b-alice/devices", headers=ALICE)).json()
    by_id = {d["device_id"]: d for d in devices["items"]}
    assert sorted(by_id) == sorted(agent.found)
    battery = by_id["battery"]
    assert battery["actions"] == [{"action": "set_power_kw", "minimum": -3.0, "maximum": 3.0}]
    assert battery["online"] is True
    assert 0.1 <= battery["state"]["soc"]["value"] <= 0.9
    meter = by_id[METER_ID]["state"]["power_kw"]["value"]
    report = (await client.get("/api/v1/buildings/b-alice/report", headers=ALICE)).json()
    assert report["net_kw"] == pytest.approx(meter, abs=1e-12)
    assert report["flexibility_up_kw"] >= 3.0 - 1e-6  # the battery may charge at 3 kW at least


async def test_a_setpoint_is_applied_once_per_key(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    body = {"action": "set_setpoint_c", "value": 21.5}
    first = await command(client, "alice-token", "b-alice", "zone", body, key="sp-1")
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["outcome"] == "applied"
    again = await command(client, "alice-token", "b-alice", "zone", body, key="sp-1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == answer
    devices = gateway_of(platform, "b-alice")
    assert devices.applications[answer["command_id"]] == 1

    await devices.advance()
    zone = (await client.get("/api/v1/buildings/b-alice/devices/zone", headers=ALICE)).json()
    assert zone["state"]["setpoint_c"]["value"] == pytest.approx(21.5, abs=1e-9)

    # The same request under another key is another command; an operator may command too.
    other = await command(client, "operator-token", "b-alice", "zone", body, key="sp-1")
    assert other.status_code == 200
    assert other.json()["command_id"] != answer["command_id"]


async def test_bad_commands_name_every_problem(client: httpx.AsyncClient) -> None:
    out_of_range = await command(
        client,
        "alice-token",
        "b-alice",
        "battery",
        {"action": "set_power_kw", "value": 9},
        key=None,
    )
    assert out_of_range.status_code == 422
    assert out_of_range.headers["content-type"] == "application/problem+json"
    found = {(e["path"], e["code"]) for e in out_of_range.json()["errors"]}
    assert found == {("$header.Idempotency-Key", "missing"), ("$.value", "out_of_range")}

    body = {"action": "turn_on", "value": 1, "colour": "red"}
    wrong = await command(client, "alice-token", "b-alice", "battery", body, key="k")
    found = {(e["path"], e["code"]) for e in wrong.json()["errors"]}
    assert found == {
        ("$.colour", "unexpected_key"),
        ("$.action", "not_offered"),
        ("$.value", "unexpected"),
    }
    unknown = await command(
        client, "alice-token", "b-alice", "fridge", {"action": "turn_on"}, key="k2"
    )
    assert unknown.status_code == 404
    assert unknown.json()["type"] == "urn:osed:problem:not_found"


def _expected(token: str, building: str) -> int:
    """A participant its own party's buildings, an operator and admin every one, other roles
    none (403); a building the caller may not see is as unknown (404)."""
    if token in ("viewer-token", "gm-token"):
        return 403
    if token in ("admin-token", "operator-token"):
        return 200
    return 200 if BUILDING_PARTIES[building] == token.removesuffix("-token") else 404


TOKENS = ["admin-token", "operator-token", "alice-token", "bob-token", "viewer-token", "gm-token"]
ROWS = [(token, building) for token in TOKENS for building in BUILDING_PARTIES]


@pytest.mark.parametrize(("token", "building"), ROWS)
async def test_who_sees_and_commands_which_building(
    client: httpx.AsyncClient, platform: Platform, token: str, building: str
) -> None:
    status = _expected(token, building)
    headers = bearer(token)
    for path in ("", "/report", "/devices", "/devices/battery"):
        answer = await client.get(f"/api/v1/buildings/{building}{path}", headers=headers)
        assert answer.status_code == status, path
    body = {"action": "set_power_kw", "value": 0.5}
    sent = await command(client, token, building, "battery", body, key=f"{token}-{building}")
    assert sent.status_code == status
    devices = gateway_of(platform, building)
    assert sum(devices.applications.values()) == (1 if status == 200 else 0)
    listed = await client.get("/api/v1/buildings", headers=headers)
    if status == 403:
        assert listed.status_code == 403
    else:
        ids = [b["building_id"] for b in listed.json()["items"]]
        assert (building in ids) is (status == 200)


@pytest.mark.parametrize(
    ("token", "party", "status"),
    [("alice-token", "bob", 403), ("alice-token", "alice", 200), ("operator-token", "bob", 200)],
)
async def test_asking_for_another_partys_buildings(
    client: httpx.AsyncClient, token: str, party: str, status: int
) -> None:
    answer = await client.get(f"/api/v1/buildings?party={party}", headers=bearer(token))
    assert answer.status_code == status
    if status == 200:
        assert [b["party_id"] for b in answer.json()["items"]] == [party]
