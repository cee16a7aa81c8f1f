"""What every scenario does through the EDC manager's REST API: create an EDC, enrol buildings
(each gets its token), assign a function; and the buildings' messages on their channels."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

from osed.domain.time import ManualClock
from osed.edge.manager import EdcManager
from tests.unit.edge.conftest import Field


@dataclass
class Grid:
    client: httpx.AsyncClient
    manager: EdcManager
    field: Field
    clock: ManualClock
    start_manager: Callable[[], Awaitable[tuple[EdcManager, httpx.AsyncClient]]]
    """Another manager on the same state and bus, with a client of its API."""
    tokens: dict[str, str] = dataclasses.field(default_factory=dict)
    """Each enrolled building's token, as its controller keeps it."""

    async def restart(self) -> None:
        """The manager stops (its EDCs stay stored) and a new one resumes them."""
        await self.client.aclose()
        await self.manager.stop()
        self.manager, self.client = await self.start_manager()

    async def create(self, edc_id: str, buildings: list[str]) -> dict[str, str]:
        """The EDC with ``buildings`` enrolled in every function; their tokens."""
        created = await self.client.post(
            "/api/v1/edcs",
            json={"id": edc_id, "element": "trafo0"},
            headers={"Idempotency-Key": f"create-{edc_id}"},
        )
        assert created.status_code == 201, created.text
        batch = {"buildings": [{"building_id": b} for b in buildings]}
        enrolled = await self.client.post(f"/api/v1/edcs/{edc_id}/buildings/batch", json=batch)
        assert enrolled.status_code == 201, enrolled.text
        tokens = {e["building_id"]: e["token"] for e in enrolled.json()["items"]}
        self.tokens.update(tokens)
        return tokens

    async def assign(self, edc_id: str, name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/edcs/{edc_id}/functions/{name}", json={"parameters": parameters}
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def status(self, edc_id: str, name: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/edcs/{edc_id}/functions/{name}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def outbound(self, edc_id: str, name: str, building: str) -> list[dict[str, Any]]:
        """What ``building`` received on its outbound channel of ``name``, in order."""
        return self.field.on(f"edc/{edc_id}/{name}/out/{building}")

    async def send(
        self, channel: str, building: str, kind: str, body: dict[str, Any], *, token: str = ""
    ) -> None:
        """``building`` sends on ``channel`` (``<edc>/<function>``) with its own token (or
        ``token``)."""
        message = {
            "building": building,
            "token": token or self.tokens[building],
            "type": kind,
            "body": body,
        }
        await self.field.send(f"edc/{channel}/in", message)
