"""Enrolments through the API are stored on their own, on SQLite and PostgreSQL alike: they
leave the EDC's document untouched, and a restarted manager resumes every building with its
latest token (an unenrolled one is gone)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.edge.api import create_app
from osed.edge.manager import EdcManager
from osed.ports.edc import EdcStateStore
from osed.storage import postgres
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.services.postgres import (  # noqa: F401  (fixtures)
    postgres_cluster,
    postgres_conninfo,
    postgres_schema,
)
from tests.unit.edge import probe
from tests.unit.edge.conftest import Field, eventually

KEY = {"Idempotency-Key": "k"}
IN = "edc/area-1/probe/in"


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EdcStateStore]:
    if request.param == "sqlite":
        return lambda: SqliteEdcStateStore(tmp_path / "edc.sqlite")
    conninfo: str = request.getfixturevalue("postgres_conninfo")
    schema: str = request.getfixturevalue("postgres_schema")
    return lambda: postgres.PostgresEdcStateStore(conninfo, schema=schema)


@pytest.fixture
async def field(broker: MemoryBroker) -> AsyncIterator[Field]:
    bus = MemoryBus(broker)
    await bus.start()
    made = Field(bus)
    await made.listen()
    yield made
    await bus.stop()


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


class Running:
    """A manager on the broker over a store, with a client of its API."""

    def __init__(self, broker: MemoryBroker, store: EdcStateStore) -> None:
        self.bus = MemoryBus(broker)
        self.store = store
        self.manager = EdcManager(
            self.bus,
            store,
            control_cycle=timedelta(hours=1),
            load_function=probe.load_function,
            function_names=probe.function_names,
        )
        transport = httpx.ASGITransport(app=create_app(self.manager))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://edc")

    async def start(self) -> Running:
        await self.bus.start()
        await self.manager.start()
        return self

    async def stop(self) -> None:
        await self.client.aclose()
        await self.manager.stop()
        await self.bus.stop()
        self.store.close()

    async def enrol(self, building: str, functions: list[str] | None = None) -> str:
        body = {"building_id": building, "functions": functions}
        response = await self.client.post("/api/v1/edcs/area-1/buildings", json=body)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token


async def test_single_enrolments_resume_with_their_latest_tokens(
    open_store: Callable[[], EdcStateStore], broker: MemoryBroker, field: Field
) -> None:
    first = await Running(broker, open_store()).start()
    body = {"id": "area-1", "element": "trafo-7"}
    assert (await first.client.post("/api/v1/edcs", json=body, headers=KEY)).status_code == 201
    assigned = {"parameters": {"limit_kw": 5}}
    assert (
        await first.client.post("/api/v1/edcs/area-1/functions/probe", json=assigned)
    ).is_success
    document = first.store.load_all()["area-1"].document
    tokens = {b: await first.enrol(b) for b in ("b1", "b2", "b3", "b4")}
    tokens["other"] = await first.enrol("other", ["dlc"])
    old_b2 = tokens["b2"]
    tokens["b2"] = await first.enrol("b2")  # again: a new token replaces the old
    assert (await first.client.delete("/api/v1/edcs/area-1/buildings/b4")).status_code == 204

    stored = first.store.load_all()["area-1"]
    assert stored.document == document  # enrolments never rewrote the EDC's document
    assert set(stored.enrolments) == {"b1", "b2", "b3", "other"}
    assert not any(t.encode() in stored.enrolments["b2"] for t in tokens.values())  # hashed
    await first.stop()

    second = await Running(broker, open_store()).start()
    try:
        resumed = second.manager.get("area-1")
        assert resumed.enrolment() == {"b1": None, "b2": None, "b3": None, "other": ["dlc"]}
        sent = [
            ("b1", tokens["b1"], 1.0),
            ("b2", tokens["b2"], 2.0),
            ("b2", old_b2, 9.0),  # the replaced token
            ("b4", tokens["b4"], 9.0),  # unenrolled
            ("other", tokens["other"], 9.0),  # not in probe
        ]
        for building, token, kw in sent:
            message = {"building": building, "token": token, "type": "response", "body": {"kw": kw}}
            await field.send(IN, message)
        await eventually(lambda: len(field.on("dead-letter/")) == 3)
        status = resumed.function_status("probe")
        assert status["status"]["responses"] == {"b1": 1.0, "b2": 2.0}
        codes = sorted(p["code"] for m in field.on("dead-letter/") for p in m["problems"])
        assert codes == ["not_enrolled", "not_enrolled", "wrong_token"]
    finally:
        await second.stop()
