"""The operator dashboard in headless Chromium (Debian's chromium) against a real API: uvicorn
on a free port over the CIGRE MV network with an estimate on the bus, a bilateral market's
Market Agent, stored time series, and tokens of OSED's local issuer checked by its validator.

A participant signs in by pasting a token, opens the network, clicks a node and sees its
voltage chart (drag to zoom, double-click to reset), submits a tender that fills against a
resting offer and sees its position change. No page logs an error; screenshots are kept
under test-artifacts/dashboard/. The PKCE helpers are checked in the same browser against
Python's own SHA-256 and base64url.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from osed.api.dashboard import Dashboard
from osed.domain.envelope import Envelope
from osed.domain.identity import Role
from osed.identity.local_issuer import LocalIssuer
from osed.ports.timeseries import TimeSeriesPoint
from osed.runtime.identity import local_issuer, token_validator
from osed.runtime.settings import IdentitySettings, Settings
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.api.conftest import START, tender_body
from tests.unit.api.served import Served, served

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
LAPTOP = {"width": 1366, "height": 768}
NODE = "bus3"
RATED_V = 20000.0


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    state = tmp_path_factory.mktemp("identity")
    identity = IdentitySettings(key_file=state / "keys.json", local_issuer="urn:osed:test")
    return Settings.model_construct(identity=identity), state


Issuer = tuple[Settings, Path]


def _token(issuer: Issuer, role: Role, subject: str, party: str | None) -> str:
    settings, state = issuer
    signer: LocalIssuer = local_issuer(settings, state)
    audience = settings.identity.audience
    issued = signer.issue(subject=subject, audience=audience, roles=[role], party=party)
    return issued.access_token


def _estimate(server: Served) -> None:
    """An estimate as the estimation service publishes it: bus3 at 1.02 pu, then its summary."""
    stamp = datetime.now(UTC).isoformat()
    volts = RATED_V / math.sqrt(3) * 1.02
    messages = [
        (
            f"se/node/{NODE}",
            {
                "component": NODE,
                "timestamp": stamp,
                "readings": [{"measurand": "voltmagnitude", "data": volts}],
            },
        ),
        ("se/summary", {"timestamp": stamp, "status": "ok"}),
    ]
    bus = server.platform.bus
    for seq, (topic, body) in enumerate(messages, start=1):
        envelope = Envelope(topic, "se", seq, json.dumps(body).encode(), datetime.now(UTC))
        asyncio.run_coroutine_threadsafe(bus.publish(envelope), server.loop).result(5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("platform")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with SqliteTimeSeriesStore(folder / "series.sqlite") as series:
        series.write(
            [
                TimeSeriesPoint(
                    f"se/node/{NODE}/voltmagnitude/ABC",
                    now - timedelta(minutes=5 * k),
                    RATED_V / math.sqrt(3) * (1.0 + 0.01 * math.sin(k / 6)),
                    "V",
                    now - timedelta(minutes=5 * k),
                    "se",
                )
                for k in range(120)
            ]
        )
    validator = token_validator(issuer[0], issuer[1])
    with served(folder, validator=validator, dashboard=Dashboard()) as running:
        _estimate(running)
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is needed (scripts/test installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page whose console errors, page errors and failed requests are collected."""

    def __init__(self, browser: Browser) -> None:
        self.context = browser.new_context(viewport=LAPTOP)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type in {"error", "warning"}:
                self.errors.append(f"{message.type}: {message.text}")

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on(
            "requestfailed",
            lambda request: (
                self.errors.append(f"failed: {request.url} {request.failure}")
                if "/api/v1/events" not in request.url  # the stream is closed on leaving
                else None
            ),
        )

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


def test_a_participant_sees_the_network_a_chart_and_trades(
    server: Served, browser: Browser, issuer: Issuer
) -> None:
    offered = httpx.post(
        f"{server.url}/api/v1/markets/m1/tenders",
        json=tender_body("bob-offer", "SELL", 1000, 4000),
        headers={
            "Authorization": f"Bearer {_token(issuer, Role.PARTICIPANT, 'bob', 'bob')}",
            "Idempotency-Key": "bob-offer",
        },
    )
    assert offered.status_code == 201, offered.text
    watched = Watched(browser)
    page = watched.page
    try:
        page.goto(f"{server.url}/dashboard/")
        page.fill("#token-input", _token(issuer, Role.PARTICIPANT, "alice", "alice"))
        page.click("#token-form button[type=submit]")
        page.wait_for_selector(".view[data-view=network][data-ready=true]")
        assert "alice" in page.inner_text("#who")
        assert page.evaluate("sessionStorage.getItem('osed.dashboard.token')") is not None

        # Nodes coloured by the estimate: bus3 at 1.02 pu, one without a value grey.
        assert page.locator("svg.network circle.node").count() == 15
        node = page.locator(f"svg.network circle.node[data-id={NODE}]")
        assert abs(float(node.get_attribute("data-voltage") or "nan") - 1.02) < 1e-9
        assert node.get_attribute("fill") != "#b8c0cc"
        assert "estimate of" in page.inner_text("#estimate-status")
        node.click()
        page.wait_for_selector("#detail svg.chart path.series")
        assert "1.02" in page.inner_text("#detail dl")
        path = page.locator("#detail svg.chart path.series")
        assert (path.get_attribute("d") or "").count("L") == 119
        watched.shot("network")

        # Drag across the chart zooms into that time range; a double-click shows all again.
        chart = page.locator("#detail svg.chart")
        full = (chart.get_attribute("data-start"), chart.get_attribute("data-end"))
        box = chart.bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.4, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
        page.mouse.up()
        zoomed = (chart.get_attribute("data-start"), chart.get_attribute("data-end"))
        assert float(zoomed[0] or 0) > float(full[0] or 0)
        assert float(zoomed[1] or 0) < float(full[1] or 0)
        chart.dblclick()
        assert (chart.get_attribute("data-start"), chart.get_attribute("data-end")) == full

        # A buy tender against bob's offer fills at once: the position appears.
        page.click("#nav a[data-view=market]")
        page.wait_for_selector(".view[data-view=market][data-ready=true]")
        assert "No position yet" in page.inner_text("#positions")
        page.fill("#tender-interval", f"{START.strftime('%Y-%m-%dT%H:%M:%SZ')}/900")
        page.select_option("#tender-side", "BUY")
        page.fill("#tender-price", "0.2")
        page.fill("#tender-quantity", "3")
        page.click("#tender-form button[type=submit]")
        result = page.locator("#tender-result")
        expect(result).not_to_have_text(re.compile(r"^(submitting…)?$"))
        assert "accepted" in result.inner_text(), result.inner_text()
        expect(page.locator("#positions tbody tr")).to_have_count(1)
        positions = page.inner_text("#positions")
        assert "alice" in positions
        assert page.inner_text("#positions tbody td.num") == "3"
        assert "bob" not in positions
        assert "BUY" in page.inner_text("#transactions")
        watched.shot("market")
    finally:
        watched.close()
    assert watched.errors == []
    recorded = httpx.get(
        f"{server.url}/api/v1/markets/m1/positions",
        headers={"Authorization": f"Bearer {_token(issuer, Role.OPERATOR, 'olga', None)}"},
    ).json()["items"]
    assert sorted((p["party_id"], p["quantity"]) for p in recorded) == [
        ("alice", 3000),
        ("bob", -3000),
    ]


def test_every_view_opens_without_errors(server: Served, browser: Browser, issuer: Issuer) -> None:
    watched = Watched(browser)
    page = watched.page
    token = _token(issuer, Role.OPERATOR, "olga", None)
    try:
        page.goto(f"{server.url}/dashboard/#token={token}")
        page.wait_for_selector(".view[data-view=network][data-ready=true]")
        assert "token" not in page.url  # handed over, then out of the address
        shown = {}
        for view in ("areas", "market", "jobs", "studies", "series"):
            page.click(f"#nav a[data-view={view}]")
            page.wait_for_selector(f".view[data-view={view}][data-ready=true]")
            shown[view] = page.inner_text(".view")
            watched.shot(view)
    finally:
        watched.close()
    assert watched.errors == []
    assert "trafo0" in shown["areas"]
    assert "within limits" in shown["areas"]  # bus3 at 1.02 pu
    assert "No EDC runs" in shown["areas"]
    assert "Positions" in shown["market"]
    assert "No optimisation yet" in shown["jobs"]
    assert "No study yet" in shown["studies"]
    assert "se/node/bus3/voltmagnitude/ABC" in shown["series"]


def test_pkce_helpers_and_the_authorisation_request(server: Served, browser: Browser) -> None:
    watched = Watched(browser)
    page = watched.page
    try:
        page.goto(f"{server.url}/dashboard/")
        found: dict[str, Any] = page.evaluate(
            """async () => {
              const auth = await import('./js/auth.js');
              const verifier = auth.randomText(32);
              const state = auth.randomText(16);
              const known = 'dBjftJeZ4CVP-mJ92K9Y8X1t-Z7fL7rQ9P-mJ92K9Y8';
              const storage = new Map();
              const store = {setItem: (k, v) => storage.set(k, v),
                             getItem: (k) => storage.get(k) ?? null,
                             removeItem: (k) => storage.delete(k)};
              const provider = {authorization_endpoint: 'https://id.example/auth?kc=1',
                                token_endpoint: 'https://id.example/token'};
              const url = await auth.beginSignIn(
                {client_id: 'osed-dashboard', scope: 'openid'}, provider,
                'http://127.0.0.1/dashboard/', store);
              const pending = JSON.parse(storage.get('osed.dashboard.sign-in'));
              let refused = null;
              try {
                await auth.completeSignIn({client_id: 'osed-dashboard'},
                                          '?code=c&state=forged', store);
              } catch (error) { refused = error.message; }
              return {verifier, state, known, knownChallenge: await auth.challengeS256(known),
                      verifierChallenge: await auth.challengeS256(verifier), url, pending,
                      refused, left: storage.size,
                      answer: auth.isSignInAnswer('?code=x&state=y'),
                      notAnswer: auth.isSignInAnswer('?foo=1'),
                      canSignIn: auth.canSignIn({issuer: 'x'})};
            }"""
        )
    finally:
        watched.close()
    assert watched.errors == []

    def s256(text: str) -> str:
        digest = hashlib.sha256(text.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    assert len(found["verifier"]) == 43
    assert len(found["state"]) == 22
    assert found["verifierChallenge"] == s256(found["verifier"])
    assert found["knownChallenge"] == s256(found["known"])
    url = urlsplit(found["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "id.example", "/auth")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    pending = found["pending"]
    assert query == {
        "kc": "1",
        "response_type": "code",
        "client_id": "osed-dashboard",
        "redirect_uri": "http://127.0.0.1/dashboard/",
        "scope": "openid",
        "state": pending["state"],
        "code_challenge": s256(pending["verifier"]),
        "code_challenge_method": "S256",
    }
    assert pending["tokenEndpoint"] == "https://id.example/token"
    assert "state" in (found["refused"] or "")
    assert found["left"] == 0  # a pending sign-in is used once, even when refused
    assert found["answer"] is True
    assert found["notAnswer"] is False
    assert found["canSignIn"] is False
