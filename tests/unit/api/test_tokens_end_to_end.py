"""Tokens end to end over real HTTP: the runtime's services with their default identity
settings (OSED's local issuer), tokens from ``osed token create`` run as a subprocess on the
same settings file and state folder, as a user runs both."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx2 as httpx

from osed.domain.identity import Role
from osed.domain.time import SystemClock
from osed.identity.local_issuer import LocalIssuer
from osed.identity.local_keys import KeyFile
from osed.runtime.identity import local_issuer
from tests.services.brokers import free_port
from tests.unit.api.conftest import bearer
from tests.unit.api.runtime_served import running
from tests.unit.identity.altered import CASES

PROBLEM = "application/problem+json"


async def test_a_token_of_osed_token_create_is_taken_and_twelve_altered_ones_are_401(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, ["market-agent", "api"]) as run:
        token = await run.token("--role", "participant", "--subject", "al", "--party", "alice")
        async with httpx.AsyncClient(base_url=run.url) as client:

            async def positions(token: str) -> httpx.Response:
                return await client.get("/api/v1/markets/m1/positions", headers=bearer(token))

            taken = await positions(token)
            assert taken.status_code == 200, taken.text
            issuer = local_issuer(run.settings, run.state_dir)  # the key file the API reads
            assert issuer.issuer == run.url  # the API's URL names the local issuer
            refused = {}
            for case, (make, _) in CASES.items():
                altered = make(issuer, SystemClock())
                if case == "rotated-out key":
                    assert (await positions(altered)).status_code == 200
                    issuer.rotate(timedelta(0))  # no grace: the key leaves the file
                answer = await positions(altered)
                assert answer.headers["content-type"] == PROBLEM
                challenge = answer.headers["www-authenticate"]
                assert challenge.startswith('Bearer realm="osed", error="invalid_token"'), case
                refused[case] = (answer.status_code, answer.json()["detail"])
            assert {case: status for case, (status, _) in refused.items()} == dict.fromkeys(
                CASES, 401
            )
            for case, (_, detail) in refused.items():
                assert f"refused ({CASES[case][1]})" in detail, (case, detail)
            assert (await positions(token)).status_code == 401  # its key was rotated out too


async def test_the_api_publishes_its_issuer_and_another_osed_takes_it_by_settings(
    tmp_path: Path,
) -> None:
    async with running(tmp_path / "first", ["market-agent", "api"]) as first:
        async with httpx.AsyncClient(base_url=first.url) as client:
            discovery = await client.get("/.well-known/openid-configuration")  # no token
            assert discovery.status_code == 200
            assert discovery.json()["issuer"] == first.url
            jwks_uri = discovery.json()["jwks_uri"]
            assert jwks_uri == f"{first.url}/.well-known/jwks.json"
            kids = [key["kid"] for key in (await client.get(jwks_uri)).json()["keys"]]
            printed = await first.osed("token", "create", "--role", "viewer", "--subject", "v")
            assert kids == [printed["kid"]]
            schema = (await client.get("/api/v1/openapi.json", headers=bearer("x"))).status_code
            assert schema == 200  # the OpenAPI document is open too
        token = printed["access_token"]
        # A second OSED takes the first API as its OpenID provider: settings only.
        async with (
            running(
                tmp_path / "second", ["market-agent", "api"], identity={"issuer": first.url}
            ) as second,
            httpx.AsyncClient(base_url=second.url) as client,
        ):
            markets = await client.get("/api/v1/markets", headers=bearer(token))
            assert markets.status_code == 200, markets.text
            own = await client.get("/.well-known/jwks.json")
            assert own.status_code == 404  # it publishes no issuer of its own


async def test_keys_that_cannot_be_reached_are_503_not_a_refusal(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    identity = {"issuer": nowhere, "http_timeout_s": 1}
    async with running(tmp_path, ["edc-manager", "api"], identity=identity) as run:
        other = LocalIssuer(nowhere, KeyFile(tmp_path / "elsewhere.json"))
        token = other.issue(subject="v", audience="osed", roles=[Role.VIEWER]).access_token
        edc_api = f"http://127.0.0.1:{run.settings.edc.port}/api/v1/edcs"
        async with httpx.AsyncClient() as client:
            for url in (f"{run.url}/api/v1/network", edc_api):
                answer = await client.get(url, headers=bearer(token))
                assert answer.status_code == 503, (url, answer.text)
                assert answer.headers["content-type"] == PROBLEM
                assert answer.json()["type"] == "urn:osed:problem:unavailable"
                assert answer.headers["retry-after"] == "5"


async def test_the_edc_manager_and_the_balancer_alone_ask_for_tokens(tmp_path: Path) -> None:
    async with running(tmp_path, ["edc-manager", "balancer"]) as run:
        edc = f"http://127.0.0.1:{run.settings.edc.port}"
        balancer = f"http://127.0.0.1:{run.settings.balancer.port}"
        viewer = await run.token("--role", "viewer", "--subject", "v")
        operator = await run.token("--role", "operator", "--subject", "o")
        created = {"id": "e1", "element": "trafo0"}
        async with httpx.AsyncClient() as client:
            for base in (edc, balancer):
                assert (await client.get(f"{base}/healthz")).status_code == 200
                for path in ("/openapi.json", "/api/v1/edcs", "/optimizations"):
                    answer = await client.get(base + path)
                    assert answer.status_code == 401, (base, path)
                    assert answer.headers["www-authenticate"] == 'Bearer realm="osed"'
            listed = await client.get(f"{edc}/api/v1/edcs", headers=bearer(viewer))
            assert listed.status_code == 200
            key = {"Idempotency-Key": "e1"}
            refused = await client.post(
                f"{edc}/api/v1/edcs", json=created, headers={**bearer(viewer), **key}
            )
            assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
            made = await client.post(
                f"{edc}/api/v1/edcs", json=created, headers={**bearer(operator), **key}
            )
            assert made.status_code == 201, made.text
            jobs = await client.get(f"{balancer}/optimizations", headers=bearer(viewer))
            assert jobs.status_code == 200
            submitted = await client.post(
                f"{balancer}/optimizations", json={}, headers={**bearer(viewer), **key}
            )
            assert submitted.status_code == 403


async def test_identity_open_opens_every_service(tmp_path: Path) -> None:
    opened = running(tmp_path, ["edc-manager", "api"], identity={"open": True})
    async with opened as run, httpx.AsyncClient() as client:
        edc_api = f"http://127.0.0.1:{run.settings.edc.port}/api/v1/edcs"
        for url in (f"{run.url}/api/v1/edcs", edc_api):
            assert (await client.get(url)).status_code == 200
        assert (await client.get(f"{run.url}/.well-known/jwks.json")).status_code == 404
    assert not (run.state_dir / "identity").exists()  # no key file made
