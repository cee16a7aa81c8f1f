"""The dashboard as the API serves it: its pages and modules with a content security policy,
its settings with the resources the API has, a study report; the caller (``/me``) and a
market's clearings it draws; the runtime's ``api.dashboard`` setting."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest

from osed.api.dashboard import ASSETS, Dashboard
from osed.runtime.container import build_services
from tests.unit.api.conftest import Platform, bearer, build, tender_body
from tests.unit.api.test_runtime import settings

ALICE = bearer("alice-token")
VIEWER = bearer("viewer-token")


@pytest.fixture
async def served_dashboard(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    report = tmp_path / "report.html"
    report.write_text("<!doctype html><title>study</title><p>the study</p>")
    dashboard = Dashboard(
        issuer="https://id.example/realms/grid", report=report, series_hint="study/#"
    )
    for platform in build(tmp_path, dashboard=dashboard):
        await platform.manager.start()
        try:
            async with platform.app.router.lifespan_context(platform.app):
                transport = httpx.ASGITransport(app=platform.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://osed") as made:
                    yield made
        finally:
            await platform.manager.stop()


async def test_the_pages_are_served_without_a_token_under_a_strict_policy(
    served_dashboard: httpx.AsyncClient,
) -> None:
    client = served_dashboard
    moved = await client.get("/dashboard")
    assert moved.status_code == 308
    assert moved.headers["location"] == "/dashboard/"
    page = await client.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "connect-src 'self' https://id.example;" in policy
    assert "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every module the page loads is there, as JavaScript, with nothing from elsewhere.
    modules = sorted(path.name for path in (ASSETS / "js").glob("*.js"))
    for name in modules:
        answer = await client.get(f"/dashboard/js/{name}")
        assert answer.status_code == 200, name
        assert "javascript" in answer.headers["content-type"], name
        assert not re.search(r"""(import|from)\s*["']https?:""", answer.text), name
        assert "innerHTML" not in answer.text, name
    assert "js/app.js" in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert (await client.get("/dashboard/js/missing.js")).status_code == 404


async def test_the_settings_name_the_issuer_the_report_and_what_is_served(
    served_dashboard: httpx.AsyncClient,
) -> None:
    config = (await served_dashboard.get("/dashboard/config.json")).json()
    assert config["api"] == "/api/v1"
    assert config["sign_in"] == {
        "issuer": "https://id.example/realms/grid",
        "client_id": "osed-dashboard",
        "scope": "openid",
    }
    assert config["series"] == {"node": ["se/node/{id}/#"], "branch": ["se/branch/{id}/#"]}
    assert config["voltage_limits_pu"] == [0.9, 1.1]
    assert config["series_hint"] == "study/#"
    assert config["report"] == "/dashboard/report.html"
    assert config["served"] == {
        "network": True,
        "estimates": True,
        "edcs": True,
        "decisions": False,
        "optimizations": True,
        "studies": True,
        "markets": True,
        "ledger": True,
        "series": True,
        "events": True,
    }
    report = await served_dashboard.get("/dashboard/report.html")
    assert report.text.endswith("<p>the study</p>")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    schema = (await served_dashboard.get("/api/v1/openapi.json")).json()
    assert not any(path.startswith("/dashboard") for path in schema["paths"])


async def test_no_dashboard_unless_asked_for(client: httpx.AsyncClient) -> None:
    assert (await client.get("/dashboard/")).status_code == 404
    assert (await client.get("/dashboard/config.json")).status_code == 404


async def test_me_names_the_caller(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/me")).status_code == 401
    me = (await client.get("/api/v1/me", headers=ALICE)).json()
    assert me == {
        "subject": "alice",
        "issuer": "test",
        "roles": ["participant"],
        "party": "alice",
        "areas": [],
    }


async def test_clearings_sum_each_interval_for_everyone(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    async def tender(token: str, body: dict[str, object], key: str) -> None:
        headers = {**bearer(token), "Idempotency-Key": key}
        answer = await client.post("/api/v1/markets/m1/tenders", json=body, headers=headers)
        assert answer.status_code == 201, answer.text

    assert (await client.get("/api/v1/markets/m1/clearings", headers=VIEWER)).json()["items"] == []
    await tender("bob-token", tender_body("s1", "SELL", 1000, 4000), "s1")
    await tender("bob-token", tender_body("s2", "SELL", 1500, 4000), "s2")
    await tender("alice-token", tender_body("b1", "BUY", 2000, 6000), "b1")  # 4 at 0.1, 2 at 0.15
    await tender("alice-token", tender_body("b2", "BUY", 2000, 1000, k=1), "b2")  # rests
    answer = (await client.get("/api/v1/markets/m1/clearings", headers=VIEWER)).json()
    assert answer["currency"] == "USD"
    [row] = answer["items"]
    assert row["interval"] == {"start": "2026-07-01T00:00:00+00:00", "duration_s": 900.0}
    assert row["trades"] == 2
    assert row["volume"] == pytest.approx(6.0)
    assert row["price_mean"] == pytest.approx((4 * 0.1 + 2 * 0.15) / 6)
    assert row["price_min"] == pytest.approx(0.1)
    assert row["price_max"] == pytest.approx(0.15)
    assert "party_id" not in row
    unknown = await client.get("/api/v1/markets/nope/clearings", headers=VIEWER)
    assert unknown.status_code == 404


async def test_the_runtime_serves_the_dashboard_unless_turned_off(tmp_path: Path) -> None:
    for enabled in (True, False):
        folder = tmp_path / str(enabled)
        folder.mkdir()
        opened = settings(folder, open=True)
        config = opened.model_copy(
            update={"api": opened.api.model_copy(update={"dashboard": enabled})}
        )
        services = build_services(config, ["market-agent", "api"], state_dir=tmp_path / "state")
        started = []
        try:
            for service in services:
                await service.start()
                started.append(service)
            url = f"http://127.0.0.1:{config.api.port}"
            async with httpx.AsyncClient(base_url=url) as client:
                page = await client.get("/dashboard/")
                assert page.status_code == (200 if enabled else 404)
                if enabled:
                    served = (await client.get("/dashboard/config.json")).json()
                    assert served["sign_in"] is None
                    assert served["served"]["markets"] is True
                    assert served["served"]["edcs"] is False
        finally:
            for service in reversed(started):
                await service.stop()
    await asyncio.sleep(0)
