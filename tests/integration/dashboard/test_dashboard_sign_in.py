"""Signing in to the dashboard through a real OpenID provider, end to end in headless Chromium:
the API's ``identity.issuer`` is the provider (tests/integration/dashboard/provider.py), the
browser goes to its authorisation page, signs in as a subject whose roles and party the
provider holds, comes back with a code, and the dashboard exchanges it with its PKCE verifier
for an RFC 9068 access token that the API accepts. A tampered ``state`` is refused before any
exchange; a code used once is refused by the provider the second time.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from osed.api.dashboard import Dashboard
from osed.runtime.identity import token_validator
from osed.runtime.settings import IdentitySettings, Settings
from tests.integration.dashboard.provider import Provider, provider
from tests.integration.dashboard.test_dashboard_browser import Watched, browser
from tests.unit.api.served import Served, served

__all__ = ["browser"]  # the shared Chromium fixture

AUDIENCE = "osed"


@pytest.fixture(scope="module")
def oidc() -> Iterator[Provider]:
    with provider(audience=AUDIENCE) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, oidc: Provider) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("platform")
    identity = IdentitySettings(issuer=oidc.issuer, audience=AUDIENCE)
    validator = token_validator(Settings.model_construct(identity=identity), folder)
    with served(folder, validator=validator, dashboard=Dashboard(issuer=oidc.issuer)) as running:
        oidc.origins.add(running.url)
        yield running


def _offline(context: BrowserContext, *origins: str) -> None:
    """Nothing leaves the machine: the provider's page links a stylesheet on a CDN."""

    def answer(route: Route) -> None:
        if route.request.url.startswith(origins):
            route.fallback()
        else:
            route.fulfill(status=200, content_type="text/css", body="")

    context.route("**/*", answer)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def _to_the_provider(page: Page, server: Served, oidc: Provider) -> dict[str, str]:
    """Open the dashboard, click "Sign in with …"; the authorisation request's query."""
    page.goto(f"{server.url}/dashboard/")
    button = page.locator("#provider-button")
    expect(button).to_have_text(f"Sign in with {urlsplit(oidc.issuer).netloc}")
    button.click()
    page.wait_for_url(f"{oidc.issuer}/oauth2/authorize?**")
    return _query(page.url)


def test_a_participant_signs_in_with_the_provider(
    server: Served, oidc: Provider, browser: Browser
) -> None:
    oidc.set_user("alice", roles=["participant"], party="alice")
    watched = Watched(browser)
    page = watched.page
    _offline(watched.context, server.url, oidc.issuer)
    exchanges: list[Request] = []
    page.on("request", lambda r: exchanges.append(r) if r.url == oidc.token_endpoint else None)
    try:
        asked = _to_the_provider(page, server, oidc)
        page.get_by_placeholder("sub").fill("alice")
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_selector(".view[data-view=network][data-ready=true]")
        who = page.inner_text("#who")
        address = page.url
        token = page.evaluate("sessionStorage.getItem('osed.dashboard.token')")
        nodes = page.locator("svg.network circle.node").count()
        watched.shot("signed-in-with-provider")
    finally:
        watched.close()
    assert watched.errors == []

    # The authorisation request: code flow, S256 challenge, back to the dashboard.
    assert asked["response_type"] == "code"
    assert asked["client_id"] == "osed-dashboard"
    assert asked["redirect_uri"] == f"{server.url}/dashboard/"
    assert asked["code_challenge_method"] == "S256"
    # The exchange: that code's verifier, as a public client (no secret).
    assert len(exchanges) == 1
    form = {name: values[0] for name, values in parse_qs(exchanges[0].post_data or "").items()}
    assert set(form) == {"grant_type", "code", "redirect_uri", "client_id", "code_verifier"}
    assert form["grant_type"] == "authorization_code"
    assert _s256(form["code_verifier"]) == asked["code_challenge"]
    assert form["redirect_uri"] == asked["redirect_uri"]

    # Signed in as the provider's alice: the API answers for her, the address is clean.
    assert who == "alice · participant · party alice"
    assert "code=" not in address
    assert "state=" not in address
    assert nodes == 15
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == "alice"
    assert me.json()["issuer"] == oidc.issuer
    assert me.json()["roles"] == ["participant"]
    assert me.json()["party"] == "alice"

    # The code was used once: the provider refuses it again, verifier and all.
    replayed = httpx.post(oidc.token_endpoint, data=form)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_grant"


def test_an_answer_with_a_tampered_state_is_refused(
    server: Served, oidc: Provider, browser: Browser
) -> None:
    oidc.set_user("mallory-target", roles=["operator"])
    watched = Watched(browser)
    page = watched.page
    _offline(watched.context, server.url, oidc.issuer)
    exchanges: list[str] = []
    page.on("request", lambda r: exchanges.append(r.url) if r.url == oidc.token_endpoint else None)

    answers: list[str] = []

    def hold(route: Route) -> None:
        """The provider's answer (its redirect back) is kept from the dashboard."""
        response = route.fetch(max_redirects=0)
        answers.append(response.headers["location"])
        route.fulfill(status=200, content_type="text/plain", body="held")

    try:
        asked = _to_the_provider(page, server, oidc)
        page.route(f"{oidc.issuer}/oauth2/authorize?**", hold)
        page.get_by_placeholder("sub").fill("mallory-target")
        page.get_by_role("button", name="Authorize").click()
        expect(page.locator("body")).to_have_text("held")
        genuine = answers[0]
        assert genuine.startswith(f"{server.url}/dashboard/?")
        answer = _query(genuine)
        assert answer["state"] == asked["state"]
        forged = {"code": answer["code"], "state": asked["state"][::-1]}
        page.goto(f"{server.url}/dashboard/?{urlencode(forged)}")
        refused = page.locator("#sign-in-error")
        refused.filter(has_text="state").wait_for()
        first = refused.inner_text()
        stored_after_forgery = page.evaluate("sessionStorage.getItem('osed.dashboard.token')")
        # The genuine answer afterwards finds the sign-in already spent.
        page.goto(genuine)
        refused.filter(has_text="state").wait_for()
        stored = page.evaluate("sessionStorage.getItem('osed.dashboard.token')")
        pending = page.evaluate("sessionStorage.getItem('osed.dashboard.sign-in')")
        signed_in = page.locator("#who").inner_text()
    finally:
        watched.close()
    assert watched.errors == []
    assert "does not belong to a sign-in started here" in first
    assert stored_after_forgery is None
    assert stored is None
    assert pending is None
    assert signed_in == ""
    assert exchanges == []  # the code was never sent to the token endpoint
