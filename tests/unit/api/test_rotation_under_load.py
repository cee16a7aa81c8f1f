"""The local issuer's key rotated by another process (``osed token rotate``) while six clients
keep requests going against the runtime's API over real HTTP, each on its own keep-alive
connection, and switch to a token of the new key once there is one: every answer is 200."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx2 as httpx

from osed.domain.identity import Role
from osed.runtime.identity import local_issuer
from tests.unit.api.conftest import bearer
from tests.unit.api.runtime_served import running

CLIENTS = 6
REQUESTS = 100  # each, at least
AFTER_SWITCH = 30  # each, with the new key's token at least


async def test_a_rotation_under_load_fails_no_request(tmp_path: Path) -> None:
    async with running(tmp_path, ["market-agent", "api"]) as run:
        issuer = local_issuer(run.settings, run.state_dir)

        def token() -> dict[str, str]:
            issued = issuer.issue(
                subject="p", audience="osed", roles=[Role.PARTICIPANT], party="p1"
            )
            return {"access_token": issued.access_token, "kid": issued.kid}

        first = token()
        current = [first]
        statuses: Counter[int] = Counter()
        by_kid: Counter[str] = Counter()
        rotated = asyncio.Event()
        done = 0

        async def client() -> None:
            nonlocal done
            after = 0
            async with httpx.AsyncClient(base_url=run.url) as http:
                sent = 0
                while sent < REQUESTS or after < AFTER_SWITCH:
                    token = current[-1]
                    answer = await http.get(
                        "/api/v1/markets/m1/positions",
                        headers=bearer(token["access_token"]),
                    )
                    statuses[answer.status_code] += 1
                    by_kid[token["kid"]] += 1
                    sent += 1
                    done += 1
                    after += token is not first
                    if sent > 20 * REQUESTS:
                        raise AssertionError("the new token never came")

        async def rotate() -> None:
            while done < CLIENTS * REQUESTS // 4:
                await asyncio.sleep(0.01)
            rotation = await run.osed("token", "rotate")
            rotated.set()
            fresh = token()
            assert fresh["kid"] == rotation["kid"] != first["kid"]
            current.append(fresh)

        await asyncio.gather(rotate(), *(client() for _ in range(CLIENTS)))
        assert rotated.is_set()
        assert statuses == {200: sum(statuses.values())}, statuses
        assert sum(statuses.values()) >= CLIENTS * REQUESTS
        assert by_kid[first["kid"]] >= CLIENTS * REQUESTS // 4
        assert by_kid[current[-1]["kid"]] >= CLIENTS * AFTER_SWITCH
