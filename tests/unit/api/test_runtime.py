"""The platform API in the runtime: ``api`` beside the Market Agent, the EDC manager and the
balancer in one process serves all of them under one port (here opened by ``identity.open``;
tokens: test_tokens_end_to_end.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2 as httpx
import pytest

from osed.domain.errors import ConfigurationError, ValidationError
from osed.runtime.container import build_services
from osed.runtime.settings import Settings, load_settings
from tests.services.brokers import free_port
from tests.unit.api.conftest import NETWORK, tender_body


def settings(tmp_path: Path, **identity: object) -> Settings:
    return Settings(
        storage={"sqlite_path": tmp_path / "osed.sqlite"},
        jobs={"sqlite_path": tmp_path / "jobs.sqlite"},
        edc={"sqlite_path": tmp_path / "edc.sqlite", "port": free_port(), "network": str(NETWORK)},
        balancer={"port": free_port(), "workers": 1, "processes": False},
        market={"market_id": "m1", "mechanism": "bilateral"},
        api={"port": free_port(), "idempotency_path": tmp_path / "keys.sqlite"},
        identity=identity,
        services=["api", "market-agent", "edc-manager", "balancer"],
    )


async def test_a_key_file_others_can_read_stops_the_start(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    keys.chmod(0o644)
    config = settings(tmp_path, key_file=str(keys))
    *_, api = build_services(config, ["market-agent", "api"], state_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="readable by others"):
        await api.start()
    assert not api.ready()


def test_the_api_setting_section_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSED_API__PORT", "70000")
    monkeypatch.setenv("OSED_API__IDEMPOTENCY_TTL_S", "1")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert {p.path for p in caught.value.problems} == {"$.api.port", "$.api.idempotency_ttl_s"}


async def test_one_port_serves_every_service_of_the_process(tmp_path: Path) -> None:
    config = settings(tmp_path, open=True)
    services = build_services(config, list(config.services), state_dir=tmp_path / "state")
    assert [s.name for s in services] == ["bus", "market-agent", "edc-manager", "balancer", "api"]
    started = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        url = f"http://127.0.0.1:{config.api.port}"
        async with httpx.AsyncClient(base_url=url) as client:
            ready = (await client.get("/readyz")).json()
            assert ready == {
                "ready": True,
                "services": {
                    "bus": True,
                    "market-agent": True,
                    "edc-manager": True,
                    "balancer": True,
                },
            }
            body = {**tender_body("t1", "BUY", 2000, 1000), "partyId": "p1"}
            created = await client.post(
                "/api/v1/markets/m1/tenders", json=body, headers={"Idempotency-Key": "t1"}
            )
            assert created.status_code == 201, created.text
            edc = await client.post(
                "/api/v1/edcs",
                json={"id": "a0", "element": "trafo0"},
                headers={"Idempotency-Key": "a0"},
            )
            assert edc.status_code == 201, edc.text
            assert (await client.get("/api/v1/optimizations")).status_code == 200
            assert (await client.get("/api/v1/network/nodes/bus3")).json()["area"] == "trafo0"
            assert (await client.get("/api/v1/series")).json()["items"] == []
            assert (await client.get("/api/v1/docs")).status_code == 200
        # The EDC manager's own service still answers on its own port.
        own = f"http://127.0.0.1:{config.edc.port}/api/v1/edcs"
        async with httpx.AsyncClient() as client:
            assert [e["id"] for e in (await client.get(own)).json()["items"]] == ["a0"]
    finally:
        for service in reversed(started):
            await service.stop()
    await asyncio.sleep(0)
